"""One trial: train a net with the trial's hyperparameters on 80% of the training set, judge it on the rest.

The validation split is ``fastnn.datasets.split_per_class`` with fraction
0.2 and no seed (the one split the Trainer's ``validation=`` uses too):
within each class every fifth training image is held out, the same images on every machine and in every worker. The test set is
never loaded. Each epoch's validation accuracy is reported to Optuna (the
pruner's input) and the training accuracy is kept as a user attribute, so
the book's figure can be drawn from the study alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np

from .. import _cli_args
from .._random import as_generator
from ..datasets import split_per_class
from ..nets import build_net
from ._space import schedule_of, space_to_json

VALIDATION_FRACTION = 0.2     # every 5th image of each class


@dataclass
class Setup:
    """What every trial of a study shares (stored with the study; a worker rebuilds it from JSON)."""

    net: str
    hidden: list | None
    data: str
    data_home: str | None
    epochs: int
    batch_size: int
    optimizer: str
    dtype: str
    space: dict          # name -> fastnn.tune._space.Param

    def study_record(self) -> dict:
        """The settings a study is tied to: a later command must use the same ones to add trials."""
        return {"net": self.net, "hidden": self.hidden, "data": self.data, "epochs": self.epochs,
                "batch_size": self.batch_size, "optimizer": self.optimizer, "dtype": self.dtype,
                "space": space_to_json(self.space)}


class Split(NamedTuple):
    """A study's data: the training set cut 80/20 (stratified by class) and the data set's record."""

    x_train: np.ndarray
    t_train: np.ndarray
    x_val: np.ndarray
    t_val: np.ndarray
    info: object          # the fastnn.datasets.DATASETS entry


class TrialRun(NamedTuple):
    """One trial's net (its registered name and recipe) and the Trainer that trains it."""

    net: object
    name: str
    recipe: dict
    trainer: object


def load_split(setup: Setup) -> Split:
    """The ``Split`` of the study's training set: 80/20, stratified by class."""
    flatten = setup.net in ("two_layer", "multi_layer")
    _, info, ((x, t), _) = _cli_args.load_data(setup.data, setup.data_home, flatten, setup.dtype)
    train_idx, val_idx = split_per_class(t, VALIDATION_FRACTION)
    return Split(x[train_idx], t[train_idx], x[val_idx], t[val_idx], info)


def net_recipe(setup: Setup, params: dict, info) -> tuple[str, dict]:
    """Registered net name and constructor kwargs for one trial's ``params``."""
    hidden = setup.hidden
    if "hidden" in params:
        count = len(hidden) if hidden else (2 if setup.net == "multi_layer" else 1)
        hidden = [int(params["hidden"])] * count
    args = SimpleNamespace(net=setup.net, hidden=hidden, weight_init="he",
                           weight_decay=float(params.get("weight_decay", 0.0)),
                           dropout=params.get("dropout"), batchnorm=False)
    return _cli_args.net_recipe(args, info)


def trial_seeds(seed: int):
    """Generators for the net's weights and the batch order of a trial seeded ``seed`` (as ``fastnn train``)."""
    net_seq, batch_seq = np.random.SeedSequence(seed).spawn(2)
    return as_generator(net_seq, name="seed"), as_generator(batch_seq, name="seed")


def make_trainer(setup: Setup, params: dict, seed: int, data: Split) -> TrialRun:
    """The ``TrialRun`` of one trial: its net and Trainer (also used to rebuild the best trial's model)."""
    from ..trainer import Trainer  # numba and the layers: a study's report and --help need neither

    x_tr, t_tr, x_val, t_val, info = data
    name, kwargs = net_recipe(setup, params, info)
    net_rng, batch_rng = trial_seeds(seed)
    net = build_net(name, kwargs, setup.dtype, seed=net_rng)
    trainer = Trainer(net, x_tr, t_tr, x_val, t_val, epochs=setup.epochs,
                      mini_batch_size=int(params.get("batch_size", setup.batch_size)),
                      optimizer=params.get("optimizer", setup.optimizer),
                      optimizer_param={"lr": float(params["lr"])}, evaluate_sample_num_per_epoch=None,
                      verbose=False, seed=batch_rng, lr_schedule=schedule_of(params, setup.epochs))
    return TrialRun(net, name, kwargs, trainer)


class Diverged(Exception):
    """The loss or a gradient became NaN or infinite."""


class Pruned(Exception):
    """The pruner stopped the trial after an epoch."""


def run_trial(trial, setup: Setup, data, seed: int) -> float:
    """Train one trial, reporting each epoch's validation accuracy; the last epoch's accuracy.

    Raises ``Pruned`` when the pruner says so and ``Diverged`` (with the
    trainer's message) on a NaN/inf loss or gradient.
    """
    params = {name: p.suggest(trial) for name, p in setup.space.items()}
    trial.set_user_attr("seed", int(seed))
    trainer = make_trainer(setup, params, seed, data).trainer
    train_acc = []
    try:
        while trainer.current_iter < trainer.max_iter:
            trainer.train_step()
            if trainer.current_iter % trainer.iter_per_epoch == 0:
                epoch = trainer.current_epoch
                value = float(trainer.test_acc_list[-1])
                train_acc.append(float(trainer.train_acc_list[-1]))
                trial.set_user_attr("train_acc", train_acc)
                trial.report(value, epoch)
                if trainer.current_iter < trainer.max_iter and trial.should_prune():
                    raise Pruned(f"pruned after epoch {epoch} (validation accuracy {value:.4f})")
    except FloatingPointError as exc:
        raise Diverged(str(exc)) from None
    value = float(trainer.test_acc_list[-1])
    if not math.isfinite(value):
        raise Diverged(f"the validation accuracy is {value}")
    return value
