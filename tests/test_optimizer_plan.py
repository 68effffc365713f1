"""The optimizers' fast path: an update with the very parameter arrays of the last one skips
``_prepare`` (a cached plan), and must give exactly what the full path gives whatever changes
between updates — and raise the same errors, writing nothing."""
import numpy as np
import pytest

from fastnn.optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop

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
