"""fastnn's files: flat state dicts in one ``.npz`` layout, written atomically, read back checked.

Three kinds of file share one layout (format version 2, ``fastnn.io.npz``):
a NumPy ``.npz`` archive, no pickles, readable with ``np.load(path)``:

- ``__fastnn__``: one JSON record ``{"format": 2, "kind": "params" | "model"
  | "checkpoint", "dtype": "float32", "net": registered name or null,
  "recipe": constructor arguments or null, "architecture": [...],
  "values": {...}, "info": {...}}``. ``values`` holds the entries of the
  saved state that are not arrays (counters, random generator states);
  ``info`` what the writer added (a model's data set, test accuracy, ...).
- one member per array entry of the saved ``state_dict()``, under the
  entry's own name: ``net/param/W1``, ``net/state/BatchNorm1/running_var``,
  ``optimizer/v/W1``, ``trainer/train_loss``, ...

A params file holds the net's parameters and non-trained state (``net/``);
a model file adds the net's registered name and recipe (see
``fastnn.nets.NETS``); a checkpoint holds the whole ``Trainer.state_dict()``
(net, optimizer, counters, histories, random generators). Any of the three
can be read by ``load_params``.

Reading checks what the file declares before anything is allocated or
decompressed: every member's name, its ``.npy`` header (shape, dtype) and
the zip entry's declared size against that header, then the shapes against
what the receiver needs (for a model file: against the shapes its recipe
implies, before the net is built). Values are then handed to the owner's
``load_state_dict``, which checks them in full (real floats, finite, batch
norm variances >= 0, counters that agree, valid generator states) and
applies them only then: a refused file changes nothing.

Also read: the files of fastnn's format 1 (``fastnn.io.format1``), and the
book's ``params.pkl`` through a restricted unpickler that builds nothing but
a dict of names to NumPy arrays (``fastnn.io.book_pickle``). Every write is
atomic (``fastnn.io.files``).

Where each part lives, so that dependencies run one way (the nets, the
Trainer and the command line use ``fastnn.io``; ``fastnn.io`` uses none of
them):

- this package: files and flat state dicts only -- ``save_params`` /
  ``load_params`` / ``read_params`` (through a net's ``state_dict()``),
  ``read_state``, ``write_state``, atomic writes, ``check_output_file``;
- model files (a net rebuilt from its recipe): ``fastnn.nets.model_file``,
  beside the nets' registry;
- checkpoints: ``fastnn.trainer`` (``Trainer.save_checkpoint`` /
  ``load_checkpoint``, which checks its own counters);
- random generator states: ``fastnn._random``.

``save_model``, ``load_model``, ``read_model_info``, ``save_checkpoint`` and
``load_checkpoint`` are still reachable here, as before, through this
module's ``__getattr__`` (``OWNERS`` names where each lives): the owner's
module is imported on first use, so importing ``fastnn.io`` imports neither
the nets nor the Trainer.
"""
from __future__ import annotations

import importlib
import os

from .._random import check_generator_state, generator_state, set_generator_state
from .book_pickle import is_pickle, read_book_pickle
from .files import STALE_TEMP_SECONDS, atomic_write, atomic_write_bytes, check_output_file, write_npz
from .npz import FORMAT_VERSION, check_architecture, check_declared, open_saved, write_state

__all__ = ["FORMAT_VERSION", "save_params", "load_params", "save_model", "load_model", "read_model_info",
           "save_checkpoint", "load_checkpoint", "read_state", "read_book_pickle", "atomic_write", "atomic_write_bytes",
           "write_npz", "check_output_file", "read_params", "generator_state", "check_generator_state",
           "set_generator_state", "write_state", "open_saved", "check_declared", "check_architecture",
           "params_file_state", "load_net_state", "STALE_TEMP_SECONDS"]

#: The functions of other floors that ``fastnn.io`` names for compatibility: name -> the module that owns it.
OWNERS = {
    "save_model": "fastnn.nets.model_file",
    "load_model": "fastnn.nets.model_file",
    "read_model_info": "fastnn.nets.model_file",
    "save_checkpoint": "fastnn.trainer",
    "load_checkpoint": "fastnn.trainer",
}


def __getattr__(name):
    # The owners sit above this module (they import it), so they are imported here on first use, never at
    # import time: fastnn.io keeps knowing nothing of nets and trainers.
    if name in OWNERS:
        return getattr(importlib.import_module(OWNERS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(OWNERS))


def read_state(path) -> tuple:
    """``(kind, meta, state)`` of a fastnn file: the whole state dict as saved (for inspection and tests)."""
    path = os.fspath(path)
    with open_saved(path) as saved:
        return saved.kind, saved.meta, saved.read()


def read_params(path) -> dict:
    """The parameter arrays of a file by the book's names (W1, b1, gamma1, ...): no net needed.

    Reads a params, model or checkpoint file of fastnn, or the book's
    ``params.pkl``; what ``fastnn.nets.recipe_from_params`` turns into the
    recipe of the net the file belongs to. Raises ``ValueError`` for a file
    with no parameters under the book's names.
    """
    path = os.fspath(path)
    if is_pickle(path):
        params = read_book_pickle(path)
    else:
        params = {key[len("net/param/"):]: value for key, value in read_state(path)[2].items()
                  if key.startswith("net/param/")}
    if "W1" not in params:
        raise ValueError(f"{path!r} holds no parameters named W1, b1, ... (the book's names); "
                         "is it a params file?")
    return params


def params_file_state(net) -> dict:
    """The entries of ``net.state_dict()`` a params or model file keeps: parameters and non-trained state."""
    return {k: v for k, v in net.state_dict().items() if k.startswith(("param/", "state/"))}


def load_net_state(net, path, state: dict) -> None:
    """``net.load_state_dict(state)``, its refusal reworded to name the file ``path`` (``ValueError``)."""
    try:
        net.load_state_dict(state)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path!r} was not loaded: {exc}") from None


def save_params(net, path) -> None:
    """Write ``net``'s parameters and non-trained state (batch norm statistics) to ``path``, atomically."""
    write_state(path, {"net/" + k: v for k, v in params_file_state(net).items()}, "params", net)


def load_params(net, path) -> None:
    """Load ``path`` into ``net``'s own arrays: a params, model or checkpoint file, or the book's ``params.pkl``.

    Everything is checked first (see the module doc): on ``ValueError`` the
    net is unchanged. A file saved in the other float dtype is cast.
    """
    path = os.fspath(path)
    expected = {k: v.shape for k, v in params_file_state(net).items()}
    if is_pickle(path):
        state = {"param/" + k: v for k, v in read_book_pickle(path).items()}
        check_declared(path, {k: (v.shape, v.dtype) for k, v in state.items()}, expected)
        load_net_state(net, path, state)
        return
    with open_saved(path) as saved:
        check_architecture(path, saved.meta.get("architecture"), net)
        declared = {k[len("net/"):]: v for k, v in saved.declared().items() if k.startswith("net/")}
        check_declared(path, declared, expected, prefix="net/")
        state = {k: v for k, v in saved.read("net/").items() if k in declared}
    load_net_state(net, path, state)
