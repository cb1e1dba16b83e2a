"""Ledger administration: upgrade, downgrade and back up the ledger under the run lock, and say
where its schema stands.

The ``idesk-connector db`` commands call these functions:

* `upgrade_locked` (``db upgrade``) and `downgrade` (``db downgrade --to REVISION``) change the
  schema while holding the **run lock** (`connector.ops.locking.run_lock`: the lock file, and on
  PostgreSQL the advisory lock), so no sync runs on a schema changing under it. They wait up to
  ``wait_s`` seconds for a run to finish, then raise `LockHeld` (exit 75). A downgrade must be run
  by the *newer* version (only it ships the scripts that undo its migrations), before the older
  version is reinstalled (docs/install.md, "Rollback").
* `backup` (``db backup PATH``) copies a SQLite ledger with SQLite's online backup API while
  holding the run lock, into a file created with mode 0600 next to PATH, turns the copy into a
  single self-contained file (``journal_mode=DELETE``), checks it with ``PRAGMA
  integrity_check``, and only then renames it to PATH: a copy that fails the check never replaces
  an earlier good backup. A PostgreSQL ledger is backed up with ``pg_dump`` instead (`ConfigError`,
  exit 2, saying so).
* `schema_state` (``db current``) reads the ledger's revision without changing anything;
  `history` (``db history``) lists the migrations this version ships, each with the release that
  first shipped it (``release`` in the migration file), read without loading alembic.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import structlog
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import ConfigError, LedgerError, LedgerMissing, Problem
from connector.ledger.db import (
    _MIGRATION_LOCK_KEY,
    _SQLITE_BEGIN,
    SQLITE_BUSY_TIMEOUT_MS,
    UpgradeResult,
    _database_errors,
    _migrate,
    alembic_config,
    create_ledger_engine,
    head_revision,
    ledger_error,
    normalise_url,
    redact_url,
    revision_of,
    revisions,
    sqlite_foreign_keys_off,
)
from connector.ledger.location import DAMAGED_HINT, LedgerUrl, sqlite_damaged
from connector.ledger.schema import MIGRATIONS_DIR, _assigned
from connector.ops.locking import run_lock

log = structlog.get_logger(__name__)

BACKUP_STEP_PAGES = 4096
"""Pages copied per step of the online backup (16 MiB with SQLite's default 4 KiB pages)."""

ProgressHook = Callable[[int, int, int], object]
"""Called after each backup step with (status, remaining pages, total pages), like sqlite3's."""


# -- where the schema stands ---------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """One migration this version ships: its revision, parent, release and first docstring line."""

    revision: str
    down_revision: str | None
    release: str | None
    description: str
    head: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.cache
def history() -> tuple[Migration, ...]:
    """The migrations this version ships, oldest first (read from the files, without alembic)."""
    chain = revisions()
    head = head_revision()
    found: dict[str, tuple[str | None, str]] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        name = _assigned(tree, "revision")
        if not isinstance(name, str):
            continue
        release = _assigned(tree, "release")
        doc = ast.get_docstring(tree) or ""
        summary = " ".join(doc.split("\n\n")[0].split())
        found[name] = (release if isinstance(release, str) else None, summary)
    ordered: list[Migration] = []
    revision: str | None = head
    while revision is not None:
        release, description = found[revision]
        ordered.append(Migration(revision, chain[revision], release, description, revision == head))
        revision = chain[revision]
    return tuple(reversed(ordered))


SchemaStateName = Literal["current", "older", "newer", "empty"]


@dataclass(frozen=True)
class SchemaState:
    """Where a ledger's schema stands against what this version of the connector knows."""

    ledger: str
    revision: str | None
    head: str
    state: SchemaStateName

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _state(revision: str | None) -> SchemaStateName:
    if revision is None:
        return "empty"
    if revision == head_revision():
        return "current"
    return "older" if revision in revisions() else "newer"


def schema_state(url: str) -> SchemaState:
    """The ledger's schema revision and how it compares with this version's latest; reads only.

    A SQLite ledger that does not exist is `LedgerMissing` (exit 2): nothing is created.
    """
    engine = create_ledger_engine(url, read_only=True)
    try:
        with engine.connect() as connection:
            revision = revision_of(connection)
            connection.rollback()
    except SQLAlchemyError as exc:
        raise ledger_error(exc, engine.url, "read") from exc
    finally:
        engine.dispose()
    return SchemaState(redact_url(url), revision, head_revision(), _state(revision))


# -- upgrade and downgrade under the run lock ----------------------------------------------------


@contextlib.contextmanager
def _locked_engine(
    url: str,
    lock_file: str,
    wait_s: float,
    *,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> Iterator[Engine]:
    """An engine for the ledger, with the run lock held (PostgreSQL: the advisory lock too)."""
    engine = create_ledger_engine(url)
    try:
        pg = engine if engine.dialect.name == "postgresql" else None
        with run_lock(url, lock_file, wait_s, engine=pg, sleep=sleep, monotonic=monotonic):
            yield engine
    finally:
        engine.dispose()


def upgrade_locked(
    url: str,
    *,
    lock_file: str = "",
    wait_s: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> UpgradeResult:
    """Bring the ledger to the latest schema (``db upgrade``) while holding the run lock."""
    normalise_url(url)  # a malformed URL is a configuration error before any lock file is made
    with _locked_engine(url, lock_file, wait_s, sleep=sleep, monotonic=monotonic) as engine:
        try:
            return _migrate(engine)
        except _database_errors() as exc:
            raise ledger_error(exc, engine.url, "upgrade") from exc


@dataclass(frozen=True)
class DowngradeResult:
    """What `downgrade` did: the database (password hidden), its revision before and after."""

    database: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _check_target(to: str) -> None:
    known = revisions()
    if to not in known:
        raise ConfigError(
            [
                Problem(
                    "--to",
                    f"{to!r} is not a ledger revision this idesk-connector knows; known: "
                    f"{', '.join(m.revision for m in history())} (`idesk-connector db history`)",
                )
            ]
        )


def _ancestors(revision: str) -> set[str]:
    """`revision` and every revision before it."""
    chain = revisions()
    found: set[str] = set()
    current: str | None = revision
    while current is not None:
        found.add(current)
        current = chain.get(current)
    return found


def downgrade(
    url: str,
    to: str,
    *,
    lock_file: str = "",
    wait_s: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> DowngradeResult:
    """Take the ledger's schema back to revision `to` (``db downgrade --to``), under the run lock.

    `to` must be a revision this version ships and not newer than the ledger's. The migrations
    after it are undone in one transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL under the
    migration advisory lock): a failure leaves the schema as it was.
    """
    _check_target(to)
    parsed = LedgerUrl.parse(url).supported()
    path = parsed.sqlite_path if parsed.backend == "sqlite" else None
    database = redact_url(url)
    if path is not None and not path.is_file():
        raise LedgerMissing(
            f"there is no ledger at {path.absolute()} to downgrade", location=str(path)
        )
    with _locked_engine(url, lock_file, wait_s, sleep=sleep, monotonic=monotonic) as engine:
        try:
            with engine.connect() as connection, sqlite_foreign_keys_off(connection):
                if engine.dialect.name == "sqlite":
                    connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
                with connection.begin():
                    if engine.dialect.name == "postgresql":
                        connection.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _MIGRATION_LOCK_KEY},
                        )
                    before = _revision_to_downgrade(connection, database, to)
                    if before == to:
                        return DowngradeResult(database, before, to)
                    from alembic import command  # noqa: PLC0415 - alembic only to migrate

                    config = alembic_config()
                    config.attributes["connection"] = connection
                    command.downgrade(config, to)
        except _database_errors() as exc:
            raise ledger_error(exc, engine.url, "downgrade") from exc
    log.info("ledger_downgraded", database=database, before=before, after=to)
    return DowngradeResult(database, before, to)


def _revision_to_downgrade(connection: Connection, database: str, to: str) -> str:
    """The ledger's revision, checked: known to this version, and `to` not newer than it."""
    before = revision_of(connection)
    if before is None:
        raise LedgerMissing(
            f"the ledger {database} has no schema; there is nothing to downgrade",
            location=database,
        )
    if before not in revisions():
        raise LedgerError(
            f"the ledger database {database} is at schema revision {before!r}, newer than this "
            f"idesk-connector knows (latest {head_revision()!r}); run `db downgrade` with the "
            "version that made it, before installing an older one"
        )
    if to not in _ancestors(before):
        raise ConfigError(
            [
                Problem(
                    "--to",
                    f"revision {to!r} is newer than the ledger's ({before!r}); "
                    "use `idesk-connector db upgrade` to move forward",
                )
            ]
        )
    return before


# -- backup --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupResult:
    """A verified copy of the ledger: where, how large, its schema revision, the check's answer."""

    ledger: str
    path: str
    bytes: int
    revision: str | None
    integrity: str
    waited_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PG_DUMP_HINT = (
    "db backup copies a SQLite ledger; back up a PostgreSQL ledger with pg_dump, e.g. "
    "pg_dump --format=custom --file /var/backups/idesk-connector/ledger.dump "
    "'postgresql://idesk@dbhost:5432/idesk' (docs/install.md, 'Backup')"
)


def _ledger_file(url: str) -> Path:
    """The SQLite file of the ledger; a PostgreSQL or in-memory ledger is refused (exit 2)."""
    parsed = LedgerUrl.parse(url).supported()
    if parsed.backend != "sqlite":
        raise ConfigError([Problem("ledger.url", PG_DUMP_HINT)])
    path = parsed.sqlite_path
    if path is None:
        raise ConfigError([Problem("ledger.url", "an in-memory ledger cannot be backed up")])
    if not path.is_file():
        raise LedgerMissing(
            f"there is no ledger at {path.absolute()} to back up; run `idesk-connector sync` "
            "first, or point ledger.url at the ledger",
            location=str(path),
        )
    return path


def _destination(source: Path, dest: Path, *, overwrite: bool) -> Path:
    """The backup's path, checked: not the ledger itself, not a directory, no silent overwrite."""
    dest = dest.absolute()
    if dest.is_dir():
        raise ConfigError([Problem("PATH", f"{dest} is a directory; name the backup file")])
    if dest.exists() and dest.resolve() == source.resolve():
        raise ConfigError([Problem("PATH", f"{dest} is the ledger itself; name another file")])
    if dest.exists() and not overwrite:
        raise ConfigError([Problem("PATH", f"{dest} already exists; give --force to replace it")])
    if not dest.parent.is_dir():
        raise LedgerError(
            f"cannot write the backup {dest}: the directory {dest.parent} does not exist; "
            "create it (owned by the connector's user, mode 0700) first"
        )
    return dest


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _copy(source: Path, target: Path, *, step_pages: int, progress: ProgressHook | None) -> None:
    """The online backup of `source` into the (empty, 0600) file `target`, made self-contained."""
    uri = f"file:{quote(str(source.absolute()))}?mode=ro"
    timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
    src = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        dst = sqlite3.connect(target, timeout=timeout)
        try:
            src.backup(dst, pages=step_pages, progress=progress)
            # One file, no -wal beside it: the copy opens on its own, even read-only.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def _verify(target: Path) -> tuple[str, str | None]:
    """``PRAGMA integrity_check``'s answer (``ok`` when sound) and the copy's schema revision."""
    connection = sqlite3.connect(f"file:{quote(str(target))}?mode=ro", uri=True)
    try:
        rows = [str(row[0]) for row in connection.execute("PRAGMA integrity_check")]
        revision: str | None = None
        with contextlib.suppress(sqlite3.OperationalError):
            found = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = str(found[0]) if found else None
    finally:
        connection.close()
    return "; ".join(rows), revision


def backup(
    url: str,
    dest: Path,
    *,
    lock_file: str = "",
    wait_s: float = 0.0,
    overwrite: bool = False,
    step_pages: int = BACKUP_STEP_PAGES,
    progress: ProgressHook | None = None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> BackupResult:
    """Copy the SQLite ledger to `dest` (``db backup PATH``), as the module docstring says.

    Raises `ConfigError` (exit 2) for a PostgreSQL ledger (use pg_dump), a `dest` that exists
    (unless `overwrite`) or is the ledger; `LedgerMissing` (exit 2) when there is no ledger;
    `LockHeld` (exit 75) when a run holds the lock past `wait_s`; `LedgerError` (exit 74) when the
    copy cannot be written or fails its integrity check (PATH is then left as it was).
    """
    source = _ledger_file(url)
    target = _destination(source, dest, overwrite=overwrite)
    with run_lock(url, lock_file, wait_s, sleep=sleep, monotonic=monotonic) as held:
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            os.close(fd)
            _copy(source, partial, step_pages=step_pages, progress=progress)
            integrity, revision = _verify(partial)
            if integrity != "ok":
                raise LedgerError(
                    f"the copy of the ledger {source} failed its integrity check ({integrity}); "
                    f"{target} was not written. The ledger itself may be damaged: check it with "
                    f"sqlite3 {source} 'PRAGMA integrity_check'"
                )
            with partial.open("rb+") as handle:
                os.fsync(handle.fileno())
            partial.replace(target)
            _fsync_dir(target.parent)
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if isinstance(exc, sqlite3.Error) and sqlite_damaged(exc):  # the ledger, not PATH
                raise LedgerError(
                    f"cannot back up the ledger {source}: {reason}; {DAMAGED_HINT}; "
                    f"{target} was not written"
                ) from exc
            raise LedgerError(
                f"cannot write the backup {target}: {reason}; check that its directory is "
                "writable by this user and that the disk is not full"
            ) from exc
        finally:
            for leftover in (partial, partial.with_name(partial.name + "-journal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
    size = target.stat().st_size
    log.info(
        "ledger_backed_up",
        ledger=str(source),
        path=str(target),
        bytes=size,
        revision=revision,
        waited_s=round(held.waited_s, 3),
    )
    return BackupResult(
        str(source), str(target), size, revision, integrity, round(held.waited_s, 3)
    )
