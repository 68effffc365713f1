"""Learning-rate schedules: step decay, exponential decay, cosine with warm-up, reduce on plateau.

A schedule sets the ``lr`` attribute of an optimizer (every fastnn
optimizer keeps its learning rate there and reads it at each ``update``, so
each keeps its own update rule; Adam's bias correction uses the ``lr`` of the
step it takes). The Trainer (``Trainer(..., lr_schedule=...)``) drives it:

- ``start(base_lr, epochs)`` once, with the optimizer's learning rate and
  the run's number of epochs (the cosine schedule's length by default);
- ``lr_at(iteration, iter_per_epoch)`` before every step: the learning rate
  of the step about to run (0-based ``iteration``);
- ``epoch_end(figures)`` after every epoch with the figures the Trainer
  recorded (``{'train_loss': ..., 'val_loss': ..., ...}``; only
  ``ReduceLROnPlateau`` reads them).

A schedule is a function of the iteration and of its own state, which
``state_dict()`` / ``load_state_dict()`` save and restore, so a resumed run
takes the very learning rates of an unbroken one.

``make_schedule(name, **params)`` builds one by name: ``step``,
``exponential``, ``cosine``, ``plateau``.
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Mapping

from ._monitor import Monitor
from ._validate import check_scalar, describe_value

__all__ = ["LRSchedule", "StepDecay", "ExponentialDecay", "CosineDecay", "ReduceLROnPlateau",
           "SCHEDULES", "make_schedule"]


class LRSchedule:
    """Base class: the base learning rate, the state plumbing and the Trainer's three calls."""

    #: The name ``make_schedule`` knows this schedule by (and the checkpoint records).
    name = ""

    def __init__(self):
        self.base_lr = None

    def start(self, base_lr, epochs=None) -> None:
        """Take ``base_lr`` (the optimizer's learning rate, > 0) as the rate the schedule scales."""
        self.base_lr = check_scalar(base_lr, "base_lr", positive=True)

    def _started(self) -> float:
        if self.base_lr is None:
            raise RuntimeError(f"{type(self).__name__}.start(base_lr) must run before lr_at (the Trainer calls it)")
        return self.base_lr

    def lr_at(self, iteration: int, iter_per_epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def epoch_end(self, figures: Mapping) -> None:
        """Called after every epoch with the recorded figures; the time-based schedules ignore them."""

    def _state(self) -> dict:
        return {}

    def _load(self, state: Mapping) -> None:
        pass

    def state_dict(self) -> dict:
        """``{'name': ..., 'base_lr': ...}`` plus what a schedule learns as it runs (JSON-able values)."""
        out = {"name": self.name, "base_lr": float("nan") if self.base_lr is None else float(self.base_lr)}
        out.update(self._state())
        return out

    def load_state_dict(self, state: Mapping) -> None:
        """Restore ``state_dict()``; ``ValueError`` (and nothing changed) if it is another schedule's."""
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict from state_dict(), got {describe_value(state)}")
        if str(state.get("name")) != self.name:
            raise ValueError(f"the saved schedule is {state.get('name')!r}, this one is {self.name!r}")
        base = float(state.get("base_lr", float("nan")))
        before = self.state_dict()
        try:
            self.base_lr = None if math.isnan(base) else check_scalar(base, "base_lr", positive=True)
            self._load(state)
        except (KeyError, TypeError, ValueError) as exc:
            self.base_lr = None if math.isnan(before["base_lr"]) else before["base_lr"]
            self._load(before)
            raise ValueError(f"the saved {self.name} schedule state is invalid: {exc}") from None

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def _params(self) -> dict:
        return {}


class StepDecay(LRSchedule):
    """lr = base_lr · gamma^⌊epoch / step_size⌋: the rate drops by ``gamma`` every ``step_size`` epochs."""

    name = "step"

    def __init__(self, step_size=10, gamma=0.1):
        super().__init__()
        self.step_size = check_scalar(step_size, "step_size", integer=True, positive=True)
        self.gamma = check_scalar(gamma, "gamma", positive=True)
        if not self.gamma < 1:
            raise ValueError(f"gamma must lie in (0, 1) (the factor the rate is multiplied by), got {gamma!r}")

    def lr_at(self, iteration, iter_per_epoch):
        return self._started() * self.gamma ** ((iteration // iter_per_epoch) // self.step_size)

    def _params(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(LRSchedule):
    """lr = base_lr · gamma^epoch: multiplied by ``gamma`` after every epoch."""

    name = "exponential"

    def __init__(self, gamma=0.9):
        super().__init__()
        self.gamma = check_scalar(gamma, "gamma", positive=True)
        if not self.gamma < 1:
            raise ValueError(f"gamma must lie in (0, 1) (the factor the rate is multiplied by), got {gamma!r}")

    def lr_at(self, iteration, iter_per_epoch):
        return self._started() * self.gamma ** (iteration // iter_per_epoch)

    def _params(self):
        return {"gamma": self.gamma}


class CosineDecay(LRSchedule):
    """Linear warm-up for ``warmup`` epochs, then a half cosine from base_lr down to ``min_lr``, per step.

    Warm-up: the k-th step (1-based) of the first ``warmup · iter_per_epoch``
    runs at base_lr · k / (warmup · iter_per_epoch). Then, with p the
    fraction of the remaining steps done, lr = min_lr + (base_lr − min_lr) ·
    (1 + cos πp) / 2. ``epochs``: the length of the schedule (None: the
    Trainer's epochs); past it the rate stays at ``min_lr``.
    """

    name = "cosine"

    def __init__(self, epochs=None, warmup=0, min_lr=0.0):
        super().__init__()
        self.epochs = None if epochs is None else check_scalar(epochs, "epochs", integer=True, positive=True)
        self.warmup = check_scalar(warmup, "warmup", nonnegative=True)
        self.min_lr = check_scalar(min_lr, "min_lr", nonnegative=True)
        self._check_lengths(self.epochs)

    def _check_lengths(self, epochs):
        if epochs is not None and not self.warmup < epochs:
            raise ValueError(f"warmup must be shorter than the schedule: warmup={self.warmup:g} epochs, "
                             f"epochs={epochs}; give fewer warm-up epochs or train longer")

    def start(self, base_lr, epochs=None):
        super().start(base_lr)
        if self.epochs is None:
            if epochs is None:
                raise ValueError("CosineDecay needs its length: give epochs= (the Trainer passes its own)")
            self._check_lengths(check_scalar(epochs, "epochs", integer=True, positive=True))
            self._length = int(epochs)
        else:
            self._length = self.epochs
        if not self.min_lr < self.base_lr:
            raise ValueError(f"min_lr must be below the learning rate {self.base_lr:g}, got {self.min_lr:g}")

    def lr_at(self, iteration, iter_per_epoch):
        base = self._started()
        warm_steps = self.warmup * iter_per_epoch
        if iteration < warm_steps:
            return base * (iteration + 1) / warm_steps
        total = self._length * iter_per_epoch - warm_steps
        p = min(1.0, (iteration - warm_steps) / total)
        lr = self.min_lr + (base - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * p))
        return lr if lr > 0 else base * 1e-12   # min_lr=0 at the very end: the optimizers take lr > 0 only

    def _state(self):
        return {"length": int(getattr(self, "_length", 0))}

    def _load(self, state):
        length = int(state["length"])
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        if length:
            self._length = length

    def _params(self):
        return {"epochs": self.epochs, "warmup": self.warmup, "min_lr": self.min_lr}


class ReduceLROnPlateau(LRSchedule):
    """Multiply the rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs.

    ``monitor``: 'val_loss' (default; needs a validation set), 'val_acc',
    'train_loss' or 'train_acc'; an improvement beats the best so far by
    more than ``min_delta``. After a reduction the count starts again. The
    rate never goes below ``min_lr``.
    """

    name = "plateau"

    def __init__(self, factor=0.1, patience=5, monitor="val_loss", min_delta=0.0, min_lr=0.0):
        super().__init__()
        self.factor = check_scalar(factor, "factor", positive=True)
        if not self.factor < 1:
            raise ValueError(f"factor must lie in (0, 1) (the factor the rate is multiplied by), got {factor!r}")
        self.patience = check_scalar(patience, "patience", integer=True, positive=True)
        self.min_lr = check_scalar(min_lr, "min_lr", nonnegative=True)
        self.watch = Monitor(monitor, min_delta)
        self.monitor = monitor
        self.scale = 1.0
        self.wait = 0
        self.reductions = 0

    def lr_at(self, iteration, iter_per_epoch):
        return max(self._started() * self.scale, self.min_lr)

    def epoch_end(self, figures):
        value = figures.get(self.monitor)
        if value is None:
            raise ValueError(f"ReduceLROnPlateau watches {self.monitor!r}, which this run does not record; "
                             "give the Trainer validation= or monitor='train_loss'")
        if self.watch.improves(value):
            self.watch.best, self.wait = float(value), 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.scale *= self.factor
            self.reductions += 1
            self.wait = 0

    def _state(self):
        out = {"scale": float(self.scale), "wait": int(self.wait), "reductions": int(self.reductions)}
        out.update({f"monitor_{k}": v for k, v in self.watch.state_dict().items()})
        return out

    def _load(self, state):
        scale, wait, reductions = float(state["scale"]), int(state["wait"]), int(state["reductions"])
        if not 0 < scale <= 1 or wait < 0 or reductions < 0:
            raise ValueError(f"scale {scale}, wait {wait}, reductions {reductions} are out of range")
        self.watch.load_state_dict({"monitor": state["monitor_monitor"], "best": state["monitor_best"]})
        self.scale, self.wait, self.reductions = scale, wait, reductions

    def _params(self):
        return {"factor": self.factor, "patience": self.patience, "monitor": self.monitor,
                "min_delta": self.watch.min_delta, "min_lr": self.min_lr}


#: The schedules by the names ``make_schedule`` and ``fastnn train --lr-schedule`` take.
SCHEDULES = {"step": StepDecay, "exponential": ExponentialDecay, "cosine": CosineDecay,
             "plateau": ReduceLROnPlateau}


def make_schedule(name, **params) -> LRSchedule:
    """A schedule by name (step, exponential, cosine, plateau) with its parameters; an instance passes through."""
    if isinstance(name, LRSchedule):
        if params:
            raise TypeError(f"parameters {sorted(params)} cannot be given with a schedule instance {name!r}")
        return name
    if not isinstance(name, str):
        raise TypeError(f"lr_schedule must be a name ({', '.join(SCHEDULES)}) or an LRSchedule, "
                        f"got {describe_value(name)}")
    key = name.strip().lower()
    if key not in SCHEDULES:
        raise ValueError(f"unknown lr_schedule {name!r}; valid names: {', '.join(SCHEDULES)}")
    try:
        return SCHEDULES[key](**params)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            known = [p for p in inspect.signature(SCHEDULES[key]).parameters]
            raise TypeError(f"the {key} schedule takes {', '.join(known)}; {exc}") from None
        raise
