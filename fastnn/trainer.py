"""The book's ``Trainer`` (``common/trainer.py``): mini-batch training with per-epoch evaluation.

Same signature, attributes and methods as the book — ``Trainer(network,
x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
optimizer='SGD', optimizer_param={'lr': 0.01},
evaluate_sample_num_per_epoch=None, verbose=True)``, ``train()``,
``train_step()``, ``train_loss_list``, ``train_acc_list``, ``test_acc_list`` —
for any net with the book's interface (``params``, ``gradient``, ``loss``,
``accuracy``), plus:

- ``seed`` (None, an int or a ``np.random.Generator``, by fastnn's one seed
  rule ``fastnn._random.as_generator``; None: fresh entropy): the order of
  the mini-batches; the same seed (and the same initial net) gives the same
  numbers, bit for bit;
- a progress bar per epoch with tqdm (``pip install tqdm``; plain lines
  without it), loss and accuracy in the bar, on a terminal; where the output
  is not a terminal (a pipe, a log file, CI), one line per epoch instead;
  ``verbose=False`` is silent;
  ``output='book'`` prints the book's lines instead (what ``python -m
  fastnn.compat`` scripts get from ``common.trainer``);
- ``checkpoint_path``: after every epoch the whole run (``state_dict()``:
  parameters, batch norm statistics, optimizer state, every random
  generator's state, counters and histories) is written atomically
  (``fastnn.io``); ``resume=True`` continues from that file, to the same
  final weights as a run never interrupted;
- a loss or gradient that is NaN or infinite stops training with a
  ``FloatingPointError`` naming the epoch and step, before the parameters
  are touched (``nonfinite='skip'``: warn, skip that step, go on);
- ``validation`` (a fraction such as 0.1, held out of the training set per
  class by ``fastnn.datasets.split_per_class``, the split ``fastnn tune``
  uses; or a pair ``(x_val, t_val)``): after every epoch the validation loss
  and accuracy go into ``val_loss_list`` and ``val_acc_list``; the test set
  is still evaluated only where the book evaluates it;
- ``early_stopping`` (a patience, or a ``fastnn.early_stopping.EarlyStopping``):
  stop when the watched figure (validation loss by default) has not
  improved for that many epochs, and put back the best epoch's parameters
  (``restore_best``); ``stop_reason`` says when and why;
- ``lr_schedule`` (a name — step, exponential, cosine, plateau — or a
  ``fastnn.schedules.LRSchedule``): sets the optimizer's ``lr`` before every
  step; ``lr_list`` records the rate of each epoch's last step;
- ``augment`` (a ``fastnn.augment.Augment`` or a dict of its arguments):
  applied to every training mini-batch, never to the sets it evaluates.

All four are off by default: without them a run computes and prints what
it always did. Their state (the schedule's, the early stopper's, the
augmentation's generator) is part of ``state_dict()`` and the checkpoints.

Differences from the book, on purpose: each epoch visits every training
sample once, in a fresh random order (the book draws every mini-batch
independently, with replacement); an epoch has ``ceil(N / batch)`` steps, the
last one possibly smaller (the book's float iterations-per-epoch records a
single accuracy when N is not a multiple of the batch size); for a net
with ``loss_and_gradient(x, t)`` (every fastnn net: ``Sequential``) the
recorded loss is that of the forward pass the gradient came from, so no
extra forward pass is paid. A book-style net without that method gets the
book's two calls: ``gradient``, the update, then ``loss`` on the same batch.
"""
from __future__ import annotations

import copy
import math
import numbers
import os
import sys
import time
import warnings
from collections.abc import Mapping

import numpy as np

from . import io
from ._random import as_generator, check_generator_state, generator_state, set_generator_state
from ._validate import as_float_array, check_scalar, describe_value
from .augment import Augment
from .datasets import split_per_class
from .early_stopping import EarlyStopping
from .io import format1
from .nets.half import TRAINING_REFUSED
from .nets.model_file import model_record_fields
from .optimizer import get_optimizer
from .schedules import make_schedule

__all__ = ["Trainer"]

#: Samples per call when accuracy is computed over a large set (bounds the memory of conv nets).
EVAL_CHUNK = 1000


def _check_net(network) -> None:
    missing = [name for name in ("params", "gradient", "loss", "accuracy") if not hasattr(network, name)]
    if missing:
        raise TypeError(f"network must have the book's net interface (params, gradient, loss, accuracy); "
                        f"{describe_value(network)} lacks {', '.join(missing)}")


def _check_labels(t, n: int, name: str, x_name: str) -> np.ndarray:
    if not isinstance(t, np.ndarray):
        t = np.asarray(t)
    if t.dtype.kind not in "iubf":
        raise TypeError(f"{name} must hold integer labels or one-hot rows, got {describe_value(t)}")
    if t.ndim == 0 or t.shape[0] != n:
        raise ValueError(f"{name} must have one label (or one-hot row) per sample of {x_name}: "
                         f"expected {n} rows, got shape {t.shape}")
    if t.dtype.kind == "f" and not np.all(np.isfinite(t)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return t


def _check_data(x, t, x_name: str, t_name: str):
    x = as_float_array(x, x_name, min_ndim=2)
    if not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)).ravel()
        raise ValueError(f"{x_name} holds NaN or infinite values (sample {bad[0]} and "
                         f"{bad.size - 1} more); clean the data before training")
    return x, _check_labels(t, x.shape[0], t_name, x_name)


def _check_same_kind(x_train, t_train, x_test, t_test, x_name="x_test", t_name="t_test") -> None:
    """The test set must be shaped like the training set, so the evaluation after epoch 1 cannot fail."""
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"{x_name} must have the sample shape of x_train: x_train has samples of shape "
                         f"{x_train.shape[1:]}, {x_name} of shape {x_test.shape[1:]}; reshape or flatten "
                         "both the same way")
    if t_train.ndim != t_test.ndim or t_train.shape[1:] != t_test.shape[1:]:
        raise ValueError(f"{t_name} must be labelled like t_train (both class numbers or both one-hot rows "
                         f"of one width): t_train has shape {t_train.shape}, {t_name} {t_test.shape}")


