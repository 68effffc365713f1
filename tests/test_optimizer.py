"""Optimizers: trajectories against the book's update rules written out by hand,
kernels against fastnn.reference, in-place semantics, the book's dicts of
Python floats, numerics, validation, state saving and the factory."""
import math

import numpy as np
import pytest
from fastnn.kernels import optim as optim_kernels
from layouts import relayout

from fastnn import optimizer as O
from fastnn import reference as ref
from fastnn.optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop, get_optimizer
from fastnn.testing import assert_allclose_dtype

# ---------------------------------------------------------------------------
# The update rules written out by hand, as in the book's common/optimizer.py.
# p, g: float64 arrays or Python floats; s: this key's state; t: the update's
# number (1, 2, ...), the same for every key (the book's Adam counts updates).


def hand_sgd(p, g, s, t, lr=0.01):
    return p - lr * g


def hand_momentum(p, g, s, t, lr=0.01, momentum=0.9):
    s["v"] = momentum * s.get("v", 0 * p) - lr * g
    return p + s["v"]


def hand_nesterov(p, g, s, t, lr=0.01, momentum=0.9):
    v = s.get("v", 0 * p)
    p = p + momentum * momentum * v - (1 + momentum) * lr * g  # the old velocity moves p ...
    s["v"] = momentum * v - lr * g                               # ... then the velocity is updated
    return p


def hand_adagrad(p, g, s, t, lr=0.01):
    s["h"] = s.get("h", 0 * p) + g * g
    return p - lr * g / (np.sqrt(s["h"]) + 1e-7)


def hand_rmsprop(p, g, s, t, lr=0.01, decay_rate=0.99):
    s["h"] = decay_rate * s.get("h", 0 * p) + (1 - decay_rate) * g * g
    return p - lr * g / (np.sqrt(s["h"]) + 1e-7)


def hand_adam(p, g, s, t, lr=0.001, beta1=0.9, beta2=0.999):
    lr_t = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    s["m"] = s.get("m", 0 * p) + (1 - beta1) * (g - s.get("m", 0 * p))
    s["v"] = s.get("v", 0 * p) + (1 - beta2) * (g * g - s.get("v", 0 * p))
    return p - lr_t * s["m"] / (np.sqrt(s["v"]) + 1e-7)


HAND = {SGD: hand_sgd, Momentum: hand_momentum, Nesterov: hand_nesterov,
        AdaGrad: hand_adagrad, RMSprop: hand_rmsprop, Adam: hand_adam}

CASES = [  # (class, hyperparameters): the book's defaults, and others that move more
    (SGD, {}), (SGD, {"lr": 0.3}),
    (Momentum, {}), (Momentum, {"lr": 0.1, "momentum": 0.5}),
    (Nesterov, {}), (Nesterov, {"lr": 0.1, "momentum": 0.7}),
    (AdaGrad, {}), (AdaGrad, {"lr": 0.5}),
    (RMSprop, {}), (RMSprop, {"lr": 0.05, "decay_rate": 0.9}),
    (Adam, {}), (Adam, {"lr": 0.05, "beta1": 0.8, "beta2": 0.99}),
]
CASE_IDS = [f"{c.__name__}-{'-'.join(f'{k}{v}' for k, v in kw.items()) or 'defaults'}" for c, kw in CASES]

SHAPES = [(), (1,), (17,), (5, 3), (2, 3, 4, 5)]


def run_hand(cls, kw, params, grad_steps):
    """Apply the hand rule to float64 copies of ``params``; return the params after each step."""
    p = {k: np.asarray(v, dtype=np.float64).copy() for k, v in params.items()}
    states = {k: {} for k in p}
    out = []
    for t, grads in enumerate(grad_steps, start=1):
        for k in p:
            p[k] = HAND[cls](p[k], np.asarray(grads[k], dtype=np.float64), states[k], t, **kw)
        out.append({k: v.copy() for k, v in p.items()})
    return out


# ---------------------------------------------------------------------------
# trajectories


