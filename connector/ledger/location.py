"""Where a ledger is: its URL read without SQLAlchemy, shown without its password, and the
messages that name it.

``ledger.url`` is ``sqlite:///PATH`` (SQLite) or ``postgresql://user@host:port/database``
(PostgreSQL, driven by psycopg 3: ``postgresql+psycopg://``). `LedgerUrl` parses it the way
SQLAlchemy does (`sqlalchemy.engine.make_url`), so the engine of the runs that write and the
plain connection of the commands that only read (`connector.ledger.reader`) reach the same
database, and both show it the same way (`LedgerUrl.display`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from connector.errors import ConfigError, LedgerError, Problem

_URL = re.compile(
    r"""
    (?P<name>[\w+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.X,
)

PSYCOPG = "postgresql+psycopg"
"""The driver name of PostgreSQL ledgers (psycopg 3)."""


def _bad_url() -> ConfigError:
    """A URL that cannot be read (never repeated: it may hold a password)."""
    return ConfigError(
        [
            Problem(
                "ledger.url",
                f"{INVALID!r} is not a database URL; use sqlite:///PATH "
                "or postgresql://user@host:port/database",
            )
        ]
    )


INVALID = "<invalid database URL>"


@dataclass(frozen=True)
class LedgerUrl:
    """A ledger URL, its parts unquoted (as `sqlalchemy.engine.URL` holds them)."""

    drivername: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str | None = None
    port: int | None = None
    database: str | None = None
    query: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, url: str) -> LedgerUrl:
        """Parse `url`; `ConfigError` (``ledger.url``) when it is no database URL."""
        match = _URL.match(url) if isinstance(url, str) else None
        if match is None:
            raise _bad_url()
        parts = match.groupdict()
        try:
            port = int(parts["port"]) if parts["port"] else None
        except ValueError:
            raise _bad_url() from None

        def unquoted(name: str) -> str | None:
            value = parts[name]
            return unquote(value) if value is not None else None

        query = tuple(parse_qsl(parts["query"] or "", keep_blank_values=False))
        return cls(
            drivername=parts["name"],
            username=unquoted("username"),
            password=unquoted("password"),
            host=parts["ipv4host"] or parts["ipv6host"],
            port=port,
            database=unquoted("database"),
            query=query,
        )

    @property
    def backend(self) -> str:
        """``sqlite``, ``postgresql``, or the URL's own backend name."""
        return self.drivername.split("+", 1)[0]

    def supported(self) -> LedgerUrl:
        """The URL the connector drives: PostgreSQL through psycopg 3; `LedgerError` for a
        database other than SQLite and PostgreSQL."""
        if self.backend == "postgresql":
            return LedgerUrl(
                PSYCOPG,
                self.username,
                self.password,
                self.host,
                self.port,
                self.database,
                self.query,
            )
        if self.backend != "sqlite":
            raise LedgerError(
                f"ledger.url {self.display()!r}: only SQLite (sqlite:///PATH) and PostgreSQL "
                "(postgresql://user@host:port/database) ledgers are supported"
            )
        return self

    def render(self, *, hide_password: bool = True) -> str:
        """The URL as text, as SQLAlchemy renders it (the password as ``***`` when hidden)."""
        text = self.drivername + "://"
        if self.username is not None:
            text += quote(self.username, safe=" +")
            if self.password is not None:
                shown = "***" if hide_password else quote(self.password, safe=" +")
                text += ":" + shown
            text += "@"
        if self.host is not None:
            text += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            text += f":{self.port}"
        if self.database is not None:
            text += "/" + quote(self.database, safe=" +/")
        if self.query:
            text += "?" + "&".join(
                f"{quote_plus(k)}={quote_plus(v)}"
                for k, v in sorted(self.query, key=lambda q: q[0])
            )
        return text

    def display(self) -> str:
        """The URL without its password, for messages, logs and ``status``."""
        return self.render(hide_password=True)

    def query_value(self, name: str) -> str:
        """The values of query parameter `name`, joined by spaces ("" when absent)."""
        return " ".join(v for k, v in self.query if k == name)

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL, or None for an in-memory database."""
        database = self.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        return Path(database)


def redact_url(url: str) -> str:
    """`url` without its password, for messages and logs."""
    try:
        return LedgerUrl.parse(url).display()
    except ConfigError:
        return INVALID


# -- messages ------------------------------------------------------------------------------------


def _reason(exc: BaseException, password: str | None) -> str:
    """The first line of a driver error, never containing the password."""
    inner = _driver_error(exc)
    lines = str(inner).strip().splitlines()
    reason = lines[0] if lines else type(inner).__name__
    if password:
        reason = reason.replace(password, "***")
    return reason


DAMAGED_HINT = (
    "the file is damaged or is not a ledger: stop the schedule and restore the last copy made "
    "by `idesk-connector db backup` (docs/install.md, section 8)"
)
"""What to do about a SQLite ledger that is no database any more, or a malformed one."""

LOCKED_HINT = (
    "another program (an sqlite3 shell, a copy tool) holds the ledger locked in a write "
    "transaction: close it; committed work is kept and the next run resumes"
)
"""What to do about a SQLite ledger another program kept locked past the busy timeout."""

_DAMAGED = ("SQLITE_NOTADB", "SQLITE_CORRUPT")
_DAMAGED_TEXT = ("file is not a database", "database disk image is malformed")


def _driver_error(exc: BaseException) -> BaseException:
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


def sqlite_damaged(exc: BaseException) -> bool:
    """Whether a SQLite error says the file is not a database or is malformed (corrupt)."""
    inner = _driver_error(exc)
    name = str(getattr(inner, "sqlite_errorname", ""))
    return name.startswith(_DAMAGED) or any(text in str(inner) for text in _DAMAGED_TEXT)


def _sqlite_locked(exc: BaseException) -> bool:
    inner = _driver_error(exc)
    name = str(getattr(inner, "sqlite_errorname", ""))
    return name.startswith("SQLITE_BUSY") or "database is locked" in str(inner)


def _hint(url: LedgerUrl, exc: BaseException) -> str:
    if url.backend == "sqlite" and sqlite_damaged(exc):
        return DAMAGED_HINT
    if url.backend == "sqlite" and _sqlite_locked(exc):
        return LOCKED_HINT
    if url.backend == "sqlite":
        return (
            "check that the directory exists and is writable by this user, that the disk is not "
            "full and that no other program holds the file locked"
        )
    return (
        "check that the PostgreSQL server is running and reachable, and that ledger.url names "
        "the right host, port, database and user (the password goes in PGPASSWORD or "
        "~/.pgpass, never in ledger.url)"
    )


_PG_AUTH_STATES = frozenset({"28P01"})
"""SQLSTATE ``invalid_password``, when the driver gives one (psycopg gives none at connect)."""
_PG_AUTH_TEXT = ("password authentication failed", "no password supplied")
"""libpq's words for a refused or missing password (``fe_sendauth: no password supplied``)."""


