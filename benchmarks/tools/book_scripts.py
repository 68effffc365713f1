"""The book's training scripts, unchanged, with the book's own ``common/`` and through ``python -m fastnn.compat``.

    python -m benchmarks.tools.book_scripts [--scripts ch05/train_neuralnet,...] [--scale 0.1]
                                            [--rounds 2] [--data mnist|mnist5k] [--seed 0] [--json out.json]

The scripts and the book's code they run on are the reproductions in
``benchmarks/book/`` (see its README). Each run is a fresh interpreter:
``python SCRIPT`` in a copy of that tree (its own ``common/`` and
``dataset/``) against ``python -m fastnn.compat --data NAME SCRIPT`` in the
same copy. Rounds alternate which side goes first, script by script. The
wall time of the whole process is what is timed (start-up included, as a
reader running the script would wait for it).

Data: real MNIST when ``fastnn.datasets`` finds it (``FASTNN_DATA``, the
fastnn cache), else the 5,000-image MNIST subset (4,000 training, 1,000 test
images). The book's side reads it from the ``dataset/mnist.pkl`` written into
the copy (the book's cache format, raw uint8), fastnn's side from
``fastnn.datasets``: the same images and labels.

``--scale`` sets ``BOOK_SCALE`` (the scripts multiply their iteration, epoch
or trial counts by it; 1 is the book's run). ``--seed`` sets ``BOOK_SEED``
(each script seeds ``np.random`` with it): the scripts with their own
training loop then print the same numbers both ways, and the report shows
the largest relative difference between the two outputs' numbers. Before
the timed rounds one untimed run of each side at the smallest scale fills
numba's cache and the OS file cache.

Prints one line per script (each round's seconds, the ratio of the medians
book / fastnn.compat, whether both printed the same lines up to their
numbers, the numbers' largest relative difference), the CPU and the load
average before and after. A benchmark, never a test: timings decide nothing.

``--profile`` runs each script once a side under pyinstrument (``pip
install pyinstrument``) instead, in a fresh process, and prints where the
wall time went: ``start-up`` (imports, and numba loading a kernel at its
first call), ``script`` (the chapter's own lines: its loop,
``np.random.choice``, its dict updates, the chapter's local nets, and the
NumPy calls they make themselves), ``common`` (the book's ``common/``
modules, book side only) and ``fastnn`` (fastnn's layers, nets, trainer and
kernels, fastnn side only); any other frame counts for the nearest of these
above it.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BOOK_DIR = Path(__file__).resolve().parents[1] / "book"

#: The training scripts of chapters 4-7, in the book's order.
SCRIPTS = [
    "ch04/train_neuralnet",
    "ch05/train_neuralnet",
    "ch06/optimizer_compare_mnist",
    "ch06/weight_init_compare",
    "ch06/overfit_weight_decay",
    "ch06/overfit_dropout",
    "ch06/batch_norm_test",
    "ch06/hyperparameter_optimization",
    "ch07/train_convnet",
]
SIDES = ("book", "fastnn")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.tools.book_scripts",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--scripts", default=",".join(SCRIPTS), help="comma-separated subset of %(default)s")
    p.add_argument("--scale", type=float, default=1.0,
                   help="BOOK_SCALE: fraction of each script's iterations, epochs or trials (default 1, the book's)")
    p.add_argument("--rounds", type=int, default=2, help="timed rounds per script and side (default 2)")
    p.add_argument("--data", choices=["auto", "mnist", "mnist5k"], default="auto",
                   help="auto (default): MNIST when present, else the 5,000-image subset")
    p.add_argument("--seed", type=int, default=None, help="BOOK_SEED: np.random.seed for each script run")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up run of each side")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--profile", action="store_true",
                   help="one pyinstrument-profiled run a side: where the time goes (see above); no timing rounds")
    args = p.parse_args(argv)
    scripts = [s.strip().removesuffix(".py") for s in args.scripts.split(",") if s.strip()]
    unknown = [s for s in scripts if s not in SCRIPTS]
    if unknown or not scripts:
        p.error(f"--scripts must name some of {', '.join(SCRIPTS)}; got {', '.join(unknown) or 'none'}")
    if not args.scale > 0:
        p.error(f"--scale must be a positive fraction (1: the book's run); got {args.scale}")
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1; got {args.rounds}")
    args.scripts = scripts
    return args


def choose_data(name: str) -> str:
    """'mnist' when fastnn finds MNIST (or was told to use it), else 'mnist5k'."""
    if name != "auto":
        return name
    from fastnn.datasets.mnist import mnist_available
    return "mnist" if mnist_available() else "mnist5k"


def prepare_tree(dest: Path, data: str) -> Path:
    """Copy ``benchmarks/book`` to ``dest`` and write the data as the book's ``dataset/mnist.pkl``."""
    from fastnn.datasets import load_dataset

    tree = dest / "book"
    shutil.copytree(BOOK_DIR, tree, ignore=shutil.ignore_patterns("__pycache__", "*.pkl"))
    (x_train, t_train), (x_test, t_test) = load_dataset(data, normalize=False, flatten=True)
    with open(tree / "dataset" / "mnist.pkl", "wb") as f:
        pickle.dump({"train_img": x_train, "train_label": t_train, "test_img": x_test, "test_label": t_test}, f, -1)
    return tree