@pytest.mark.parametrize("cls,kw", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_trajectory_matches_hand_rules(cls, kw, shape, dtype, rng):
    params = {"W": rng.standard_normal(shape).astype(dtype),
              "b": rng.standard_normal((3,)).astype(dtype)}
    steps = [{k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()} for _ in range(6)]
    expected = run_hand(cls, kw, params, steps)
    held = dict(params)  # what the layers would hold
    opt = cls(**kw)
    for grads, want in zip(steps, expected):
        opt.update(params, grads)
        for k in params:
            assert params[k] is held[k]
            assert_allclose_dtype(params[k], want[k], dtype, err_msg=f"{cls.__name__} {k}")


@pytest.mark.parametrize("cls,kw", CASES, ids=CASE_IDS)
def test_non_contiguous_params_updated_in_place(cls, kw, rng):
    big = rng.standard_normal((6, 10))
    strided = big[1::2, ::3]                    # a strided view (not contiguous)
    fortran = np.asfortranarray(rng.standard_normal((4, 5)))
    transposed = rng.standard_normal((5, 4)).T  # another F-ordered view
    params = {"s": strided, "f": fortran, "t": transposed}
    outside = big.copy()
    steps = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(4)]
    expected = run_hand(cls, kw, params, steps)
    opt = cls(**kw)
    for grads, want in zip(steps, expected):
        opt.update(params, grads)
        for k in params:
            assert_allclose_dtype(params[k], want[k])
    assert params["s"] is strided and params["f"] is fortran and params["t"] is transposed
    mask = np.ones(big.shape, bool)
    mask[1::2, ::3] = False
    np.testing.assert_array_equal(big[mask], outside[mask])  # nothing written outside the view
    np.testing.assert_array_equal(big[1::2, ::3], strided)   # the base array sees the update


@pytest.mark.parametrize("cls,kw", CASES[::2], ids=CASE_IDS[::2])
def test_in_place_keeps_identity_and_views(cls, kw, rng, dtype):
    W = rng.standard_normal((4, 3)).astype(dtype)
    b = np.zeros(3, dtype=dtype)
    view_w, view_b = W[1:], b.reshape(1, 3)  # e.g. what a layer or a user holds
    params = {"W": W, "b": b}
    opt = cls(**kw)
    for _ in range(2):
        before = W.copy()
        opt.update(params, {"W": np.ones((4, 3), dtype), "b": np.ones(3, dtype)})
        assert params["W"] is W and params["b"] is b
        assert not np.array_equal(W, before)
    np.testing.assert_array_equal(view_w, W[1:])
    np.testing.assert_array_equal(view_b[0], b)
    assert W.dtype == dtype and b.dtype == dtype


def test_grad_of_another_float_dtype_is_converted(rng):
    W64 = rng.standard_normal((3, 4))
    W32 = W64.astype(np.float32)
    g32 = rng.standard_normal((3, 4)).astype(np.float32)
    a, b = {"W": W64.copy()}, {"W": W64.copy()}
    Adam(lr=0.1).update(a, {"W": g32})
    Adam(lr=0.1).update(b, {"W": g32.astype(np.float64)})
    np.testing.assert_array_equal(a["W"], b["W"])
    p32 = {"W": W32}
    Momentum().update(p32, {"W": g32.astype(np.float64)})  # float64 grad into float32 param
    assert p32["W"] is W32 and W32.dtype == np.float32


def test_grad_may_be_the_param_itself():
    p = np.array([1.0, -2.0, 4.0])
    SGD(lr=0.25).update({"p": p}, {"p": p})
    np.testing.assert_array_equal(p, [0.75, -1.5, 3.0])


def test_nesterov_moves_the_parameter_with_the_old_velocity():
    # v starts at 0: the first step is -(1 + momentum) * lr * g (the pre-2021 order would add
    # momentum² * (-lr g) as well); the second uses v1 = -lr g.
    p = np.array([1.0])
    opt = Nesterov(lr=0.1, momentum=0.9)
    opt.update({"p": p}, {"p": np.array([2.0])})
    assert p[0] == pytest.approx(1.0 - 1.9 * 0.1 * 2.0, abs=1e-15)
    assert opt.v["p"][0] == pytest.approx(-0.2, abs=1e-15)
    opt.update({"p": p}, {"p": np.array([1.0])})
    assert p[0] == pytest.approx(0.62 + 0.81 * -0.2 - 1.9 * 0.1 * 1.0, abs=1e-15)
    assert opt.v["p"][0] == pytest.approx(0.9 * -0.2 - 0.1, abs=1e-15)


def test_adam_counts_updates_not_keys():
    opt = Adam()
    params = {"a": np.ones(2), "b": np.ones(3), "c": np.ones(())}
    for _ in range(3):
        opt.update(params, {k: np.ones_like(v) for k, v in params.items()})
    assert opt.iter == 3