def pg_password_refused(exc: BaseException) -> bool:
    """Whether a PostgreSQL error says the server refused (or was not given) the password."""
    inner = _driver_error(exc)
    state = getattr(inner, "sqlstate", None)
    return state in _PG_AUTH_STATES or any(text in str(inner) for text in _PG_AUTH_TEXT)


def ledger_error(exc: BaseException, url: LedgerUrl, doing: str) -> LedgerError | ConfigError:
    """A clerk's message for a database error: which database, what failed, what to do. A
    PostgreSQL server refusing the password is a configuration error (exit 2) naming
    ``ledger.url``, not an I/O error: a server that is down or unreachable stays one (exit 74).
    """
    if url.backend == "postgresql" and pg_password_refused(exc):
        return ConfigError(
            [
                Problem(
                    "ledger.url",
                    f"the PostgreSQL server of {url.display()} refused the password of user "
                    f"{url.username or '(default)'!r} ({_reason(exc, url.password)}); give the "
                    "right password in PGPASSWORD or ~/.pgpass (never in ledger.url), or "
                    "correct the user in ledger.url",
                )
            ],
            source="settings",
        )
    return LedgerError(
        f"cannot {doing} the ledger database {url.display()}: "
        f"{_reason(exc, url.password)}; {_hint(url, exc)}"
    )


# -- SQLite files --------------------------------------------------------------------------------


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens `path` read-only, never creating it.

    ``mode=ro`` first. A WAL database also needs its ``-shm`` file, which a read-only file
    system (or a directory this user cannot write) does not let SQLite create: there, when no
    ``-wal`` file holds uncommitted-to-the-file changes, the file cannot change under us and is
    opened ``immutable``.
    """
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    directory = path.absolute().parent
    wal = path.with_name(path.name + "-wal")
    shm = path.with_name(path.name + "-shm")
    writable = os.access(directory, os.W_OK) and not _read_only_fs(directory)
    wal_empty = not wal.exists() or wal.stat().st_size == 0
    if not writable and not shm.exists() and wal_empty:
        uri += "&immutable=1"
    return uri


def _read_only_fs(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except OSError:
        return False