def command(side: str, script: str, data: str) -> list[str]:
    path = f"{Path(script).name}.py"
    if side == "book":
        return [sys.executable, path]
    return [sys.executable, "-m", "fastnn.compat", "--data", data, path]


def run_once(tree: Path, side: str, script: str, data: str, scale: float, seed) -> tuple[float, str]:
    """Wall seconds of one fresh process running ``script`` on ``side``, and what it printed."""
    env = dict(os.environ, BOOK_SCALE=repr(scale), PYTHONDONTWRITEBYTECODE="1")
    env.pop("BOOK_SEED", None)
    if seed is not None:
        env["BOOK_SEED"] = str(seed)
    cwd = tree / Path(script).parent
    t0 = time.perf_counter()
    proc = subprocess.run(command(side, script, data), cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{script} ({side}) exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def compare_outputs(book: str, fast: str) -> dict:
    """Same lines up to their numbers? The numbers' largest relative difference (None: lines differ)."""
    lb, lf = book.splitlines(), fast.splitlines()
    same_form = len(lb) == len(lf) and all(_NUMBER.sub("#", a) == _NUMBER.sub("#", b) for a, b in zip(lb, lf))
    worst = None
    if same_form:
        worst = 0.0
        for a, b in zip(lb, lf):
            for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b)):
                x, y = float(x), float(y)
                if x != y:
                    worst = max(worst, abs(x - y) / max(abs(x), abs(y)))
    return {"lines": [len(lb), len(lf)], "same_form": same_form, "max_rel_diff": worst}


#: Run in the child of ``--profile``: argv = side, script, data; prints one JSON line of seconds by category.
_PROFILE_CHILD = r"""
import json, os, runpy, sys
from pyinstrument import Profiler
side, script, data = sys.argv[1:4]
tree = os.path.realpath(os.path.join(os.getcwd(), os.pardir))
sys.argv = [script]
profiler = Profiler(interval=0.001)
profiler.start()
if side == "book":
    sys.path.insert(0, os.getcwd())
    runpy.run_path(script, run_name="__main__")
else:
    import fastnn.compat
    fastnn.compat.main(["--data", data, script])
profiler.stop()
import fastnn, numba
fastnn_dirs = tuple(os.path.realpath(os.path.dirname(m.__file__)) + os.sep
                    for m in (fastnn, sys.modules.get("fastnn.kernels", fastnn), numba))
common_dir = os.path.join(tree, "common") + os.sep
totals = {}

def category(frame, inherited):
    if frame.function in ("_find_and_load", "_compile_for_args") or inherited == "start-up":
        return "start-up"
    path = os.path.realpath(frame.file_path) if frame.file_path and not frame.file_path.startswith("<") else ""
    if path.startswith(common_dir):
        return "common"
    if path.startswith(tree + os.sep):
        return "script"
    if path.startswith(fastnn_dirs):
        return "fastnn"
    return inherited

def walk(frame, inherited):
    cat = category(frame, inherited)
    own = frame.time - sum(c.time for c in frame.children)
    totals[cat] = totals.get(cat, 0.0) + own
    for child in frame.children:
        walk(child, cat)

root = profiler.last_session.root_frame()
walk(root, "script")  # the runner above the script is part of running it
print(json.dumps({"total": root.time, **totals}))
"""
PROFILE_CATEGORIES = ("start-up", "script", "common", "fastnn")


