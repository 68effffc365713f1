"""What a study found: a table of the best trials, the book's figure, the best model as a file."""
from __future__ import annotations

from ..nets.model_file import save_model
from ..plot import new_figure, save_figure
from ._objective import load_split, make_trainer

# Optuna and matplotlib, optional extras, are imported by the functions that use them.


def finished_trials(study):
    """COMPLETE trials, best first (ties: the earlier trial first)."""
    import optuna

    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return sorted(done, key=lambda t: (-t.value, t.number))


def summary(study, budget=None) -> str:
    """One line: how many trials are complete, pruned, failed, running."""
    import optuna

    states = [t.state for t in study.get_trials(deepcopy=False)]
    n = {s: states.count(s) for s in optuna.trial.TrialState}
    done = n[optuna.trial.TrialState.COMPLETE] + n[optuna.trial.TrialState.PRUNED]
    text = (f"study {study.study_name!r}: {done} finished trials" + (f" of a budget of {budget}" if budget else "")
            + f" ({n[optuna.trial.TrialState.COMPLETE]} complete, {n[optuna.trial.TrialState.PRUNED]} pruned)")
    extra = [f"{n[s]} {s.name.lower()}" for s in (optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING)
             if n[s]]
    return text + (f"; also {', '.join(extra)}" if extra else "")


def _fmt(v):
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def best_table(study, top=10) -> str:
    """A text table of the ``top`` best complete trials: rank, trial, validation accuracy, epochs, params."""
    best = finished_trials(study)[:top]
    if not best:
        return "no complete trial yet"
    names = sorted({k for t in best for k in t.params})
    head = ["rank", "trial", "val acc"] + names
    rows = [[str(i + 1), str(t.number), f"{t.value:.4f}"] + [_fmt(t.params.get(k, "")) for k in names]
            for i, t in enumerate(best)]
    widths = [max(len(r[c]) for r in rows + [head]) for c in range(len(head))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def plot_study(study, path, top=8, title=None) -> None:
    """The book's figure: the best trials' validation (and training) accuracy per epoch, plus the history.

    Top: one panel per best trial, validation accuracy solid, training
    accuracy dashed, as the book draws them. Bottom: every finished trial's
    validation accuracy against its number (pruned trials at their last
    reported epoch, as open circles) and the best so far.
    """
    import optuna
    from matplotlib.ticker import MaxNLocator

    best = finished_trials(study)[:top]
    cols = max(1, min(4, len(best)))
    rows = -(-len(best) // cols) if best else 0
    fig = new_figure((3 * cols + 1, 2.2 * rows + 3))
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[1] * rows + [1.4])
    for k, t in enumerate(best):
        ax = fig.add_subplot(grid[k // cols, k % cols])
        val = [t.intermediate_values[e] for e in sorted(t.intermediate_values)]
        epochs = range(1, len(val) + 1)
        ax.plot(epochs, val, label="validation")
        train = t.user_attrs.get("train_acc")
        if train:
            ax.plot(range(1, len(train) + 1), train, "--", label="train")
        ax.set_title(f"#{k + 1} trial {t.number}: " + " ".join(f"{n} {_fmt(v)}" for n, v in t.params.items()),
                     fontsize=7)
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if k == 0:
            ax.legend(fontsize=7)
    hist = fig.add_subplot(grid[rows, :])
    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values]
    hist.plot([t.number for t in done], [t.value for t in done], "o", ms=4, label="complete")
    if pruned:
        hist.plot([t.number for t in pruned], [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
                  "o", ms=4, mfc="none", label="pruned (last epoch reported)")
    if done:
        order = sorted(done, key=lambda t: t.number)
        running, xs, ys = -1.0, [], []
        for t in order:
            running = max(running, t.value)
            xs.append(t.number)
            ys.append(running)
        hist.step(xs, ys, where="post", label="best so far")
    hist.set_xlabel("trial")
    hist.set_ylabel("validation accuracy")
    hist.set_ylim(0, 1)
    hist.legend(fontsize=7, loc="lower right")
    fig.suptitle(title or f"study {study.study_name}: the {len(best)} best trials and the history")
    save_figure(fig, path)


def save_best(study, setup, path) -> dict:
    """Train the best trial again (same params, same seed) and write it as a model file ``fastnn evaluate`` reads.

    The trial's run is reproduced from its recorded seed, so no worker needs
    to keep model files and the best trial may have run on another machine.
    Returns the record written with the model.
    """
    best = finished_trials(study)
    if not best:
        raise ValueError(f"study {study.study_name!r} has no complete trial to save")
    trial = best[0]
    data = load_split(setup)
    run = make_trainer(setup, trial.params, trial.user_attrs["seed"], data)
    net, trainer = run.net, run.trainer
    trainer.train()
    info = {"data": setup.data, "flatten": setup.net in ("two_layer", "multi_layer"),
            "val_acc": float(trainer.test_acc_list[-1]), "epochs": trainer.current_epoch,
            "seed": int(trial.user_attrs["seed"]), "study": study.study_name, "trial": trial.number,
            "params": dict(trial.params)}
    save_model(net, path, **info)
    return info
