"""Trainer: the book's interface, epochs and evaluation, seeding, non-finite losses, checkpoints and resume."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fastnn.trainer import Trainer


class SoftmaxRegression:
    """A stand-in net with only the book's interface (no last_layer): softmax regression in NumPy."""

    def __init__(self, d, k, seed=0, nan_at=None):
        rng = np.random.default_rng(seed)
        self.params = {"W": 0.01 * rng.standard_normal((d, k)), "b": np.zeros(k)}
        self.calls = 0
        self.nan_at = nan_at          # gradient call numbers (1-based) that return NaN
        self.batches = []
        self.accuracy_sizes = []

    def _probs(self, x):
        s = x @ self.params["W"] + self.params["b"]
        s -= s.max(axis=1, keepdims=True)
        e = np.exp(s)
        return e / e.sum(axis=1, keepdims=True)

    def loss(self, x, t):
        p = self._probs(x)
        return float(-np.mean(np.log(p[np.arange(len(t)), t] + 1e-12)))

    def accuracy(self, x, t):
        self.accuracy_sizes.append(len(x))
        return float(np.mean(self._probs(x).argmax(axis=1) == t))

    def gradient(self, x, t):
        self.calls += 1
        self.batches.append(x[:, 0].copy())
        p = self._probs(x)
        p[np.arange(len(t)), t] -= 1
        p /= len(t)
        g = {"W": x.T @ p, "b": p.sum(axis=0)}
        if self.nan_at and self.calls in self.nan_at:
            g["W"][0, 0] = np.nan
        return g


def blobs(n, d=5, k=3, seed=0):
    centers = 3 * np.random.default_rng(99).standard_normal((k, d))   # the same classes in every set
    rng = np.random.default_rng(seed)
    t = rng.integers(0, k, n)
    x = centers[t] + rng.standard_normal((n, d))
    x[:, 0] = np.arange(n)  # sample ids, to see which samples a batch held (a harmless feature)
    x[:, 0] /= n
    return x, t


def make(net=None, n=105, epochs=2, batch=10, **kw):
    x, t = blobs(n)
    xt, tt = blobs(40, seed=1)
    net = net or SoftmaxRegression(5, 3)
    kw.setdefault("verbose", False)
    return Trainer(net, x, t, xt, tt, epochs=epochs, mini_batch_size=batch, **kw)


# ---------------------------------------------------------------- the book's interface

def test_epochs_steps_and_histories():
    tr = make(n=105, epochs=3, batch=10, optimizer="sgd", optimizer_param={"lr": 0.02})
    assert tr.iter_per_epoch == 11                      # ceil(105 / 10), an int
    tr.train()
    assert len(tr.train_loss_list) == 33
    assert len(tr.train_acc_list) == len(tr.test_acc_list) == 3
    assert tr.current_epoch == 3 and tr.current_iter == 33
    assert np.mean(tr.train_loss_list[-11:]) < np.mean(tr.train_loss_list[:11])
    assert tr.test_acc > 0.8 and isinstance(tr.test_acc, float)
    with pytest.raises(RuntimeError, match="complete"):
        tr.train_step()


def test_each_epoch_visits_every_sample_once():
    net = SoftmaxRegression(5, 3)
    tr = make(net, n=105, epochs=2, batch=10)
    tr.train()
    ids = np.round(np.concatenate(net.batches) * 105).astype(int)
    assert [len(b) for b in net.batches[:11]] == [10] * 10 + [5]
    for e in range(2):
        np.testing.assert_array_equal(np.sort(ids[e * 105:(e + 1) * 105]), np.arange(105))
    assert not np.array_equal(ids[:105], ids[105:])    # a fresh order each epoch


def test_evaluate_sample_num_per_epoch():
    net = SoftmaxRegression(5, 3)
    tr = make(net, n=105, epochs=2, evaluate_sample_num_per_epoch=30)
    tr.train()
    assert net.accuracy_sizes == [30, 30, 30, 30, 40]   # per epoch: train, test; then the full test set
    net = SoftmaxRegression(5, 3)
    tr = make(net, n=105, epochs=2, evaluate_sample_num_per_epoch=40)
    tr.train()
    assert net.accuracy_sizes == [40, 40, 40, 40]       # the last epoch saw the whole test set already
    assert tr.test_acc == tr.test_acc_list[-1]


