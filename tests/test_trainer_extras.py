"""Trainer's optional parts: validation, early stopping, learning-rate schedules, augmentation; resume with all."""
import numpy as np
import pytest

from fastnn.augment import Augment
from fastnn.datasets import load_digits
from fastnn.early_stopping import EarlyStopping
from fastnn.nets import SimpleConvNet, TwoLayerNet
from fastnn.schedules import CosineDecay, ReduceLROnPlateau, StepDecay
from fastnn.trainer import Trainer


@pytest.fixture(scope="module")
def digits():
    return load_digits(flatten=True)


def make(digits, epochs=5, net_seed=0, **kwargs):
    (x, t), (xt, tt) = digits
    net = TwoLayerNet(64, 30, 10, weight_init_std="he", seed=net_seed)
    kwargs.setdefault("optimizer_param", {"lr": 0.01})
    return Trainer(net, x, t, xt, tt, epochs=epochs, mini_batch_size=50, optimizer="adam", verbose=False,
                   seed=kwargs.pop("seed", 3), **kwargs)


def test_defaults_keep_todays_run_and_state(digits):
    plain = make(digits).train()
    assert plain.val_loss_list == [] and plain.stop_reason is None and plain.augment is None
    keys = set(plain.state_dict())
    assert not any(k.startswith(("schedule/", "early_stopping/", "augment/", "trainer/val", "trainer/lr"))
                   for k in keys)
    again = make(digits).train()
    np.testing.assert_array_equal(plain.network.params["W1"], again.network.params["W1"])


def test_validation_fraction_is_held_out_per_class_and_learns(digits):
    (x, t), _ = digits
    tr = make(digits, epochs=8, validation=0.2)
    assert tr.x_val.shape[0] + tr.x_train.shape[0] == x.shape[0]
    np.testing.assert_array_equal(np.bincount(tr.t_val), np.bincount(t) // 5)
    tr.train()
    assert len(tr.val_loss_list) == len(tr.val_acc_list) == 8
    assert tr.val_loss_list[-1] < tr.val_loss_list[0] / 3
    assert tr.val_acc_list[-1] > 0.9 and len(tr.test_acc_list) == 8
    loss, acc = tr.validate()
    assert acc == tr.val_acc_list[-1] and loss == pytest.approx(tr.val_loss_list[-1])


def test_validation_pair_and_bad_validation(digits):
    (x, t), _ = digits
    tr = make(digits, epochs=1, validation=(x[:100], t[:100]))
    assert tr.x_train.shape[0] == x.shape[0] and tr.x_val.shape[0] == 100
    with pytest.raises(ValueError, match="validation must be a fraction strictly between 0 and 1"):
        make(digits, validation=1.5)
    with pytest.raises(TypeError, match="validation must be a fraction such as 0.1 or a pair"):
        make(digits, validation="0.1")
    with pytest.raises(ValueError, match="x_val must have the sample shape of x_train"):
        make(digits, validation=(x[:10, :32], t[:10]))


def test_early_stopping_stops_says_why_and_restores_the_best_epoch(digits):
    tr = make(digits, epochs=60, validation=0.2, optimizer_param={"lr": 0.05},
              early_stopping=EarlyStopping(patience=2, min_delta=0.01))
    tr.train()
    es = tr.early_stopping
    assert tr.stopped_epoch is not None and tr.stopped_epoch < 60 and tr.current_epoch == tr.stopped_epoch
    assert tr.stopped_epoch == es.best_epoch + 2
    assert tr.stop_reason.startswith("val_loss has not improved by more than 0.01 for 2 epochs")
    np.testing.assert_array_equal(tr.network.params["W1"], es.best_state["param/W1"])
    assert tr.validate()[0] == pytest.approx(tr.val_loss_list[es.best_epoch - 1])
    assert tr.test_acc == tr.accuracy(tr.x_test, tr.t_test)     # measured on the restored net
    with pytest.raises(RuntimeError, match="early stopping ended this run after epoch"):
        tr.train_step()


def test_early_stopping_arguments(digits):
    with pytest.raises(ValueError, match="early_stopping watches 'val_loss', which needs a validation set"):
        make(digits, early_stopping=3)
    with pytest.raises(ValueError, match="patience must be > 0"):
        make(digits, validation=0.1, early_stopping=0)
    with pytest.raises(TypeError, match="early_stopping must be a patience"):
        make(digits, validation=0.1, early_stopping=True)
    tr = make(digits, epochs=2, early_stopping=EarlyStopping(patience=5, monitor="train_loss"))
    tr.train()
    assert tr.stop_reason is None


def test_lr_schedule_sets_each_steps_rate_and_learns(digits):
    tr = make(digits, epochs=6, lr_schedule=StepDecay(step_size=2, gamma=0.5))
    tr.train()
    assert tr.lr_list == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert tr.test_acc > 0.9
    cos = make(digits, epochs=4, lr_schedule="cosine", optimizer_param={"lr": 0.02})
    cos.train()
    assert all(a > b for a, b in zip(cos.lr_list, cos.lr_list[1:])) and cos.test_acc > 0.9
    with pytest.raises(ValueError, match="unknown lr_schedule 'linear'"):
        make(digits, lr_schedule="linear")
    with pytest.raises(ValueError, match="lr_schedule watches 'val_loss', which needs a validation set"):
        make(digits, lr_schedule="plateau")


def test_plateau_schedule_reduces_on_the_validation_loss(digits):
    tr = make(digits, epochs=12, validation=0.2, optimizer_param={"lr": 0.05},
              lr_schedule=ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.02))
    tr.train()
    assert tr.lr_schedule.reductions >= 1 and min(tr.lr_list) < 0.05
    assert tr.val_acc_list[-1] > 0.85