# ---------------------------------------------------------------------------
# kernels against the NumPy reference


KERNEL_CASES = [
    ("sgd_update", 0, (0.05,)),
    ("momentum_update", 1, (0.05, 0.9)),
    ("nesterov_update", 1, (0.05, 0.9)),
    ("adagrad_update", 1, (0.05,)),
    ("rmsprop_update", 1, (0.05, 0.99)),
    ("adam_update", 2, (ref.adam_lr_t(0.01, 0.9, 0.999, 3), 0.9, 0.999)),
]


@pytest.mark.parametrize("name,n_states,hyper", KERNEL_CASES, ids=[c[0] for c in KERNEL_CASES])
@pytest.mark.parametrize("n", [1, 7, 1000])
@pytest.mark.parametrize("build", ["", "_parallel"])
def test_kernel_matches_reference(name, n_states, hyper, n, build, dtype, rng):
    p = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal(n).astype(dtype)
    states = [np.abs(rng.standard_normal(n)).astype(dtype) for _ in range(n_states)]
    if name == "adam_update":
        states[0] = rng.standard_normal(n).astype(dtype)  # m may be negative
    want = getattr(ref, name)(p, g, *states, *hyper)
    want = want if isinstance(want, tuple) else (want,)
    got = [p.copy()] + [s.copy() for s in states]
    getattr(optim_kernels, name + build)(*got[:1], g, *got[1:], *hyper)
    for a, b in zip(got, want):
        assert_allclose_dtype(a, b, dtype, err_msg=name)
    assert g.dtype == dtype


def test_reference_returns_new_arrays(rng):
    p, g, v = rng.standard_normal(4), rng.standard_normal(4), np.zeros(4)
    p0, v0 = p.copy(), v.copy()
    p1, v1 = ref.momentum_update(p, g, v, 0.1, 0.9)
    np.testing.assert_array_equal(p, p0)
    np.testing.assert_array_equal(v, v0)
    assert p1 is not p and v1 is not v


# ---------------------------------------------------------------------------
# the book's dicts of plain Python floats (ch06/optimizer_compare_naive.py)


def toy_f(x, y):
    return x ** 2 / 20.0 + y ** 2


def toy_df(x, y):
    return x / 10.0, 2.0 * y


BOOK_TOY = [(SGD, 0.95), (Momentum, 0.1), (AdaGrad, 1.5), (Adam, 0.3), (Nesterov, 0.1), (RMSprop, 0.1)]


@pytest.mark.parametrize("cls,lr", BOOK_TOY, ids=[c.__name__ for c, _ in BOOK_TOY])
def test_python_float_dicts_follow_hand_rules_and_converge(cls, lr):
    params = {"x": -7.0, "y": 2.0}
    hand = {"x": -7.0, "y": 2.0}
    hand_states = {"x": {}, "y": {}}
    opt = cls(lr=lr)
    for t in range(1, 31):
        grads = {}
        grads["x"], grads["y"] = toy_df(params["x"], params["y"])
        opt.update(params, grads)
        hx, hy = toy_df(hand["x"], hand["y"])
        for k, g in (("x", hx), ("y", hy)):
            hand[k] = float(HAND[cls](hand[k], g, hand_states[k], t, lr=lr))
        for k in params:
            assert type(params[k]) is float
            assert params[k] == pytest.approx(hand[k], rel=1e-12, abs=1e-12)
    assert toy_f(params["x"], params["y"]) < toy_f(-7.0, 2.0) / 50


def test_numpy_scalar_params_keep_their_type():
    params = {"a": np.float32(1.5), "b": np.float64(-2.0), "c": 3}
    grads = {"a": np.float32(1.0), "b": 1.0, "c": 2}
    Momentum(lr=0.5).update(params, grads)
    assert type(params["a"]) is np.float32 and params["a"] == np.float32(1.0)
    assert type(params["b"]) is np.float64 and params["b"] == -2.5
    assert type(params["c"]) is float and params["c"] == 2.0


def test_zero_d_array_param_is_updated_in_place():
    z = np.array(3.0)
    params = {"z": z}
    Adam(lr=0.5).update(params, {"z": 1.0})
    assert params["z"] is z and z.shape == () and z == pytest.approx(2.5)


# ---------------------------------------------------------------------------
# numerics


