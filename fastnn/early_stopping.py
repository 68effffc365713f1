"""Early stopping: end training when a watched figure has stopped improving, keeping the best epoch's net.

``EarlyStopping(patience=5, monitor='val_loss', min_delta=0.0,
restore_best=True)`` goes to ``Trainer(..., early_stopping=...)``. After
every epoch the Trainer hands it the epoch's figures; when ``monitor`` has
not improved by more than ``min_delta`` for ``patience`` epochs in a row the
run stops, and with ``restore_best`` the net's state of the best epoch is put
back. ``stopped_epoch``, ``best_epoch`` and ``reason`` say what happened.
The state (counts, best value, the best epoch's net state) is part of the
Trainer's checkpoint, so a resumed run stops where an unbroken one would.
"""
from __future__ import annotations

from collections.abc import Mapping

from ._monitor import Monitor
from ._validate import check_scalar

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop when ``monitor`` has not improved for ``patience`` epochs; optionally restore the best net."""

    def __init__(self, patience=5, monitor="val_loss", min_delta=0.0, restore_best=True):
        self.patience = check_scalar(patience, "patience", integer=True, positive=True)
        self.watch = Monitor(monitor, min_delta)
        self.monitor = monitor
        self.min_delta = self.watch.min_delta
        self.restore_best = bool(restore_best)
        self.wait = 0
        self.best_epoch = 0
        self.best_state = None       # the net's state_dict() at best_epoch (with restore_best)
        self.stopped_epoch = None
        self.reason = None

    def epoch_end(self, epoch: int, figures: Mapping, net_state=None) -> bool:
        """Record epoch ``epoch``'s figures; True means: stop now. ``net_state()`` gives the net's state."""
        value = figures.get(self.monitor)
        if value is None:
            raise ValueError(f"early stopping watches {self.monitor!r}, which this run does not record; "
                             "give the Trainer validation= or monitor='train_loss'")
        if self.watch.improves(value):
            self.watch.best, self.wait, self.best_epoch = float(value), 0, int(epoch)
            if self.restore_best and net_state is not None:
                self.best_state = net_state()
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(epoch)
            self.reason = (f"{self.monitor} has not improved by more than {self.min_delta:g} for "
                           f"{self.patience} epoch{'s' if self.patience > 1 else ''} (best "
                           f"{self.watch.best:.4f} at epoch {self.best_epoch})")
            return True
        return False

    def state_dict(self) -> dict:
        """Counts and best value (JSON-able) and, under ``'best/'``, the best epoch's net state."""
        out = {"monitor": self.monitor, "best": float(self.watch.best), "wait": int(self.wait),
               "best_epoch": int(self.best_epoch), "patience": int(self.patience),
               "stopped_epoch": -1 if self.stopped_epoch is None else int(self.stopped_epoch),
               "reason": self.reason or ""}
        if self.best_state is not None:
            out.update({f"best/{k}": v for k, v in self.best_state.items()})
        return out

    def load_state_dict(self, state: Mapping) -> None:
        """Restore ``state_dict()``; ``ValueError`` (nothing changed) for another monitor or bad counts."""
        if str(state.get("monitor")) != self.monitor:
            raise ValueError(f"the saved early stopping watches {state.get('monitor')!r}, this one {self.monitor!r}")
        try:
            wait, best_epoch, stopped = int(state["wait"]), int(state["best_epoch"]), int(state["stopped_epoch"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the saved early-stopping state is incomplete or invalid: {exc}") from None
        if wait < 0 or best_epoch < 0 or stopped < -1:
            raise ValueError(f"the saved early-stopping counts are out of range: wait {wait}, best epoch {best_epoch}")
        self.watch.load_state_dict({"monitor": self.monitor, "best": state["best"]})
        self.wait, self.best_epoch = wait, best_epoch
        self.stopped_epoch = None if stopped < 0 else stopped
        self.reason = str(state.get("reason", "")) or None if self.stopped_epoch is not None else None
        best = {k[len("best/"):]: v for k, v in state.items() if str(k).startswith("best/")}
        self.best_state = best or None

    def __repr__(self) -> str:
        return (f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, min_delta={self.min_delta!r}, "
                f"restore_best={self.restore_best})")
