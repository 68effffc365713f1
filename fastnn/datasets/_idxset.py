"""A data set stored as the four IDX files of MNIST: find, check, parse, cache, download.

Shared by MNIST and Fashion-MNIST, which use the same file names and format.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _cache
from ._idx import read_idx

#: The four parts and their standard file names (without .gz).
PARTS = {
    "x_train": "train-images-idx3-ubyte",
    "t_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "t_test": "t10k-labels-idx1-ubyte",
}

#: Seconds a download may stall before it is given up (no network must never mean a hang).
DOWNLOAD_TIMEOUT = 10.0


@dataclass(frozen=True)
class IdxDataset:
    """How to find and check one IDX data set."""

    name: str                    # "mnist": also the cache file's name
    title: str                   # "MNIST": for messages
    subdir: str                  # where to look below FASTNN_DATA / the cache dir
    n_train: int | None = 60000  # None: any count (for data sets of your own)
    n_test: int | None = 10000
    image_shape: tuple = (28, 28)
    n_classes: int = 10
    mirrors: tuple = ()          # base URLs, each followed by "<file>.gz"
    extra_dirs: tuple = ()       # searched after the usual ones (system-wide installs)
    hint: str = ""               # extra advice when the files are missing
    names: dict = field(default_factory=lambda: dict(PARTS))


def _candidates(stem: str) -> list[str]:
    """File names accepted for one part: the standard one and Kaggle's dotted one, gzipped or not."""
    dotted = stem.replace("-idx", ".idx", 1)
    return [stem, stem + ".gz", dotted, dotted + ".gz"]


def find_files(spec: IdxDataset, dirs) -> dict | None:
    """The first directory holding all four parts: ``{part: path}``, or None."""
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            continue
        found = {}
        for part, stem in spec.names.items():
            for cand in _candidates(stem):
                if (d / cand).is_file():
                    found[part] = d / cand
                    break
        if len(found) == len(spec.names):
            return found
    return None


def search_dirs(spec: IdxDataset, data_home) -> list[Path]:
    dirs = _cache.data_dirs(data_home, spec.subdir)
    if data_home is None:
        dirs += [Path(d) for d in spec.extra_dirs]
    return dirs


def is_available(spec: IdxDataset, data_home=None) -> bool:
    """True if the four files are on this machine (nothing is read or downloaded)."""
    return find_files(spec, search_dirs(spec, data_home)) is not None


def _check(spec: IdxDataset, arrays: dict, files: dict) -> None:
    for split, n_expected in (("train", spec.n_train), ("test", spec.n_test)):
        x, t = arrays["x_" + split], arrays["t_" + split]
        fx, ft = files["x_" + split], files["t_" + split]
        if x.dtype != np.uint8 or x.ndim != 1 + len(spec.image_shape) or x.shape[1:] != tuple(spec.image_shape):
            raise ValueError(f"{fx}: expected uint8 images of shape (N, {', '.join(map(str, spec.image_shape))}), "
                             f"got {x.dtype} of shape {x.shape}")
        if t.dtype != np.uint8 or t.ndim != 1:
            raise ValueError(f"{ft}: expected uint8 labels of shape (N,), got {t.dtype} of shape {t.shape}")
        if x.shape[0] != t.shape[0]:
            raise ValueError(f"{spec.title} {split} set: {x.shape[0]} images in {fx} but {t.shape[0]} labels in {ft}")
        if n_expected is not None and x.shape[0] != n_expected:
            raise ValueError(f"{fx}: {spec.title} has {n_expected:,} {split} images, this file holds "
                             f"{x.shape[0]:,} (a different or incomplete data set?)")
        if t.size and t.max() >= spec.n_classes:
            raise ValueError(f"{ft}: labels must be in [0, {spec.n_classes}), found {int(t.max())}")


def _download(spec: IdxDataset, target: Path) -> dict:
    """Fetch the four .gz files into ``target``; raise OSError with every mirror's failure."""
    errors = []
    for base in spec.mirrors:
        try:
            for stem in spec.names.values():
                dest = target / (stem + ".gz")
                if dest.is_file():
                    continue
                with urllib.request.urlopen(base + stem + ".gz", timeout=DOWNLOAD_TIMEOUT) as resp:
                    data = resp.read()
                _cache.atomic_write_bytes(dest, data)
            return find_files(spec, [target])
        except (OSError, urllib.error.URLError, ValueError) as exc:
            errors.append(f"{base}: {exc}")
    raise OSError("; ".join(errors) or "no mirror known")


def _missing_message(spec: IdxDataset, dirs, download_error: str | None) -> str:
    names = ", ".join(s + ".gz" for s in spec.names.values())
    where = "\n".join(f"  {d}" for d in dirs)
    msg = (f"{spec.title} not found. fastnn looked for the four IDX files ({names}; gzipped or not) in:\n"
           f"{where}\n"
           f"Put them in one of these directories, or in a directory of your choice and pass "
           f"data_home=... or set the environment variable FASTNN_DATA to it.")
    if download_error:
        msg += f"\nA download was tried and failed: {download_error}"
    if spec.hint:
        msg += "\n" + spec.hint
    return msg


def load_raw(spec: IdxDataset, data_home=None, *, download: bool = True, cache: bool = True) -> dict:
    """Raw uint8 arrays ``{'x_train', 't_train', 'x_test', 't_test'}`` of a checked IDX data set."""
    dirs = search_dirs(spec, data_home)
    files = find_files(spec, dirs)
    download_error = None
    if files is None and download and spec.mirrors:
        target = dirs[0] if data_home is not None else _cache.cache_dir() / spec.subdir
        try:
            files = _download(spec, target)
        except OSError as exc:
            download_error = str(exc)
    if files is None:
        raise FileNotFoundError(_missing_message(spec, dirs, download_error))

    signature = _cache.source_signature(files[k] for k in PARTS)
    cache_path = _cache.cache_dir() / f"{spec.name}.npz"
    if cache:
        cached = _cache.load_cache(cache_path, signature, PARTS)
        if cached is not None:
            return cached
    arrays = {part: read_idx(path) for part, path in files.items()}
    _check(spec, arrays, files)
    if cache:
        _cache.save_cache(cache_path, signature, arrays)
    return arrays


def describe(spec: IdxDataset, data_home=None) -> str:
    """Where the files were found, for messages; '' if absent."""
    files = find_files(spec, search_dirs(spec, data_home))
    return "" if files is None else os.fspath(Path(files["x_train"]).parent)
