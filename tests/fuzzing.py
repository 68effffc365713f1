"""The machinery of tests/fuzz_driver.py: spoiling a valid call (garbage or a layout change) and
classifying its outcome. Imported by name: the driver runs as a script from this folder.

A case is *bad* when it raises anything but ``ValueError``/``TypeError`` (``RuntimeError`` too in the
``state`` target), or one of those with an empty message; a valid or layout-only call is refused; an
accepted call with finite inputs gives a non-finite output or a wrong shape; a layout-only change
gives another result than the C-contiguous array of the same values (bit for bit); or a caller's
input array is changed (optimizers' ``params`` excepted).
"""
from __future__ import annotations

import traceback

import numpy as np
from hypothesis import strategies as st

RESULTS: dict = {}
BAD: list = []
LAYOUTS = ("fortran", "strided", "readonly", "offset_view", "other_float")
GARBAGE = ("int", "bool", "complex", "float16", "object", "str", "rank_up", "rank_down", "empty", "resize",
           "nan", "inf", "none", "string", "list_of_str", "scalar")
INT_GARBAGE = (0, -1, -7, 2.5, float("nan"), True, None, "2", 10 ** 6, 2 ** 70, np.float64(2.0), [2])
FLOAT_GARBAGE = (float("nan"), float("inf"), -1.0, 0.0, 1.0, 1e300, None, "0.1", True, [0.1], -1e-300)
DTYPES = st.sampled_from([np.float32, np.float64])


class Spoiled:
    """What is done to one case: ``kind`` becomes 'clean', 'layout' (same values) or 'garbage'.

    The plan (clean 30%, layout 30%, garbage 40%) and every choice inside it come from a generator
    seeded by one hypothesis draw, so the mix stays as planned.
    """

    def __init__(self, data):
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1), label="spoil seed"))
        self.plan = self.rng.choice(["clean", "layout", "garbage"], p=[0.3, 0.3, 0.4])
        self.kind, self.what, self.nonfinite = "clean", [], False

    def chance(self, wanted, p):
        return self.plan == wanted and self.rng.random() < p

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def mark(self, kind, what):
        if kind == "garbage" or self.kind == "clean":
            self.kind = kind
        self.what.append(what)


def layout_variant(arr, how, other_float_ok):
    """``arr``'s values in another memory layout (or the other float dtype, float32-exact values)."""
    if arr.ndim == 0 and how in ("fortran", "strided"):
        return arr
    if how == "fortran":
        return np.asfortranarray(arr)
    if how == "strided":
        big = np.zeros(arr.shape[:-1] + (arr.shape[-1] * 2,), dtype=arr.dtype)
        big[..., ::2] = arr
        return big[..., ::2]
    if how == "readonly":
        v = arr.copy()
        v.flags.writeable = False
        return v
    if how == "offset_view":
        flat = np.zeros(arr.size + 3, dtype=arr.dtype)
        flat[3:] = arr.ravel()
        return flat[3:].reshape(arr.shape)
    if other_float_ok and arr.dtype.kind == "f":
        return arr.astype(np.float32 if arr.dtype == np.float64 else np.float64)
    return arr


def garbage_array(arr, how, rng):
    """A spoiled version of ``arr``."""
    shape = list(arr.shape)
    if how in ("empty", "resize") and arr.ndim:
        ax = int(rng.integers(arr.ndim))
        shape[ax] = 0 if how == "empty" else max(0, shape[ax] + int(rng.choice([-2, -1, 1, 3])))
    if how in ("nan", "inf"):
        out = np.array(arr, dtype=arr.dtype if arr.dtype.kind == "f" else np.float64)
        if out.size:
            out.flat[int(rng.integers(out.size))] = np.nan if how == "nan" else -np.inf
        return out
    if how == "rank_down":
        return arr.reshape(-1) if arr.ndim > 1 else (arr[0] if arr.ndim == 1 and arr.size else np.zeros((1, 1)))
    finite = np.all(np.isfinite(arr))
    return {"int": lambda: np.round(arr).astype(np.int64) if finite else np.zeros(arr.shape, np.int64),
            "bool": lambda: arr > 0, "complex": lambda: arr.astype(np.complex128),
            "float16": lambda: arr.astype(np.float16), "object": lambda: arr.astype(object),
            "str": lambda: arr.astype(str), "rank_up": lambda: arr[np.newaxis],
            "empty": lambda: np.zeros(tuple(shape) if arr.ndim else (0,), arr.dtype),
            "resize": lambda: rng.standard_normal(tuple(shape) if arr.ndim else (2,)).astype(arr.dtype),
            "none": lambda: None, "string": lambda: "abc", "list_of_str": lambda: ["a", "b"],
            "scalar": lambda: 1.5}[how]()


def spoil(name, arr, sp, *, other_float_ok=True, p_garbage=0.4, p_layout=0.6):
    """Decide whether and how to spoil one array argument; return what to pass."""
    if sp.chance("garbage", p_garbage):
        how = sp.pick(GARBAGE)
        sp.mark("garbage", f"{name}:{how}")
        sp.nonfinite |= how in ("nan", "inf")
        return garbage_array(arr, how, sp.rng)
    if sp.chance("layout", p_layout):
        how = sp.pick(LAYOUTS)
        v = layout_variant(arr, how, other_float_ok)
        if v is not arr:
            sp.mark("layout", f"{name}:{how}")
        return v
    return arr


