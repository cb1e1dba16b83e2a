"""The migration chain read from the files' revision lines, without a syntax tree."""

from __future__ import annotations

import ast

import pytest

from connector.ledger import schema


def test_the_line_reader_agrees_with_the_syntax_tree_on_every_shipped_migration() -> None:
    """For every migration shipped, the revision lines give what a full parse gives."""
    for path in sorted((schema.MIGRATIONS_DIR / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        found = schema._revision_lines(text)
        assert found.get("revision") == schema._assigned(tree, "revision"), path.name
        assert found.get("down_revision") == schema._assigned(tree, "down_revision"), path.name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'revision = "0009"\ndown_revision = "0008"\n',
            {"revision": "0009", "down_revision": "0008"},
        ),
        (
            'revision: str = "0009"  # the id\ndown_revision: str | None = None\n',
            {"revision": "0009", "down_revision": None},
        ),
        (
            '"""doc"""\nrevision = \'0002\'\ndown_revision = "0001"\n\ndef upgrade():\n'
            '    revision = "not this"\n',
            {"revision": "0002", "down_revision": "0001"},
        ),
        ('revision = "0003"\nrevision = "later"\n', {"revision": "0003"}),
    ],
)
def test_revision_lines_read_plain_annotated_and_commented_assignments(
    text: str, expected: dict[str, str | None]
) -> None:
    """Plain, annotated and commented top-level lines are read; indented ones are not; the
    first assignment of a name wins."""
    assert schema._revision_lines(text) == expected
