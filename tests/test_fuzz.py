"""Fuzzing of the public boundary, in a subprocess (a segfault fails this test instead of killing pytest).

``tests/fuzz_driver.py`` draws valid, re-laid-out and garbage calls of every
public layer, function, optimizer, util function and net with hypothesis and
classifies each outcome (``tests/fuzzing.py`` says what counts as bad), and rebinds layers' state
between forward and backward. Here:
zero crashes (return code 0, no signal), zero bad cases. The CI size is 100
examples per target (derandomized: the same cases every run); set
``FASTNN_FUZZ_EXAMPLES`` for a bigger campaign, ``FASTNN_FUZZ_SEED`` for new cases.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

DRIVER = Path(__file__).with_name("fuzz_driver.py")


def test_fuzz_campaign_has_no_crash_and_no_bad_case():
    examples = os.environ.get("FASTNN_FUZZ_EXAMPLES", "100")
    cmd = [sys.executable, str(DRIVER), "--examples", examples]
    if os.environ.get("FASTNN_FUZZ_SEED"):
        cmd += ["--seed", os.environ["FASTNN_FUZZ_SEED"]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode < 0:
        raise AssertionError(f"fuzz driver killed by signal {signal.Signals(-proc.returncode).name}:\n"
                             f"{proc.stderr[-4000:]}")
    assert proc.returncode == 0, f"fuzz driver failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout)
    assert report["bad_total"] == 0, "bad cases:\n" + "\n".join(report["bad"])
    targets = report["targets"]
    # every family was exercised, with accepted and refused calls both
    for family in ("Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "BatchNormalization", "Dropout",
                   "Convolution", "ConvReluPool", "Pooling-max", "Pooling-avg", "im2col/col2im",
                   "util.conv_output_size"):
        counts = targets[family]
        assert counts["ok"] > 0 and counts["ValueError"] + counts["TypeError"] > 0, (family, counts)
    assert any(k.startswith("functions.") for k in targets)
    assert any(k.startswith("optimizer.") for k in targets)
    assert any(k.startswith("nets.") for k in targets)
    # state rebound between forward and backward: refused with a clear error, never a crash
    state = {k: v for k, v in targets.items() if k.startswith("state.")}
    assert {"state.Relu.mask", "state.Pooling.argmax", "state.Convolution.x"} <= set(state), sorted(state)
    assert sum(v["ValueError"] + v["TypeError"] for v in state.values()) > 0
    assert report["cases"] >= 12 * int(examples)
