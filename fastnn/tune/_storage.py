"""Where a study lives: a journal file on this machine (the default) or a PostgreSQL database.

``open_storage(url)`` turns the ``--storage`` text into an Optuna storage plus
a cross-process lock (``Store.lock()``), used for the two things workers
must not race on: creating the study, and reserving a trial of the budget.

- No URL, a plain path, or ``journal:PATH``: Optuna's journal file storage
  (one append-only file; safe for many writer processes on one machine,
  unlike SQLite). The lock is ``flock`` on ``PATH.fastnn.lock``. Optuna has
  no heartbeat for this storage, so each trial records its worker's host and
  process id, and a worker on the same host fails the RUNNING trials of
  processes that no longer exist.
- ``postgresql+psycopg://user@host[:port]/db`` (``postgresql://`` means the
  same): Optuna's RDB storage with a heartbeat, so a trial whose worker dies
  anywhere is failed once its heartbeat is older than the grace period. The
  lock is a PostgreSQL advisory lock held on the worker's own connection
  (released by the server if the worker dies). Connecting gives up after a
  few seconds, so an unreachable database is an error, not a hang.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
import warnings
import zlib

from ._optuna import import_optuna

# Optuna and psycopg, optional extras, are imported by the functions that use them.

DEFAULT_JOURNAL = "fastnn-tune.journal"
CONNECT_TIMEOUT = 5          # seconds before an unreachable database is reported
MAX_GRACE = 60               # a dead worker's trial is failed within this many seconds after its last heartbeat
UNCLAIMED_AFTER = 2 * MAX_GRACE   # a RUNNING trial that no worker has claimed by then was orphaned at birth


class StorageError(ValueError):
    """The storage URL is malformed, or the store cannot be reached (a one-line message)."""


def _journal_path(url: str | None) -> str | None:
    if url is None or url == "":
        return DEFAULT_JOURNAL
    if url.startswith("journal:"):
        path = url[len("journal:"):]
        if path.startswith("//"):
            path = path[2:]
        if not path:
            raise StorageError(f"--storage {url!r}: journal: needs a file path, e.g. journal:study.journal")
        return path
    return None if "://" in url else url


def _postgres_urls(url: str) -> tuple[str, str] | None:
    """``(sqlalchemy_url, libpq_url)`` for a PostgreSQL URL, else None."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    scheme = scheme.lower()
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}", f"postgresql://{rest}"
    return None


def describe_url(url: str | None) -> str:
    """The URL without its password (for messages)."""
    if url is None:
        return DEFAULT_JOURNAL
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        auth, _, host = rest.partition("@")
        user = auth.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


