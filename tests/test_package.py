"""The package itself: cheap import, kernel hygiene, numba's disk cache, the thread policy."""
import ast
import os
import pathlib
import subprocess
import sys

import fastnn.kernels
import numpy as np
import pytest

import fastnn

KERNEL_DIR = pathlib.Path(fastnn.kernels.__file__).parent
KERNEL_FILES = sorted(p for p in KERNEL_DIR.glob("*.py") if p.name != "__init__.py")


def _run(code, env=None, cwd=None):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=cwd, check=True).stdout


def test_import_compiles_nothing_and_does_not_load_numba():
    out = _run("import sys, fastnn; print('numba' in sys.modules, 'fastnn.layers' in sys.modules)")
    assert out.split() == ["False", "False"]


def test_optional_onnx_is_imported_only_by_an_export():
    """``import fastnn`` (and its nets and command line) never imports onnx; fastnn.onnx does on first export."""
    out = _run("import sys, fastnn, fastnn.nets, fastnn.__main__, fastnn.onnx; "
               "print('onnx' in sys.modules, 'onnxruntime' in sys.modules)")
    assert out.split() == ["False", "False"]


def test_optional_tune_is_not_imported_by_fastnn_nor_by_the_help():
    code = ("import sys, runpy, fastnn, fastnn.tune, fastnn.tune._cli\n"
            "print('optuna' in sys.modules, 'psycopg' in sys.modules, 'sqlalchemy' in sys.modules)\n"
            "sys.argv = ['fastnn', 'tune', '--help']\n"
            "try:\n    runpy.run_module('fastnn', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('optuna' in sys.modules, 'numba' in sys.modules)\n")
    lines = _run(code).strip().splitlines()
    assert lines[0].split() == ["False", "False", "False"]
    assert "--trials" in _run(code) and lines[-1].split() == ["False", "False"]


def test_submodules_load_on_first_use():
    assert fastnn.layers.Relu is not None
    with pytest.raises(AttributeError, match="no attribute"):
        fastnn.no_such_thing


def _decorator_name(dec):
    target = dec.func if isinstance(dec, ast.Call) else dec
    return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)


@pytest.mark.parametrize("path", KERNEL_FILES, ids=lambda p: p.name)
def test_kernel_modules_follow_the_rules(path):
    """numpy/numba imports only, cache=True everywhere, no boundscheck, no cross-module kernel calls."""
    tree = ast.parse(path.read_text())
    # _twins.py and _jit.py build kernels (they hold none, so no cached kernel can call into them):
    # they may use the standard library, and kernel modules may import their decorators.
    # llvmlite is numba's own code generator (installed with it): an @intrinsic builds its IR.
    builders = {"_twins.py": {"types"}, "_jit.py": {"functools", "hashlib", "os", "warnings"}}
    allowed = {"numpy", "numba", "math", "llvmlite"} | builders.get(path.name, set())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] in allowed, alias.name
        elif isinstance(node, ast.ImportFrom):
            # simd holds the microkernel intrinsics, inlined into the kernels that call them: safe from the
            # stale-cache trap because _jit keys every cache folder by a hash of all the kernel files
            if node.level == 1 and node.module == "simd":
                assert {a.name for a in node.names} <= {"tile_fma"}, path.name
                continue
            if node.level == 1 and node.module in ("_twins", "_jit"):
                want = {"_twins": ["serial_and_parallel"], "_jit": ["njit"]}[node.module]
                assert [a.name for a in node.names] == want, path.name
                continue
            assert not (node.module == "numba" and "njit" in [a.name for a in node.names]), \
                f"{path.name}: numba's njit caches beside the source; import njit from ._jit"
            assert node.level == 0, f"{path.name} imports from another kernels module (stale-cache trap)"
            assert node.module.split(".")[0] in allowed, node.module
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "serial_and_parallel":
            assert "boundscheck" not in {k.arg for k in node.keywords}, "boundscheck in production code"
        elif isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                if _decorator_name(dec) == "njit":
                    assert isinstance(dec, ast.Call), f"{node.name}: use @njit(cache=True)"
                    kw = {k.arg: k.value for k in dec.keywords}
                    assert "cache" in kw and kw["cache"].value is True, f"{node.name}: cache=True missing"
                    assert "boundscheck" not in kw, f"{node.name}: boundscheck in production code"


def _exp_block(path):
    """The vectorisable-exp block of a kernel module: ``_pow2`` through ``_exp_nonpositive``."""
    text = path.read_text()
    start = text.index("@intrinsic\ndef _pow2(")
    end = text.index("\n\n\n", text.index("def _exp_nonpositive(", start))
    return text[start:end]


