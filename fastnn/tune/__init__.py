"""Hyperparameter search on Optuna: the book's random search (ch. 6), over many processes and machines.

A study is a set of trials; each trial trains a net with drawn
hyperparameters on 80% of the training set and is judged by its accuracy on
the other 20% (the test set is never touched). Each epoch's validation
accuracy goes to Optuna, whose pruner (the median rule by default) stops
poor trials early. The study lives in a storage (``fastnn.tune._storage``):
a journal file on this machine by default, or a PostgreSQL database that
workers on several machines share. ``trials`` is the study's budget of
finished (complete or pruned) trials, counted over all its workers; running
the same call again continues the study.

    import fastnn.tune
    study = fastnn.tune.run(net="multi_layer", data="digits", epochs=10, trials=50, jobs=2)
    study.best_params

Needs ``pip install 'fastnn[tune]'`` (Optuna and the PostgreSQL driver);
``import fastnn`` does not import any of it.
"""
from __future__ import annotations

import os
import sys
import warnings

from ..nets import NETS
from ._optuna import import_optuna

# fastnn --help imports this module, so it imports no more than it must: the search space (dataclasses),
# the storage (socket), the objective (NumPy), the data sets and the workers are imported by the functions
# that use them.

__all__ = ["run", "open_study", "SAMPLERS", "PRUNERS"]

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
BOOK_HIDDEN = [100] * 6       # the book's ch. 6 search trains a 7-layer MLP: six hidden layers of 100


def _check_count(value, name, flag):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if value < 1:
        raise ValueError(f"{flag} must be >= 1, got {value}")
    return value


def make_setup(net="multi_layer", hidden=None, data=None, data_home=None, epochs=10, batch_size=100,
               optimizer="sgd", dtype="float32", params=()):
    """Check the settings and make the ``Setup`` every trial of the study shares."""
    from ._objective import Setup, net_recipe
    from ._space import OPTIMIZERS, build_space

    if net not in NETS:
        raise ValueError(f"net must be one of {', '.join(NETS)}; got {net!r}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    _check_count(epochs, "epochs", "--epochs")
    _check_count(batch_size, "batch_size", "--batch-size")
    if hidden is None and net == "multi_layer":
        hidden = list(BOOK_HIDDEN)
    hidden = None if hidden is None else [int(h) for h in hidden]
    if data is None:
        from ..datasets import best_dataset
        data = best_dataset()
    from ..datasets import DATASETS
    if data not in DATASETS:
        raise ValueError(f"data must be one of {', '.join(DATASETS)}; got {data!r}")
    space = build_space(net, params)
    setup = Setup(net=net, hidden=hidden, data=data, data_home=data_home, epochs=epochs, batch_size=batch_size,
                  optimizer=optimizer, dtype=dtype, space=space)
    info = DATASETS[data]
    net_recipe(setup, {"lr": 0.01}, info)         # --hidden that the net cannot take fails here, not in a worker
    if not info.available():
        raise FileNotFoundError(f"the data set {data!r} is not on this machine: {info.how_to_get}")
    return setup


def make_sampler(kind, seed=None, stream=()):
    """A TPE or random sampler; ``seed`` with ``stream`` (worker index, trials done) seeds it reproducibly."""
    import numpy as np

    optuna = import_optuna()
    if kind not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {kind!r}")
    if seed is not None:
        seed = int(np.random.SeedSequence([int(seed), *map(int, stream)]).generate_state(1)[0] % 2**31)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def make_pruner(kind):
    optuna = import_optuna()
    if kind not in PRUNERS:
        raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}; got {kind!r}")
    return optuna.pruners.MedianPruner() if kind == "median" else optuna.pruners.NopPruner()


def open_study(store, name, setup=None, sampler=None, pruner=None):
    """Load study ``name`` from ``store``; with ``setup``, create it first if it does not exist.

    A study that exists must have been made with the same net, data, epochs,
    optimizer, dtype and search space (``ValueError`` naming the difference):
    its trials would not be comparable otherwise. Creation is done under the
    storage's lock, so workers that start at once do not race to create it.
    """
    from ._storage import describe_url

    optuna = import_optuna()
    with store.lock(name):
        try:
            study = optuna.load_study(study_name=name, storage=store.optuna, sampler=sampler, pruner=pruner)
        except KeyError:
            if setup is None:
                raise ValueError(f"no study {name!r} in {describe_url(store.url)}") from None
            study = optuna.create_study(study_name=name, storage=store.optuna, direction="maximize",
                                        sampler=sampler, pruner=pruner)
            study.set_user_attr("fastnn", setup.study_record())
            return study
    if setup is not None:
        _check_same_setup(study, setup, store)
    return study


def _check_same_setup(study, setup, store):
    from ._storage import describe_url

    old = study.user_attrs.get("fastnn")
    where = f"study {study.study_name!r} in {describe_url(store.url)}"
    if old is None:
        raise ValueError(f"{where} was not made by fastnn tune; give another --study name")
    new = setup.study_record()
    flags = {"net": "--net", "hidden": "--hidden", "data": "--data", "epochs": "--epochs",
             "batch_size": "--batch-size", "optimizer": "--optimizer", "dtype": "--dtype", "space": "--param"}
    for key, flag in flags.items():
        if old.get(key) != new[key]:
            if key == "space":
                detail = (f"searches {_space_text(old.get('space'))}; this command searches "
                          f"{_space_text(new['space'])}")
            else:
                detail = f"has {flag} {_value_text(old.get(key))}; this command has {flag} {_value_text(new[key])}"
            raise ValueError(f"{where} {detail}: use the study's settings to continue it, "
                             "or another --study name for a new one")


