"""The quantity a run watches between epochs: its name, which way is better, and what counts as better.

``EarlyStopping`` (``fastnn.early_stopping``) and ``ReduceLROnPlateau``
(``fastnn.schedules``) both watch one of the figures the Trainer records at
the end of every epoch; this is the one place that says which figures exist,
that a loss is better lower and an accuracy higher, and how ``min_delta``
applies.
"""
from __future__ import annotations

import math

from ._validate import check_scalar

#: The figures the Trainer records per epoch that a monitor may watch, and whether lower is better.
MONITORS = {"val_loss": True, "val_acc": False, "train_loss": True, "train_acc": False}


class Monitor:
    """``monitor`` (a name in ``MONITORS``) and ``min_delta`` (>= 0): ``improves(value)`` and the best so far."""

    def __init__(self, monitor="val_loss", min_delta=0.0):
        if monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, got {monitor!r}")
        self.monitor = monitor
        self.lower_is_better = MONITORS[monitor]
        self.min_delta = check_scalar(min_delta, "min_delta", nonnegative=True)
        self.best = math.inf if self.lower_is_better else -math.inf

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best so far by more than ``min_delta`` (a NaN never does)."""
        value = float(value)
        if math.isnan(value):
            return False
        if self.lower_is_better:
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def state_dict(self) -> dict:
        return {"monitor": self.monitor, "best": float(self.best)}

    def load_state_dict(self, state) -> None:
        if str(state.get("monitor")) != self.monitor:
            raise ValueError(f"the saved state watches {state.get('monitor')!r}, this one {self.monitor!r}")
        best = float(state["best"])
        if math.isnan(best):
            raise ValueError("the saved best value is NaN")
        self.best = best