@pytest.mark.parametrize("name", ["SGD", "sgd", "Momentum", "nesterov", "AdaGrad", "RMSPROP", "adam"])
def test_optimizer_names(name):
    tr = make(optimizer=name, optimizer_param={"lr": 0.01})
    assert type(tr.optimizer).__name__.lower() == name.lower()
    tr.train()


def test_optimizer_object_and_bad_names():
    from fastnn.optimizer import Adam
    opt = Adam(lr=0.01)
    assert make(optimizer=opt).optimizer is opt
    with pytest.raises(ValueError, match="unknown optimizer"):
        make(optimizer="lbfgs")
    with pytest.raises(TypeError, match="optimizer_param"):
        make(optimizer_param=0.1)


def test_bad_arguments():
    x, t = blobs(20)
    net = SoftmaxRegression(5, 3)
    with pytest.raises(ValueError, match="t_train must have one label .* expected 20 rows"):
        Trainer(net, x, t[:19], x, t)
    with pytest.raises(TypeError, match="x_train must be a float32 or float64 array"):
        Trainer(net, (x * 255).astype(np.uint8), t, x, t)
    bad = x.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"x_test holds NaN .*sample 7"):
        Trainer(net, x, t, bad, t)
    with pytest.raises(ValueError, match="epochs must be > 0"):
        Trainer(net, x, t, x, t, epochs=0)
    with pytest.raises(TypeError, match="mini_batch_size must be an integer"):
        Trainer(net, x, t, x, t, mini_batch_size=2.5)
    with pytest.raises(ValueError, match="nonfinite"):
        Trainer(net, x, t, x, t, nonfinite="ignore")
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_path"):
        Trainer(net, x, t, x, t, resume=True)
    with pytest.raises(TypeError, match="book's net interface"):
        Trainer(object(), x, t, x, t)


def test_constructor_checks_test_set_and_checkpoint_path(tmp_path):
    """What would fail after the first epoch (evaluation, checkpoint write) fails in the constructor."""
    x, t = blobs(20)
    net = SoftmaxRegression(5, 3)
    with pytest.raises(ValueError, match=r"x_test must have the sample shape of x_train: .*\(5,\).*\(4,\)"):
        Trainer(net, x, t, x[:, :4], t)
    with pytest.raises(ValueError, match=r"t_test must be labelled like t_train"):
        Trainer(net, x, t, x, np.eye(3)[t])
    with pytest.raises(ValueError, match="checkpoint_path .* is a folder"):
        Trainer(net, x, t, x, t, checkpoint_path=tmp_path)
    with pytest.raises(ValueError, match="checkpoint_path .*missing.* does not exist; create it first"):
        Trainer(net, x, t, x, t, checkpoint_path=tmp_path / "missing" / "run.npz")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="checkpoint_path .* is not a folder"):
        Trainer(net, x, t, x, t, checkpoint_path=tmp_path / "file" / "run.npz")
    with pytest.raises(ValueError, match="checkpoint_path must be a non-empty file name"):
        Trainer(net, x, t, x, t, checkpoint_path="")
    with pytest.raises(TypeError, match="checkpoint_path must be a str or path"):
        Trainer(net, x, t, x, t, checkpoint_path=3)
    with pytest.raises(ValueError, match="checkpoint_path .*: cannot create a file in /proc"):
        Trainer(net, x, t, x, t, checkpoint_path="/proc/fastnn-cannot-write-here.npz")  # even root cannot
    assert not list(tmp_path.glob(".fastnn-probe-*"))  # the write probe leaves nothing behind


# ---------------------------------------------------------------- seeds

def test_same_seed_same_numbers_other_seed_other_numbers():
    runs = []
    for seed in (3, 3, 4):
        tr = make(SoftmaxRegression(5, 3), seed=seed, optimizer="momentum", optimizer_param={"lr": 0.1})
        tr.train()
        runs.append((tr.network.params["W"].copy(), list(tr.train_loss_list)))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_seeded_real_net_bit_identical():
    from fastnn.nets import MultiLayerNetExtend
    x, t = blobs(64, d=6, k=4)
    out = []
    for _ in range(2):
        net = MultiLayerNetExtend(6, [8, 8], 4, use_dropout=True, dropout_ration=0.2,
                                  use_batchnorm=True, seed=0)
        tr = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=16, optimizer="adam",
                     optimizer_param={"lr": 0.01}, verbose=False, seed=1)
        tr.train()
        out.append({k: v.copy() for k, v in net.params.items()})
    for k in out[0]:
        np.testing.assert_array_equal(out[0][k], out[1][k])


