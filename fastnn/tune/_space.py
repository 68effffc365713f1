"""The search space of a study: the book's defaults and ``--param`` specifications.

A space is a dict ``name -> Param``. Each ``Param`` knows how to draw a value
from an Optuna trial and how to write itself as JSON (stored with the study,
so that a later command can check it searches the same space).

``--param`` forms::

    lr=1e-4:1e-1:log        a float, drawn log-uniformly
    dropout=0:0.5           a float, drawn uniformly
    hidden=50:200:int       a whole number (``:int:log`` for log-uniform)
    optimizer=sgd,adam      one of the listed choices
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .._optimizer_names import OPTIMIZER_NAMES

#: What each searchable name sets, and the nets it applies to (None: every net).
PARAM_HELP = {
    "lr": ("learning rate of the optimizer", None),
    "weight_decay": ("L2 weight decay (lambda)", ("multi_layer",)),
    "dropout": ("dropout ratio after each hidden layer", ("multi_layer",)),
    "optimizer": ("update rule: " + ", ".join(OPTIMIZER_NAMES), None),
    "batch_size": ("mini-batch size (a whole number)", None),
    "hidden": ("units of each hidden layer (a whole number)", None),
}
OPTIMIZERS = OPTIMIZER_NAMES    # what a search may choose from: fastnn.optimizer.OPTIMIZERS' names
_INT_ONLY = {"batch_size", "hidden"}


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: a float or int range (``log``: log-uniform) or a list of choices."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple | None = None

    def suggest(self, trial):
        """Draw this parameter's value for ``trial`` (an ``optuna.Trial``)."""
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def to_json(self) -> dict:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "int": self.integer}

    def describe(self) -> str:
        if self.choices is not None:
            return f"{self.name} in {{{', '.join(map(str, self.choices))}}}"
        kind = ("log-uniform " if self.log else "uniform ") + ("int " if self.integer else "")
        return f"{self.name} {kind}[{self.low:g}, {self.high:g}]"


def default_space(net: str) -> dict:
    """The book's space: lr = 10^U(-6, -2); weight decay = 10^U(-8, -4) where the net has one."""
    space = {"lr": Param("lr", 1e-6, 1e-2, log=True)}
    if net == "multi_layer":
        space["weight_decay"] = Param("weight_decay", 1e-8, 1e-4, log=True)
    return space


def _number(text: str, spec: str):
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--param {spec!r}: {text!r} is not a number; expected NAME=LOW:HIGH[:log][:int] "
                         "such as lr=1e-4:1e-1:log, or NAME=A,B,... such as optimizer=sgd,adam") from None


def parse_param(spec: str) -> Param:
    """One ``--param`` text -> ``Param`` (``ValueError`` naming the fault and the expected form)."""
    form = "expected NAME=LOW:HIGH[:log][:int] such as lr=1e-4:1e-1:log, or NAME=A,B,... such as optimizer=sgd,adam"
    name, eq, value = str(spec).partition("=")
    name = name.strip().replace("-", "_")
    if not eq or not name or not value.strip():
        raise ValueError(f"--param {spec!r}: {form}")
    if name not in PARAM_HELP:
        raise ValueError(f"--param {spec!r}: unknown name {name!r}; searchable: {', '.join(PARAM_HELP)}")
    value = value.strip()
    if ":" not in value:
        items = [v.strip() for v in value.split(",")]
        if len(items) < 2 or not all(items):
            raise ValueError(f"--param {spec!r}: give a range LOW:HIGH or at least two choices A,B; {form}")
        if name == "optimizer":
            items = [v.lower() for v in items]
            bad = [v for v in items if v not in OPTIMIZERS]
            if bad:
                raise ValueError(f"--param {spec!r}: unknown optimizer {bad[0]!r}; choose from {', '.join(OPTIMIZERS)}")
            return Param(name, choices=tuple(dict.fromkeys(items)))
        numbers = [_number(v, spec) for v in items]
        if name in _INT_ONLY:
            if not all(n.is_integer() and n >= 1 for n in numbers):
                raise ValueError(f"--param {spec!r}: {name} takes whole numbers >= 1")
            numbers = [int(n) for n in numbers]
        return Param(name, choices=tuple(dict.fromkeys(numbers)))
    if name == "optimizer":
        raise ValueError(f"--param {spec!r}: the optimizer takes choices such as optimizer=sgd,adam, not a range")
    parts = value.split(":")
    low, high = _number(parts[0], spec), _number(parts[1], spec)
    flags = [p.strip().lower() for p in parts[2:]]
    if any(f not in ("log", "int") for f in flags) or len(set(flags)) != len(flags):
        raise ValueError(f"--param {spec!r}: after LOW:HIGH only ':log' and ':int' may follow; {form}")
    log, integer = "log" in flags, "int" in flags or name in _INT_ONLY
    if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
        raise ValueError(f"--param {spec!r}: expected finite LOW < HIGH, got {low:g} and {high:g}")
    if log and low <= 0:
        raise ValueError(f"--param {spec!r}: a log range needs LOW > 0, got {low:g}")
    if integer and not (low.is_integer() and high.is_integer()):
        raise ValueError(f"--param {spec!r}: an int range needs whole numbers, got {low:g} and {high:g}")
    if name in ("lr",) and low <= 0:
        raise ValueError(f"--param {spec!r}: the learning rate must be > 0, got LOW {low:g}")
    if name in ("weight_decay",) and low < 0:
        raise ValueError(f"--param {spec!r}: the weight decay must be >= 0, got LOW {low:g}")
    if name == "dropout" and not (0 <= low and high < 1):
        raise ValueError(f"--param {spec!r}: a dropout ratio lies in [0, 1), got {low:g}:{high:g}")
    if name in _INT_ONLY and low < 1:
        raise ValueError(f"--param {spec!r}: {name} must be >= 1, got LOW {low:g}")
    if integer:
        low, high = int(low), int(high)
    return Param(name, low, high, log=log, integer=integer)


def build_space(net: str, specs=()) -> dict:
    """The book's default space for ``net`` with each ``--param`` spec added or replacing its name."""
    space = default_space(net)
    for spec in specs:
        param = spec if isinstance(spec, Param) else parse_param(spec)
        nets = PARAM_HELP[param.name][1]
        if nets is not None and net not in nets:
            raise ValueError(f"--param {param.name}: applies to --net {' or '.join(nets)} only, not {net}")
        space[param.name] = param
    return space


def space_to_json(space: dict) -> dict:
    return {name: space[name].to_json() for name in sorted(space)}
