"""One connector run at a time per ledger: a kernel lock on a lock file, and on PostgreSQL an
advisory lock too.

The file lock is ``flock(LOCK_EX | LOCK_NB)`` on a separate file that holds nothing (never a
PID): the kernel releases it when the process ends, however it ends (SIGKILL included), so there
is no stale lock to break and no clock involved. The file itself is left in place on release;
unlinking it would let a waiting process lock an inode nobody else can see.

Where the lock file is:

- ``settings.ledger.lock_file`` when set (its directory resolved through symlinks);
- SQLite: the ledger's real path plus ``.lock`` (``ledger.db`` → ``ledger.db.lock``). The path
  is resolved first (symlinks, ``..``, the working directory), so two configurations that reach
  the same ledger file by different paths (a symlink to it, a symlinked directory, a relative
  path) take the same lock;
- anything else (PostgreSQL, in-memory SQLite): ``.idesk-connector-<hash>.lock`` in the working
  directory, the hash taken over the URL without its password.

On PostgreSQL the file lock only covers one machine, so `pg_advisory_lock` additionally takes
``pg_try_advisory_lock(key)`` on a dedicated connection held for the whole run (the key is derived
from the database name); the server releases it when that session ends.

A session-level advisory lock is lost with its session: a PostgreSQL restart, or
``pg_terminate_backend`` on its backend, ends the session and releases the lock while the run
(whose other connections reconnect through the pool) goes on. `HeldLock.check`, which the run
calls at its safe points through its interrupt guard (before each page and delivery batch is
committed, and before the run records success), notices it and raises `LockLost` (exit 74): a
``poll()`` of the lock connection's socket, which an idle session's socket only becomes readable
when the server wrote something to it (its "terminating connection" notice, or the end of the
connection), plus a ``SELECT 1`` probe on it then, and at most every `PROBE_SECONDS` otherwise
(a server that vanished without a word). The file lock cannot be lost this way: nothing to check.

A second run fails at once with `LockHeld` (exit 75) and a ``lock_held`` event, or with
``wait_s > 0`` polls for up to that many seconds first.

Several sources (issue 16): the run of one source of a ``[[sources]]`` config (``run_lock(...,
source=NAME)``) holds the ledger's lock in *shared* mode (``LOCK_SH``; on PostgreSQL
``pg_try_advisory_lock_shared`` on the database key) and its own source's lock exclusively: the
lock file plus ``.source-NAME`` (``ledger.db.lock.source-gia-lai``), and on PostgreSQL the
advisory key of the database name plus the source name. Runs of different sources (from one
host or many, into one PostgreSQL) go on at once; two runs of one source exclude each other;
a whole-ledger lock holder (a one-source run, ``db backup``/``upgrade``/``downgrade``) excludes
them all.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from connector.errors import ConfigError, LedgerError, LockHeld, LockLost
from connector.ledger.db import advisory_unlock, keep_session, ledger_error, try_advisory_lock

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.1
"""How often a waiting run retries the lock."""

PROBE_SECONDS = 5.0
"""At most how often `HeldLock.check` asks a PostgreSQL lock's session whether it is still there
when its socket says nothing."""

_KEY_NAMESPACE = b"idesk-connector:ledger:"


@dataclass(frozen=True)
class HeldLock:
    """A lock this process holds: what it is and how long it took to get; `watches` check that
    it is still held (a PostgreSQL advisory lock can be lost with its session)."""

    path: str
    waited_s: float
    watches: tuple[Callable[[], None], ...] = field(default=(), compare=False)

    def check(self) -> None:
        """Raise `LockLost` if a part of this lock was lost (see the module docstring)."""
        for watch in self.watches:
            watch()


class _SessionWatch:
    """Whether the session of a connection holding an advisory lock is still there: cheap
    enough to call before every commit (a ``poll()`` of its socket; a ``SELECT 1`` only when the
    socket has something to say, or `PROBE_SECONDS` after the last one)."""

    def __init__(self, conn: Connection, what: str, monotonic: Callable[[], float]) -> None:
        self.conn = conn
        self.what = what
        self.monotonic = monotonic
        self.probed = monotonic()
        self.lost = False
        self.busy = threading.Lock()  # one probe at a time; a connection is not thread-safe
        self.poller: select.poll | None = None
        try:
            fileno = conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
        except (AttributeError, SQLAlchemyError, OSError, ValueError):
            return
        self.poller = select.poll()
        self.poller.register(fileno, select.POLLIN | select.POLLPRI)

    def _spoke(self) -> bool:
        """True when the idle session's socket is readable, hung up or in error."""
        return self.poller is None or bool(self.poller.poll(0))

    def __call__(self) -> None:
        if self.lost:
            raise LockLost(self.what)
        if not self.busy.acquire(blocking=False):
            return
        try:
            now = self.monotonic()
            if not self._spoke() and now - self.probed < PROBE_SECONDS:
                return
            self.probed = now
            try:
                self.conn.execute(text("SELECT 1")).scalar_one()
                self.conn.commit()
            except SQLAlchemyError as exc:
                self.lost = True
                log.error(
                    "lock_lost",
                    lock=self.what,
                    error=type(getattr(exc, "orig", None) or exc).__name__,
                )
                raise LockLost(self.what) from None
        finally:
            self.busy.release()