def test_a_fastnn_net_gives_its_loss_with_its_gradient_and_a_book_style_net_gets_the_books_two_calls():
    """The recorded loss of a step: the net's own (``loss_and_gradient``), or for a book-style net the book's way."""
    from fastnn.nets import MultiLayerNet

    x, t = blobs(40, d=6, k=4)
    for dtype in (np.float64, np.float32):
        net = MultiLayerNet(6, [8], 4, weight_decay_lambda=0.1, seed=0, dtype=dtype)
        before = float(net.loss(x[:8], t[:8], train_flg=True))     # what the step's forward pass gives
        loss, grads = net.loss_and_gradient(x[:8], t[:8])
        assert type(loss) is float and loss == before and net.weight_decay_penalty() > 0
        again = net.gradient(x[:8], t[:8])
        assert set(grads) == set(again) and all(np.array_equal(grads[k], again[k]) for k in grads)

    calls = []

    class Counting(MultiLayerNet):
        def loss(self, *a, **kw):
            calls.append("loss")
            return super().loss(*a, **kw)

    net = Counting(5, [6], 3, seed=0)
    first = float(MultiLayerNet(5, [6], 3, seed=0).loss(*blobs(10), train_flg=True))
    tr = make(net, n=10, epochs=1, batch=10, seed=0)   # one step of the whole set: the batch is the set
    tr.train_step()
    assert calls == []                                            # no second forward pass
    after = float(net.loss(tr.x_train, tr.t_train, train_flg=True))
    (recorded,) = tr.train_loss_list       # the loss before the update (approx: the batch is the set, reordered)
    assert recorded == pytest.approx(first, rel=1e-12) and recorded != pytest.approx(after, rel=1e-9)

    book = SoftmaxRegression(5, 3)
    assert not hasattr(book, "loss_and_gradient")
    tr = make(book, n=10, epochs=1, batch=10, seed=0, optimizer="sgd", optimizer_param={"lr": 0.5})
    x10, t10 = tr.x_train, tr.t_train
    ahead = float(SoftmaxRegression(5, 3).loss(x10, t10))
    tr.train_step()
    (recorded,) = tr.train_loss_list
    assert recorded == pytest.approx(book.loss(x10, t10), rel=1e-12) and recorded < ahead     # after the update


# ---------------------------------------------------------------- non-finite losses

def test_nonfinite_gradient_stops_with_epoch_and_step():
    net = SoftmaxRegression(5, 3, nan_at={14})
    tr = make(net, n=105, batch=10)
    before = None
    with pytest.raises(FloatingPointError, match=r"gradient of W .* at epoch 2, step 3 of 11"):
        while True:
            before = net.params["W"].copy()
            tr.train_step()
    np.testing.assert_array_equal(net.params["W"], before)   # not trained on
    assert np.all(np.isfinite(net.params["W"]))


def test_nonfinite_loss_of_a_real_net_stops():
    from fastnn.nets import TwoLayerNet
    x, t = blobs(50)
    net = TwoLayerNet(5, 4, 3, seed=0)
    tr = Trainer(net, x, t, x, t, epochs=3, mini_batch_size=10, optimizer="sgd",
                 optimizer_param={"lr": 1e300}, verbose=False, seed=0)
    with pytest.raises(FloatingPointError, match=r"at epoch \d+, step \d+ of 5"):
        tr.train()
    assert all(np.all(np.isfinite(v)) for v in net.params.values())


def test_nonfinite_skip_warns_and_goes_on():
    net = SoftmaxRegression(5, 3, nan_at={2, 5})
    tr = make(net, n=105, batch=10, epochs=1, nonfinite="skip")
    with pytest.warns(RuntimeWarning, match="skipping the step"):
        tr.train()
    assert tr.skipped_steps == 2 and len(tr.train_loss_list) == 9
    assert np.all(np.isfinite(net.params["W"]))


# ---------------------------------------------------------------- progress output

def test_progress_without_a_terminal_is_one_line_per_epoch(capsys):
    """Output to a pipe or a file (pytest's capture is neither a terminal): no bar and no redraws,
    one line per epoch (as Keras' verbose=2), then the final accuracy; tqdm is installed here."""
    pytest.importorskip("tqdm")
    tr = make(verbose=True, epochs=3).train()
    captured = capsys.readouterr()
    assert captured.err == "" and "\r" not in captured.out
    lines = captured.out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert lines[2].startswith(f"epoch 3/3: loss {np.mean(tr.train_loss_list[-tr.iter_per_epoch:]):.4f}, "
                               f"train acc {tr.train_acc_list[-1]:.4f}, test acc {tr.test_acc_list[-1]:.4f} (")
    assert len(lines) == 4 and "final test accuracy" in lines[3]