def _value_text(v):
    return ",".join(map(str, v)) if isinstance(v, list) else str(v)


def _space_text(space):
    parts = []
    for name, p in sorted((space or {}).items()):
        if "choices" in p:
            parts.append(f"{name}={','.join(map(str, p['choices']))}")
        else:
            parts.append(f"{name}={p['low']:g}:{p['high']:g}" + (":log" if p["log"] else "")
                         + (":int" if p["int"] else ""))
    return " ".join(parts) or "nothing"


def run(*, net="multi_layer", hidden=None, data=None, data_home=None, epochs=10, batch_size=100,
        optimizer="sgd", dtype="float32", seed=None, params=(), trials=100, jobs=1, storage=None,
        study="fastnn", sampler="tpe", pruner="median", heartbeat=10, threads=None, log=print):
    """Run (or continue) a study until it holds ``trials`` finished trials; returns the ``optuna.Study``.

    Parameters
    ----------
    net, hidden, data, data_home, epochs, batch_size, optimizer, dtype
        As ``fastnn train`` has them; ``hidden`` defaults to the book's six
        layers of 100 for ``multi_layer``. ``optimizer`` defaults to the
        book's SGD.
    params : iterable of str or ``fastnn.tune._space.Param``
        ``--param`` texts (``"lr=1e-4:1e-1:log"``, ``"optimizer=sgd,adam"``)
        added to the book's space (lr = 10^U(-6, -2), weight decay =
        10^U(-8, -4) for multi_layer) or replacing a name of it.
    trials : int
        The study's budget of finished (complete or pruned) trials, over all
        its workers and earlier runs.
    jobs : int
        Worker processes here, each with ``cores // jobs`` threads, spawned
        (1: the trials run in this process, on its own thread setting).
    storage : str, optional
        A journal file path (default ``fastnn-tune.journal``) or
        ``postgresql+psycopg://user@host[:port]/db``.
    study : str
        The study's name in the storage.
    sampler : 'tpe' or 'random'; pruner : 'median' or 'none'
    heartbeat : int
        Seconds between a trial's heartbeats on PostgreSQL; a trial silent
        for ``min(60, 3 * heartbeat)`` seconds is failed by another worker.
    threads : int, optional
        numba/BLAS threads of each worker (``fastnn.set_num_threads``);
        default ``cores // jobs`` for spawned workers, and the calling
        process's own setting with ``jobs=1``.
    seed : int, optional
        Seeds the samplers and each trial's weights and batch order.
    log : callable or None
        Where the per-trial lines go (``None``: nowhere).
    """
    from ._storage import open_storage

    import_optuna()
    _check_count(trials, "trials", "--trials")
    _check_count(jobs, "jobs", "--jobs")
    if threads is not None:
        _check_count(threads, "threads", "--threads")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    make_pruner(pruner)
    setup = make_setup(net, hidden, data, data_home, epochs, batch_size, optimizer, dtype, params)
    store = open_storage(storage, heartbeat_interval=heartbeat)
    try:
        open_study(store, study, setup)
        config = {"storage": storage, "heartbeat": heartbeat, "study": study, "setup": setup, "trials": trials,
                  "seed": seed, "sampler": sampler, "pruner": pruner, "jobs": jobs, "threads": threads,
                  "quiet": log is None}
        if jobs == 1:
            _work(config, 0, store=store, log=log)
        else:
            _spawn_workers(config, jobs)
        return open_study(store, study)
    finally:
        store.close()


def _work(config, index, store=None, log=print):
    """One worker's whole life: threads, storage, study, data, trials."""
    from ._objective import load_split
    from ._storage import open_storage
    from ._worker import count, set_worker_threads, work

    optuna = import_optuna()
    own_store = store is None
    if own_store:
        store = open_storage(config["storage"], heartbeat_interval=config["heartbeat"])
    try:
        if own_store or config["threads"] is not None:   # a spawned worker: its share of the cores
            set_worker_threads(config["jobs"], config["threads"])
        probe = optuna.load_study(study_name=config["study"], storage=store.optuna)
        done = sum(count(probe)[:2])
        study = optuna.load_study(study_name=config["study"], storage=store.optuna,
                                  sampler=make_sampler(config["sampler"], config["seed"], (index, done)),
                                  pruner=make_pruner(config["pruner"]))
        data = load_split(config["setup"])
        return work(store, study, config["setup"], data, config["trials"], seed=config["seed"],
                    heartbeat_interval=config["heartbeat"], log=log or (lambda *_: None),
                    worker_name=f"worker {index + 1}/{config['jobs']} pid {os.getpid()}")
    finally:
        if own_store:
            store.close()


def _worker_main(config, index):
    warnings.simplefilter("ignore")
    try:
        _work(config, index, log=None if config["quiet"] else (lambda line: print(line, flush=True)))
    except KeyboardInterrupt:
        sys.exit(130)


def _spawn_workers(config, jobs):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")     # never fork a process that holds threads or connections
    procs = [ctx.Process(target=_worker_main, args=(config, i), name=f"fastnn-tune-{i + 1}") for i in range(jobs)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.join(5)
        raise
    bad = [p for p in procs if p.exitcode != 0]
    if bad:
        codes = ", ".join(f"{p.name}: exit {p.exitcode}" for p in bad)
        raise RuntimeError(f"{len(bad)} of {jobs} workers ended with an error ({codes}); "
                           "the study keeps the trials they finished: run the command again to continue")