@pytest.mark.parametrize("cls", [SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam])
def test_zero_gradients_give_no_nan(cls, dtype, rng):
    p = rng.standard_normal((3, 4)).astype(dtype)
    p0 = p.copy()
    opt = cls()
    with np.errstate(all="raise"):
        for _ in range(5):
            opt.update({"p": p}, {"p": np.zeros_like(p)})
    np.testing.assert_array_equal(p, p0)
    for s in opt.state_names:
        assert np.all(np.isfinite(getattr(opt, s)["p"]))


def test_empty_param_is_a_no_op():
    p = np.zeros((0, 3))
    Adam().update({"p": p}, {"p": np.zeros((0, 3))})
    assert p.shape == (0, 3)


def test_state_is_made_with_the_param_shape_and_dtype():
    opt = Adam()
    opt.update({"W": np.ones((2, 3), np.float32)}, {"W": np.ones((2, 3), np.float32)})
    for s in (opt.m, opt.v):
        assert s["W"].shape == (2, 3) and s["W"].dtype == np.float32 and s["W"].flags.c_contiguous


# ---------------------------------------------------------------------------
# validation


@pytest.mark.parametrize("cls,arg,value,exc", [
    (SGD, "lr", 0.0, ValueError), (SGD, "lr", -0.1, ValueError),
    (SGD, "lr", float("nan"), ValueError), (SGD, "lr", float("inf"), ValueError),
    (SGD, "lr", "0.1", TypeError), (SGD, "lr", None, TypeError), (SGD, "lr", True, TypeError),
    (Momentum, "momentum", 1.0, ValueError), (Momentum, "momentum", -0.5, ValueError),
    (Nesterov, "momentum", float("nan"), ValueError), (Nesterov, "lr", [0.1], TypeError),
    (AdaGrad, "lr", -1, ValueError),
    (RMSprop, "decay_rate", 1.0, ValueError), (RMSprop, "decay_rate", -0.01, ValueError),
    (Adam, "beta1", 1.0, ValueError), (Adam, "beta2", 1.5, ValueError), (Adam, "lr", 0, ValueError),
])
def test_bad_hyperparameters_raise_naming_them(cls, arg, value, exc):
    with pytest.raises(exc, match=arg):
        cls(**{arg: value})
    opt = cls()
    with pytest.raises(exc, match=arg):  # also when changed later (e.g. a learning-rate schedule)
        setattr(opt, arg, value)


def test_hyperparameters_can_be_changed_and_are_plain_floats():
    opt = Adam(lr=np.float32(0.01))
    assert type(opt.lr) is float
    opt.lr *= 0.5
    assert opt.lr == pytest.approx(0.005)
    assert repr(opt).startswith("Adam(lr=")


@pytest.mark.parametrize("params,grads,exc,match", [
    ({"W": np.ones(3)}, {"b": np.ones(3)}, ValueError, "same keys"),
    ({"W": np.ones(3)}, {"W": np.ones(3), "b": np.ones(2)}, ValueError, "same keys"),
    ({"W": np.ones(3), "b": np.ones(2)}, {"W": np.ones(3)}, ValueError, "missing in grads"),
    ({"W": np.ones(3)}, {"W": np.ones(4)}, ValueError, r"grads\['W'\] must have the shape"),
    ({"W": np.ones((3, 1))}, {"W": np.ones(3)}, ValueError, r"grads\['W'\] must have the shape"),
    ({"W": np.ones(3)}, {"W": np.ones(3, dtype=int)}, TypeError, r"grads\['W'\]"),
    ({"W": np.ones(3)}, {"W": np.array(["a", "b", "c"], dtype=object)}, TypeError, r"grads\['W'\]"),
    ({"W": np.ones(3, dtype=int)}, {"W": np.ones(3)}, TypeError, r"params\['W'\] must be a float32"),
    ({"W": [1.0, 2.0]}, {"W": np.ones(2)}, TypeError, r"params\['W'\]"),
    ({"W": True}, {"W": 1.0}, TypeError, r"params\['W'\]"),
    ([np.ones(3)], {"W": np.ones(3)}, TypeError, "params must be a dict"),
    ({"W": np.ones(3)}, None, TypeError, "grads must be a dict"),
])
@pytest.mark.parametrize("cls", [SGD, Adam])
def test_bad_params_and_grads_raise(cls, params, grads, exc, match):
    with pytest.raises(exc, match=match):
        cls().update(params, grads)


