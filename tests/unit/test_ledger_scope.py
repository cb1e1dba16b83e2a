"""The ledger scope (issue 16): which source rows are written as, and how plain-SQL reads are
narrowed to the sources asked for."""

from __future__ import annotations

from connector.ledger.scope import (
    DEFAULT_SOURCE,
    current_source,
    read_sources,
    scope_sql,
    use_read_sources,
    use_source,
    writing_as,
)


def test_reads_see_every_source_unless_narrowed() -> None:
    """Without a read scope the SQL is unchanged (a one-source ledger reads as before)."""
    assert read_sources() is None
    sql = "SELECT * FROM task WHERE source_id = :id"
    assert scope_sql(sql) == (sql, {})


def test_a_source_run_writes_and_reads_its_own_rows() -> None:
    """use_source sets the written source and narrows reads; both end with the block."""
    with use_source("gia-lai"):
        assert current_source() == "gia-lai"
        sql, params = scope_sql("SELECT count(*) FROM task WHERE deleted_at_source = :f")
        assert sql == (
            "SELECT count(*) FROM (SELECT * FROM task WHERE source IN (:scope_0)) task "
            "WHERE deleted_at_source = :f"
        )
        assert params == {"scope_0": "gia-lai"}
    assert current_source() == DEFAULT_SOURCE and read_sources() is None


def test_every_sourced_table_and_alias_is_narrowed_and_others_left_alone() -> None:
    """Aliases are kept, JOINed tables narrowed too, sync_state/digest items untouched."""
    with use_read_sources(["a", "b"]):
        sql, params = scope_sql(
            "SELECT o.* FROM outbox o JOIN outbox_digest_item i ON i.alert_id = o.id "
            "JOIN task_history h ON h.task_id = o.task_id, sync_state"
        )
    assert "(SELECT * FROM outbox WHERE source IN (:scope_0, :scope_1)) o " in sql
    assert "(SELECT * FROM task_history WHERE source IN (:scope_0, :scope_1)) h " in sql
    assert "JOIN outbox_digest_item i" in sql and sql.endswith(", sync_state")
    assert params == {"scope_0": "a", "scope_1": "b"}


def test_writing_as_changes_writes_only() -> None:
    """A one-source run writes as its source.name and still reads every row."""
    with writing_as("tinh-x"):
        assert current_source() == "tinh-x"
        assert read_sources() is None
