"""Helpers the example scripts share: data loading with a size limit, the output figure."""
from __future__ import annotations

import argparse

import numpy as np


def parser(description: str, out: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=out, help=f"PNG to write (default: {out})")
    p.add_argument("--data", default=None, choices=("mnist", "fashion", "mnist5k", "digits"),
                   help="data set (default: the best one on this machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="threads for numba and BLAS (default: one per core)")
    return p


def parse(p: argparse.ArgumentParser, argv):
    """Parse the arguments and apply --threads."""
    args = p.parse_args(argv)
    if args.threads is not None:
        from fastnn import set_num_threads
        set_num_threads(args.threads)
    return args


def load(data, n_train=None, n_test=None, flatten=True):
    """Training and test arrays of the named (or best) data set, cut to the given sizes."""
    from fastnn.datasets import DATASETS, best_dataset, load_dataset

    name = data or best_dataset()
    (x, t), (xt, tt) = load_dataset(name, normalize=True, flatten=flatten)
    if n_train is not None:
        x, t = x[:n_train], t[:n_train]
    if n_test is not None:
        xt, tt = xt[:n_test], tt[:n_test]
    return DATASETS[name].title, (x.astype(np.float64), t), (xt.astype(np.float64), tt)