def test_read_only_param_is_refused():
    W = np.ones(3)
    W.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        SGD().update({"W": W}, {"W": np.ones(3)})


def test_a_bad_call_changes_nothing(rng):
    W, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    params = {"W": W, "b": b}
    opt = Adam()
    opt.update(params, {"W": np.ones((2, 3)), "b": np.ones(3)})
    W0, b0, m0 = W.copy(), b.copy(), opt.m["W"].copy()
    with pytest.raises(ValueError):
        opt.update(params, {"W": np.ones((2, 3)), "b": np.ones(4)})  # 'W' comes first and is fine
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(opt.m["W"], m0)
    assert opt.iter == 1


def test_changed_param_shape_or_dtype_raises_until_reset():
    opt = Momentum()
    opt.update({"W": np.ones((2, 3))}, {"W": np.ones((2, 3))})
    with pytest.raises(ValueError, match=r"state v\['W'\] was made for shape \(2, 3\)"):
        opt.update({"W": np.ones((3, 2))}, {"W": np.ones((3, 2))})
    with pytest.raises(ValueError, match="dtype"):
        opt.update({"W": np.ones((2, 3), np.float32)}, {"W": np.ones((2, 3), np.float32)})
    opt.reset()
    opt.update({"W": np.ones((3, 2))}, {"W": np.ones((3, 2))})
    assert opt.v["W"].shape == (3, 2)


# ---------------------------------------------------------------------------
# saving and restoring state


@pytest.mark.parametrize("cls,kw", CASES[1::2], ids=CASE_IDS[1::2])
def test_state_dict_round_trip_resumes_exactly(cls, kw, rng, tmp_path):
    shapes = {"W1": (4, 3), "b1": (3,), "s": ()}
    p_a = {k: rng.standard_normal(s) for k, s in shapes.items()}
    steps = [{k: rng.standard_normal(s) for k, s in shapes.items()} for _ in range(5)]
    a = cls(**kw)
    for g in steps[:3]:
        a.update(p_a, g)
    np.savez(tmp_path / "opt.npz", **a.state_dict())
    b = cls()  # other hyperparameters: they come from the file too
    with np.load(tmp_path / "opt.npz") as f:
        b.load_state_dict(dict(f))
    assert repr(b) == repr(a)
    p_b = {k: v.copy() for k, v in p_a.items()}
    for g in steps[3:]:
        a.update(p_a, g)
        b.update(p_b, g)
    for k in shapes:
        np.testing.assert_array_equal(p_a[k], p_b[k])


def test_load_state_dict_refuses_other_optimizers_and_garbage():
    a = Momentum()
    a.update({"W": np.ones(2)}, {"W": np.ones(2)})
    sgd = SGD()
    with pytest.raises(ValueError, match="saved by optimizer 'Momentum'"):
        sgd.load_state_dict(a.state_dict())
    state = a.state_dict()
    state["h/W"] = np.ones(2)
    b = Momentum(lr=0.5)
    with pytest.raises(ValueError, match="unknown entry"):
        b.load_state_dict(state)
    state = a.state_dict()
    state["hyper/lr"] = np.array(-1.0)
    with pytest.raises(ValueError, match="lr"):
        b.load_state_dict(state)
    assert b.lr == 0.5 and b.v == {}  # unchanged
    state = a.state_dict()
    state["v/W"] = np.array([0.0, np.nan])
    with pytest.raises(ValueError, match=r"state\['v/W'\] holds NaN or infinite values"):
        b.load_state_dict(state)
    state["v/W"] = np.array([0.0, 1j])
    with pytest.raises(TypeError, match="float32 or float64"):
        b.load_state_dict(state)
    assert b.lr == 0.5 and b.v == {}  # unchanged
    with pytest.raises(TypeError):
        b.load_state_dict([1, 2])


# ---------------------------------------------------------------------------
# names: factory and star import


@pytest.mark.parametrize("name,cls", [
    ("sgd", SGD), ("SGD", SGD), ("Momentum", Momentum), ("nesterov", Nesterov),
    ("AdaGrad", AdaGrad), ("RMSprop", RMSprop), ("rmsprpo", RMSprop), ("ADAM", Adam),
])
def test_get_optimizer_by_name(name, cls):
    opt = get_optimizer(name, lr=0.02)
    assert type(opt) is cls and opt.lr == 0.02


