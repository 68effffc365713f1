"""The book's optimizers — SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam — on fused numba kernels.

Names, defaults and ``update(params, grads)`` follow the book's
``common/optimizer.py``, so ``from fastnn.optimizer import *`` can stand where
``from common.optimizer import *`` stood (it also brings ``np``, as the book's
chapter scripts expect).

``update(params, grads)`` takes two dicts with the same keys. Each parameter
is updated *in place* by one pass of a kernel (``fastnn.kernels.optim``) —
the layers of a net hold the very arrays in ``net.params``, so the entries
are never rebound. Two cases are handled apart:

* an entry that is a plain number (the book's ``ch06/optimizer_compare_naive.py``
  passes dicts of Python floats) is updated by the same kernel on a 0-d copy
  and the entry is rebound to the new number, of the same type;
* a non-contiguous array (a strided view) is updated through a contiguous
  copy that is then written back into it, so the caller's array — and every
  view of it — sees the update.

Everything is checked before anything is written, so a bad call leaves the
parameters and the optimizer's state unchanged: ``params`` and ``grads``
must have the same keys, each gradient the shape of its parameter;
parameters must be float32/float64 arrays (or real numbers) and writeable;
a gradient of another float dtype is converted to the parameter's dtype.

State (the book's ``v``, ``h``, ``m`` dicts) is kept per key, created on a
key's first update with the parameter's shape and dtype. A parameter whose
shape or dtype later changes raises ``ValueError`` (call ``reset()`` or make a
new optimizer). ``state_dict()`` / ``load_state_dict()`` save and restore it
all, so a training run can resume exactly.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, MutableMapping
from typing import NamedTuple

import numpy as np

from . import _runtime
from ._optimizer_names import OPTIMIZER_NAMES
from ._validate import FLOAT_DTYPES, as_float_array, check_scalar, describe_value
from .kernels import optim as optim_kernels

__all__ = ["np", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "get_optimizer"]


class _Hyper:
    """A hyperparameter attribute, validated whenever it is set (also later, e.g. ``opt.lr *= 0.5``)."""

    def __init__(self, **rules):
        self.rules = rules

    def __set_name__(self, owner, name):
        self.name, self.attr = name, "_" + name

    def __get__(self, obj, owner=None):
        return self if obj is None else getattr(obj, self.attr)

    def __set__(self, obj, value):
        setattr(obj, self.attr, check_scalar(value, self.name, **self.rules))


def _is_real_number(x) -> bool:
    return (isinstance(x, (numbers.Real, np.floating, np.integer))
            and not isinstance(x, (bool, np.bool_)))


class _PlanEntry(NamedTuple):
    """What ``update`` checked and made for one parameter, so that the next step checks it cheaply."""

    key: object
    param: np.ndarray          # the very array updated in place
    shape: tuple
    dtype: np.dtype
    flat_param: np.ndarray     # param.reshape(-1), the view the kernel updates
    stored: tuple              # ((state store, state array), ...), one pair per name in state_names
    flat_states: tuple         # the state arrays' flat views, in state_names order


class Optimizer:
    """Base class: validation, per-key state and the in-place/rebind/write-back plumbing.

    A subclass names its hyperparameters (``hyper_names``) and state dicts
    (``state_names``) and implements ``_step(param, grad, *states)`` on 1-D
    contiguous arrays of one dtype.
    """

    hyper_names: tuple = ("lr",)
    state_names: tuple = ()
    lr = _Hyper(positive=True)

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        """Forget all state (velocities, accumulators, Adam's step count)."""
        for s in self.state_names:
            setattr(self, s, {})

    # -- the book's API ---------------------------------------------------
    def update(self, params, grads) -> None:
        """Update every ``params[key]`` in place from ``grads[key]``.

        params : dict of float32/float64 arrays (any shapes) or of real numbers
        grads : dict with the same keys; each value array-like of its parameter's shape
        """
        plan = getattr(self, "_plan", None)
        if plan is not None:
            flat_grads = self._check_against_plan(plan, params, grads)
            if flat_grads is not None:  # the same parameters as last time, every check passed
                self._begin_step()
                step = self._step
                for entry, flat_grad in zip(plan, flat_grads):
                    step(entry.flat_param, flat_grad, *entry.flat_states)
                return
        jobs = self._prepare(params, grads)
        self._plan = None
        self._begin_step()
        for key, param, grad, mode in jobs:
            states = [self._state_for(s, key, grad.shape, grad.dtype) for s in self.state_names]
            flat_states = [st.reshape(-1) for st in states]
            if mode == "inplace":
                self._step(param.reshape(-1), grad.reshape(-1), *flat_states)
            elif mode == "copy":  # strided view: run on a contiguous copy, write it back
                work = np.ascontiguousarray(param)
                self._step(work.reshape(-1), grad.reshape(-1), *flat_states)
                param[...] = work
            else:  # a plain number: update a 0-d copy, rebind the entry to a number of the same type
                work = np.array(param, dtype=grad.dtype)
                self._step(work.reshape(-1), grad.reshape(-1), *flat_states)
                params[key] = work.dtype.type(work) if isinstance(param, np.generic) else float(work)
        if isinstance(params, dict) and all(mode == "inplace" for *_, mode in jobs):
            self._plan = self._make_plan(jobs)

    # -- the fast path of a training loop: the same arrays every step -----------------
    def _make_plan(self, jobs) -> list:
        """What ``update`` checked and made for these parameters, to check cheaply next time.

        One ``_PlanEntry`` per key, in the order of ``params``.
        """
        plan = []
        for key, param, grad, _ in jobs:
            stored = tuple((getattr(self, s), getattr(self, s)[key]) for s in self.state_names)
            plan.append(_PlanEntry(key, param, param.shape, param.dtype, param.reshape(-1), stored,
                                   tuple(st.reshape(-1) for _, st in stored)))
        return plan

    def _check_against_plan(self, plan, params, grads):
        """Flat gradient views if this call may skip ``_prepare``, else None (then the full checks run).

        It may when ``params`` is a dict holding exactly the planned keys, each
        the very same writeable C-contiguous array of unchanged shape and
        dtype, with the optimizer's state arrays unchanged, and ``grads`` a
        dict with the same keys whose values are C-contiguous arrays of
        their parameter's shape and dtype. Anything else takes the general
        path, which raises the usual errors. Nothing is written here.
        """
        if not isinstance(params, dict) or not isinstance(grads, dict) \
                or len(params) != len(plan) or len(grads) != len(plan):
            return None
        ndarray = np.ndarray
        stores = [getattr(self, s) for s in self.state_names]
        flat_grads = []
        try:
            for entry in plan:
                key, param, shape, dtype, stored = entry.key, entry.param, entry.shape, entry.dtype, entry.stored
                if params[key] is not param or param.shape != shape or param.dtype is not dtype:
                    return None
                flags = param.flags
                if not (flags.writeable and flags.c_contiguous):
                    return None
                for current, (store, state) in zip(stores, stored):
                    if current is not store or current.get(key) is not state:
                        return None
                g = grads[key]
                if type(g) is not ndarray or g.dtype is not dtype or g.shape != shape or not g.flags.c_contiguous:
                    return None
                flat_grads.append(g.reshape(-1))
        except KeyError:
            return None
        return flat_grads

    # -- checks -------------------------------------------------------------
    def _prepare(self, params, grads) -> list:
        """Check everything; return [(key, param, grad, mode)] with grads contiguous in the param dtype."""
        if not isinstance(params, Mapping):
            raise TypeError(f"params must be a dict of parameter arrays, got {describe_value(params)}")
        if not isinstance(grads, Mapping):
            raise TypeError(f"grads must be a dict of gradient arrays, got {describe_value(grads)}")
        missing = [k for k in params if k not in grads]
        extra = [k for k in grads if k not in params]
        if missing or extra:
            raise ValueError(
                f"params and grads must have the same keys; params has {sorted(map(str, params))}, "
                f"grads has {sorted(map(str, grads))}"
                + (f" (missing in grads: {missing})" if missing else "")
                + (f" (not in params: {extra})" if extra else ""))
        jobs = []
        for key in params:
            p = params[key]
            pname, gname = f"params[{key!r}]", f"grads[{key!r}]"
            if isinstance(p, np.ndarray):
                if p.dtype not in FLOAT_DTYPES:
                    raise TypeError(f"{pname} must be a float32 or float64 array, got {describe_value(p)}")
                if not p.flags.writeable:
                    raise ValueError(f"{pname} is read-only; the optimizer updates parameters in place")
                dt, mode, shape = p.dtype, "inplace" if p.flags.c_contiguous else "copy", p.shape
            elif _is_real_number(p):
                if not isinstance(params, MutableMapping):
                    raise TypeError(f"params must be a mutable dict to update the number {pname}")
                dt = np.dtype(np.float32) if isinstance(p, np.float32) else np.dtype(np.float64)
                mode, shape = "rebind", ()
            else:
                raise TypeError(f"{pname} must be a float32/float64 array or a real number, got {describe_value(p)}")
            g = as_float_array(grads[key], gname, dtype=dt, allow_int=(mode == "rebind"), allow_empty=True)
            if g.shape != shape:
                raise ValueError(f"{gname} must have the shape of {pname}, {shape}, got {g.shape}")
            for s in self.state_names:
                st = getattr(self, s).get(key)
                if st is not None and (st.shape != shape or st.dtype != dt):
                    raise ValueError(
                        f"{pname} has shape {shape} and dtype {dt}, but the optimizer's state "
                        f"{s}[{key!r}] was made for shape {st.shape} and dtype {st.dtype}; "
                        f"call reset() or use a new optimizer")
            jobs.append((key, p, g, mode))
        return jobs

    def _state_for(self, s, key, shape, dtype) -> np.ndarray:
        store = getattr(self, s)
        st = store.get(key)
        if st is None:
            st = store[key] = np.zeros(shape, dtype=dtype)
        return st

    # -- hooks --------------------------------------------------------------
    def _begin_step(self) -> None:
        """Called once per ``update``, after the checks passed and before any parameter moves."""

    def _step(self, param, grad, *states) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- saving and restoring -----------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to resume, as a flat ``{name: ndarray}`` (fits ``np.savez``).

        ``'optimizer'``: the class name; ``'hyper/<name>'``: each hyperparameter;
        ``'<state>/<key>'``: a copy of each state array (``'v/W1'``, ...);
        Adam adds ``'iter'``.
        """
        out = {"optimizer": np.array(type(self).__name__)}
        for h in self.hyper_names:
            out[f"hyper/{h}"] = np.array(getattr(self, h), dtype=np.float64)
        for s in self.state_names:
            for key, arr in getattr(self, s).items():
                out[f"{s}/{key}"] = arr.copy()
        return out

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what ``state_dict()`` returned (possibly through ``np.savez``/``np.load``).

        Raises ``ValueError``/``TypeError`` — and changes nothing — if it was
        saved by another optimizer class or holds unknown or invalid entries.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a dict from state_dict(), got {describe_value(state)}")
        name = str(np.asarray(state.get("optimizer", "")))
        if name != type(self).__name__:
            raise ValueError(f"state was saved by optimizer {name or '(none)'!r}, not {type(self).__name__!r}")
        probe = type(self).__new__(type(self))  # validate hyperparameters without touching self
        hyper = {}
        for h in self.hyper_names:
            if f"hyper/{h}" not in state:
                raise ValueError(f"state lacks the hyperparameter 'hyper/{h}'")
            setattr(probe, h, np.asarray(state[f"hyper/{h}"]).item())
            hyper[h] = getattr(probe, h)
        stores = {s: {} for s in self.state_names}
        for entry, value in state.items():
            if entry == "optimizer" or entry.startswith("hyper/") or entry in self._extra_state_names():
                continue
            s, sep, key = entry.partition("/")
            if not sep or s not in stores:
                raise ValueError(f"state has an unknown entry {entry!r} for {type(self).__name__}")
            value = as_float_array(value, f"state[{entry!r}]", allow_empty=True)
            if not np.all(np.isfinite(value)):
                raise ValueError(f"state[{entry!r}] holds NaN or infinite values")
            stores[s][key] = value.copy()
        extra = self._check_extra_state(state)
        for h, v in hyper.items():
            setattr(self, h, v)
        for s, store in stores.items():
            setattr(self, s, store)
        for attr, v in extra.items():
            setattr(self, attr, v)

    def _extra_state_names(self) -> tuple:
        return ()

    def _check_extra_state(self, state) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{h}={getattr(self, h)!r}" for h in self.hyper_names)
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent: p -= lr * g."""

    def __init__(self, lr=0.01):
        self.lr = lr
        super().__init__()

    def _step(self, param, grad):
        _runtime.elementwise_kernel(optim_kernels, "sgd_update", param.size)(param, grad, self.lr)


class Momentum(Optimizer):
    """Momentum SGD: v = momentum * v - lr * g; p += v. State ``v`` per key."""

    hyper_names = ("lr", "momentum")
    state_names = ("v",)
    momentum = _Hyper(nonnegative=True, below=1)

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        super().__init__()

    def _step(self, param, grad, v):
        _runtime.elementwise_kernel(optim_kernels, "momentum_update", param.size)(param, grad, v, self.lr, self.momentum)


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient in the book's (Bengio et al.) form.

    p += momentum² v − (1 + momentum) lr g with the *old* velocity v, then
    v = momentum v − lr g. State ``v`` per key.
    """

    hyper_names = ("lr", "momentum")
    state_names = ("v",)
    momentum = _Hyper(nonnegative=True, below=1)

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum = lr, momentum
        super().__init__()

    def _step(self, param, grad, v):
        _runtime.elementwise_kernel(optim_kernels, "nesterov_update", param.size)(param, grad, v, self.lr, self.momentum)


class AdaGrad(Optimizer):
    """AdaGrad: h += g²; p -= lr g / (√h + 1e-7). State ``h`` per key."""

    state_names = ("h",)

    def __init__(self, lr=0.01):
        self.lr = lr
        super().__init__()

    def _step(self, param, grad, h):
        _runtime.elementwise_kernel(optim_kernels, "adagrad_update", param.size)(param, grad, h, self.lr)


class RMSprop(Optimizer):
    """RMSprop: h = decay_rate h + (1 − decay_rate) g²; p -= lr g / (√h + 1e-7). State ``h`` per key."""

    hyper_names = ("lr", "decay_rate")
    state_names = ("h",)
    decay_rate = _Hyper(nonnegative=True, below=1)

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr, self.decay_rate = lr, decay_rate
        super().__init__()

    def _step(self, param, grad, h):
        _runtime.elementwise_kernel(optim_kernels, "rmsprop_update", param.size)(param, grad, h, self.lr, self.decay_rate)


class Adam(Optimizer):
    """Adam in the book's form.

    Per ``update``: iter += 1; lr_t = lr √(1 − beta2^iter) / (1 − beta1^iter);
    then per key m += (1 − beta1)(g − m); v += (1 − beta2)(g² − v);
    p -= lr_t m / (√v + 1e-7). ``iter`` counts updates (not keys), as in the book.
    State ``m``, ``v`` per key.
    """

    hyper_names = ("lr", "beta1", "beta2")
    state_names = ("m", "v")
    beta1 = _Hyper(nonnegative=True, below=1)
    beta2 = _Hyper(nonnegative=True, below=1)

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self.iter = 0
        self._lr_t = None

    def _begin_step(self):
        self.iter += 1
        t = self.iter
        self._lr_t = self.lr * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)

    def _step(self, param, grad, m, v):
        _runtime.elementwise_kernel(optim_kernels, "adam_update", param.size)(param, grad, m, v, self._lr_t, self.beta1, self.beta2)

    def state_dict(self) -> dict:
        out = super().state_dict()
        out["iter"] = np.array(self.iter, dtype=np.int64)
        return out

    def _extra_state_names(self):
        return ("iter",)

    def _check_extra_state(self, state):
        if "iter" not in state:
            raise ValueError("state lacks Adam's step count 'iter'")
        it = np.asarray(state["iter"])
        if it.shape != () or it.dtype.kind not in "iu" or int(it) < 0:
            raise ValueError(f"state['iter'] must be a non-negative integer, got {it!r}")
        return {"iter": int(it)}


#: The optimizers by lower-case name (the keys of the book's Trainer): the names are ``OPTIMIZER_NAMES``,
#: the list the command line and ``fastnn tune`` offer too.
OPTIMIZERS = dict(zip(OPTIMIZER_NAMES, (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam), strict=True))
# The book's common/trainer.py spells RMSprop's key 'rmsprpo'; scripts that use it keep working.
_ALIASES = {"rmsprpo": "rmsprop"}


def get_optimizer(name, **params) -> Optimizer:
    """Make an optimizer from its name (case-insensitive) and hyperparameters.

    ``get_optimizer('Adam', lr=1e-3)``. ``name`` is one of sgd, momentum,
    nesterov, adagrad, rmsprop, adam; an ``Optimizer`` class is also accepted,
    and an ``Optimizer`` instance is returned as it is (with no ``params``).
    """
    if isinstance(name, Optimizer):
        if params:
            raise TypeError(f"hyperparameters {sorted(params)} cannot be given with an optimizer instance {name!r}")
        return name
    if isinstance(name, type) and issubclass(name, Optimizer):
        return name(**params)
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name ({', '.join(OPTIMIZERS)}) or an Optimizer, got {describe_value(name)}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](**params)