#: Two epochs of a small net, verbose, as a user's script; argv[1] == "no-tqdm" hides tqdm.
TERMINAL_SCRIPT = """
import sys
if sys.argv[1] == "no-tqdm":
    sys.modules["tqdm"] = sys.modules["tqdm.auto"] = None
import numpy as np
from fastnn.nets import TwoLayerNet
from fastnn.trainer import Trainer
rng = np.random.default_rng(0)
x, t = rng.random((200, 8)), rng.integers(0, 3, 200)
Trainer(TwoLayerNet(8, 10, 3, seed=0), x, t, x[:50], t[:50], epochs=2, mini_batch_size=10, seed=0).train()
"""


def _on_a_terminal(args):
    """What a process writes to a terminal (a pseudo-terminal, ``os.openpty``, as its stdin, stdout, stderr)."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))   # a 100-column terminal
    proc = subprocess.Popen([sys.executable, "-c", TERMINAL_SCRIPT, *args], stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:      # EIO: the process closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=120) == 0, b"".join(chunks).decode(errors="replace")[-2000:]
    return b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")   # the terminal's newlines


def test_progress_on_a_terminal_is_a_bar():
    pytest.importorskip("tqdm")
    out = _on_a_terminal(["tqdm"])
    assert "\r" in out                          # the bar redraws in place
    assert "epoch 2/2" in out and "20/20" in out and "test_acc=" in out
    assert "epoch 1/2: loss" not in out and "final test accuracy" in out


def test_progress_on_a_terminal_without_tqdm_is_lines():
    out = _on_a_terminal(["no-tqdm"])
    assert "\r" not in out
    assert "  epoch 1 step 4/20: train loss" in out and "epoch 1/2: loss" in out and "epoch 2/2: loss" in out


def test_book_output(capsys):
    """output='book': the book's lines on stdout, no progress bar; the histories are as with 'progress'."""
    tr = make(verbose=True, epochs=2, n=30, batch=10, output="book", seed=3).train()
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert captured.err == ""
    assert lines[0].startswith("=== epoch:1, train acc:") and lines[1].startswith("train loss:")
    assert lines[4] == f"=== epoch:2, train acc:{tr.train_acc_list[0]}, test acc:{tr.test_acc_list[0]} ==="
    assert len(lines) == 2 + 6 + 2 and lines[-1] == f"test acc:{tr.test_acc}"
    quiet = make(verbose=False, epochs=2, n=30, batch=10, seed=3).train()
    assert quiet.train_acc_list == tr.train_acc_list and quiet.train_loss_list == tr.train_loss_list
    with pytest.raises(ValueError, match=r"output must be 'progress' .* or 'book' .*, got 'books'"):
        make(output="books")


def test_silent(capsys):
    make(verbose=False).train()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# ---------------------------------------------------------------- checkpoints

def extend_net():
    from fastnn.nets import MultiLayerNetExtend
    return MultiLayerNetExtend(6, [10, 10], 4, use_dropout=True, dropout_ration=0.2,
                               use_batchnorm=True, weight_decay_lambda=0.01, seed=0)


def extend_trainer(net, epochs, **kw):
    x, t = blobs(70, d=6, k=4)
    xt, tt = blobs(30, d=6, k=4, seed=1)
    return Trainer(net, x, t, xt, tt, epochs=epochs, mini_batch_size=16, optimizer="adam",
                   optimizer_param={"lr": 0.01}, verbose=False, seed=5, **kw)


def test_resume_in_process_is_bit_identical(tmp_path):
    ref = extend_trainer(extend_net(), 4)
    ref.train()

    ck = tmp_path / "run.npz"
    first = extend_trainer(extend_net(), 4, checkpoint_path=ck)
    for _ in range(2 * first.iter_per_epoch + 2):    # two epochs and a bit, then "crash"
        first.train_step()
    with np.load(ck) as z:
        assert json.loads(str(z["__fastnn__"]))["values"]["trainer/epoch"] == 2

    np.random.seed(12345)                             # the global state is part of the checkpoint
    resumed = extend_trainer(extend_net(), 4, checkpoint_path=ck, resume=True)
    assert resumed.resumed_from_epoch == 2 and resumed.current_iter == 2 * resumed.iter_per_epoch
    resumed.train()
    for k, v in ref.network.params.items():
        np.testing.assert_array_equal(resumed.network.params[k], v, err_msg=k)
    for name in ("running_mean", "running_var"):
        np.testing.assert_array_equal(getattr(resumed.network.layers["BatchNorm1"], name),
                                      getattr(ref.network.layers["BatchNorm1"], name))
    assert resumed.train_loss_list == ref.train_loss_list
    assert resumed.test_acc_list == ref.test_acc_list
    assert resumed.test_acc == ref.test_acc