def profile_once(tree: Path, side: str, script: str, data: str, scale: float, seed) -> dict:
    """Seconds by category of one pyinstrument-profiled run (see the module docstring)."""
    env = dict(os.environ, BOOK_SCALE=repr(scale), PYTHONDONTWRITEBYTECODE="1")
    env.pop("BOOK_SEED", None)
    if seed is not None:
        env["BOOK_SEED"] = str(seed)
    proc = subprocess.run([sys.executable, "-c", _PROFILE_CHILD, side, f"{Path(script).name}.py", data],
                          cwd=tree / Path(script).parent, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"profiling {script} ({side}) exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_main(args, data: str, results: dict) -> None:
    import importlib.util
    if importlib.util.find_spec("pyinstrument") is None:
        raise SystemExit("--profile needs pyinstrument: pip install pyinstrument")
    with tempfile.TemporaryDirectory(prefix="book-scripts-") as tmp:
        tree = prepare_tree(Path(tmp), data)
        for script in args.scripts:
            if not args.no_warmup:
                run_once(tree, "fastnn", script, data, min(args.scale, 1e-6), args.seed)
            entry = {}
            for side in SIDES:
                prof = profile_once(tree, side, script, data, args.scale, args.seed)
                entry[side] = prof
                total = prof["total"]
                parts = ", ".join(f"{c} {prof.get(c, 0.0):.2f} s ({100 * prof.get(c, 0.0) / total:.0f}%)"
                                  for c in PROFILE_CATEGORIES if prof.get(c))
                print(f"{script:34s} {side:6s} {total:7.2f} s: {parts} | load {load()}", flush=True)
            results["scripts"][script] = entry


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    args = parse_args(argv)
    data = choose_data(args.data)
    results = {"cpu": cpu_name(), "cores": os.cpu_count(), "data": data, "scale": args.scale,
               "rounds": args.rounds, "seed": args.seed, "load_before": load(), "scripts": {}}
    what = "profile, 1 run a side" if args.profile else f"{args.rounds} rounds"
    print(f"# book scripts: {data}, BOOK_SCALE={args.scale}, {what}, seed {args.seed}; "
          f"{results['cpu']}, {results['cores']} cores, load {results['load_before']}", flush=True)
    if args.profile:
        profile_main(args, data, results)
    else:
        run_rounds(args, data, results)
    results["load_after"] = load()
    print(f"# load after: {results['load_after']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def run_rounds(args, data: str, results: dict) -> None:
    with tempfile.TemporaryDirectory(prefix="book-scripts-") as tmp:
        tree = prepare_tree(Path(tmp), data)
        for script in args.scripts:
            if not args.no_warmup:
                for side in SIDES:
                    run_once(tree, side, script, data, min(args.scale, 1e-6), args.seed)
            times = {side: [] for side in SIDES}
            outputs = {}
            for r in range(args.rounds):
                for side in (SIDES if r % 2 == 0 else SIDES[::-1]):
                    wall, out = run_once(tree, side, script, data, args.scale, args.seed)
                    times[side].append(wall)
                    outputs.setdefault(side, out)
            med = {side: statistics.median(times[side]) for side in SIDES}
            entry = {"book_s": times["book"], "fastnn_s": times["fastnn"],
                     "ratio": med["book"] / med["fastnn"], "load": load(),
                     **compare_outputs(outputs["book"], outputs["fastnn"])}
            results["scripts"][script] = entry
            diff = "-" if entry["max_rel_diff"] is None else f"{entry['max_rel_diff']:.1e}"
            print(f"{script:34s} book {' '.join(f'{t:7.2f}' for t in times['book'])} s | "
                  f"fastnn.compat {' '.join(f'{t:7.2f}' for t in times['fastnn'])} s | "
                  f"ratio {entry['ratio']:5.2f}x | same lines {'yes' if entry['same_form'] else 'no'} "
                  f"({entry['lines'][0]}/{entry['lines'][1]}) | max rel diff {diff} | load {entry['load']}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