def _redacted_url(ledger_url: str) -> str:
    """The URL without its password, for hashing and for messages."""
    try:
        url = make_url(ledger_url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            "ledger.url is not a database URL; use sqlite:///PATH or "
            "postgresql://user@host:port/database",
            source="ledger.url",
        ) from exc
    # One spelling per database: no password, and ``postgresql+psycopg://`` is ``postgresql://``.
    bare = URL.create(
        url.get_backend_name(),
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return bare.render_as_string(hide_password=False)


def lock_path_for(ledger_url: str, lock_file: str = "", cwd: Path | None = None) -> Path:
    """Where the run lock of this ledger lives (see the module docstring)."""
    base = cwd if cwd is not None else Path.cwd()
    if lock_file:
        # The directory resolved (one lock per real place); the file itself is never a symlink.
        path = base / Path(lock_file)
        return Path(os.path.realpath(path.parent)) / path.name
    redacted = _redacted_url(ledger_url)
    url = make_url(ledger_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(os.path.realpath(base / url.database) + ".lock")
    digest = hashlib.sha256(redacted.encode()).hexdigest()
    return base / f".idesk-connector-{digest[:16]}.lock"


def _open_lock_file(path: Path) -> int:
    """Open (creating with mode 0600) the lock file; refuse to follow a symlink."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags, 0o600)
    except OSError as exc:
        raise LedgerError(
            f"cannot open the lock file {path}: {exc.strerror}; "
            "check the directory exists and is writable (or set ledger.lock_file)"
        ) from exc


def _try_flock(fd: int, shared: bool = False) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _poll(
    attempt: Callable[[], bool],
    *,
    wait_s: float,
    what: str,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> float | None:
    """Call `attempt` until it succeeds or `wait_s` has passed; the seconds waited, or None."""
    start = monotonic()
    announced = False
    while True:
        if attempt():
            return monotonic() - start
        waited = monotonic() - start
        if waited >= wait_s:
            return None
        if not announced:
            log.info("lock_waiting", lock=what, wait_s=wait_s)
            announced = True
        sleep(min(POLL_SECONDS, max(wait_s - waited, 0.0)))


@contextlib.contextmanager
def ledger_lock(
    ledger_url: str,
    lock_file: str = "",
    wait_s: float = 0,
    *,
    shared: bool = False,
    source: str = "",
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[HeldLock]:
    """Hold the run lock of this ledger (`source`: of that source only; `shared`: in shared
    mode) for the duration of the block.

    Raises `LockHeld` (exit code 75) when another process holds it past `wait_s` seconds.
    """
    path = lock_path_for(ledger_url, lock_file)
    if source:
        path = path.with_name(f"{path.name}.source-{source}")
    fd = _open_lock_file(path)
    try:
        waited = _poll(
            lambda: _try_flock(fd, shared),
            wait_s=wait_s,
            what=str(path),
            sleep=sleep,
            monotonic=monotonic,
        )
        if waited is None:
            log.warning("lock_held", lock=str(path), wait_s=wait_s)
            raise LockHeld(str(path), wait_s)
        log.debug("lock_acquired", lock=str(path), waited_s=round(waited, 3))
        try:
            yield HeldLock(path=str(path), waited_s=waited)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            log.debug("lock_released", lock=str(path))
    finally:
        os.close(fd)


def advisory_key(database: str) -> int:
    """The advisory-lock key of a database: a stable signed 64-bit number from its name."""
    digest = hashlib.sha256(_KEY_NAMESPACE + database.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def pg_advisory_lock(
    engine: Engine,
    wait_s: float = 0,
    *,
    key: int | None = None,
    shared: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[HeldLock]:
    """Hold a PostgreSQL session advisory lock (`shared`: in shared mode) on a dedicated
    connection for the block.

    Does nothing (yields at once) on other databases. Raises `LockHeld` past `wait_s` seconds.
    """
    if engine.dialect.name != "postgresql":
        yield HeldLock(path="", waited_s=0.0)
        return
    database = engine.url.database or ""
    lock_key = advisory_key(database) if key is None else key
    what = f"postgresql advisory lock {lock_key} on database {database!r}"
    try:
        conn = engine.connect()
    except SQLAlchemyError as exc:
        raise ledger_error(exc, engine.url, "connect to") from exc
    try:
        try:
            keep_session(conn)  # idle for the whole run: never ended by idle_session_timeout
        except SQLAlchemyError as exc:
            raise LedgerError(f"cannot use the ledger database {database!r}: {exc}") from exc
        waited = _poll(
            lambda: try_advisory_lock(conn, lock_key, shared=shared),
            wait_s=wait_s,
            what=what,
            sleep=sleep,
            monotonic=monotonic,
        )
        if waited is None:
            log.warning("lock_held", lock=what, wait_s=wait_s)
            raise LockHeld(what, wait_s)
        log.debug("lock_acquired", lock=what, waited_s=round(waited, 3))
        watch = _SessionWatch(conn, what, monotonic)
        try:
            yield HeldLock(path=what, waited_s=waited, watches=(watch,))
        finally:
            if watch.lost:  # the server released it with the session
                conn.invalidate()
            else:
                try:
                    advisory_unlock(conn, lock_key, shared=shared)
                except SQLAlchemyError:
                    # The session is gone or broken; the server released the lock with it.
                    conn.invalidate()
                log.debug("lock_released", lock=what)
    finally:
        conn.close()


@contextlib.contextmanager
def run_lock(
    ledger_url: str,
    lock_file: str = "",
    wait_s: float = 0,
    *,
    engine: Engine | None = None,
    source: str = "",
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[HeldLock]:
    """The file lock, then (with a PostgreSQL `engine`) the advisory lock, sharing one wait;
    with `source`, the ledger's locks shared and that source's own exclusively (see the module
    docstring)."""
    if source:
        with _source_lock(
            ledger_url,
            lock_file,
            wait_s,
            engine=engine,
            source=source,
            sleep=sleep,
            monotonic=monotonic,
        ) as own:
            yield own
        return
    with ledger_lock(ledger_url, lock_file, wait_s, sleep=sleep, monotonic=monotonic) as held:
        if engine is None:
            yield held
            return
        remaining = max(wait_s - held.waited_s, 0.0)
        with pg_advisory_lock(engine, remaining, sleep=sleep, monotonic=monotonic) as adv:
            yield HeldLock(
                path=held.path, waited_s=held.waited_s + adv.waited_s, watches=adv.watches
            )


@contextlib.contextmanager
def _source_lock(
    ledger_url: str,
    lock_file: str,
    wait_s: float,
    *,
    engine: Engine | None,
    source: str,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> Iterator[HeldLock]:
    """One source's run lock: the ledger's locks shared, the source's own exclusive."""
    with contextlib.ExitStack() as stack:
        waited = 0.0
        watches: tuple[Callable[[], None], ...] = ()
        for name, shared in (("", True), (source, False)):
            held = stack.enter_context(
                ledger_lock(
                    ledger_url,
                    lock_file,
                    max(wait_s - waited, 0.0),
                    shared=shared,
                    source=name,
                    sleep=sleep,
                    monotonic=monotonic,
                )
            )
            waited += held.waited_s
        path = held.path
        if engine is not None and engine.dialect.name == "postgresql":
            database = engine.url.database or ""
            keys = (
                (advisory_key(database), True),
                (advisory_key(f"{database}:source:{source}"), False),
            )
            for key, shared in keys:
                held = stack.enter_context(
                    pg_advisory_lock(
                        engine,
                        max(wait_s - waited, 0.0),
                        key=key,
                        shared=shared,
                        sleep=sleep,
                        monotonic=monotonic,
                    )
                )
                waited += held.waited_s
                watches += held.watches
        yield HeldLock(path=path, waited_s=waited, watches=watches)
