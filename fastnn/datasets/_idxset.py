"""A data set stored as the four IDX files of MNIST: find, check, parse, cache, download.

Shared by MNIST and Fashion-MNIST, which use the same file names and format.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _cache
from ._idx import read_idx, read_idx_header

#: The four parts and their standard file names (without .gz).
PARTS = {
    "x_train": "train-images-idx3-ubyte",
    "t_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "t_test": "t10k-labels-idx1-ubyte",
}

#: Seconds a download may stall before it is given up (no network must never mean a hang).
DOWNLOAD_TIMEOUT = 10.0

#: Most bytes read from a mirror for one file whose size is not published: a mirror serving
#: something endless cannot fill memory or disk.
MAX_DOWNLOAD_BYTES = 2**27


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
    #: "<file>.gz" -> (size in bytes, SHA-256 hex digest) of the published files: a download
    #: is checked against them before it is saved
    digests: dict = field(default_factory=dict)

    def expected_shapes(self) -> dict:
        """``{part: shape}`` each file's IDX header must declare (``None``: any count).

        Counts are left open here and checked with the image/label pairing by
        ``_check_shapes``, whose message says which data set was expected.
        """
        image = tuple(self.image_shape)
        return {"x_train": (None, *image), "t_train": (None,), "x_test": (None, *image), "t_test": (None,)}


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


def _check_shapes(spec: IdxDataset, shapes: dict, files: dict) -> None:
    """Check ``{part: (dtype, shape)}`` (from the IDX headers, or parsed arrays) against the data set."""
    for split, n_expected in (("train", spec.n_train), ("test", spec.n_test)):
        (xdt, xs), (tdt, ts) = shapes["x_" + split], shapes["t_" + split]
        fx, ft = files["x_" + split], files["t_" + split]
        if xdt != np.uint8 or len(xs) != 1 + len(spec.image_shape) or tuple(xs[1:]) != tuple(spec.image_shape):
            raise ValueError(f"{fx}: expected uint8 images of shape (N, {', '.join(map(str, spec.image_shape))}), "
                             f"got {np.dtype(xdt).name} of shape {tuple(xs)}")
        if tdt != np.uint8 or len(ts) != 1:
            raise ValueError(f"{ft}: expected uint8 labels of shape (N,), got {np.dtype(tdt).name} "
                             f"of shape {tuple(ts)}")
        if xs[0] != ts[0]:
            raise ValueError(f"{spec.title} {split} set: {xs[0]} images in {fx} but {ts[0]} labels in {ft}")
        if n_expected is not None and xs[0] != n_expected:
            raise ValueError(f"{fx}: {spec.title} has {n_expected:,} {split} images, this file holds "
                             f"{xs[0]:,} (a different or incomplete data set?)")


def _check(spec: IdxDataset, arrays: dict, files: dict) -> None:
    """Check parsed (or cached) arrays: dtypes, shapes, counts, and the label range."""
    _check_shapes(spec, {part: (a.dtype, a.shape) for part, a in arrays.items()}, files)
    for part in ("t_train", "t_test"):
        t = arrays[part]
        if t.size and t.max() >= spec.n_classes:
            raise ValueError(f"{files[part]}: labels must be in [0, {spec.n_classes}), found {int(t.max())}")


def _fetch(url: str, published) -> bytes:
    """The bytes at ``url``, read with a bound; checked against ``published`` (size, SHA-256) if known."""
    limit = published[0] if published else MAX_DOWNLOAD_BYTES
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as resp:
        data = resp.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{url}: larger than the {limit:,} bytes expected; not saved")
    if published:
        size, sha256 = published
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != size or digest != sha256:
            raise ValueError(f"{url}: {len(data):,} bytes with SHA-256 {digest}, expected the published "
                             f"{size:,} bytes with SHA-256 {sha256} (a corrupt or different file); not saved")
    return data


def _download(spec: IdxDataset, target: Path) -> dict:
    """Fetch the four .gz files into ``target``; raise OSError with every mirror's failure."""
    errors = []
    for base in spec.mirrors:
        try:
            for stem in spec.names.values():
                dest = target / (stem + ".gz")
                if dest.is_file():
                    continue
                data = _fetch(base + stem + ".gz", spec.digests.get(stem + ".gz"))
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

    # The headers first: what the files declare is checked against the data set before any body
    # is decompressed, so a small file declaring a huge array costs neither memory nor time.
    expected = spec.expected_shapes()
    headers = {part: read_idx_header(path, expected_dtype=np.uint8, expected_shape=expected[part])
               for part, path in files.items()}
    _check_shapes(spec, headers, files)
    signature = _cache.source_signature(files[k] for k in PARTS)
    cache_path = _cache.cache_dir() / f"{spec.name}.npz"
    if cache:
        cached = _cache.load_cache(cache_path, signature,
                                   {part: (shape, np.uint8) for part, (_, shape) in headers.items()},
                                   validate=lambda arrays: _check(spec, arrays, files))
        if cached is not None:
            return cached
    arrays = {part: read_idx(path, expected_dtype=np.uint8, expected_shape=headers[part][1])
              for part, path in files.items()}
    _check(spec, arrays, files)
    if cache:
        _cache.save_cache(cache_path, signature, arrays)
    return arrays


def describe(spec: IdxDataset, data_home=None) -> str:
    """Where the files were found, for messages; '' if absent."""
    files = find_files(spec, search_dirs(spec, data_home))
    return "" if files is None else os.fspath(Path(files["x_train"]).parent)
