"""The example scripts (the book's experiments) run and write their PNG — at toy sizes here."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TINY = {
    "optimizer_compare.py": ["--iters", "30", "--batch-size", "32"],
    "weight_init_activation_hist.py": [],
    "overfitting.py": ["--epochs", "3", "--n-train", "100", "--n-test", "100"],
    "batchnorm_compare.py": ["--epochs", "2", "--n-train", "200", "--scales", "1,0.01"],
    "hyperparameter_search.py": ["--trials", "3", "--epochs", "2", "--n-train", "200", "--show", "2"],
    "conv_filters.py": ["--epochs", "1", "--n-train", "300"],
}


def test_every_example_is_covered():
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(TINY)


@pytest.mark.parametrize("script", sorted(TINY))
def test_example_writes_png(script, tmp_path):
    out = tmp_path / "figure.png"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--data", "digits", "--threads", "1",
                           "--out", str(out), *TINY[script]],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {out}" in proc.stdout
