"""A throwaway PostgreSQL cluster for the tests: initdb into a temporary directory, a server on a
free loopback port (its unix socket in the same directory), stopped and deleted at the end.

PostgreSQL refuses to run as root; when the tests run as root (CI containers) the cluster is
created and run as the ``postgres`` system user (Debian's ``postgresql`` package creates it) via
``runuser``. The server binaries are looked up in ``/usr/lib/postgresql/*/bin`` (Debian) and on
``PATH``. When they cannot be found or started, `start_cluster` raises `PostgresUnavailable` with
the reason, and the tests that need the cluster are skipped with it (``make test`` installs the
server first: ``.ci/ensure-postgres``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

START_TIMEOUT_S = 60
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=100 -c shared_buffers=32MB"
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why."""


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.parent.name) or ["0"])


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres`` (newest version first)."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=_version_key, reverse=True
    )
    for server in candidates:
        if (server.parent / "initdb").exists() and (server.parent / "pg_ctl").exists():
            return server.parent
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb") and shutil.which("postgres"):
        return Path(found).parent
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgCluster:
    """A running throwaway cluster; the superuser is ``postgres`` with trust authentication."""

    base_dir: Path
    bin_dir: Path
    port: int
    run_as: str | None
    user: str = "postgres"
    host: str = "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    def url(self, database: str, *, password: str | None = None) -> str:
        """A ``postgresql://`` URL of one database of this cluster."""
        auth = self.user if password is None else f"{self.user}:{password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=database,
            autocommit=True,
            connect_timeout=5,
        )

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database; its name. (About 0.3 s: tests use a schema each instead.)"""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with self.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def create_schema(self, database: str, name: str | None = None) -> str:
        """Create an empty schema in `database` (instant); its name."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with self.connect(database) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return name

    def drop_schema(self, database: str, name: str) -> None:
        """Drop a test's schema; a connection the test left open must not hang the suite."""
        with self.connect(database) as conn:
            conn.execute("SET lock_timeout = '5s'")
            with contextlib.suppress(psycopg.errors.LockNotAvailable):
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def password_role(self, name: str, password: str) -> str:
        """A login role that must give `password` (scram-sha-256 on 127.0.0.1; every other
        role keeps trust authentication); its name."""
        hba = self.data_dir / "pg_hba.conf"
        rule = f"host all {name} 127.0.0.1/32 scram-sha-256\n"
        text = hba.read_text(encoding="utf-8")
        if rule not in text:
            hba.write_text(rule + text, encoding="utf-8")  # in place: its owner is kept
        with self.connect() as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')
            conn.execute(f"CREATE ROLE \"{name}\" LOGIN SUPERUSER PASSWORD '{password}'")
            conn.execute("SELECT pg_reload_conf()")
        for _ in range(100):  # the server reads pg_hba.conf again on its own time
            try:
                psycopg.connect(
                    host=self.host, port=self.port, user=name, dbname="postgres", password=""
                ).close()
            except psycopg.OperationalError:
                return name
            time.sleep(0.05)
        raise PostgresUnavailable(f"pg_hba.conf was not reloaded: {name} logs in without password")

    def schema_url(self, database: str, schema: str) -> str:
        """A URL whose connections work in `schema` only (search_path): a fresh, empty ledger."""
        return f"{self.url(database)}?options=-csearch_path%3D{schema}"

    def stop(self) -> None:
        """Stop the server at once and delete everything it wrote."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run(
                self.run_as,
                [str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate"],
                timeout=30,
            )
        shutil.rmtree(self.base_dir, ignore_errors=True)


def _run(
    run_as: str | None, argv: list[str], *, timeout: float
) -> subprocess.CompletedProcess[str]:
    if run_as is not None:
        argv = ["runuser", "-u", run_as, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _run_as() -> str | None:
    """Who runs the server: ourselves, or ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root and there is no 'postgres' system user to run the server as "
            "(install Debian's postgresql package: make postgres-deps)"
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root and runuser(1) is not installed")
    return "postgres"


OWNER_FILE = "owner.pid"
"""In each cluster directory: the pid of the test process that started it."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(bin_dir: Path, run_as: str | None) -> int:
    """Stop and delete clusters whose test process died without stopping them (killed run)."""
    reaped = 0
    for owner in Path(tempfile.gettempdir()).glob(f"idesk-pg-*/{OWNER_FILE}"):
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if _alive(pid):
            continue
        base = owner.parent
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run(
                run_as,
                [str(bin_dir / "pg_ctl"), "stop", "-D", str(base / "data"), "-m", "immediate"],
                timeout=30,
            )
        shutil.rmtree(base, ignore_errors=True)
        reaped += 1
    return reaped


def start_cluster() -> PgCluster:
    """initdb + pg_ctl start on a free loopback port; raise `PostgresUnavailable` with why not.

    Clusters left running by an earlier test process that was killed are stopped first.
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
            "/usr/lib/postgresql/*/bin or on PATH; install them with: make postgres-deps"
        )
    run_as = _run_as()
    reap_orphans(bin_dir, run_as)
    base = Path(tempfile.mkdtemp(prefix="idesk-pg-"))
    base.chmod(0o700)
    (base / OWNER_FILE).write_text(str(os.getpid()))
    if run_as is not None:
        info = pwd.getpwnam(run_as)
        os.chown(base, info.pw_uid, info.pw_gid)
    cluster = PgCluster(base_dir=base, bin_dir=bin_dir, port=free_port(), run_as=run_as)
    try:
        init = _run(
            run_as,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-U",
                cluster.user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            timeout=120,
        )
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        options = f"-h {cluster.host} -p {cluster.port} -k {base} {SERVER_OPTIONS}"
        start = _run(
            run_as,
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(cluster.data_dir),
                "-l",
                str(base / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT_S),
            ],
            timeout=START_TIMEOUT_S + 10,
        )
        if start.returncode != 0:
            log_tail = ""
            with contextlib.suppress(OSError):
                log_tail = (base / "server.log").read_text(errors="replace")[-800:]
            raise PostgresUnavailable(
                f"postgres did not start: {start.stderr.strip()[-300:]} {log_tail}".strip()
            )
        _wait_ready(cluster)
    except (PostgresUnavailable, subprocess.SubprocessError, OSError) as exc:
        cluster.stop()
        if isinstance(exc, PostgresUnavailable):
            raise
        raise PostgresUnavailable(f"could not start PostgreSQL: {exc}") from exc
    return cluster


def _wait_ready(cluster: PgCluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with cluster.connect():
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"postgres is not accepting connections: {exc}") from exc
            time.sleep(0.1)