def test_get_optimizer_errors_and_passthrough():
    with pytest.raises(ValueError, match="valid names: sgd, momentum, nesterov, adagrad, rmsprop, adam"):
        get_optimizer("adamw")
    with pytest.raises(TypeError):
        get_optimizer(3)
    with pytest.raises(TypeError):
        get_optimizer("sgd", momentum=0.9)
    with pytest.raises(ValueError, match="lr"):
        get_optimizer("adam", lr=-1)
    opt = Adam()
    assert get_optimizer(opt) is opt
    with pytest.raises(TypeError):
        get_optimizer(opt, lr=0.1)
    assert type(get_optimizer(Nesterov, momentum=0.5)) is Nesterov
    assert set(O.OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}


def test_star_import_brings_np_and_the_classes():
    ns = {}
    exec("from fastnn.optimizer import *", ns)
    assert ns["np"] is np
    for name in ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"):
        assert name in ns


@pytest.mark.parametrize("cls,kw", CASES, ids=CASE_IDS)
def test_large_and_small_params_together_follow_hand_rules(cls, kw, dtype, rng):
    """A parameter above ELEMENTWISE_PARALLEL_ELEMENTS updates on all threads, the small ones on one: same rules."""
    from fastnn._runtime import ELEMENTWISE_PARALLEL_ELEMENTS

    params = {"W": rng.standard_normal((ELEMENTWISE_PARALLEL_ELEMENTS // 100 + 7, 100)).astype(dtype),
              "b": rng.standard_normal((5,)).astype(dtype)}
    steps = [{k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()} for _ in range(3)]
    expected = run_hand(cls, kw, params, steps)
    opt = cls(**kw)
    for grads, want in zip(steps, expected):
        opt.update(params, grads)
        for k in params:
            assert_allclose_dtype(params[k], want[k], dtype, err_msg=f"{cls.__name__} {k}")


@pytest.mark.parametrize("how", ["fortran", "strided", "offset_view"])
def test_optimizers_update_strided_parameters_in_place(how):
    """A parameter that is a view (of a larger buffer, or Fortran-ordered) is updated where it lives."""
    from fastnn.optimizer import SGD
    rng = np.random.default_rng(2)
    p0 = rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    p = relayout(p0, how)
    g_in = relayout(g, how)
    g_keep = g_in.copy()
    params = {"W": p}
    SGD(lr=0.5).update(params, {"W": g_in})
    assert params["W"] is p
    np.testing.assert_array_equal(p, p0 - 0.5 * g)
    np.testing.assert_array_equal(g_in, g_keep)


def test_optimizers_refuse_read_only_parameters_and_change_nothing():
    from fastnn.optimizer import Momentum
    p = np.ones(3)
    ro = np.ones(2)
    ro.flags.writeable = False
    opt = Momentum()
    with pytest.raises(ValueError, match="read-only"):
        opt.update({"a": p, "b": ro}, {"a": np.ones(3), "b": np.ones(2)})
    np.testing.assert_array_equal(p, 1.0)
    assert opt.v == {}


def test_adam_with_zero_gradients_is_finite_and_still(dtype):
    p = np.linspace(-1, 1, 7).astype(dtype)
    keep = p.copy()
    opt = Adam()
    with np.errstate(all="raise"):
        for _ in range(5):
            opt.update({"p": p}, {"p": np.zeros_like(p)})
    np.testing.assert_array_equal(p, keep)
    assert np.all(np.isfinite(opt.m["p"])) and np.all(np.isfinite(opt.v["p"]))


def test_adam_after_many_steps_has_no_overflow_in_its_bias_correction():
    p = np.ones(3)
    opt = Adam(lr=1e-3, beta1=0.9, beta2=0.999)
    opt.iter = 10 ** 6  # beta ** iter underflows to 0: lr_t must be the plain lr
    with np.errstate(all="raise"):
        opt.update({"p": p}, {"p": np.full(3, 1e-3)})
    assert np.all(np.isfinite(p))


# -- the optimizers' flat plan: The optimizers' fast path: an update with the very parameter arrays of the last one skips

CLASSES = [SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam]


def _without_plan(cls):
    """A twin class that never keeps a plan: every update takes the full path."""
    return type(f"Planless{cls.__name__}", (cls,), {"_make_plan": lambda self, jobs: None})


def _params(rng, dtype=np.float64):
    return {"W": rng.standard_normal((5, 3)).astype(dtype), "b": rng.standard_normal(3).astype(dtype)}


def _grads(rng, dtype=np.float64):
    return {"W": rng.standard_normal((5, 3)).astype(dtype), "b": rng.standard_normal(3).astype(dtype)}


def _twins(cls, rng):
    """(optimizer, params) with a plan and without: the same start."""
    p = _params(rng)
    return (cls(), p), (_without_plan(cls)(), {k: v.copy() for k, v in p.items()})


def _assert_same(a, b):
    (opt_a, pa), (opt_b, pb) = a, b
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])
    assert opt_a.state_dict().keys() == opt_b.state_dict().keys()
    for k, v in opt_a.state_dict().items():
        if k != "optimizer":  # the class names differ
            np.testing.assert_array_equal(v, opt_b.state_dict()[k])


