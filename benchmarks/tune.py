"""fastnn tune: trials per minute with 1 and 2 worker processes, and the time a trial spends in its storage.

    python -m benchmarks.tune [--trials 24] [--epochs 10] [--rounds 2] [--postgres URL]

* Throughput: ``fastnn tune`` on the book's search space (lr, weight decay)
  with its 6x100 MLP on mnist5k, random sampler, no pruner (so every trial
  does the same work), ``--jobs 1`` (numba's threads on every core, and on
  one thread) and ``--jobs 2`` (one thread each) in alternating rounds,
  each on a fresh journal file; trials per minute of the whole command
  (worker start-up included), medians over the rounds.
* Storage: the calls one trial of ``--epochs`` epochs makes to its storage,
  without the training: reserving the trial (lock, stale-trial check, count,
  ask), drawing the parameters, and per epoch ``set_user_attr``, ``report``
  and ``should_prune``, then ``tell``. Journal file against PostgreSQL
  (``--postgres postgresql+psycopg://USER@HOST:PORT/DB``, a database the
  benchmark may write a study into).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time


def throughput(jobs, trials, epochs, data, env=None):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "fastnn", "tune", "--data", data, "--epochs", str(epochs), "--sampler",
               "random", "--pruner", "none", "--seed", "0", "--trials", str(trials), "--jobs", str(jobs),
               "--quiet", "--storage", os.path.join(tmp, "s.journal")]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    seconds = float(re.search(r"this run: ([0-9.]+) s", out).group(1))
    return 60 * trials / seconds


def storage_ms(url, n, epochs, data):
    """Median milliseconds of storage calls per trial (and the first trial's, which includes warm-up)."""
    import optuna

    from fastnn.tune import make_pruner, make_sampler, make_setup, open_study
    from fastnn.tune._storage import open_storage
    from fastnn.tune._worker import reserve_trial, tell_trial

    setup = make_setup(data=data, epochs=epochs)
    store = open_storage(url)
    name = f"storage-bench-{os.getpid()}-{time.time_ns()}"
    try:
        open_study(store, name, setup)
        study = optuna.load_study(study_name=name, storage=store.optuna, sampler=make_sampler("random", 0),
                                  pruner=make_pruner("median"))
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            trial = reserve_trial(store, study, n, 10)
            for p in setup.space.values():
                p.suggest(trial)
            trial.set_user_attr("seed", i)
            for epoch in range(1, epochs + 1):
                trial.set_user_attr("train_acc", [0.5] * epoch)
                trial.report(0.5 + 1e-3 * i, epoch)
                trial.should_prune()
            tell_trial(study, trial, optuna.trial.TrialState.COMPLETE, 0.5 + 1e-3 * i)
            times.append(1e3 * (time.perf_counter() - t0))
        return statistics.median(times), times[0]
    finally:
        store.close()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=24)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--storage-trials", type=int, default=50, help="0: skip the storage timing")
    p.add_argument("--postgres", default=None, help="postgresql+psycopg://USER@HOST:PORT/DB to time as well")
    args = p.parse_args(argv)

    one_thread = dict(os.environ, NUMBA_NUM_THREADS="1")
    configs = {"--jobs 1": (1, None), "--jobs 1, NUMBA_NUM_THREADS=1": (1, one_thread), "--jobs 2": (2, None)}
    rates = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, (jobs, env) in configs.items():
            rates[name].append(throughput(jobs, args.trials, args.epochs, args.data, env))
            print(f"  round {r + 1}, {name}: {rates[name][-1]:.1f} trials/min", flush=True)
    print(f"throughput ({args.trials} trials of {args.epochs} epochs, 6x100 MLP on {args.data}, "
          f"{os.cpu_count()} cores, medians of {args.rounds} rounds):")
    for name, r in rates.items():
        print(f"  {name:30s} {statistics.median(r):5.1f} trials/min   (rounds: {', '.join(f'{x:.1f}' for x in r)})")
    if args.storage_trials == 0:
        return

    print(f"storage calls of one {args.epochs}-epoch trial (median of {args.storage_trials}; first trial):")
    with tempfile.TemporaryDirectory() as tmp:
        med, first = storage_ms(os.path.join(tmp, "s.journal"), args.storage_trials, args.epochs, args.data)
        print(f"  journal file: {med:6.1f} ms   (first {first:.1f} ms)")
    if args.postgres:
        med, first = storage_ms(args.postgres, args.storage_trials, args.epochs, args.data)
        print(f"  PostgreSQL:   {med:6.1f} ms   (first {first:.1f} ms)")


if __name__ == "__main__":
    sys.exit(main())
