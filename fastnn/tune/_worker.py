"""A worker: reserve a trial of the budget, run it, tell the study; until the study's budget is met.

The budget (``trials``) counts finished trials, COMPLETE or PRUNED, of every
worker of the study, on any machine. A worker reserves a trial under the
storage's cross-process lock: it first fails the trials of dead workers,
then counts finished and RUNNING trials, and asks for a new trial only if
finished + running < budget. So the study never holds more than ``trials``
finished trials, and no trial is started that the budget has no room for.
When the last trials of the budget are running elsewhere, a worker waits:
it either sees them finish (and stops) or sees one of them fail (a dead
worker) and runs a trial in its place.
"""
from __future__ import annotations

import os
import threading
import time

import numpy as np

from .._runtime import set_num_threads
from ._objective import Diverged, Pruned, run_trial
from ._storage import worker_tag

# Optuna, an optional extra, is imported by the functions that use it (after fastnn.tune.import_optuna).

POLL_SECONDS = 0.5          # how often a waiting worker looks at the study again


class _Heartbeat:
    """Record the trial's heartbeat every ``interval`` seconds in a thread (PostgreSQL storages)."""

    def __init__(self, storage, trial_id, interval):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(storage, trial_id, interval), daemon=True)
        self._thread.start()

    def _beat(self, storage, trial_id, interval):
        while not self._stop.wait(interval):
            try:
                storage.record_heartbeat(trial_id)
            except Exception:       # a lost connection: the next beat retries; the grace period decides
                pass

    def stop(self):
        self._stop.set()
        self._thread.join()


def _trial_seed(base_seed, number):
    if base_seed is None:
        return int(np.random.SeedSequence().entropy % 2**31)
    return int(np.random.SeedSequence([int(base_seed), int(number)]).generate_state(1)[0] % 2**31)


def count(study):
    """``(finished, running, failed)`` trials of the study."""
    import optuna

    states = [t.state for t in study.get_trials(deepcopy=False)]
    done = sum(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states)
    return done, states.count(optuna.trial.TrialState.RUNNING), states.count(optuna.trial.TrialState.FAIL)


def reserve_trial(store, study, budget, heartbeat_interval):
    """A new trial, or None to wait, or False when the budget is met."""
    with store.lock(study.study_name):
        store.fail_stale_trials(study)
        done, running, _ = count(study)
        if done >= budget:
            return False
        if done + running >= budget:
            return None
        trial = study.ask()
        if store.kind == "postgresql":
            study._storage.record_heartbeat(trial._trial_id)    # a trial without a heartbeat is never failed
        trial.set_user_attr("worker", worker_tag())
    return trial


def work(store, study, setup, data, budget, seed=None, heartbeat_interval=10, log=print, worker_name="worker"):
    """Run trials of ``study`` until its budget of finished trials is met. Returns how many this worker ran."""
    import optuna

    ran = 0
    while True:
        trial = reserve_trial(store, study, budget, heartbeat_interval)
        if trial is False:
            return ran
        if trial is None:
            time.sleep(POLL_SECONDS)
            continue
        beat = _Heartbeat(study._storage, trial._trial_id, heartbeat_interval) if store.kind == "postgresql" else None
        t0 = time.perf_counter()
        value, state = None, optuna.trial.TrialState.COMPLETE
        try:
            value = run_trial(trial, setup, data, _trial_seed(seed, trial.number))
            outcome = f"validation accuracy {value:.4f}"
        except Pruned as exc:
            state, outcome = optuna.trial.TrialState.PRUNED, str(exc)
            state = _note(trial, "pruned_reason", str(exc), state)
        except Diverged as exc:
            state, outcome = optuna.trial.TrialState.PRUNED, "pruned: the loss diverged (NaN/inf)"
            state = _note(trial, "pruned_reason", f"diverged: {exc}", state)
        except optuna.exceptions.UpdateFinishedTrialError:
            state = None                      # failed by another worker while it ran: see tell_trial
        except BaseException as exc:
            if _note(trial, "fail_reason", f"{type(exc).__name__}: {exc}", True):
                tell_trial(study, trial, optuna.trial.TrialState.FAIL, None)
            raise
        finally:
            if beat is not None:
                beat.stop()
        if state is None or not tell_trial(study, trial, state, value):
            outcome = "failed meanwhile by another worker (no heartbeat within the grace period)"
        ran += 1
        params = "  ".join(f"{k} {_fmt(v)}" for k, v in trial.params.items())
        log(f"trial {trial.number:4d} [{worker_name}, {time.perf_counter() - t0:5.1f} s]: {outcome}   {params}")


def _note(trial, key, text, state):
    """Record why ``trial`` ends; ``state``, or None if another worker has failed it meanwhile."""
    import optuna

    try:
        trial.set_user_attr(key, text)
    except optuna.exceptions.UpdateFinishedTrialError:
        return None
    return state


def tell_trial(study, trial, state, value) -> bool:
    """Finish ``trial``; False if another worker has failed it meanwhile (its heartbeat was late)."""
    import optuna

    if study._storage.get_trial(trial._trial_id).state != optuna.trial.TrialState.RUNNING:
        return False
    try:
        study.tell(trial, value, state=state) if value is not None else study.tell(trial, state=state)
    except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
        return False
    return True


def _fmt(v):
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def set_worker_threads(jobs, threads=None):
    """This worker's threads: ``threads``, else its share of the cores, ``max(1, cores // jobs)``."""
    if threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // jobs)
    set_num_threads(threads)