def _both(a, b, grads_fn):
    for opt, p in (a, b):
        opt.update(p, grads_fn(p))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_plan_is_used_and_matches_the_full_path(cls, rng):
    a, b = _twins(cls, rng)
    steps = [_grads(rng) for _ in range(5)]
    for g in steps:
        _both(a, b, lambda p, g=g: {k: v.copy() for k, v in g.items()})
    assert a[0]._plan is not None and b[0]._plan is None
    _assert_same(a, b)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_changes_between_updates_take_the_full_path(cls, rng):
    a, b = _twins(cls, rng)
    g0 = _grads(rng)
    fresh = lambda p: {k: v.copy() for k, v in g0.items()}  # noqa: E731
    _both(a, b, fresh)
    _both(a, b, fresh)
    # grads of another dtype, as lists, non-contiguous: converted as the full path does
    _both(a, b, lambda p: {k: v.astype(np.float32) for k, v in g0.items()})
    _both(a, b, lambda p: {k: v.tolist() for k, v in g0.items()})
    _both(a, b, lambda p: {"W": np.asfortranarray(g0["W"]), "b": g0["b"][::-1][::-1]})
    _both(a, b, lambda p: {"W": np.ascontiguousarray(g0["W"].T).T, "b": g0["b"]})
    _assert_same(a, b)
    # a parameter replaced by another array of the same shape (the state carries over by key)
    for opt, p in (a, b):
        p["b"] = p["b"].copy()
    _both(a, b, fresh)
    _assert_same(a, b)
    # a strided parameter: updated through a copy, written back
    for opt, p in (a, b):
        big = np.zeros((5, 6))
        big[:, ::2] = p["W"]
        p["W"] = big[:, ::2]
    _both(a, b, fresh)
    _both(a, b, fresh)
    _assert_same(a, b)
    # reset(): fresh state
    for opt, p in (a, b):
        opt.reset()
    _both(a, b, fresh)
    _both(a, b, fresh)
    _assert_same(a, b)
    # load_state_dict(): the restored state arrays are used, not the planned ones
    saved = [a[0].state_dict(), b[0].state_dict()]
    _both(a, b, fresh)
    for (opt, _), state in zip((a, b), saved):
        opt.load_state_dict(state)
    _both(a, b, fresh)
    _assert_same(a, b)


@pytest.mark.parametrize("cls", [Momentum, Adam], ids=lambda c: c.__name__)
def test_state_array_rebound_by_hand_is_used(cls, rng):
    a, b = _twins(cls, rng)
    g0 = _grads(rng)
    fresh = lambda p: {k: v.copy() for k, v in g0.items()}  # noqa: E731
    _both(a, b, fresh)
    _both(a, b, fresh)
    for opt, _ in (a, b):
        opt.v["W"] = np.full((5, 3), 0.5)
    _both(a, b, fresh)
    _assert_same(a, b)