def _validation_sets(validation, x_train, t_train):
    """``(x_train, t_train, x_val, t_val)``: a fraction held out per class, or the given pair checked."""
    if isinstance(validation, tuple):
        if len(validation) != 2:
            raise TypeError(f"validation must be a fraction such as 0.1 or a pair (x_val, t_val), got a tuple "
                            f"of {len(validation)}")
        x_val, t_val = _check_data(validation[0], validation[1], "x_val", "t_val")
        _check_same_kind(x_train, t_train, x_val, t_val, "x_val", "t_val")
        return x_train, t_train, x_val, t_val
    if isinstance(validation, (numbers.Real, np.floating)) and not isinstance(validation, (bool, np.bool_)):
        kept, held = split_per_class(t_train, validation, name="validation")
        return x_train[kept], t_train[kept], x_train[held], t_train[held]
    raise TypeError(f"validation must be a fraction such as 0.1 or a pair (x_val, t_val), got {describe_value(validation)}")


def _copy_net_state(net) -> dict:
    """The net's ``state_dict()`` (or copies of ``params`` for a book-style net without one)."""
    if hasattr(net, "state_dict"):
        return net.state_dict()
    return {f"param/{k}": np.array(v, copy=True) for k, v in net.params.items()}


def _interactive(stream) -> bool:
    """Whether ``stream`` is a terminal (or a Jupyter kernel's output, where tqdm draws a widget)."""
    if type(stream).__module__.startswith("ipykernel"):
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):   # no isatty, or a closed stream
        return False


def _progress_style():
    """How 'progress' output shows, from where it goes now: ``('bar', tqdm)`` when standard error is a
    terminal and tqdm is installed; ``('lines', None)`` on a terminal without tqdm (a few step lines
    and a line per epoch); ``('epochs', None)`` otherwise (a pipe, a log file, CI: one line per
    epoch, as Keras' ``verbose=2``; a bar there would write every redraw into the log)."""
    if _interactive(sys.stderr):
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            return "bar", tqdm
    return ("lines" if _interactive(sys.stdout) else "epochs"), None


