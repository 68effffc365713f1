"""How the command line reports errors: one line on stderr, never a traceback.

Two kinds of error, two exit statuses:

* a **user error** (exit status 2): a bad argument, a missing, unreadable or
  malformed file, an output path that cannot be written, a size this machine
  cannot hold. The line names the argument or file and the problem.
* a **runtime failure** (exit status 1): the run itself broke although its
  inputs were fine (the disk filled up, memory ran out during training, the
  loss diverged, a bug). The line says what broke.

How a subcommand plugs in (``train``, ``evaluate``, ``datasets`` and any later
one such as ``tune`` or ``export``):

* raise :class:`UserError` for what it detects itself
  (``raise UserError("--trials must be >= 1, got 0")``);
* wrap work driven by one argument in ``with argument("--save", path):`` so
  that any ``OSError``, ``ValueError``, ``TypeError``, ``KeyError``,
  ``MemoryError``, ``OverflowError`` ... raised inside becomes a
  :class:`UserError` whose line starts with that argument;
* check output paths before any long work with :func:`check_output_path`,
  so that a run never ends by losing its result;
* return the exit status (0) or let the exception out: ``fastnn.__main__``
  calls every subcommand through :func:`run_command`.

Outside an :func:`argument` block, ``ValueError``, ``TypeError``,
``KeyError``, ``OverflowError``, ``ImportError`` and the ``OSError`` kinds a
path causes (missing file, a folder, no permission) still count as user
errors, since a subcommand's work is driven by its arguments; ``MemoryError``,
other ``OSError`` (disk full), ``FloatingPointError`` and ``RuntimeError``
are runtime failures, and anything else is reported as an internal error.
Set ``FASTNN_DEBUG=1`` to get the traceback instead.
"""
from __future__ import annotations

import contextlib
import errno
import os
import sys
import zipfile

EXIT_USER_ERROR = 2
EXIT_RUNTIME_FAILURE = 1
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A problem the user can fix: reported as one line, exit status 2."""

    exit_status = EXIT_USER_ERROR


class RuntimeFailure(Exception):
    """The run broke although its inputs were fine: one line, exit status 1."""

    exit_status = EXIT_RUNTIME_FAILURE


#: what argument-driven work raises when an argument or a file it names is bad
USER_ERROR_TYPES = (ValueError, TypeError, KeyError, IndexError, OverflowError, MemoryError,
                    OSError, EOFError, ImportError, zipfile.BadZipFile)

# OSError kinds a path causes (outside an argument() block these are user errors; any
# other OSError, such as a full disk, is a runtime failure)
_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, FileExistsError)
_PATH_ERRNOS = {errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM,
                errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP, errno.EEXIST}


def describe(exc: BaseException) -> str:
    """One line saying what went wrong, without the exception's type name where that adds nothing."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        text = f"{where}: {exc.strerror}" if where != "" else exc.strerror
    elif isinstance(exc, KeyError):
        key = exc.args[0] if len(exc.args) == 1 else exc.args
        text = key if isinstance(key, str) and " " in key else f"missing entry {key!r}"
    elif isinstance(exc, MemoryError):
        text = "not enough memory" + (f" ({exc})" if str(exc) else "")
    elif isinstance(exc, OverflowError):
        text = f"a number is too large ({exc})"
    elif isinstance(exc, zipfile.BadZipFile):
        text = f"not a valid .npz/zip file ({exc})"
    elif isinstance(exc, EOFError):
        text = f"the file ends too early ({exc})" if str(exc) else "the file ends too early"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(str(text).split())


@contextlib.contextmanager
def argument(name: str, value=None):
    """Turn any user-caused error raised inside into a :class:`UserError` naming ``name`` (and ``value``).

    An ``OSError`` that no path explains (a full disk, an I/O error) becomes a
    :class:`RuntimeFailure` with the same label instead.

    ``with argument("--checkpoint", path): trainer = Trainer(...)`` reports
    a bad checkpoint as ``--checkpoint run.npz: missing entry 'epoch'``.
    """
    try:
        yield
    except UserError:
        raise
    except USER_ERROR_TYPES as exc:
        label = name if value is None else f"{name} {os.fspath(value)}"
        text = describe(exc)
        if value is not None and os.fspath(value) in text:
            label = name  # the message already names the file
        if isinstance(exc, OSError) and not (isinstance(exc, _PATH_ERRORS) or exc.errno in _PATH_ERRNOS
                                             or exc.errno is None):
            raise RuntimeFailure(f"{label}: {text}") from exc   # a full disk, an I/O error
        raise UserError(f"{label}: {text}") from exc


#: the file name an output path's error suggests, where ``<option>.npz`` would mislead
_EXAMPLE_FILES = {"--save": "model.npz", "--checkpoint": "run.npz", "--save-best": "best.npz",
                  "--plot": "plot.png", "OUT.onnx": "model.onnx"}


def check_output_path(name: str, path) -> str:
    """Check, before any long work, that a file can be written at ``path``; return the path.

    The command line's face of :func:`fastnn.io.check_output_file` (the one
    check, with its real temporary-file probe): what it refuses becomes a
    :class:`UserError` naming ``name``. ``fastnn.io`` is imported here, not at
    the top, so that ``--help`` stays free of numpy.
    """
    from .io import check_output_file

    try:
        return check_output_file(path, name, example=_EXAMPLE_FILES.get(name, f"{name.lstrip('-')}.npz"))
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None


def _report(message: str, status: int) -> int:
    print(f"fastnn: error: {' '.join(message.split())}", file=sys.stderr)
    return status


def run_command(command, args) -> int:
    """Call ``command(args)`` and turn whatever it raises into one line on stderr and an exit status."""
    if os.environ.get("FASTNN_DEBUG"):
        return command(args)
    try:
        return command(args)
    except KeyboardInterrupt:
        print("\nfastnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, RuntimeFailure) as exc:
        return _report(str(exc), exc.exit_status)
    except OSError as exc:
        status = EXIT_USER_ERROR if isinstance(exc, _PATH_ERRORS) or exc.errno in _PATH_ERRNOS \
            else EXIT_RUNTIME_FAILURE
        return _report(describe(exc), status)
    except MemoryError as exc:
        return _report(describe(exc) + "; try a smaller --batch-size or net", EXIT_RUNTIME_FAILURE)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, EOFError, ImportError,
            zipfile.BadZipFile) as exc:
        return _report(describe(exc), EXIT_USER_ERROR)
    except (FloatingPointError, RuntimeError) as exc:
        return _report(f"the run failed: {describe(exc)}", EXIT_RUNTIME_FAILURE)
    except Exception as exc:  # a bug: still one line, the traceback on request
        return _report(f"internal error: {type(exc).__name__}: {describe(exc)} "
                       "(run again with FASTNN_DEBUG=1 to see the traceback)", EXIT_RUNTIME_FAILURE)