def test_errors_after_a_planned_update_are_the_full_paths(rng):
    opt = Adam()
    p = _params(rng)
    opt.update(p, _grads(rng))
    opt.update(p, _grads(rng))
    assert opt._plan is not None
    before = {k: v.copy() for k, v in p.items()}
    m_before = {k: v.copy() for k, v in opt.m.items()}
    with pytest.raises(ValueError, match=r"grads\['W'\] must have the shape of params\['W'\]"):
        opt.update(p, {"W": np.ones((3, 5)), "b": np.ones(3)})
    with pytest.raises(ValueError, match="same keys"):
        opt.update(p, {"W": np.ones((5, 3))})
    with pytest.raises(ValueError, match="same keys"):
        opt.update(p, {"W": np.ones((5, 3)), "c": np.ones(3)})
    with pytest.raises(TypeError, match=r"grads\['b'\]"):
        opt.update(p, {"W": np.ones((5, 3)), "b": np.array(["x", "y", "z"])})
    p["W"].flags.writeable = False
    with pytest.raises(ValueError, match=r"params\['W'\] is read-only"):
        opt.update(p, _grads(rng))
    p["W"].flags.writeable = True
    p["b"].shape = (1, 3)
    with pytest.raises(ValueError, match=r"state m\['b'\] was made for shape \(3,\)"):
        opt.update(p, {"W": np.ones((5, 3)), "b": np.ones((1, 3))})
    p["b"].shape = (3,)
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])
        np.testing.assert_array_equal(opt.m[k], m_before[k])
    assert opt.iter == 2
    opt.update(p, _grads(rng))  # and it goes on
    assert opt.iter == 3


def test_plan_only_for_dicts_of_arrays(rng):
    opt = SGD(lr=0.5)
    p = {"x": 1.0, "y": np.ones(2)}
    opt.update(p, {"x": 1.0, "y": np.ones(2)})
    opt.update(p, {"x": 1.0, "y": np.ones(2)})
    assert opt._plan is None
    assert p["x"] == 0.0 and isinstance(p["x"], float)
    np.testing.assert_array_equal(p["y"], [0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_flush_decaying_state_before_it_turns_subnormal(dtype):
    """Dead units (gradient 0) decay Adam's m, Momentum's v, RMSprop's h; the kernels flush them to 0
    below 2**-100 (float32; 2**-900 float64) instead of computing on subnormals, and the parameter
    stays within the reference's float tolerance."""
    from fastnn.kernels import optim as optim_kernels

    from fastnn.reference import optim as reference_optim

    tiny = np.finfo(dtype).tiny
    small = optim_kernels.SMALL_FLOAT32 if dtype == np.float32 else optim_kernels.SMALL_FLOAT64
    p = np.array([0.5, -0.25, 1.0], dtype=dtype)
    g = np.array([0.0, 0.0, 1e-3], dtype=dtype)
    m = np.array([small * 0.5, -small * 0.5, 1e-3], dtype=dtype)
    v = np.array([small * 0.5, small * 0.5, 1e-6], dtype=dtype)
    want_p, _, _ = reference_optim.adam_update(p.copy(), g, m.copy(), v.copy(), 1e-3, 0.9, 0.999)
    optim_kernels.adam_update(p, g, m, v, 1e-3, 0.9, 0.999)
    assert m[0] == 0 and m[1] == 0 and v[0] == 0 and v[1] == 0 and m[2] != 0 and v[2] != 0
    np.testing.assert_allclose(p, want_p, rtol=2 * np.finfo(dtype).eps)
    h = np.array([small * 0.5], dtype=dtype)
    optim_kernels.rmsprop_update(np.ones(1, dtype), np.zeros(1, dtype), h, 0.01, 0.99)
    vel = np.array([small * 0.5], dtype=dtype)
    optim_kernels.momentum_update(np.ones(1, dtype), np.zeros(1, dtype), vel, 0.01, 0.9)
    assert h[0] == 0 and vel[0] == 0
    # a gradient whose square would be subnormal adds nothing to h; the gradient itself still moves p
    h2, p2 = np.zeros(1, dtype), np.zeros(1, dtype)
    optim_kernels.adagrad_update(p2, np.array([np.sqrt(tiny) * 0.5], dtype), h2, 0.01)
    assert h2[0] == 0 and p2[0] < 0


def test_the_optimizer_names_are_one_list():
    """fastnn.optimizer, the command line's --optimizer and fastnn tune's search all read OPTIMIZER_NAMES."""
    from fastnn import _cli_args, optimizer
    from fastnn._optimizer_names import OPTIMIZER_NAMES
    from fastnn.tune import _cli as tune_cli
    from fastnn.tune import _space

    assert tuple(optimizer.OPTIMIZERS) == OPTIMIZER_NAMES
    assert all(cls.__name__.lower() == name for name, cls in optimizer.OPTIMIZERS.items())
    assert _cli_args.OPTIMIZERS is OPTIMIZER_NAMES and _space.OPTIMIZERS is OPTIMIZER_NAMES
    assert "choices (" + " ".join(OPTIMIZER_NAMES) + ")" in tune_cli.TUNE_EPILOG