class Trainer:
    """Train ``network`` on ``(x_train, t_train)``, evaluating on ``(x_test, t_test)`` every epoch.

    Parameters
    ----------
    network : a net with ``params``, ``gradient(x, t)``, ``loss(x, t)``, ``accuracy(x, t)``
    x_train, x_test : float32/float64 arrays (N, ...) — (N, D) or (N, C, H, W)
    t_train, t_test : labels (N,) or one-hot rows (N, classes)
    epochs : int >= 1
    mini_batch_size : int >= 1
    optimizer : str or Optimizer
        sgd, momentum, nesterov, adagrad, rmsprop, adam (any case), or an
        optimizer object with ``update(params, grads)``.
    optimizer_param : dict
        Its hyperparameters, e.g. ``{'lr': 0.01}``.
    evaluate_sample_num_per_epoch : int, optional
        Per-epoch accuracies use the first this-many samples of each set
        (None: all of them). The final test accuracy always uses all.
    verbose : bool
        Progress bar (tqdm, on a terminal) or lines per epoch; False: silent.
    output : 'progress' or 'book', keyword-only
        What ``verbose`` prints. 'progress' (the default): fastnn's progress
        bar or lines. 'book': the book's lines, so a run can be held against
        its pages — ``train loss:L`` after every step, ``=== epoch:k, train
        acc:A, test acc:B ===`` before the steps of epoch k with the
        accuracies of the net as that epoch begins (for epoch 1 the untrained
        net, measured for this line), and at the end ``=============== Final
        Test Accuracy ===============`` and ``test acc:X``. The recorded
        histories are the same either way.
    seed : None, int or numpy.random.Generator, keyword-only
        The source of the mini-batch order.
    checkpoint_path : str or path, optional, keyword-only
        Write a checkpoint there after every epoch (atomically).
    resume : bool, keyword-only
        If ``checkpoint_path`` exists, continue the run it holds.
    nonfinite : 'raise' or 'skip', keyword-only
        What a NaN/inf loss or gradient does: stop with ``FloatingPointError``,
        or skip the step with a ``RuntimeWarning``.
    validation : float in (0, 1) or (x_val, t_val), optional, keyword-only
        A fraction of each class of the training set held out (no random
        numbers: the same images on every machine), or a validation set.
    early_stopping : int or EarlyStopping, optional, keyword-only
        A patience (epochs without improvement of the validation loss), or an
        ``EarlyStopping`` with its monitor, ``min_delta`` and ``restore_best``.
    lr_schedule : str or LRSchedule, optional, keyword-only
        step, exponential, cosine, plateau (their defaults) or a schedule object.
    augment : Augment or dict, optional, keyword-only
        Applied to every training mini-batch.

    Attributes
    ----------
    train_loss_list : list of float, one per step
    train_acc_list, test_acc_list : list of float, one per epoch
    val_loss_list, val_acc_list : list of float, one per epoch (with ``validation``)
    lr_list : list of float, the learning rate of each epoch's last step
    stop_reason : str or None — why early stopping ended the run
    stopped_epoch : int or None — the epoch after which it did
    test_acc : float — the final accuracy on the whole test set (after ``train()``)
    current_epoch, current_iter : int — epochs and steps done
    epoch_times : list of float — seconds per epoch (this session's epochs)
    skipped_steps : int — steps skipped with ``nonfinite='skip'``
    """

    def __init__(self, network, x_train, t_train, x_test, t_test, epochs=20, mini_batch_size=100,
                 optimizer="SGD", optimizer_param={"lr": 0.01},  # noqa: B006 (the book's default, never mutated)
                 evaluate_sample_num_per_epoch=None, verbose=True, *,
                 seed=None, checkpoint_path=None, resume=False, nonfinite="raise", output="progress",
                 validation=None, early_stopping=None, lr_schedule=None, augment=None):
        _check_net(network)
        if getattr(network, "half_store", None) is not None:
            raise TypeError("network: " + TRAINING_REFUSED.format(dtype=str(network.dtype)))
        self.network = network
        self._fused_loss = callable(getattr(network, "loss_and_gradient", None))
        self.x_train, self.t_train = _check_data(x_train, t_train, "x_train", "t_train")
        self.x_test, self.t_test = _check_data(x_test, t_test, "x_test", "t_test")
        _check_same_kind(self.x_train, self.t_train, self.x_test, self.t_test)
        self.x_val = self.t_val = None
        if validation is not None:
            self.x_train, self.t_train, self.x_val, self.t_val = _validation_sets(validation, self.x_train,
                                                                                  self.t_train)
        self.epochs = check_scalar(epochs, "epochs", integer=True, positive=True)
        self.batch_size = check_scalar(mini_batch_size, "mini_batch_size", integer=True, positive=True)
        if evaluate_sample_num_per_epoch is not None:
            evaluate_sample_num_per_epoch = check_scalar(
                evaluate_sample_num_per_epoch, "evaluate_sample_num_per_epoch", integer=True, positive=True)
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch
        self.verbose = bool(verbose)
        if nonfinite not in ("raise", "skip"):
            raise ValueError(f"nonfinite must be 'raise' or 'skip', got {nonfinite!r}")
        self.nonfinite = nonfinite
        if output not in ("progress", "book"):
            raise ValueError(f"output must be 'progress' (fastnn's progress display) or 'book' (the book's "
                             f"lines), got {output!r}")
        self.output = output

        if hasattr(optimizer, "update") and not isinstance(optimizer, (str, type)):
            self.optimizer = optimizer          # an optimizer object: its own hyperparameters
        else:
            if not isinstance(optimizer_param, dict):
                raise TypeError(f"optimizer_param must be a dict of hyperparameters, got {describe_value(optimizer_param)}")
            self.optimizer = get_optimizer(optimizer, **optimizer_param)

        self.rng = as_generator(seed, "seed")
        self._setup_extras(early_stopping, lr_schedule, augment)

        if checkpoint_path is not None:   # writable where asked, checked before the first epoch runs
            checkpoint_path = io.check_output_file(checkpoint_path, "checkpoint_path", example="run.npz")
        self.checkpoint_path = checkpoint_path
        if resume and self.checkpoint_path is None:
            raise ValueError("resume=True needs a checkpoint_path to resume from")
        if self.checkpoint_path is not None and not hasattr(self.optimizer, "state_dict"):
            raise TypeError("checkpoint_path needs an optimizer with state_dict()/load_state_dict() "
                            f"(fastnn's optimizers have them), got {describe_value(self.optimizer)}")

        self.train_size = self.x_train.shape[0]
        self.iter_per_epoch = math.ceil(self.train_size / self.batch_size)
        self.max_iter = self.epochs * self.iter_per_epoch
        self.current_iter = 0
        self.current_epoch = 0
        self.skipped_steps = 0
        self.train_loss_list: list = []
        self.train_acc_list: list = []
        self.test_acc_list: list = []
        self.val_loss_list: list = []
        self.val_acc_list: list = []
        self.lr_list: list = []
        self.stop_reason = None
        self.stopped_epoch = None
        self.epoch_times: list = []
        self.test_acc = None
        self._order = None
        self._bar = None
        self._style = None     # this epoch's progress style (``_progress_style``)
        self._epoch_start = None
        self.resumed_from_epoch = None
        if resume and os.path.exists(self.checkpoint_path):
            self.load_checkpoint(self.checkpoint_path)
            self.resumed_from_epoch = self.current_epoch

    def _setup_extras(self, early_stopping, lr_schedule, augment) -> None:
        """Check and keep the optional parts: early stopping, the learning-rate schedule, augmentation."""
        def needs_figure(monitor, what):
            if monitor.startswith("val_") and self.x_val is None:
                raise ValueError(f"{what} watches {monitor!r}, which needs a validation set: give validation=0.1 "
                                 "(or validation=(x_val, t_val)), or monitor='train_loss'")

        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                if isinstance(early_stopping, bool) or not isinstance(early_stopping, (numbers.Integral, np.integer)):
                    raise TypeError(f"early_stopping must be a patience (an int >= 1) or an EarlyStopping, "
                                    f"got {describe_value(early_stopping)}")
                early_stopping = EarlyStopping(patience=early_stopping)
            needs_figure(early_stopping.monitor, "early_stopping")
        self.early_stopping = early_stopping
        if lr_schedule is not None:
            lr_schedule = make_schedule(lr_schedule)
            if not hasattr(self.optimizer, "lr"):
                raise TypeError(f"lr_schedule sets the optimizer's lr, but {describe_value(self.optimizer)} has none")
            lr_schedule.start(self.optimizer.lr, self.epochs)
            if getattr(lr_schedule, "monitor", None):
                needs_figure(lr_schedule.monitor, "lr_schedule")
        self.lr_schedule = lr_schedule
        if augment is not None:
            if isinstance(augment, dict):
                augment = Augment(**augment)
            elif not isinstance(augment, Augment):
                raise TypeError(f"augment must be an Augment or a dict of its arguments (such as "
                                f"{{'shift': 2, 'rotate': 10}}), got {describe_value(augment)}")
            augment.check_input(self.x_train, "x_train")
        self.augment = augment

    # -- one step ---------------------------------------------------------------------------------
    def _next_batch(self):
        step = self.current_iter % self.iter_per_epoch
        if step == 0 or self._order is None:
            self._order = self.rng.permutation(self.train_size)
        idx = self._order[step * self.batch_size:(step + 1) * self.batch_size]
        if self.augment is not None:        # training batches only; the evaluation sets are never augmented
            return self.augment(self.x_train[idx]), self.t_train[idx]
        return self.x_train[idx], self.t_train[idx]

    def _nonfinite(self, what: str, epoch: int, step: int) -> bool:
        """Report a non-finite loss or gradient; True means: skip this step."""
        msg = (f"{what} at epoch {epoch}, step {step} of {self.iter_per_epoch} (iteration {self.current_iter + 1}); "
               "the parameters were not updated. A smaller learning rate, gradient-friendly "
               "initialisation or clean input data usually cures this")
        if self.nonfinite == "raise":
            raise FloatingPointError(msg)
        warnings.warn(msg + "; skipping the step (nonfinite='skip')", RuntimeWarning, stacklevel=3)
        self.skipped_steps += 1
        return True

    def train_step(self):
        """One mini-batch step; at the end of an epoch, evaluate (and checkpoint). Returns the loss."""
        if self.current_iter >= self.max_iter:
            raise RuntimeError(f"training is complete ({self.max_iter} steps); make a new Trainer to train more")
        if self.stop_reason is not None:
            raise RuntimeError(f"early stopping ended this run after epoch {self.stopped_epoch}: {self.stop_reason}")
        epoch = self.current_epoch + 1
        step = self.current_iter % self.iter_per_epoch + 1
        if step == 1:
            self._begin_epoch(epoch)
        if self.lr_schedule is not None:
            self.optimizer.lr = self.lr_schedule.lr_at(self.current_iter, self.iter_per_epoch)
        x_batch, t_batch = self._next_batch()

        if self._fused_loss:           # the loss of the forward pass the gradient ran, from the net itself
            loss, grads = self.network.loss_and_gradient(x_batch, t_batch)
        else:                          # a book-style net: the book's two calls, the loss after the update
            loss, grads = None, self.network.gradient(x_batch, t_batch)
        skip = False
        if loss is not None and not math.isfinite(loss):
            skip = self._nonfinite(f"the loss became {loss}", epoch, step)
        if not skip:
            for key, g in grads.items():
                if not np.all(np.isfinite(g)):
                    skip = self._nonfinite(f"the gradient of {key} holds NaN or infinite values", epoch, step)
                    break
        if not skip:
            self.optimizer.update(self.network.params, grads)
            if loss is None:       # a net that does not keep its loss: the book's way, after the update
                loss = float(self.network.loss(x_batch, t_batch))
                if not math.isfinite(loss):
                    self._nonfinite(f"the loss became {loss}", epoch, step)
            if math.isfinite(loss):
                self.train_loss_list.append(loss)
        self.current_iter += 1
        if self._bar is not None:
            if loss is not None and math.isfinite(loss):
                self._bar.set_postfix_str(f"loss={loss:.4f}" + self._lr_text("={:.3g}"), refresh=False)
            self._bar.update(1)
        elif self.verbose and self.output == "book" and loss is not None:
            print("train loss:" + str(loss))
        elif self.verbose and self._style == "lines" and loss is not None and self._should_print_step(step):
            print(f"  epoch {epoch} step {step}/{self.iter_per_epoch}: train loss {loss:.4f}"
                  + self._lr_text(" {:.3g}"), flush=True)

        if self.current_iter % self.iter_per_epoch == 0:
            self._end_epoch(epoch)
        return loss

    def _lr_text(self, form: str) -> str:
        """', lr' and the current rate in ``form`` where a schedule moves it ('' otherwise: today's output)."""
        if self.lr_schedule is None:
            return ""
        return (" lr" if form.startswith("=") else ", lr") + form.format(self.optimizer.lr)

    def _should_print_step(self, step: int) -> bool:
        every = max(1, self.iter_per_epoch // 5)
        return step % every == 0 and step != self.iter_per_epoch

    # -- epochs -----------------------------------------------------------------------------------
    def _begin_epoch(self, epoch: int) -> None:
        if self.verbose and self.output == "book":
            if epoch == 1 or not self.train_acc_list:   # the accuracies of the net as it is now
                train_acc, test_acc = self._evaluate()
            else:                                       # measured at the end of the epoch before
                train_acc, test_acc = self.train_acc_list[-1], self.test_acc_list[-1]
            print("=== epoch:" + str(epoch) + ", train acc:" + str(train_acc) + ", test acc:" + str(test_acc)
                  + " ===")
        self._epoch_start = time.perf_counter()
        if self.verbose and self.output == "progress":
            self._style, tqdm = _progress_style()
            if tqdm is not None:
                self._bar = tqdm(total=self.iter_per_epoch, desc=f"epoch {epoch}/{self.epochs}",
                                 unit="step", leave=True, dynamic_ncols=True, file=sys.stderr)

    def accuracy(self, x, t) -> float:
        """Accuracy of the net on ``(x, t)``, computed ``EVAL_CHUNK`` samples at a time."""
        n = x.shape[0]
        correct = 0.0
        for start in range(0, n, EVAL_CHUNK):
            xs, ts = x[start:start + EVAL_CHUNK], t[start:start + EVAL_CHUNK]
            correct += float(self.network.accuracy(xs, ts)) * xs.shape[0]
        return correct / n

    def _evaluate(self):
        k = self.evaluate_sample_num_per_epoch
        x_tr, t_tr, x_te, t_te = self.x_train, self.t_train, self.x_test, self.t_test
        if k is not None:
            x_tr, t_tr, x_te, t_te = x_tr[:k], t_tr[:k], x_te[:k], t_te[:k]
        return self.accuracy(x_tr, t_tr), self.accuracy(x_te, t_te)

    def validate(self):
        """``(loss, accuracy)`` of the net on the validation set (``EVAL_CHUNK`` samples at a time)."""
        x, t = self.x_val, self.t_val
        if x is None:
            raise RuntimeError("this Trainer has no validation set (give validation=0.1 or (x_val, t_val))")
        total = 0.0
        for start in range(0, x.shape[0], EVAL_CHUNK):
            xs, ts = x[start:start + EVAL_CHUNK], t[start:start + EVAL_CHUNK]
            total += float(self.network.loss(xs, ts)) * xs.shape[0]
        return total / x.shape[0], self.accuracy(x, t)

    def _end_epoch(self, epoch: int) -> None:
        train_acc, test_acc = self._evaluate()
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)
        self.current_epoch = epoch
        elapsed = time.perf_counter() - self._epoch_start if self._epoch_start is not None else float("nan")
        self.epoch_times.append(elapsed)
        recent = self.train_loss_list[-self.iter_per_epoch:]
        mean_loss = float(np.mean(recent)) if recent else float("nan")
        figures = {"train_loss": mean_loss, "train_acc": train_acc}
        shown = []              # what the progress shows beyond today's figures: (name, value, format)
        if self.x_val is not None:
            val_loss, val_acc = self.validate()
            self.val_loss_list.append(val_loss)
            self.val_acc_list.append(val_acc)
            figures.update(val_loss=val_loss, val_acc=val_acc)
            shown += [("val loss", val_loss, ".4f"), ("val acc", val_acc, ".4f")]
        lr = getattr(self.optimizer, "lr", None)
        self.lr_list.append(float("nan") if lr is None else float(lr))
        if self.lr_schedule is not None:
            self.lr_schedule.epoch_end(figures)
            shown.append(("lr", lr, ".3g"))
        es = self.early_stopping
        if es is not None and es.epoch_end(epoch, figures, self._best_candidate):
            self.stop_reason, self.stopped_epoch = es.reason, epoch
        if self._bar is not None:
            self._bar.set_postfix_str(f"loss={mean_loss:.4f} train_acc={train_acc:.4f} test_acc={test_acc:.4f}"
                                      + "".join(f" {n.replace(' ', '_')}={v:{f}}" for n, v, f in shown),
                                      refresh=True)
            self._bar.close()
            self._bar = None
        elif self.verbose and self.output == "progress":
            print(f"epoch {epoch}/{self.epochs}: loss {mean_loss:.4f}, train acc {train_acc:.4f}, "
                  f"test acc {test_acc:.4f}" + "".join(f", {n} {v:{f}}" for n, v, f in shown)
                  + f" ({elapsed:.1f} s)", flush=True)
        if self.checkpoint_path is not None:
            self.save_checkpoint(self.checkpoint_path)

    def train(self):
        """Run the remaining steps of all epochs, then measure ``test_acc`` on the whole test set.

        Returns ``self`` (so ``Trainer(...).train().test_acc`` reads well).
        """
        try:
            while self.current_iter < self.max_iter and self.stop_reason is None:
                self.train_step()
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        restored = self._restore_best()
        if self.stop_reason is not None and self.verbose:
            print(f"early stopping after epoch {self.stopped_epoch} of {self.epochs}: {self.stop_reason}", flush=True)
        if restored and self.verbose:
            print(f"restored the parameters of epoch {self.early_stopping.best_epoch} (the best "
                  f"{self.early_stopping.monitor})", flush=True)
        k = self.evaluate_sample_num_per_epoch
        if not restored and self.test_acc_list and (k is None or k >= self.x_test.shape[0]):
            self.test_acc = self.test_acc_list[-1]   # the last epoch's evaluation already used the whole test set
        else:
            self.test_acc = self.accuracy(self.x_test, self.t_test)
        if self.verbose and self.output == "book":
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(self.test_acc), flush=True)
        elif self.verbose:
            print(f"=============== final test accuracy: {self.test_acc:.4f} ===============", flush=True)
        return self

    def _best_candidate(self) -> dict:
        """The net's parameters and statistics now, for early stopping's best epoch."""
        return {k: v for k, v in _copy_net_state(self.network).items() if k.startswith(("param/", "state/"))}

    def _restore_best(self) -> bool:
        """With ``restore_best``: put the best epoch's parameters back if the last epoch was not the best."""
        es = self.early_stopping
        if es is None or not es.restore_best or es.best_state is None or es.best_epoch in (0, self.current_epoch):
            return False
        _load_net_state(self.network, es.best_state)
        return True

    # -- state and checkpoints ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue this run exactly, as a flat dict of arrays and JSON-able values.

        ``'net/...'``: the net's ``state_dict()`` (or ``'net/param/<key>'``
        for a net without one); ``'optimizer/...'``: the optimizer's;
        ``'trainer/epoch'``, ``'trainer/iteration'``, ``'trainer/skipped_steps'``,
        ``'trainer/train_size'``, ``'trainer/mini_batch_size'``: ints;
        ``'trainer/train_loss'``, ``'trainer/train_acc'``, ``'trainer/test_acc'``:
        the histories; ``'trainer/rng'``, ``'trainer/global_rng'``: the states of
        the mini-batch generator and of NumPy's global one. With the optional
        parts only: ``'trainer/val_size'``, ``'trainer/val_loss'``,
        ``'trainer/val_acc'`` (validation); ``'trainer/lr'`` and
        ``'schedule/...'`` (the schedule's ``state_dict()``);
        ``'early_stopping/...'`` (its counts, and ``'early_stopping/best/...'``
        the best epoch's net state); ``'augment/rng'`` (the augmentation's
        generator). A run without them saves what it always saved.
        """
        net = self.network
        net_state = net.state_dict() if hasattr(net, "state_dict") else \
            {f"param/{k}": np.array(v, copy=True) for k, v in net.params.items()}
        out = {f"net/{k}": v for k, v in net_state.items()}
        out.update({f"optimizer/{k}": v for k, v in self.optimizer.state_dict().items()})
        out.update({
            "trainer/epoch": self.current_epoch, "trainer/iteration": self.current_iter,
            "trainer/skipped_steps": self.skipped_steps, "trainer/train_size": self.train_size,
            "trainer/mini_batch_size": self.batch_size,
            "trainer/train_loss": np.asarray(self.train_loss_list, dtype=np.float64),
            "trainer/train_acc": np.asarray(self.train_acc_list, dtype=np.float64),
            "trainer/test_acc": np.asarray(self.test_acc_list, dtype=np.float64),
            "trainer/rng": generator_state(self.rng),
            "trainer/global_rng": generator_state(None),
        })
        out.update(self._extras_state())
        return out

    def _extras_state(self) -> dict:
        """The optional parts' entries: validation histories, ``schedule/``, ``early_stopping/``, ``augment/``."""
        out = {}
        if self.x_val is not None:
            out.update({"trainer/val_size": int(self.x_val.shape[0]),
                        "trainer/val_loss": np.asarray(self.val_loss_list, dtype=np.float64),
                        "trainer/val_acc": np.asarray(self.val_acc_list, dtype=np.float64)})
        if self.lr_schedule is not None:
            out["trainer/lr"] = np.asarray(self.lr_list, dtype=np.float64)
            out.update({f"schedule/{k}": v for k, v in self.lr_schedule.state_dict().items()})
        if self.early_stopping is not None:
            out.update({f"early_stopping/{k}": v for k, v in self.early_stopping.state_dict().items()})
        if self.augment is not None:
            out["augment/rng"] = generator_state(self.augment.rng)
        return out

    def _checked_extras(self, state, epoch: int) -> dict:
        """The optional parts' entries of ``state``, checked on copies (``ValueError``); nothing applied."""
        def part(prefix):
            return {k[len(prefix):]: v for k, v in state.items() if str(k).startswith(prefix)}

        checked = {}
        self._check_same_options(state)
        if self.x_val is not None:
            if _counter(state, "val_size") != self.x_val.shape[0]:
                raise ValueError(f"validation-set size is {_counter(state, 'val_size')} in the checkpoint, "
                                 f"{self.x_val.shape[0]} here")
            for name in ("val_loss", "val_acc"):
                value = np.asarray(state.get(f"trainer/{name}", np.zeros(0)), dtype=np.float64)
                if value.shape != (epoch,) or not np.all(np.isfinite(value)):
                    raise ValueError(f"trainer/{name} must hold {epoch} finite numbers, got shape {value.shape}")
                checked[name] = value.tolist()
        lr = state.get("trainer/lr")
        if lr is None:           # saved without a schedule: the optimizer's one rate throughout
            lr = np.full(epoch, float(getattr(self.optimizer, "lr", float("nan"))))
        checked["lr"] = np.asarray(lr, dtype=np.float64).tolist()
        if len(checked["lr"]) != epoch:
            raise ValueError(f"trainer/lr holds {len(checked['lr'])} rates for {epoch} epochs")
        if self.lr_schedule is not None:
            trial = copy.deepcopy(self.lr_schedule)
            trial.load_state_dict(part("schedule/"))
            checked["schedule"] = part("schedule/")
        if self.early_stopping is not None:
            trial = copy.deepcopy(self.early_stopping)
            trial.load_state_dict(part("early_stopping/"))
            if trial.best_epoch > epoch or (trial.stopped_epoch is not None and trial.stopped_epoch != epoch):
                raise ValueError(f"the early-stopping state (best epoch {trial.best_epoch}, stopped after "
                                 f"{trial.stopped_epoch}) does not fit the {epoch} epochs recorded")
            if trial.best_state is not None:
                _check_net_state(self.network, trial.best_state, "early_stopping/best")
            checked["early_stopping"] = part("early_stopping/")
        if self.augment is not None:
            check_generator_state(self.augment.rng, state["augment/rng"], "augment/rng")
            checked["augment_rng"] = state["augment/rng"]
        return checked

    def _check_same_options(self, keys) -> None:
        """The saved run had the same optional parts as this one (``ValueError`` naming the first that differs)."""
        keys = [str(k) for k in keys]
        for what, prefix, ours, option in (
                ("a validation set", "trainer/val_", self.x_val, "validation="),
                ("a learning-rate schedule", "schedule/", self.lr_schedule, "lr_schedule="),
                ("early stopping", "early_stopping/", self.early_stopping, "early_stopping="),
                ("augmentation", "augment/", self.augment, "augment=")):
            saved = any(k.startswith(prefix) for k in keys)
            if saved != (ours is not None):
                raise ValueError(f"the checkpoint was saved {'with' if saved else 'without'} {what}, this run is "
                                 f"{'without' if saved else 'with'} it; resume with the same {option} as the saved run")

    def _load_extras(self, checked: dict) -> None:
        self.val_loss_list, self.val_acc_list = checked.get("val_loss", []), checked.get("val_acc", [])
        self.lr_list = checked["lr"]
        if self.lr_schedule is not None:
            self.lr_schedule.load_state_dict(checked["schedule"])
        self.stop_reason = self.stopped_epoch = None
        if self.early_stopping is not None:
            self.early_stopping.load_state_dict(checked["early_stopping"])
            if self.early_stopping.stopped_epoch is not None:
                self.stop_reason, self.stopped_epoch = self.early_stopping.reason, self.early_stopping.stopped_epoch
        if self.augment is not None:
            set_generator_state(self.augment.rng, checked["augment_rng"])

    def _checked_trainer_state(self, state) -> dict:
        """The ``trainer/`` entries of ``state``, checked against this run and each other (``ValueError``)."""
        def count(name):
            return _counter(state, name)

        def history(name, length=None):
            value = np.asarray(state.get(f"trainer/{name}", np.zeros(0)))
            if value.ndim != 1 or value.dtype.kind not in "fiu" or not np.all(np.isfinite(value)):
                raise ValueError(f"trainer/{name} must be a 1-D array of finite numbers, got {value.dtype} "
                                 f"of shape {value.shape}")
            if length is not None and value.size != length:
                raise ValueError(f"trainer/{name} holds {value.size} values for {length} epochs")
            return value.astype(np.float64).tolist()

        checked = {name: count(name) for name in ("epoch", "iteration", "skipped_steps")}
        for what, name, ours in (("training-set size", "train_size", self.train_size),
                                 ("mini_batch_size", "mini_batch_size", self.batch_size)):
            if count(name) != ours:
                raise ValueError(f"{what} is {count(name)} in the checkpoint, {ours} here")
        epoch, iteration = checked["epoch"], checked["iteration"]
        if epoch > self.epochs:
            raise ValueError(f"the run saved there has already done {epoch} epochs; this training run has "
                             f"{self.epochs} (give epochs={epoch} or more)")
        if iteration != epoch * self.iter_per_epoch:
            raise ValueError(f"the counters disagree: {iteration} steps recorded for {epoch} epochs of "
                             f"{self.iter_per_epoch} steps")
        if checked["skipped_steps"] > iteration:
            raise ValueError(f"trainer/skipped_steps ({checked['skipped_steps']}) exceeds the {iteration} steps")
        checked["train_loss"] = history("train_loss")
        if len(checked["train_loss"]) > iteration:
            raise ValueError(f"trainer/train_loss holds {len(checked['train_loss'])} losses for {iteration} steps")
        checked["train_acc"] = history("train_acc", epoch)
        checked["test_acc"] = history("test_acc", epoch)
        for name, gen in (("rng", self.rng), ("global_rng", np.random.RandomState())):
            if f"trainer/{name}" not in state:
                raise ValueError(f"the state lacks trainer/{name}")
            check_generator_state(gen, state[f"trainer/{name}"], f"trainer/{name}")
            checked[name] = state[f"trainer/{name}"]
        return checked

    def load_state_dict(self, state) -> None:
        """Put a ``state_dict()`` back into this run: net, optimizer, generators, counters, histories.

        All of it is checked first — it must come from a run of this net,
        optimizer, training-set size and batch size, with counters that
        agree — and on ``ValueError``/``TypeError`` nothing has changed.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict from state_dict(), got {describe_value(state)}")
        ours = {f"trainer/{k}" for k in ("epoch", "iteration", "skipped_steps", "train_size", "mini_batch_size",
                                         "train_loss", "train_acc", "test_acc", "rng", "global_rng", "lr",
                                         "val_size", "val_loss", "val_acc")}
        unknown = sorted(str(k) for k in state if not (str(k).startswith(
            ("net/", "optimizer/", "schedule/", "early_stopping/", "augment/")) or k in ours))
        if unknown:
            raise ValueError(f"the state has unknown entries {unknown}")
        checked = self._checked_trainer_state(state)
        extras = self._checked_extras(state, checked["epoch"])
        net, optimizer = self.network, self.optimizer
        net_state = {k[len("net/"):]: v for k, v in state.items() if k.startswith("net/")}
        opt_state = {k[len("optimizer/"):]: v for k, v in state.items() if k.startswith("optimizer/")}
        saved_name = str(np.asarray(opt_state.get("optimizer", "")))
        if saved_name != type(optimizer).__name__:
            raise ValueError(f"optimizer is {saved_name!r} in the checkpoint, {type(optimizer).__name__!r} here")
        params = net.params
        for entry, value in opt_state.items():
            slot, _, key = entry.partition("/")
            if slot in getattr(optimizer, "state_names", ()) and \
                    (key not in params or np.shape(value) != params[key].shape):
                raise ValueError(f"optimizer/{entry} has shape {np.shape(value)}, but the net has "
                                 + (f"{key} of shape {params[key].shape}" if key in params else f"no parameter {key}"))
        # The net and the optimizer check their own entries and change nothing when they refuse; whichever
        # goes second is undone from a copy if it refuses after the first applied.
        before = net.state_dict() if hasattr(net, "state_dict") else \
            {f"param/{k}": np.array(v, copy=True) for k, v in params.items()}
        _load_net_state(net, net_state)
        try:
            optimizer.load_state_dict(opt_state)
        except BaseException:
            _load_net_state(net, before)
            raise
        set_generator_state(self.rng, checked["rng"])
        set_generator_state(None, checked["global_rng"])
        self.current_epoch, self.current_iter = checked["epoch"], checked["iteration"]
        self.skipped_steps = checked["skipped_steps"]
        self.train_loss_list, self.train_acc_list = checked["train_loss"], checked["train_acc"]
        self.test_acc_list = checked["test_acc"]
        self._load_extras(extras)
        self._order = None

    def save_checkpoint(self, path) -> None:
        """Write ``state_dict()`` to ``path`` (one ``.npz``, atomically; the layout is ``fastnn.io``'s).

        A registered net's name and recipe go with it (``fastnn.nets.NETS``).
        """
        if self.current_iter % self.iter_per_epoch != 0:
            raise RuntimeError("checkpoints are taken at the end of an epoch (the mini-batch order of a "
                               "running epoch is not saved)")
        io.write_state(path, self.state_dict(), "checkpoint", self.network, **model_record_fields(self.network))

    def load_checkpoint(self, path) -> None:
        """Continue the run saved in ``path``: net, optimizer, random generators, counters, histories.

        Raises ``ValueError`` and changes nothing when the file is corrupt or
        belongs to another run (net, optimizer, data size or batch size).
        What the file declares is checked before any of it is read: its
        architecture, and every member's shape against this run's (the
        histories' lengths bounded by the counters it records); the values
        are then checked in full by ``load_state_dict``.
        """
        path = os.fspath(path)
        net = self.network
        with io.open_saved(path) as saved:
            if saved.kind != "checkpoint":
                raise ValueError(f"{path!r} is not a Trainer checkpoint (a {saved.kind} file)")
            io.check_architecture(path, saved.meta.get("architecture"), net)
            if saved.meta.get("net_class") not in (None, type(net).__name__):
                raise ValueError(f"checkpoint {path!r} does not fit this training run and was not loaded: net class "
                                 f"is {saved.meta['net_class']!r} in the checkpoint, {type(net).__name__!r} here")
            declared = saved.declared()
            try:
                self._check_same_options(list(saved.values) + list(declared))
                expected = self._checkpoint_shapes(saved.values, declared)
            except ValueError as exc:
                raise ValueError(f"checkpoint {path!r} does not fit this training run and was not loaded: "
                                 f"{exc}") from None
            io.check_declared(path, declared, expected, required=("net/param/",), who="this training run")
            state = saved.read()
        rng_names = [k for k in (net.state_dict() if hasattr(net, "state_dict") else {}) if k.startswith("rng/")]
        state = format1.name_layer_generators(path, state, rng_names)
        try:
            self.load_state_dict(state)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"checkpoint {path!r} does not fit this training run and was not loaded: {exc}") from None

    def _checkpoint_shapes(self, values: dict, declared: dict) -> dict:
        """{entry: shape or None (any)} of the arrays a checkpoint of this run may hold, given its counters.

        The counters (``values``: the file's JSON entries) must be whole
        numbers this run can continue from; they bound the histories' lengths,
        so that no history is read longer than the run it records.
        """
        epoch, iteration = _counter(values, "epoch"), _counter(values, "iteration")
        if epoch > self.epochs:
            raise ValueError(f"the run saved there has already done {epoch} epochs; this training run has "
                             f"{self.epochs} (give epochs={epoch} or more)")
        if iteration > epoch * self.iter_per_epoch:
            raise ValueError(f"the checkpoint records {epoch} epochs and {iteration} steps; this training run has "
                             f"{self.epochs} epochs of {self.iter_per_epoch} steps")
        shape = declared.get("trainer/train_loss", ((0,), None))[0]
        if len(shape) != 1 or shape[0] > iteration:
            raise ValueError(f"entry 'trainer/train_loss' has shape {shape}, more than the {iteration} steps "
                             "recorded")
        net = self.network
        net_state = net.state_dict() if hasattr(net, "state_dict") else \
            {"param/" + k: v for k, v in net.params.items()}
        expected = {"net/" + k: v.shape for k, v in net_state.items() if isinstance(v, np.ndarray)}
        for key, value in self.optimizer.state_dict().items():
            expected["optimizer/" + key] = value.shape if isinstance(value, np.ndarray) and value.ndim == 0 else None
        for s in getattr(self.optimizer, "state_names", ()):
            for k, v in net.params.items():
                expected[f"optimizer/{s}/{k}"] = v.shape
        expected.update({"trainer/train_acc": (epoch,), "trainer/test_acc": (epoch,), "trainer/train_loss": None})
        if self.lr_schedule is not None:
            expected["trainer/lr"] = (epoch,)
        if self.x_val is not None:
            expected.update({"trainer/val_loss": (epoch,), "trainer/val_acc": (epoch,)})
        if self.early_stopping is not None:    # the best epoch's parameters and statistics
            expected.update({"early_stopping/best/" + k[len("net/"):]: v for k, v in expected.items()
                             if k.startswith(("net/param/", "net/state/"))})
        return expected


def save_checkpoint(trainer, path) -> None:
    """``trainer.save_checkpoint(path)``: write the whole run to ``path`` (also reachable as ``fastnn.io.save_checkpoint``)."""
    trainer.save_checkpoint(path)


def load_checkpoint(trainer, path) -> None:
    """``trainer.load_checkpoint(path)``: put the run saved in ``path`` back, all of it or nothing (``ValueError``)."""
    trainer.load_checkpoint(path)


def _counter(state, name: str) -> int:
    """``state['trainer/<name>']`` as an int >= 0 (a 0-d integer array allowed), else ``ValueError``."""
    value = state.get(f"trainer/{name}")
    if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "iu":
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"trainer/{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_net_state(net, state: dict, what: str) -> None:
    """Refuse (``ValueError``) a saved net state that does not fit ``net``: its keys and shapes."""
    ours = {k: np.shape(v) for k, v in _copy_net_state(net).items() if k.startswith(("param/", "state/"))}
    for key, value in state.items():
        if key not in ours or np.shape(value) != ours[key]:
            raise ValueError(f"{what}/{key} does not fit this net"
                             + (f": shape {np.shape(value)}, the net's {ours[key]}" if key in ours else ""))
        if not np.all(np.isfinite(np.asarray(value, dtype=np.float64))):
            raise ValueError(f"{what}/{key} holds NaN or infinite values")
    missing = sorted(k for k in ours if k.startswith("param/") and k not in state)
    if missing:
        raise ValueError(f"{what} lacks {missing}")


def _load_net_state(net, state: dict) -> None:
    """``net.load_state_dict(state)``, or for a book-style net with only ``params``: checked, then copied in."""
    if hasattr(net, "load_state_dict"):
        net.load_state_dict(state)
        return
    params = net.params
    values = {}
    for key, value in state.items():
        kind, _, name = key.partition("/")
        if kind != "param" or name not in params:
            raise ValueError(f"the net has no entry {key!r}")
        value = np.asarray(value)
        if value.dtype.kind != "f" or value.shape != params[name].shape or not np.all(np.isfinite(value)):
            raise ValueError(f"parameter {name} must be finite real floats of shape {params[name].shape}, got "
                             f"{value.dtype} of shape {value.shape}")
        values[name] = value
    missing = sorted(set(params) - set(values))
    if missing:
        raise ValueError(f"the state lacks parameters {missing}")
    for name, value in values.items():
        np.copyto(params[name], value, casting="same_kind")