class CountingAugment(Augment):
    """A real Augment that also records the batches it was handed."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.sizes = []

    def __call__(self, x):
        self.sizes.append(x.shape[0])
        return super().__call__(x)


def test_augment_runs_on_every_training_batch_only_and_learns(digits):
    aug = CountingAugment(shift=1, image_shape=(1, 8, 8), seed=0)
    tr = make(digits, epochs=10, validation=0.2, augment=aug)
    tr.train()
    assert len(aug.sizes) == tr.current_iter and sum(aug.sizes) == 10 * tr.x_train.shape[0]
    assert tr.test_acc > 0.85
    with pytest.raises(ValueError, match="x_train must be a batch of images .N, C, H, W., or .N, C.H.W. with "
                                         "image_shape= given to Augment"):
        make(digits, augment={"shift": 1})
    with pytest.raises(ValueError, match=r"crop=8 would crop the whole 8x8 image of image_shape \(1, 8, 8\); give crop < 8"):
        make(digits, augment={"crop": 8, "image_shape": (1, 8, 8)})
    with pytest.raises(TypeError, match="augment must be an Augment or a dict"):
        make(digits, augment="shift=1")


def test_a_half_precision_net_is_refused():
    (x, t), (xt, tt) = load_digits(flatten=False)
    net = SimpleConvNet(input_dim=(1, 8, 8), conv_param={"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1},
                        hidden_size=10).half()
    with pytest.raises(TypeError, match=r"network: this net stores its parameters in float16.*train in float32"):
        Trainer(net, x, t, xt, tt, epochs=1)


def _everything(digits, tmp_path, schedule, epochs=8, resume=False):
    return make(digits, epochs=epochs, validation=0.2, optimizer_param={"lr": 0.03},
                early_stopping=EarlyStopping(patience=3, min_delta=0.1), lr_schedule=schedule(),
                augment=Augment(shift=1, rotate=10, image_shape=(1, 8, 8), seed=5),
                checkpoint_path=tmp_path / "run.npz", resume=resume)


@pytest.mark.parametrize("schedule", [lambda: CosineDecay(warmup=1),
                                      lambda: ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.02)],
                         ids=["cosine", "plateau"])
def test_resume_mid_schedule_and_mid_patience_is_bit_identical(digits, tmp_path, schedule):
    (tmp_path / "a").mkdir()
    whole = _everything(digits, tmp_path / "a", schedule).train()
    broken = _everything(digits, tmp_path, schedule)
    while broken.current_epoch < 3:
        broken.train_step()
    assert broken.early_stopping.wait > 0            # mid-patience
    resumed = _everything(digits, tmp_path, schedule, resume=True)
    assert resumed.current_epoch == 3 and resumed.lr_schedule.state_dict() == broken.lr_schedule.state_dict()
    assert resumed.early_stopping.wait == broken.early_stopping.wait
    resumed.train()
    for k, v in whole.network.params.items():
        np.testing.assert_array_equal(resumed.network.params[k], v, err_msg=k)
    assert resumed.train_loss_list == whole.train_loss_list and resumed.val_loss_list == whole.val_loss_list
    assert resumed.lr_list == whole.lr_list and resumed.stopped_epoch == whole.stopped_epoch
    assert resumed.test_acc == whole.test_acc


def test_resume_after_an_early_stop_and_with_other_options(digits, tmp_path):
    kwargs = dict(epochs=60, validation=0.2, optimizer_param={"lr": 0.05},
                  early_stopping=EarlyStopping(patience=2, min_delta=0.01), checkpoint_path=tmp_path / "es.npz")
    first = make(digits, **kwargs).train()
    again = make(digits, resume=True, **dict(kwargs, early_stopping=EarlyStopping(patience=2, min_delta=0.01)))
    assert again.stopped_epoch == first.stopped_epoch and again.stop_reason == first.stop_reason
    again.train()
    np.testing.assert_array_equal(again.network.params["W1"], first.network.params["W1"])
    assert again.test_acc == first.test_acc
    with pytest.raises(ValueError, match="saved with early stopping, this run is without it; resume with the "
                                         "same early_stopping="):
        make(digits, resume=True, **dict(kwargs, early_stopping=None))
    with pytest.raises(ValueError, match="saved without a learning-rate schedule, this run is with it"):
        make(digits, resume=True, lr_schedule="cosine", **dict(kwargs, early_stopping=EarlyStopping(2, min_delta=0.01)))
