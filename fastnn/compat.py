"""Run scripts written for the book's own code layout on fastnn, unchanged.

    python -m fastnn.compat [--data NAME] path/to/ch07/train_convnet.py [ARGS...]

The book's chapter scripts import ``common.layers``, ``common.optimizer``,
``dataset.mnist``, ... after ``sys.path.append(os.pardir)``. While a script
runs here, those names are served by fastnn — ahead of any ``common/`` or
``dataset/`` folder on ``sys.path`` — so the chapter's code, and its local
modules (``ch07/simple_convnet.py`` doing ``from common.layers import *``),
run on fastnn's kernels:

==================================  ==============================================
book module                         served by
==================================  ==============================================
``common.functions``                ``fastnn.functions``
``common.layers``                   ``fastnn.layers`` (+ ``im2col``, ``col2im``)
``common.gradient``                 ``fastnn.gradient``
``common.optimizer``                ``fastnn.optimizer``
``common.util``                     ``fastnn.util``
``common.trainer``                  ``fastnn.trainer`` (+ the optimizers), printing
                                    the book's lines (``output='book'``)
``common.multi_layer_net``          ``fastnn.nets.MultiLayerNet``
``common.multi_layer_net_extend``   ``fastnn.nets.MultiLayerNetExtend``
``dataset.mnist``                   ``fastnn.datasets.mnist.load_mnist``
==================================  ==============================================

Each served module also carries what the book's star imports bring (``np``,
the activation and loss functions through ``common.layers``), with the
very classes and functions of fastnn.

The script runs as ``__main__`` with its own folder as the working directory
and first on ``sys.path``, and ``sys.argv`` set to the script and ARGS.
MNIST is read by ``fastnn.datasets.mnist`` (so ``FASTNN_DATA`` serves; if
it is unset and the book's ``dataset/`` folder beside the chapter holds the
downloaded IDX files, those are used). ``--data fashion`` (or ``mnist5k``)
makes ``load_mnist`` serve that data set instead, in MNIST's shapes.

From Python: ``with compat_imports(): ...`` or ``run_script(path, args)``.
"""
from __future__ import annotations

import collections
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import runpy
import sys

# Serving the book's modules is lazy: fastnn's own modules (NumPy, the layers, the data sets, the Trainer)
# are imported when a book script imports the module that needs them, so `import fastnn.compat` stays light.

__all__ = ["MODULE_MAP", "compat_imports", "install", "uninstall", "run_script", "main"]

#: book module -> [(fastnn module, names or None for its __all__), ...]
MODULE_MAP = {
    "common.functions": [("fastnn.functions", None)],
    "common.layers": [("fastnn.layers", None), ("fastnn.util", ["im2col", "col2im"])],
    "common.gradient": [("fastnn.gradient", None)],
    "common.optimizer": [("fastnn.optimizer", None)],
    "common.util": [("fastnn.util", None)],
    "common.trainer": [("fastnn.optimizer", None), ("fastnn.trainer", ["Trainer"])],
    "common.multi_layer_net": [("fastnn.layers", None), ("fastnn.gradient", ["numerical_gradient"]),
                               ("fastnn.nets", ["MultiLayerNet"])],
    "common.multi_layer_net_extend": [("fastnn.layers", None), ("fastnn.gradient", ["numerical_gradient"]),
                                      ("fastnn.nets", ["MultiLayerNetExtend"])],
    "dataset.mnist": [("fastnn.datasets.mnist", ["load_mnist"])],
}
_PACKAGES = {"common", "dataset"}

#: data set that ``dataset.mnist.load_mnist`` serves (None: MNIST itself); set by ``--data``.
_served_data = None


def _compat_load_mnist(normalize=True, flatten=True, one_hot_label=False):
    """The book's ``load_mnist``, serving the data set chosen with ``--data``."""
    from .datasets import load_dataset
    return load_dataset(_served_data, normalize=normalize, flatten=flatten, one_hot_label=one_hot_label)


def _book_trainer():
    """fastnn's Trainer printing the book's lines (``output='book'``) unless told otherwise."""
    from .trainer import Trainer as _Trainer

    class Trainer(_Trainer):
        __doc__ = _Trainer.__doc__

        def __init__(self, *args, output="book", **kwargs):
            super().__init__(*args, output=output, **kwargs)

    return Trainer


class _ShimLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        import numpy as np

        ns = module.__dict__
        ns["np"] = np
        for source, names in MODULE_MAP[module.__name__]:
            src = importlib.import_module(source)
            for name in (names if names is not None else getattr(src, "__all__", [])):
                ns[name] = getattr(src, name)
        if module.__name__.startswith("common.multi_layer_net"):
            ns["OrderedDict"] = collections.OrderedDict
        if module.__name__ == "common.trainer":
            ns["Trainer"] = _book_trainer()
        if module.__name__ == "dataset.mnist" and _served_data is not None:
            ns["load_mnist"] = _compat_load_mnist
        ns["__fastnn_compat__"] = True