def test_the_copies_of_the_vectorisable_exp_are_the_same():
    # each kernel module that needs it holds its own copy (a cached kernel must not call into
    # another module's file); this keeps the copies from drifting apart
    assert _exp_block(KERNEL_DIR / "activation.py") == _exp_block(KERNEL_DIR / "softmax.py")


def _files(folder):
    return {p.relative_to(folder) for p in pathlib.Path(folder).rglob("*") if p.is_file()}


def _cache_env(tmp_path, **changes):
    """This environment without numba's cache variable, with the user's cache folder under tmp_path."""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "FASTNN_CACHE", "PYTHONPATH")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env.update(changes)
    return env


#: A fresh interpreter compiles (or loads) one kernel and says where its cache is.
CACHE_PROBE = ("import numpy as np, fastnn.kernels.activation as K, fastnn; print(fastnn.__file__); "
               "x = np.ones(3); K.sigmoid_forward(x, np.empty(3)); "
               "print(sum(K.sigmoid_forward.stats.cache_hits.values()), K.sigmoid_forward.stats.cache_path)")


def test_numba_disk_cache_in_a_normal_install_is_outside_the_package(tmp_path):
    """`pip install .` (not editable): kernels load from a cache in the user's cache folder, and nothing
    is written under the installed package (a cache there would outlive `pip uninstall`)."""
    repo = pathlib.Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--target", str(target), str(repo)], check=True, capture_output=True)
    installed = _files(target)
    env = _cache_env(tmp_path, PYTHONPATH=str(target))
    first = _run(CACHE_PROBE, env=env, cwd=tmp_path).split()
    second = _run(CACHE_PROBE, env=env, cwd=tmp_path).split()
    assert first[0].startswith(str(target)) and second[0] == first[0]
    assert first[1] == "0" and second[1] == "1"          # compiled and written, then loaded
    cache = pathlib.Path(first[2])
    assert cache.parent == tmp_path / "xdg" / "fastnn" / "numba" and cache.name.startswith("kernels_")
    assert list(cache.glob("activation.sigmoid_forward*.nbi")) and list(cache.glob("*.nbc"))
    assert _files(target) == installed                   # nothing written inside the install


def test_numba_cache_dir_is_obeyed_and_the_cache_is_keyed_by_the_kernels_sources(tmp_path):
    """NUMBA_CACHE_DIR (or FASTNN_CACHE) moves fastnn's cache; an edit of any kernel file gives a folder of its own
    (a stale kernel that inlined an edited helper cannot load); deleting the folder only recompiles."""
    import shutil

    kernels = tmp_path / "pkg" / "fastnn" / "kernels"
    shutil.copytree(KERNEL_DIR, kernels, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(pathlib.Path(fastnn.__file__).parent, tmp_path / "pkg" / "fastnn", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "kernels"))
    env = _cache_env(tmp_path, PYTHONPATH=str(tmp_path / "pkg"), NUMBA_CACHE_DIR=str(tmp_path / "mine"))
    first = _run(CACHE_PROBE, env=env, cwd=tmp_path).split()
    assert first[0].startswith(str(tmp_path / "pkg")) and first[1] == "0"
    assert pathlib.Path(first[2]).parent == tmp_path / "mine"
    assert not (tmp_path / "xdg").exists() and not (kernels / "__pycache__").exists()
    assert _run(CACHE_PROBE, env=env, cwd=tmp_path).split()[1] == "1"
    with open(kernels / "norm.py", "a") as f:            # another kernel file than the probe's
        f.write("\n# an edit\n")
    edited = _run(CACHE_PROBE, env=env, cwd=tmp_path).split()
    assert edited[1] == "0" and edited[2] != first[2]
    shutil.rmtree(tmp_path / "mine")
    assert _run(CACHE_PROBE, env=env, cwd=tmp_path).split()[1] == "0"
    # without NUMBA_CACHE_DIR, FASTNN_CACHE (the data sets' cache folder) holds it too
    env = _cache_env(tmp_path, PYTHONPATH=str(tmp_path / "pkg"), FASTNN_CACHE=str(tmp_path / "fastnn-cache"))
    assert pathlib.Path(_run(CACHE_PROBE, env=env, cwd=tmp_path).split()[2]).parent == tmp_path / "fastnn-cache" / "numba"
    assert not (tmp_path / "xdg").exists() and not (kernels / "__pycache__").exists()


