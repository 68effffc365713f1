"""fastnn.plot: training curves from a Trainer or a plain dict, without a display."""
import pytest

pytest.importorskip("matplotlib")

from fastnn.plot import plot_training_curves  # noqa: E402


@pytest.mark.parametrize("n_steps", [0, 5, 40])
def test_curves_from_a_dict(tmp_path, n_steps):
    hist = {"train_loss_list": [2.0 / (i + 1) for i in range(n_steps)],
            "train_acc_list": [0.5, 0.7, 0.8], "test_acc_list": [0.45, 0.6, 0.7], "iter_per_epoch": 10}
    path = tmp_path / "c.png"
    fig = plot_training_curves(hist, path, title="t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    loss_ax, acc_ax = fig.axes
    assert len(acc_ax.lines) == 2
    assert len(loss_ax.lines) == (0 if n_steps == 0 else 1 if n_steps < 11 else 2)


def test_curves_from_an_object_without_saving():
    class Run:
        train_loss_list = [1.0] * 12
        train_acc_list = [0.1]
        test_acc_list = [0.2]
    fig = plot_training_curves(Run(), smooth=False)
    assert len(fig.axes[0].lines) == 1 and fig.axes[0].get_xlabel() == "step"


def test_validation_curves_are_drawn_beside_training_and_test(tmp_path):
    from fastnn.plot import plot_training_curves
    run = {"train_loss_list": [2.0, 1.5, 1.0, 0.8], "train_acc_list": [0.5, 0.7], "test_acc_list": [0.45, 0.65],
           "val_loss_list": [1.4, 0.9], "val_acc_list": [0.48, 0.66], "iter_per_epoch": 2}
    fig = plot_training_curves(run, tmp_path / "c.png")
    ax_loss, ax_acc = fig.axes
    assert "validation (per epoch)" in [line.get_label() for line in ax_loss.lines]
    assert [line.get_label() for line in ax_acc.lines] == ["train", "test", "validation"]
    assert list(ax_acc.lines[2].get_ydata()) == [0.48, 0.66]
    assert (tmp_path / "c.png").stat().st_size > 0
