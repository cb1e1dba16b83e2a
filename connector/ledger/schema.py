"""Where a ledger's schema stands: the migrations this version ships, read without alembic, and
what a database at another revision needs.

A database's revision is the one row of its ``alembic_version`` table (`read_revision`). The
revisions this version knows are read from the migration files themselves (`revisions`,
`head_revision`), the same chain alembic reads (``tests/integration/test_ledger_db.py`` holds
them equal), so a command that only reads the ledger never loads alembic or SQLAlchemy.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.errors import LedgerError, LedgerMissing

if TYPE_CHECKING:
    from connector.ledger.reader import Reader

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""The alembic script directory (``env.py`` and ``versions/``), inside the installed package."""

VERSION_TABLE = "alembic_version"
"""The table where alembic keeps a database's schema revision."""


def _assigned(tree: ast.Module, name: str) -> Any:
    """The constant a migration file assigns to `name` at its top level (None when absent)."""
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        value = getattr(node, "value", None)
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and value is not None:
            return ast.literal_eval(value)
    return None


_REVISION_LINE = re.compile(
    r"^(revision|down_revision)[ \t]*(?::[^=\n]*)?=[ \t]*(\S[^\n]*?)[ \t]*(?:#[^\n]*)?$",
    re.MULTILINE,
)
"""A migration's top-level ``revision = "0008"`` or ``down_revision = "0007"`` line."""


def _revision_lines(text: str) -> dict[str, Any]:
    """The literal values of a migration's ``revision`` and ``down_revision`` lines (the first
    of each): read without parsing the whole file into a syntax tree, a start-up cost of every
    command that opens the ledger."""
    found: dict[str, Any] = {}
    for match in _REVISION_LINE.finditer(text):
        name, value = match.groups()
        if name not in found:
            try:
                found[name] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                found[name] = None
    return found


@functools.cache
def revisions() -> dict[str, str | None]:
    """Every migration this version ships, ``revision → down_revision``, read from the files."""
    chain: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        found = _revision_lines(path.read_text(encoding="utf-8"))
        revision = found.get("revision")
        if isinstance(revision, str):
            down = found.get("down_revision")
            chain[revision] = down if isinstance(down, str) else None
    return chain


def head_revision() -> str:
    """The latest migration this version of the connector knows."""
    chain = revisions()
    parents = set(chain.values())
    heads = [revision for revision in chain if revision not in parents]
    if len(heads) != 1:  # pragma: no cover - the package always ships one line of migrations
        raise LedgerError(
            f"expected one latest ledger migration in {MIGRATIONS_DIR}, found {sorted(heads)}; "
            "reinstall the package"
        )
    return heads[0]


def known(revision: str) -> bool:
    """True when this version ships the migration `revision`."""
    return revision in revisions()


def read_revision(reader: Reader) -> str | None:
    """The schema revision of the database behind `reader` (None: no schema yet)."""
    if reader.backend == "sqlite":
        exists = reader.scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = :name",
            {"name": VERSION_TABLE},
        )
    else:
        exists = reader.scalar("SELECT to_regclass(:name) IS NOT NULL", {"name": VERSION_TABLE})
    if not exists:
        return None
    found = [str(r["version_num"]) for r in reader.rows(f"SELECT version_num FROM {VERSION_TABLE}")]
    if len(found) > 1:
        raise LedgerError(
            f"the ledger's {VERSION_TABLE} table holds several revisions ({sorted(found)}); "
            "it was not made by idesk-connector"
        )
    return found[0] if found else None


def require_current(current: str | None, database: str) -> None:
    """A ledger opened to read: its schema must be the head revision (it is never migrated then).

    No schema, or an older one: `LedgerMissing` (exit 2, run ``sync`` or ``db upgrade``); a newer
    one: `LedgerError`.
    """
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise LedgerMissing(
            f"the ledger {database} has no schema yet; run `idesk-connector sync` (or "
            "`idesk-connector db upgrade`) first",
            location=database,
        )
    if not known(current):
        raise LedgerError(
            f"the ledger database {database} is at schema revision {current!r}, newer than "
            f"this idesk-connector knows (latest {head!r}); upgrade idesk-connector"
        )
    raise LedgerMissing(
        f"the ledger {database} is at schema revision {current!r}, older than this "
        f"idesk-connector needs ({head!r}); run `idesk-connector db upgrade` (a read-only "
        "command never migrates the ledger)",
        location=database,
    )