STATE_GARBAGE = ("shorter", "longer", "other_dtype", "out_of_range", "none", "transposed")


def _rebound(value, how, rng):
    """What a user might assign to a layer's state attribute ``value`` between forward and backward."""
    a = np.asarray(value)
    if how == "shorter":
        return a.reshape(-1)[: max(0, a.size // 2)]
    if how == "longer":
        return np.resize(a, (a.size * 3 + 5,))
    if how == "other_dtype":
        return a.astype(np.int64 if a.dtype.kind != "i" else np.float32)
    if how == "out_of_range":
        return np.full(a.shape, 2 ** 30 if a.dtype.kind in "iu" else 7, dtype=a.dtype)
    if how == "transposed":
        return a.T
    return None


def spoil_scalar(name, value, sp, p=0.25):
    """An int or float hyperparameter, maybe replaced by garbage of its kind (an int maybe as np.int64)."""
    if sp.chance("garbage", p):
        bad = sp.pick(INT_GARBAGE if isinstance(value, int) else FLOAT_GARBAGE)
        sp.mark("garbage", f"{name}={bad!r}")
        return bad
    return np.int64(value) if isinstance(value, int) and sp.rng.random() < 0.3 else value


def _snapshot(args):
    snaps = []
    for a in args:
        if isinstance(a, np.ndarray):
            snaps.append((a, a.copy()))
        elif isinstance(a, dict):
            snaps.extend(_snapshot(list(a.values())))
    return snaps


def _equal(a, b):
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "O":
        return all(x is y or x == y or (x != x and y != y) for x, y in zip(a.ravel(), b.ravel()))
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _same(a, b):
    return len(a) == len(b) and all(_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))


def _finite(out):
    return all(np.all(np.isfinite(a)) for a in map(np.asarray, (o for o in out if o is not None))
               if a.dtype.kind in "fc")


def _record(target, outcome, detail=None):
    counts = RESULTS.setdefault(target, {"ok": 0, "ValueError": 0, "TypeError": 0, "bad": 0})
    counts[outcome] = counts.get(outcome, 0) + 1
    if outcome == "bad" and len(BAD) < 40:
        BAD.append(f"{target}: {detail}")


def run_case(target, sp, call, args, *, canonical_call=None, shapes=None, mutates=(), errors=(ValueError, TypeError)):
    """Run ``call()`` (which uses ``args``), classify the outcome and record it.

    ``canonical_call``: for a layout-only change, the same call on C-contiguous arrays of the same
    values, which must give the same result. ``shapes``: expected output shapes (None entries: any).
    ``mutates``: indices of ``args`` that may be written. ``errors``: the refusals that are fine.
    """
    snaps = _snapshot([a for i, a in enumerate(args) if i not in mutates])
    desc = f"[{sp.kind}: {', '.join(sp.what) or '-'}]"
    try:
        out = call()
    except errors as exc:
        if not str(exc).strip():
            _record(target, "bad", f"{desc} empty {type(exc).__name__} message")
        elif sp.kind != "garbage":
            _record(target, "bad", f"{desc} valid input refused: {type(exc).__name__}: {exc}")
        else:
            _record(target, type(exc).__name__)
        if not all(_equal(a, b) for a, b in snaps):
            _record(target, "bad", f"{desc} an input was changed by a refused call")
        return
    except MemoryError as exc:   # a garbage geometry (pad=10**6) may ask for terabytes: a clear refusal
        _record(target, "MemoryError" if sp.kind == "garbage" and str(exc).strip() else "bad", f"{desc} {exc}")
        return
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        tb = " / ".join(traceback.format_exc(limit=3).strip().splitlines()[-3:])
        _record(target, "bad", f"{desc} unexpected {type(exc).__name__}: {exc} | {tb}")
        return
    out = list(out) if isinstance(out, (list, tuple)) else [out]
    problem = None
    if not all(_equal(a, b) for a, b in snaps):
        problem = "an input array was written through"
    elif shapes is not None and sp.kind != "garbage" and \
            [np.shape(o) for o in out] != [s if s is not None else np.shape(o) for s, o in zip(shapes, out)]:
        problem = f"output shapes {[np.shape(o) for o in out]}, expected {shapes}"
    elif not sp.nonfinite and sp.kind != "garbage" and not _finite(out):
        problem = "non-finite output from finite input"
    elif sp.kind == "layout" and canonical_call is not None:
        try:
            ref = canonical_call()
            if not _same(out, list(ref) if isinstance(ref, (list, tuple)) else [ref]):
                problem = "result differs from the C-contiguous input's"
        except Exception as exc:  # noqa: BLE001
            problem = f"canonical call failed: {type(exc).__name__}: {exc}"
    _record(target, "bad" if problem else "ok", f"{desc} {problem}")


def draw_array(data, shape, dtype, label, scale=3.0):
    """Normal values of ``shape`` exact in float32 (so a float64 copy converts back exactly), as ``dtype``."""
    seed = data.draw(st.integers(0, 2 ** 32 - 1), label=f"{label} seed")
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32).astype(dtype)
