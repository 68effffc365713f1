"""Plots of training runs (matplotlib: ``pip install matplotlib`` or the ``plot`` extra).

Figures are built with matplotlib's object API (no pyplot, no GUI backend),
so they work on machines without a display.
"""
from __future__ import annotations

import os

import numpy as np

from . import io
from .util import smooth_curve

__all__ = ["plot_training_curves", "new_figure", "save_figure"]


def new_figure(figsize=(10, 4)):
    """A matplotlib Figure that needs no display (Agg canvas)."""
    try:
        from matplotlib.figure import Figure  # an optional extra: imported only when a figure is made
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install matplotlib "
                          "(or pip install 'fastnn[plot]')") from exc
    return Figure(figsize=figsize, layout="constrained")


def save_figure(fig, path, dpi=100) -> None:
    """Save ``fig`` to ``path`` atomically (format from the extension, e.g. .png, .svg, .pdf; png without one)."""
    fmt = os.path.splitext(os.fspath(path))[1][1:].lower() or "png"
    io.atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi))


def _history(run) -> dict:
    if isinstance(run, dict):
        get = run.get
    else:
        def get(name, default=None):
            return getattr(run, name, default)
    hist = {name: list(get(name, None) or []) for name in ("train_loss_list", "train_acc_list", "test_acc_list",
                                                          "val_loss_list", "val_acc_list")}
    hist["iter_per_epoch"] = get("iter_per_epoch", None)
    return hist


def plot_training_curves(run, path=None, title=None, smooth=True):
    """Loss per step (left) and train/test accuracy per epoch (right); validation beside them where recorded.

    ``run``: a ``Trainer`` after ``train()``, or a dict with
    ``train_loss_list``, ``train_acc_list``, ``test_acc_list`` (and
    optionally ``iter_per_epoch``, to put the loss on an epoch axis, and
    ``val_loss_list``/``val_acc_list``: the validation loss per epoch on the
    loss panel, the validation accuracy on the accuracy panel).
    ``smooth``: also draw the book's ``smooth_curve`` of the loss.
    Saves to ``path`` when given; returns the Figure.
    """
    hist = _history(run)
    fig = new_figure()
    ax_loss, ax_acc = fig.subplots(1, 2)
    loss = np.asarray(hist["train_loss_list"], dtype=np.float64)
    ipe = hist["iter_per_epoch"]
    x = np.arange(1, loss.size + 1, dtype=np.float64)
    if ipe:
        x = x / ipe
        ax_loss.set_xlabel("epoch")
    else:
        ax_loss.set_xlabel("step")
    if loss.size:
        ax_loss.plot(x, loss, color="tab:blue", alpha=0.35 if smooth else 1.0, lw=0.8, label="per step")
        if smooth and loss.size >= 11:
            ax_loss.plot(x, smooth_curve(loss), color="tab:blue", lw=1.8, label="smoothed")
    if hist["val_loss_list"]:
        ax_loss.plot(np.arange(1, len(hist["val_loss_list"]) + 1), hist["val_loss_list"], "^-",
                     color="tab:orange", label="validation (per epoch)")
    if loss.size or hist["val_loss_list"]:
        ax_loss.legend()
    ax_loss.set_ylabel("loss" if hist["val_loss_list"] else "training loss")
    ax_loss.grid(alpha=0.3)

    epochs = np.arange(1, len(hist["train_acc_list"]) + 1)
    ax_acc.plot(epochs, hist["train_acc_list"], "o-", label="train")
    ax_acc.plot(np.arange(1, len(hist["test_acc_list"]) + 1), hist["test_acc_list"], "s--", label="test")
    if hist["val_acc_list"]:
        ax_acc.plot(np.arange(1, len(hist["val_acc_list"]) + 1), hist["val_acc_list"], "^-", label="validation")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(loc="lower right")
    if title:
        fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig
