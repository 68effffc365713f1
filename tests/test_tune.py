"""fastnn tune: one study shared by worker processes on a journal file and on a real PostgreSQL server.

Every run is a real one: real Optuna, real worker processes, a throw-away
PostgreSQL cluster (initdb/pg_ctl as the ``postgres`` user). Small nets on
the MNIST 5k subset, few epochs, so that the file stays quick.
"""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import optuna  # the test extra installs fastnn[tune]
import pytest

from fastnn.__main__ import main
from fastnn.datasets import DATASETS
from fastnn.tune import run
from fastnn.tune._storage import open_storage

TrialState = optuna.trial.TrialState
# mnist5k loads in a blink (no scikit-learn import), so each worker process starts sooner.
DATA = "mnist5k" if DATASETS["mnist5k"].available() else "digits"
FAST = ["--data", DATA, "--hidden", "30,30", "--epochs", "3", "--quiet"]
# Debian's postgresql package: /usr/lib/postgresql/<major>/bin (the newest one, if several).
PG_BIN = max(pathlib.Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)
             if p.parent.name.isdigit() else 0, default=pathlib.Path("/usr/lib/postgresql/15/bin"))


def tune(*args, cwd, timeout=180):
    env = dict(os.environ, MPLBACKEND="Agg", NUMBA_NUM_THREADS="1")   # the processes share the cores
    return subprocess.run([sys.executable, "-m", "fastnn", "tune", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def trials_of(storage, name="fastnn"):
    store = open_storage(storage)
    try:
        return optuna.load_study(study_name=name, storage=store.optuna).get_trials()
    finally:
        store.close()


def states(trials):
    return {s: sum(t.state == s for t in trials) for s in TrialState}


def finished(trials):
    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)


# ---------------------------------------------------------------------------------- journal file

def test_two_worker_processes_share_one_study_and_meet_its_budget_exactly(tmp_path):
    out = tune(*FAST, "--batch-size", "50", "--trials", "10", "--jobs", "2", "--threads", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    journal = str(tmp_path / "fastnn-tune.journal")
    trials = trials_of(journal)
    assert len(trials) == 10 and finished(trials) == 10          # no surplus trial, none failed, none running
    assert len({t.user_attrs["worker"] for t in trials}) == 2    # both processes ran trials of the one study
    assert "10 finished trials of a budget of 10" in out.stdout
    again = run(data=DATA, hidden=[30, 30], epochs=3, batch_size=50, trials=10, storage=journal, log=None)
    assert len(again.get_trials()) == 10                         # the budget is met once: no trial more


def test_resume_continues_the_study_and_its_budget(tmp_path):
    journal = str(tmp_path / "s.journal")
    before = run(data=DATA, hidden=[30, 30], epochs=2, trials=3, seed=1, storage=journal, log=None).get_trials()
    after = run(data=DATA, hidden=[30, 30], epochs=2, trials=5, seed=1, storage=journal, log=None).get_trials()
    assert [t.number for t in after] == [0, 1, 2, 3, 4] and finished(after) == 5
    assert [t.params for t in after[:3]] == [t.params for t in before]
    assert after[3].params not in [t.params for t in before]    # a resumed sampler does not repeat the first draws


def test_pruner_stops_poor_trials_and_none_turns_it_off(tmp_path):
    journal = str(tmp_path / "s.journal")
    study = run(data=DATA, hidden=[30, 30], epochs=4, trials=14, sampler="random", seed=0,
                storage=journal, log=None)
    trials = study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned and finished(trials) == 14
    for t in pruned:
        assert t.user_attrs["pruned_reason"].startswith("pruned after epoch")
        assert len(t.intermediate_values) < 4                    # stopped before its last epoch
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(sorted(t.intermediate_values) == [1, 2, 3, 4] for t in complete)
    assert all(len(t.user_attrs["train_acc"]) == 4 for t in complete)
    unpruned = run(data=DATA, hidden=[30, 30], epochs=2, trials=8, sampler="random", seed=0,
                   storage=journal, study="no-pruner", pruner="none", log=None)
    assert states(unpruned.get_trials())[TrialState.COMPLETE] == 8


def test_a_diverging_trial_is_pruned_with_its_reason_and_the_study_goes_on(tmp_path):
    study = run(data=DATA, hidden=[30, 30], epochs=2, trials=4, params=["lr=1e3:1e4:log"], seed=0,
                storage=str(tmp_path / "s.journal"), log=None)
    trials = study.get_trials()
    diverged = [t for t in trials if "diverged" in t.user_attrs.get("pruned_reason", "")]
    assert diverged and finished(trials) == 4 and states(trials)[TrialState.COMPLETE] >= 1
    for t in diverged:
        assert t.state == TrialState.PRUNED
        assert t.user_attrs["pruned_reason"].startswith("diverged: the loss became ")   # inf or nan, when


def test_table_plot_and_best_model_that_evaluate_reads(tmp_path, capsys):
    code = main(["tune", *FAST, "--trials", "4", "--seed", "3", "--storage", str(tmp_path / "s.journal"),
                 "--param", "optimizer=sgd,adam", "--plot", str(tmp_path / "f.png"),
                 "--save-best", str(tmp_path / "best.npz")])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:3] == ["rank", "trial", "val"])
    assert lines[head].split()[4:] == ["lr", "optimizer", "weight_decay"]
    best_value = float(lines[head + 1].split()[2])
    assert "best: trial" in out and (tmp_path / "f.png").stat().st_size > 10_000
    from fastnn.io import read_model_info
    info = read_model_info(tmp_path / "best.npz")
    assert info["net"] == "multi_layer" and info["data"] == DATA
    assert info["val_acc"] == pytest.approx(best_value, abs=1e-4)    # the best trial, trained again from its seed
    assert main(["evaluate", str(tmp_path / "best.npz")]) == 0
    assert "accuracy" in capsys.readouterr().out


# ---------------------------------------------------------------------------------- bad input

def _error(capsys, *argv):
    code = main(["tune", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("fastnn: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("spec, match", [
    ("lr", "expected NAME=LOW:HIGH"),
    ("lr=", "expected NAME=LOW:HIGH"),
    ("lr=abc:1", "'abc' is not a number"),
    ("lr=1:0.1", "expected finite LOW < HIGH"),
    ("lr=0:1:log", "a log range needs LOW > 0"),
    ("lr=1e-3:1e-1:cubic", "only ':log' and ':int'"),
    ("momentum=0:1", "unknown name 'momentum'"),
    ("optimizer=sgd,bogus", "unknown optimizer 'bogus'"),
    ("optimizer=0:1", "takes choices"),
    ("hidden=1.5:9", "whole numbers"),
    ("dropout=0:1", r"dropout ratio lies in \[0, 1\)"),
    ("sgd", "expected NAME=LOW:HIGH"),
])
def test_malformed_param_is_one_line_error(tmp_path, capsys, spec, match):
    import re
    err = _error(capsys, *FAST, "--storage", str(tmp_path / "s.journal"), "--param", spec)
    assert re.search(match, err), err
    assert not (tmp_path / "s.journal").exists()


def test_param_for_another_net_is_refused(tmp_path, capsys):
    err = _error(capsys, "--net", "two_layer", *FAST[2:], "--param", "dropout=0:0.5")
    assert "applies to --net multi_layer only" in err


@pytest.mark.parametrize("flag, value", [("--jobs", "0"), ("--trials", "0"), ("--jobs", "-2")])
def test_zero_jobs_or_trials_is_one_line_error(tmp_path, capsys, flag, value):
    err = _error(capsys, *FAST, "--storage", str(tmp_path / "s.journal"), flag, value)
    assert f"{flag} must be >= 1" in err


@pytest.mark.parametrize("url, scheme", [("mysql://u@h/db", "mysql"), ("sqlite:///x.db", "sqlite"),
                                         ("redis://h", "redis")])
def test_unknown_storage_scheme(capsys, url, scheme):
    err = _error(capsys, *FAST, "--storage", url)
    assert f"unknown scheme {scheme!r}" in err and "postgresql+psycopg://" in err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_database_fails_at_once_with_one_line(tmp_path):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/nothing"
    out = tune(*FAST, "--storage", url, cwd=tmp_path, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("fastnn: error: cannot reach the database postgresql+psycopg://postgres@127.0.0.1")
    assert out.stderr.count("\n") == 1


def test_study_with_another_net_or_space_is_refused(tmp_path, capsys):
    journal = str(tmp_path / "s.journal")
    assert main(["tune", *FAST, "--trials", "1", "--storage", journal]) == 0
    capsys.readouterr()
    err = _error(capsys, *FAST, "--trials", "2", "--storage", journal, "--net", "two_layer", "--hidden", "30")
    assert "study 'fastnn'" in err and "has --net multi_layer; this command has --net two_layer" in err
    err = _error(capsys, *FAST, "--trials", "2", "--storage", journal, "--param", "lr=1e-3:1e-1:log")
    assert "searches lr=1e-06:0.01:log weight_decay=1e-08:0.0001:log; this command searches lr=0.001:0.1:log" in err
    err = _error(capsys, *FAST, "--trials", "2", "--storage", journal, "--epochs", "5")
    assert "has --epochs 3; this command has --epochs 5" in err
    assert len(trials_of(journal)) == 1                          # nothing was added


# ---------------------------------------------------------------------------------- PostgreSQL

def _postgres_unavailable():
    if os.geteuid() != 0:
        return "starting a throw-away PostgreSQL cluster needs root (to run initdb as the postgres user)"
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        return "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver is missing: pip install 'fastnn[tune]'"
    return None


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of its own on 127.0.0.1 (a fresh cluster in a temporary folder); its database URL."""
    why = _postgres_unavailable()
    if why and os.environ.get("CI"):
        pytest.fail(f"CI must run the PostgreSQL tests: {why}")   # .ci/run installs PostgreSQL
    if why:
        pytest.skip(why)
    folder = tempfile.mkdtemp(prefix="fastnn-pg-")
    shutil.chown(folder, "postgres", "postgres")
    data, port = os.path.join(folder, "data"), _free_port()

    def as_postgres(*cmd):
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=60)

    try:
        as_postgres(str(PG_BIN / "initdb"), "-D", data, "-A", "trust", "--no-sync", "-U", "postgres")
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", data, "-l", os.path.join(folder, "log"), "-w", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "fastnn")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/fastnn"
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", data, "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _kill_one_mid_trial(url, procs, deadline):
    """SIGKILL one worker while its trial is RUNNING (frozen with SIGSTOP first, so the trial cannot end)."""
    pids = {p.pid: p for p in procs}
    store = open_storage(url)
    try:
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            try:
                study = optuna.load_study(study_name="kill", storage=store.optuna)
            except KeyError:
                time.sleep(0.05)
                continue
            for t in study.get_trials(states=(TrialState.RUNNING,)):
                pid = int(t.user_attrs.get("worker", ":0").rpartition(":")[2])
                if pid in pids:
                    os.kill(pid, signal.SIGSTOP)
                    if study._storage.get_trial(t._trial_id).state == TrialState.RUNNING:
                        os.kill(pid, signal.SIGKILL)
                        pids[pid].wait()
                        return pids[pid], t.number
                    os.kill(pid, signal.SIGCONT)
            time.sleep(0.02)
    finally:
        store.close()
    raise AssertionError("no worker was seen running a trial")


def test_three_workers_on_postgres_one_killed_mid_trial_budget_met_none_left_running(tmp_path, postgres):
    args = [*FAST, "--epochs", "2", "--batch-size", "50", "--storage", postgres, "--study", "kill",
            "--trials", "9", "--heartbeat", "1"]
    env = dict(os.environ, MPLBACKEND="Agg", NUMBA_NUM_THREADS="1")   # the processes share the cores
    procs = [subprocess.Popen([sys.executable, "-m", "fastnn", "tune", *args], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        victim, killed_trial = _kill_one_mid_trial(postgres, procs, time.monotonic() + 120)
        for p in procs:
            if p is not victim:
                out, err = p.communicate(timeout=180)
                assert p.returncode == 0, err
                assert "9 finished trials of a budget of 9" in out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert victim.returncode == -signal.SIGKILL
    trials = trials_of(postgres, "kill")
    count = states(trials)
    assert finished(trials) == 9 and count[TrialState.RUNNING] == 0
    dead = trials[killed_trial]
    assert dead.state == TrialState.FAIL and "no heartbeat" in dead.user_attrs["fail_reason"]
    assert count[TrialState.FAIL] == 1
    # A later worker continues the study on the same storage: its budget counts what is done.
    more = run(data=DATA, hidden=[30, 30], epochs=2, batch_size=50, trials=11, storage=postgres, study="kill",
               heartbeat=1, log=None)
    assert finished(more.get_trials()) == 11


def test_postgres_study_refuses_another_net(capsys, postgres):
    args = [*FAST, "--storage", postgres, "--study", "net", "--trials", "1"]
    assert main(["tune", *args]) == 0
    capsys.readouterr()
    err = _error(capsys, *args, "--net", "two_layer", "--hidden", "30")
    assert "has --net multi_layer; this command has --net two_layer" in err


# ----------------------------------------------------------------------- schedule parameters

def test_a_schedules_parameters_are_searched_like_any_other(tmp_path):
    from fastnn.tune import make_setup
    from fastnn.tune._objective import load_split, make_trainer
    study = run(data=DATA, hidden=[30, 30], epochs=2, trials=3, seed=0, storage=str(tmp_path / "s.journal"),
                params=["lr=1e-2:1e-1:log", "lr_schedule=cosine,step", "warmup=0:1", "lr_step=1:2"], log=None)
    trials = [t for t in study.get_trials() if t.state == TrialState.COMPLETE]
    assert trials and all({"lr_schedule", "warmup", "lr_step"} <= set(t.params) for t in trials)
    setup = make_setup(net="multi_layer", hidden=[30, 30], data=DATA, epochs=2,
                       params=["lr_schedule=step", "lr_step=1:2", "lr_decay=0.1:0.5"])
    trainer = make_trainer(setup, {"lr": 0.05, "lr_schedule": "step", "lr_step": 1, "lr_decay": 0.5},
                           0, load_split(setup)).trainer
    trainer.train()
    assert trainer.lr_list == pytest.approx([0.05, 0.025])        # the trial's schedule ran


@pytest.mark.parametrize("spec, match", [
    (["lr_schedule=linear"], "unknown lr_schedule 'linear'; choose from none, step, exponential, cosine"),
    (["lr_schedule=0:1"], "lr_schedule takes choices such as lr_schedule=step,cosine"),
    (["lr_decay=0:1"], r"a decay factor lies in \(0, 1\)"),
    (["warmup=0:1"], "--param warmup: applies to lr_schedule cosine; add --param lr_schedule=cosine"),
    (["lr_schedule=step", "warmup=0:1"], "--param warmup: applies to lr_schedule cosine"),
])
def test_bad_schedule_params_are_refused(tmp_path, capsys, spec, match):
    import re
    args = [a for s in spec for a in ("--param", s)]
    err = _error(capsys, *FAST, "--storage", str(tmp_path / "s.journal"), *args)
    assert re.search(match, err), err