def test_resume_refuses_another_run_and_changes_nothing(tmp_path):
    ck = tmp_path / "run.npz"
    extend_trainer(extend_net(), 1, checkpoint_path=ck).train()
    net = extend_net()
    before = {k: v.copy() for k, v in net.params.items()}
    x, t = blobs(70, d=6, k=4)
    with pytest.raises(ValueError, match="mini_batch_size is 16 in the checkpoint, 10 here"):
        Trainer(net, x, t, x, t, mini_batch_size=10, optimizer="adam", verbose=False,
                checkpoint_path=ck, resume=True)
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(net, x, t, x, t, mini_batch_size=16, optimizer="sgd", verbose=False,
                checkpoint_path=ck, resume=True)
    from fastnn.nets import MultiLayerNetExtend
    other = MultiLayerNetExtend(6, [10, 12], 4, use_dropout=True, use_batchnorm=True, seed=0)
    with pytest.raises(ValueError, match="architecture"):
        Trainer(other, x, t, x, t, mini_batch_size=16, optimizer="adam", verbose=False,
                checkpoint_path=ck, resume=True)
    for k, v in before.items():
        np.testing.assert_array_equal(net.params[k], v)
    ck.write_bytes(ck.read_bytes()[:300])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        extend_trainer(net, 2, checkpoint_path=ck, resume=True)


def test_resume_without_a_checkpoint_starts_fresh(tmp_path):
    tr = extend_trainer(extend_net(), 1, checkpoint_path=tmp_path / "none.npz", resume=True)
    assert tr.resumed_from_epoch is None and tr.current_iter == 0


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from fastnn.nets import MultiLayerNetExtend
    from fastnn.trainer import Trainer

    ck, out, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])
    rng = np.random.default_rng(0)
    t = rng.integers(0, 4, 120)
    x = (3 * rng.standard_normal((4, 6)))[t] + rng.standard_normal((120, 6))
    net = MultiLayerNetExtend(6, [12, 12], 4, use_dropout=True, dropout_ration=0.2,
                              use_batchnorm=True, seed=0)
    step = net.loss_and_gradient
    def slow_step(xb, tb):                # slow the run down so that it can be killed mid-way
        time.sleep(slow)
        return step(xb, tb)
    net.loss_and_gradient = slow_step     # what the Trainer calls for each step
    tr = Trainer(net, x, t, x[:40], t[:40], epochs=6, mini_batch_size=16, optimizer="adam",
                 optimizer_param={"lr": 0.01}, verbose=False, seed=7,
                 checkpoint_path=None if ck == "-" else ck, resume=ck != "-")
    print("start", tr.current_epoch, flush=True)
    tr.train()
    np.savez(out, **{k: v for k, v in net.params.items()})
    print("done", flush=True)
""")


def _checkpoint_epoch(path):
    try:
        with np.load(path) as z:
            return json.loads(str(z["__fastnn__"]))["values"]["trainer/epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    script = tmp_path / "train_run.py"
    script.write_text(KILL_SCRIPT)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    ck, ref_out, res_out = tmp_path / "ck.npz", tmp_path / "ref.npz", tmp_path / "resumed.npz"

    subprocess.run([sys.executable, str(script), "-", str(ref_out), "0"], check=True, env=env,
                   capture_output=True, timeout=300)

    proc = subprocess.Popen([sys.executable, str(script), str(ck), str(tmp_path / "never.npz"), "0.05"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while _checkpoint_epoch(ck) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)      # mid-epoch, after at least two checkpoints
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.npz").exists()
    killed_at = _checkpoint_epoch(ck)
    assert 2 <= killed_at < 6

    out = subprocess.run([sys.executable, str(script), str(ck), str(res_out), "0"], check=True, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.stdout.startswith(f"start {killed_at}")
    with np.load(ref_out) as a, np.load(res_out) as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
