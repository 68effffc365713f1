"""The search space of a study: the book's defaults and ``--param`` specifications.

A space is a dict ``name -> Param``. Each ``Param`` knows how to draw a value
from an Optuna trial and how to write itself as JSON (stored with the study,
so that a later command can check it searches the same space).

``--param`` forms::

    lr=1e-4:1e-1:log        a float, drawn log-uniformly
    dropout=0:0.5           a float, drawn uniformly
    hidden=50:200:int       a whole number (``:int:log`` for log-uniform)
    optimizer=sgd,adam      one of the listed choices
    lr_schedule=cosine      a learning-rate schedule (one, fixed, or several to choose from)
    warmup=0:2              the cosine schedule's warm-up epochs (with lr_schedule=cosine)
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
    "lr_schedule": ("learning-rate schedule: none, step, exponential, cosine (one or several)", None),
    "warmup": ("cosine schedule: epochs of warm-up", None),
    "lr_decay": ("step/exponential schedule: the factor, in (0, 1)", None),
    "lr_step": ("step schedule: epochs between decays (a whole number)", None),
}
SCHEDULES = ("none", "step", "exponential", "cosine")
#: The schedules each schedule parameter applies to.
SCHEDULE_PARAMS = {"warmup": ("cosine",), "lr_decay": ("step", "exponential"), "lr_step": ("step",)}
OPTIMIZERS = OPTIMIZER_NAMES    # what a search may choose from: fastnn.optimizer.OPTIMIZERS' names
_INT_ONLY = {"batch_size", "hidden", "lr_step"}


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
        if name == "lr_schedule":      # one schedule (fixed for the study) or several to choose from
            items = [v.lower() for v in items]
            bad = [v for v in items if v not in SCHEDULES]
            if bad or not all(items):
                raise ValueError(f"--param {spec!r}: unknown lr_schedule {bad[0] if bad else ''!r}; choose from "
                                 f"{', '.join(SCHEDULES)}")
            return Param(name, choices=tuple(dict.fromkeys(items)))
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
    if name in ("optimizer", "lr_schedule"):
        raise ValueError(f"--param {spec!r}: {name} takes choices such as "
                         f"{'optimizer=sgd,adam' if name == 'optimizer' else 'lr_schedule=step,cosine'}, not a range")
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
    if name == "lr_decay" and not (0 < low and high < 1):
        raise ValueError(f"--param {spec!r}: a decay factor lies in (0, 1), got {low:g}:{high:g}")
    if name == "warmup" and low < 0:
        raise ValueError(f"--param {spec!r}: warm-up epochs must be >= 0, got LOW {low:g}")
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
    schedules = set(space["lr_schedule"].choices) if "lr_schedule" in space else set()
    for name, fits in SCHEDULE_PARAMS.items():
        if name in space and not schedules & set(fits):
            raise ValueError(f"--param {name}: applies to lr_schedule {' or '.join(fits)}; add --param "
                             f"lr_schedule={fits[0]}")
    return space


def schedule_of(params: dict, epochs: int):
    """The ``LRSchedule`` one trial's ``params`` ask for (None: no schedule)."""
    name = params.get("lr_schedule", "none")
    if name == "none":
        return None
    from ..schedules import make_schedule  # NumPy: when a trial runs (fastnn --help imports this module)

    keys = {"warmup": "warmup", "lr_decay": "gamma", "lr_step": "step_size"}
    kwargs = {keys[k]: params[k] for k in keys if k in params and name in SCHEDULE_PARAMS[k]}
    if "warmup" in kwargs:              # a warm-up as long as the trial leaves no epoch for the cosine
        kwargs["warmup"] = min(float(kwargs["warmup"]), epochs - 0.5)
    return make_schedule(name, **kwargs)


def space_to_json(space: dict) -> dict:
    return {name: space[name].to_json() for name in sorted(space)}