class _EmptyPackageLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__fastnn_compat__ = True


class _CompatFinder(importlib.abc.MetaPathFinder):
    """Serves the book's module names from fastnn; a real ``common``/``dataset`` package is kept as the parent."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MODULE_MAP:
            return importlib.util.spec_from_loader(fullname, _ShimLoader())
        if fullname in _PACKAGES:
            if importlib.machinery.PathFinder.find_spec(fullname, path) is not None:
                return None  # the book's own folder: its other modules stay importable
            return importlib.machinery.ModuleSpec(fullname, _EmptyPackageLoader(), is_package=True)
        return None


_finder = _CompatFinder()


def _forget_modules() -> None:
    for name in list(sys.modules):
        if name in MODULE_MAP or (name in _PACKAGES and getattr(sys.modules[name], "__fastnn_compat__", False)):
            del sys.modules[name]


def install() -> None:
    """Serve the book's module names from fastnn (first on ``sys.meta_path``) until ``uninstall()``."""
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    for name in MODULE_MAP:      # a module imported before (e.g. the book's own) must not win
        sys.modules.pop(name, None)


def uninstall() -> None:
    """Stop serving the book's names; forget the served modules."""
    while _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    _forget_modules()


@contextlib.contextmanager
def compat_imports():
    """``with compat_imports(): import common.layers`` gives fastnn's layers."""
    install()
    try:
        yield
    finally:
        uninstall()


def _book_dataset_dir(script_dir: str) -> str | None:
    """The book's ``dataset/`` folder next to the chapter, if it holds the MNIST IDX files."""
    d = os.path.join(os.path.dirname(script_dir), "dataset")
    return d if os.path.isfile(os.path.join(d, "train-images-idx3-ubyte.gz")) else None


def _forget_book_modules(before: set, script_dir: str) -> None:
    """Drop what a script run imported from the book: ``common``/``dataset`` and the chapter's own modules."""
    script_dir = os.path.abspath(script_dir)
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        if name.partition(".")[0] in _PACKAGES or (file and os.path.dirname(os.path.abspath(file)) == script_dir):
            del sys.modules[name]


def run_script(path, args=(), data=None):
    """Run the book-layout script ``path`` as ``__main__`` with ``args``; returns its globals.

    Working directory, ``sys.path[0]``, ``sys.argv``, the environment and
    the import system are restored afterwards.
    """
    global _served_data
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such script: {path}")
    if data is not None:
        from .datasets import DATASETS
        if data not in DATASETS:
            raise ValueError(f"data must be one of {', '.join(DATASETS)}; got {data!r}")
    script_dir = os.path.dirname(path)
    saved = (os.getcwd(), list(sys.argv), list(sys.path), os.environ.get("FASTNN_DATA"), _served_data)
    modules_before = set(sys.modules)
    try:
        os.chdir(script_dir)
        sys.argv = [path, *args]
        sys.path.insert(0, script_dir)
        if saved[3] is None and (book_data := _book_dataset_dir(script_dir)):
            os.environ["FASTNN_DATA"] = book_data
        _served_data = data
        install()
        return runpy.run_path(path, run_name="__main__")
    finally:
        uninstall()
        _forget_book_modules(modules_before, script_dir)
        cwd, argv, syspath, env_data, served = saved
        os.chdir(cwd)
        sys.argv[:] = argv
        sys.path[:] = syspath
        if env_data is None:
            os.environ.pop("FASTNN_DATA", None)
        else:
            os.environ["FASTNN_DATA"] = env_data
        _served_data = served


USAGE = """\
usage: python -m fastnn.compat [--data mnist|fashion|mnist5k] SCRIPT.py [ARGS...]

Run a script written for the book's code layout (common/, dataset/) on fastnn.
--data NAME   make dataset.mnist.load_mnist serve another data set with MNIST's
              shapes (fashion: Fashion-MNIST; mnist5k: the 5,000-image subset)
"""


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    data = None
    while argv and argv[0].startswith("-"):
        opt = argv.pop(0)
        if opt in ("-h", "--help"):
            print(USAGE, end="")
            return 0
        if opt == "--data" and argv:
            data = argv.pop(0)
        elif opt.startswith("--data="):
            data = opt.split("=", 1)[1]
        else:
            print(USAGE + f"error: unknown option {opt}", file=sys.stderr)
            return 2
    if data is not None and data not in ("mnist", "fashion", "mnist5k"):
        print(USAGE + f"error: --data must be mnist, fashion or mnist5k, got {data!r}", file=sys.stderr)
        return 2
    if not argv:
        print(USAGE + "error: no script given", file=sys.stderr)
        return 2
    script, *args = argv
    try:
        run_script(script, args, data=data)
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        if not os.path.isfile(os.path.abspath(script)):
            print(f"fastnn.compat: {exc}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
