"""Orders the ledger gives by text (unit codes, source names) are the same on SQLite and on a
PostgreSQL database whose collation is not ``C``: most clusters are created with the system's
locale (``en_US.UTF-8``, ``vi_VN``) or an ICU one, which sort ``_`` and case otherwise."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from connector.ledger import repo
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.units import list_units, unit_codes
from connector.models import Unit, UnitKind
from connector.reports.build import report_current
from connector.reports.model import ReportOptions
from connector.rules.calendar import load_calendar
from connector.settings import Settings
from tests.support.pg import PgCluster
from tests.support.report_world import at, d, task

CODES = ("SO_TC", "SOA", "STC", "S1", "Sở", "sotc", "SO_TC_BD")
"""Codes whose order by code point (SQLite's) is not the order of an ICU or glibc locale: there
``SO_TC`` comes before ``SOA`` and ``sotc`` before ``STC``."""


@pytest.fixture
def icu_url(pg_cluster: PgCluster) -> Iterator[str]:
    """An empty PostgreSQL database whose default collation is ICU's root locale."""
    name = f"icu_{uuid.uuid4().hex[:12]}"
    try:
        with pg_cluster.connect() as conn:
            conn.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'und' LOCALE 'C'"
            )
    except psycopg.Error as exc:  # before PostgreSQL 15, or built without ICU
        pytest.skip(f"this PostgreSQL cannot create an ICU database: {exc}")
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


def _seed(ledger: Ledger) -> None:
    with ledger.transaction() as session:
        repo.upsert_units(
            session,
            [Unit(code, f"Đơn vị {code}", UnitKind.DEPARTMENT) for code in CODES],
            now=at(d("2022-03-01")),
        )
        for n, code in enumerate(CODES):
            repo.upsert_task(
                session,
                task(1001 + n, code, "2022-02-01", "2022-03-31"),
                {"id": 1001 + n},
                run_id="r1",
                observed_at=at(d("2022-03-01"), 10),
            )


def _orders(url: str) -> tuple[list[str], list[str], list[str]]:
    """The unit table's order, the unit codes' and the report's rows'."""
    with open_ledger(url) as ledger:
        _seed(ledger)
        with ledger.reading() as session:
            units = [u.code for u in list_units(session)]
            codes = unit_codes(session)
            report = report_current(
                session, Settings(), ReportOptions(as_of=d("2022-03-07")), load_calendar()
            )
    return units, codes, [row.code for row in report.rows]


def test_unit_order_is_by_code_point_on_every_backend(sqlite_url: str, icu_url: str) -> None:
    """Units, unit codes and the report's rows come in code-point order of the codes on SQLite
    and on a PostgreSQL database with an ICU collation alike."""
    expected = sorted(CODES)
    on_sqlite = _orders(sqlite_url)
    assert on_sqlite == (expected, expected, expected)
    assert _orders(icu_url) == on_sqlite
