"""fastnn.schedules and fastnn.early_stopping: the rates and stops they give, their state, their errors."""
import math

import numpy as np
import pytest

from fastnn.early_stopping import EarlyStopping
from fastnn.optimizer import SGD, Adam
from fastnn.schedules import (
    CosineDecay,
    ExponentialDecay,
    ReduceLROnPlateau,
    StepDecay,
    make_schedule,
)


def rates(schedule, epochs, ipe, base=0.1):
    schedule.start(base, epochs)
    return [schedule.lr_at(i, ipe) for i in range(epochs * ipe)]


def test_step_decay_drops_by_gamma_every_step_size_epochs():
    lrs = rates(StepDecay(step_size=2, gamma=0.5), epochs=5, ipe=3)
    assert lrs == [0.1] * 6 + [0.05] * 6 + [0.025] * 3


def test_exponential_decay_per_epoch():
    lrs = rates(ExponentialDecay(gamma=0.9), epochs=3, ipe=2)
    assert lrs == pytest.approx([0.1, 0.1, 0.09, 0.09, 0.081, 0.081], rel=1e-15)


def test_cosine_warms_up_linearly_then_decays_to_min_lr():
    lrs = rates(CosineDecay(warmup=1, min_lr=0.001), epochs=5, ipe=4)
    assert lrs[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert lrs[4] == pytest.approx(0.1)
    tail = lrs[4:]
    assert all(a > b for a, b in zip(tail, tail[1:]))          # strictly decreasing after warm-up
    assert tail[len(tail) // 2] == pytest.approx(0.001 + 0.099 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert tail[-1] > 0.001


def test_cosine_without_min_lr_stays_positive_past_its_length():
    s = CosineDecay(epochs=2)
    s.start(0.1)
    assert s.lr_at(2 * 10, 10) > 0   # past the end: an optimizer never gets lr=0


def test_plateau_reduces_after_patience_epochs_without_improvement():
    s = ReduceLROnPlateau(factor=0.5, patience=2, monitor="val_loss", min_delta=0.01)
    s.start(0.1)
    seen = []
    for value in (1.0, 0.9, 0.895, 0.899, 0.5, 0.6, 0.7):   # 0.895 is within min_delta: no improvement
        s.epoch_end({"val_loss": value})
        seen.append(s.lr_at(0, 1))
    assert seen == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])
    acc = ReduceLROnPlateau(factor=0.5, patience=1, monitor="val_acc")
    acc.start(1.0)
    for value in (0.5, 0.6, 0.55):
        acc.epoch_end({"val_acc": value})
    assert acc.lr_at(0, 1) == 0.5    # accuracy: higher is better


def test_schedule_state_round_trip_mid_plateau():
    a = ReduceLROnPlateau(factor=0.5, patience=3)
    a.start(0.2)
    for v in (1.0, 1.1, 1.2):
        a.epoch_end({"val_loss": v})
    b = ReduceLROnPlateau(factor=0.5, patience=3)
    b.load_state_dict(a.state_dict())
    for s in (a, b):
        s.epoch_end({"val_loss": 1.3})
    assert a.lr_at(0, 1) == b.lr_at(0, 1) == 0.1
    with pytest.raises(ValueError, match="the saved schedule is 'plateau', this one is 'cosine'"):
        CosineDecay().load_state_dict(a.state_dict())
    bad = dict(a.state_dict(), wait=-1)
    with pytest.raises(ValueError, match="out of range"):
        b.load_state_dict(bad)
    assert b.wait == 0 and b.scale == 0.5          # nothing changed by the refused load


def test_schedules_set_the_lr_each_optimizer_reads():
    """The schedule's rate is the one the update uses: SGD's p -= lr g and Adam's bias-corrected step."""
    p, g = np.array([1.0]), np.array([2.0])
    sgd = SGD(lr=0.1)
    s = StepDecay(step_size=1, gamma=0.5)
    s.start(sgd.lr)
    for it in range(3):
        sgd.lr = s.lr_at(it, 1)
        sgd.update({"p": p}, {"p": g})
    assert p[0] == pytest.approx(1.0 - 2.0 * (0.1 + 0.05 + 0.025))
    adam, q = Adam(lr=0.01), np.array([1.0])
    adam.lr = 0.005
    adam.update({"q": q}, {"q": g})
    assert q[0] == pytest.approx(1.0 - 0.005 * math.sqrt(1 - 0.999) / (1 - 0.9) * (0.1 * 2.0) / (math.sqrt(0.001 * 4.0) + 1e-7))


@pytest.mark.parametrize("call,match", [
    (lambda: StepDecay(step_size=0), "step_size must be > 0"),
    (lambda: StepDecay(gamma=1.5), r"gamma must lie in \(0, 1\)"),
    (lambda: ExponentialDecay(gamma=0), "gamma must be > 0"),
    (lambda: CosineDecay(epochs=2, warmup=2), "warmup must be shorter than the schedule"),
    (lambda: CosineDecay(warmup=-1), "warmup must be >= 0"),
    (lambda: ReduceLROnPlateau(patience=0), "patience must be > 0"),
    (lambda: ReduceLROnPlateau(monitor="loss"), "monitor must be one of val_loss, val_acc"),
    (lambda: make_schedule("linear"), "unknown lr_schedule 'linear'; valid names: step, exponential, cosine"),
    (lambda: make_schedule("step", warmup=1), "the step schedule takes step_size, gamma"),
    (lambda: EarlyStopping(patience=0), "patience must be > 0"),
    (lambda: EarlyStopping(min_delta=-1), "min_delta must be >= 0"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_cosine_min_lr_must_be_below_the_base_rate():
    with pytest.raises(ValueError, match="min_lr must be below the learning rate 0.01"):
        CosineDecay(min_lr=0.1).start(0.01, 5)


def test_early_stopping_counts_patience_and_keeps_the_best_state():
    es = EarlyStopping(patience=2, min_delta=0.0)
    states = iter(range(100))
    stops = [es.epoch_end(e, {"val_loss": v}, lambda: {"param/W1": np.array([next(states)])})
             for e, v in enumerate((1.0, 0.8, 0.9, 0.7, 0.75, 0.71), start=1)]
    assert stops == [False, False, False, False, False, True]
    assert es.best_epoch == 4 and es.stopped_epoch == 6
    assert int(es.best_state["param/W1"][0]) == 2      # the third improvement's snapshot
    assert "val_loss has not improved by more than 0 for 2 epochs (best 0.7000 at epoch 4)" == es.reason
    other = EarlyStopping(patience=2)
    other.load_state_dict(es.state_dict())
    assert (other.wait, other.best_epoch, other.stopped_epoch) == (2, 4, 6)
    assert int(other.best_state["param/W1"][0]) == 2
    with pytest.raises(ValueError, match="watches 'val_loss', this one 'train_acc'"):
        EarlyStopping(monitor="train_acc").load_state_dict(es.state_dict())


def test_early_stopping_needs_its_figure():
    with pytest.raises(ValueError, match="give the Trainer validation="):
        EarlyStopping().epoch_end(1, {"train_loss": 1.0})