def test_without_a_writable_cache_folder_the_kernels_compile_and_say_so(tmp_path):
    (tmp_path / "a-file").write_text("")            # a cache folder that cannot be made
    env = _cache_env(tmp_path, FASTNN_CACHE=str(tmp_path / "a-file"))
    def package():   # Python's own bytecode aside, which an import may add in a source tree
        return {p for p in _files(pathlib.Path(fastnn.__file__).parent) | _files(KERNEL_DIR) if p.suffix != ".pyc"}

    before = package()
    proc = subprocess.run([sys.executable, "-c", CACHE_PROBE], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[1:] == ["0", "None"]  # computed, no cache
    assert proc.stderr.count("RuntimeWarning") == 1
    assert f"fastnn cannot write numba's cache folder '{tmp_path / 'a-file' / 'numba'}'" in proc.stderr
    assert "set FASTNN_CACHE (or NUMBA_CACHE_DIR) to a folder you can write" in proc.stderr
    assert package() == before                       # nothing written into the package


def test_install_then_uninstall_leaves_no_fastnn_folder(tmp_path):
    """README's first command installs fastnn and runs kernels; an uninstall (as the test command's
    `pip install -e` makes) must then leave no `site-packages/fastnn/` to shadow the next install."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = pathlib.Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                       capture_output=True, text=True, check=True).stdout.strip())
    # numpy, numba, scipy from this environment (a path line: its editable fastnn's hook stays out)
    (site / "deps.pth").write_text(str(pathlib.Path(np.__file__).parents[1]) + "\n")
    pip = [sys.executable, "-m", "pip", "--python", python]
    repo = pathlib.Path(__file__).resolve().parents[1]
    subprocess.run(pip + ["install", "-q", "--no-deps", str(repo)], check=True, capture_output=True)
    env = _cache_env(tmp_path)
    probe = subprocess.run([python, "-c", CACHE_PROBE], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split()[0] == str(site / "fastnn" / "__init__.py")
    subprocess.run(pip + ["uninstall", "-q", "-y", "fastnn"], check=True, capture_output=True)
    assert not (site / "fastnn").exists()
    gone = subprocess.run([python, "-c", "import fastnn"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "ModuleNotFoundError: No module named 'fastnn'" in gone.stderr


def test_importing_the_kernels_changes_nothing_in_the_process():
    code = ("import os, numba; env = dict(os.environ); order = list(numba.config.THREADING_LAYER_PRIORITY); "
            "import fastnn.kernels; print(dict(os.environ) == env, numba.config.THREADING_LAYER_PRIORITY == order)")
    assert _run(code).split() == ["True", "True"]


def test_the_users_wait_policy_is_kept():
    code = "import os, fastnn.layers; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _run(code, env=env).strip() == "None"          # set for libgomp's start only, then removed
    assert _run(code, env=dict(env, OMP_WAIT_POLICY="ACTIVE")).strip() == "ACTIVE"


def _scipy_blas_threads():
    return "from fastnn import _runtime; print(_runtime._scipy_blas_getter()); "


def test_set_num_threads_sets_numba_and_blas():
    code = ("import fastnn; fastnn.set_num_threads(1); print(fastnn.get_num_threads()); "
            + _scipy_blas_threads()
            + "fastnn.set_num_threads(2, blas=2, follow_load=False); print(fastnn.get_num_threads()); "
            + _scipy_blas_threads())
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    one, one_blas, two, two_blas = _run(code, env=env).strip().splitlines()
    assert eval(one) == {"numba": 1, "blas": 1, "now": 1} and one_blas == "1"
    assert eval(two) == {"numba": 2, "blas": 2, "now": 2} and two_blas == "2"


def test_importing_the_layers_puts_fastnn_blas_on_one_thread_unless_told_otherwise():
    code = "import fastnn, fastnn.layers; print(fastnn.get_num_threads()['blas']); " + _scipy_blas_threads()
    env = {k: v for k, v in os.environ.items() if k not in ("FASTNN_BLAS_THREADS", "FASTNN_HOST_TUNING")}
    env.update(OPENBLAS_NUM_THREADS="2", NUMBA_NUM_THREADS="2")
    assert _run(code, env=env).split() == ["1", "1"]
    assert _run(code, env=dict(env, FASTNN_BLAS_THREADS="2")).split() == ["2", "2"]
    code_left_alone = "import fastnn, fastnn.layers; print(fastnn.get_num_threads()['blas'])"
    assert _run(code_left_alone, env=dict(env, FASTNN_BLAS_THREADS="0")).strip() == "None"
    assert _run(code_left_alone, env=dict(env, FASTNN_HOST_TUNING="0")).strip() == "None"


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (10**6, ValueError)])
def test_set_num_threads_rejects_bad_counts(bad, exc):
    with pytest.raises(exc, match="n must"):
        fastnn.set_num_threads(bad)
    with pytest.raises(exc, match="blas must"):
        fastnn.set_num_threads(1, blas=bad)