class Store:
    """An opened storage: ``.optuna`` (the Optuna storage), ``.lock(name)``, ``.reap_dead_workers(study)``."""

    def __init__(self, url, optuna_storage, kind, lock_path=None, libpq_url=None):
        self.url = url
        self.optuna = optuna_storage
        self.kind = kind                # "journal" or "postgresql"
        self._lock_path = lock_path
        self._libpq_url = libpq_url
        self._conn = None

    # -- the cross-process lock -------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str):
        """Hold the lock named ``name`` (a study name) across every process of the study."""
        if self.kind == "journal":
            with open(self._lock_path, "a+b") as fh:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            return
        key = zlib.crc32(f"fastnn.tune:{name}".encode())   # advisory lock keys are int64
        conn = self._connection()
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _connection(self):
        if self._conn is None or self._conn.closed:
            self._conn = connect_postgres(self._libpq_url, self.url)
        return self._conn

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- dead workers -----------------------------------------------------------------------------
    def fail_stale_trials(self, study) -> list[int]:
        """Mark FAIL the RUNNING trials whose worker is gone, with a ``fail_reason``; their numbers.

        PostgreSQL: Optuna's heartbeat (older than the grace period). Journal
        file: trials of this host whose process no longer exists. Both: a
        trial whose worker died between creating it and recording itself
        (no ``worker`` attribute after ``UNCLAIMED_AFTER`` seconds).
        """
        import optuna

        stale = {}
        if self.kind == "postgresql":     # as optuna.storages.fail_stale_trials, with the reason kept
            reason = f"no heartbeat for over {self.optuna.grace_period} s: its worker died or lost the database"
            stale = {trial_id: reason for trial_id in study._storage._get_stale_trial_ids(study._study_id)}
        host = socket.gethostname()
        now = datetime.datetime.now()
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            worker = t.user_attrs.get("worker")
            if worker is None:
                if t.datetime_start is not None and (now - t.datetime_start).total_seconds() > UNCLAIMED_AFTER:
                    stale[t._trial_id] = "its worker ended before it recorded itself"
                continue
            w_host, _, pid = worker.rpartition(":")
            if self.kind == "journal" and w_host == host and pid.isdigit() and not _alive(int(pid)):
                stale[t._trial_id] = f"worker process {pid} on {host} ended during the trial"
        failed = []
        for trial_id, reason in stale.items():
            try:
                study._storage.set_trial_user_attr(trial_id, "fail_reason", reason)
                if study._storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL):
                    failed.append(study._storage.get_trial(trial_id).number)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass            # another process failed it first
        return failed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists here and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def worker_tag() -> str:
    """``host:pid`` of this process, recorded with each trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def connect_postgres(libpq_url: str, shown_url: str):
    """A psycopg connection (autocommit), or ``StorageError`` within ``CONNECT_TIMEOUT`` seconds."""
    try:
        import psycopg
    except ImportError:
        raise StorageError("a PostgreSQL storage needs the psycopg driver: pip install 'fastnn[tune]'") from None
    try:
        return psycopg.connect(libpq_url, connect_timeout=CONNECT_TIMEOUT, autocommit=True)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise StorageError(f"cannot reach the database {describe_url(shown_url)}: {reason}") from None


def open_storage(url: str | None = None, *, heartbeat_interval: int = 10, grace_period: int | None = None) -> Store:
    """Open the storage named by ``url`` (see the module docstring); ``StorageError`` if it cannot be."""
    optuna = import_optuna()
    if grace_period is None:
        grace_period = min(MAX_GRACE, 3 * heartbeat_interval)
    if not 1 <= heartbeat_interval <= grace_period <= MAX_GRACE:
        raise ValueError(f"heartbeat_interval and grace_period must satisfy 1 <= heartbeat_interval <= "
                         f"grace_period <= {MAX_GRACE}; got {heartbeat_interval} and {grace_period}")
    path = _journal_path(url)
    if path is not None:
        path = os.path.abspath(os.path.expanduser(path))
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            raise StorageError(f"--storage {url!r}: the folder {folder} does not exist")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            backend = optuna.storages.journal.JournalFileBackend(path)
            storage = optuna.storages.JournalStorage(backend)
        return Store(path, storage, "journal", lock_path=path + ".fastnn.lock")
    urls = _postgres_urls(url)
    if urls is None:
        scheme = url.partition("://")[0] if "://" in url else url.partition(":")[0]
        raise StorageError(f"--storage {describe_url(url)!r}: unknown scheme {scheme!r}; use a file path "
                           "(a journal file on this machine, the default) or "
                           "postgresql+psycopg://USER@HOST[:PORT]/DB")
    sqlalchemy_url, libpq_url = urls
    store = Store(url, None, "postgresql", libpq_url=libpq_url)
    with store.lock("create tables"):      # workers that start at once must not race to create the tables
        try:
            store.optuna = optuna.storages.RDBStorage(
                sqlalchemy_url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                engine_kwargs={"connect_args": {"connect_timeout": CONNECT_TIMEOUT}, "pool_pre_ping": True})
        except Exception as exc:     # SQLAlchemy/alembic errors while creating or upgrading the tables
            reason = " ".join(str(exc).split("\n")[0].split())
            raise StorageError(f"cannot use the database {describe_url(url)}: {reason}") from None
    return store
