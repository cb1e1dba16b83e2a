"""Deadlines written in words, measured on a corpus of real-style phrasings (tests/support/data).

The corpus gives, for each text, the deadline an officer would write down (by hand, Civil Code
2015 Art. 146-148) or "none". The score counts a case *right* when the date (and recurrence, due
point and notes it names) match, *wrong* when a date is read that differs from the expected one
(any date on an abstention), *missed* when no date is read where one is expected. A wrong date is
worse than none: the target is at least 95 % right and no date at all on the abstentions.
"""

from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from connector.rules.calendar import load_calendar
from connector.rules.phrases import Note, Suggestion, suggest_deadline
from tests.support import DATA

CORPUS = DATA / "phrase_corpus.toml"
CAL = load_calendar()
TARGET_RIGHT = 0.95

FIELDS = {
    "id",
    "style",
    "region",
    "text",
    "anchor",
    "deadline",
    "recurrence",
    "due_month",
    "due_day",
    "due_weekday",
    "notes",
    "unit",
    "nfd",
}


@dataclass(frozen=True)
class Case:
    id: str
    text: str
    anchor: date
    deadline: date | None
    recurrence: str | None
    due: tuple[int | None, int | None, int | None] | None
    notes: frozenset[Note]
    unit: str
    nfd: bool

    @property
    def abstain(self) -> bool:
        return self.deadline is None and self.recurrence is None

    @property
    def input(self) -> str:
        return unicodedata.normalize("NFD", self.text) if self.nfd else self.text


def _case(raw: dict[str, Any], default_anchor: date) -> Case:
    unknown = set(raw) - FIELDS
    assert not unknown, f"{raw.get('id')}: unknown fields {sorted(unknown)}"
    expected = raw["deadline"]
    assert expected == "none" or isinstance(expected, date), f"{raw['id']}: bad deadline"
    due_keys = ("due_month", "due_day", "due_weekday")
    due = tuple(raw.get(k) for k in due_keys) if any(k in raw for k in due_keys) else None
    return Case(
        id=raw["id"],
        text=raw["text"],
        anchor=raw.get("anchor", default_anchor),
        deadline=None if expected == "none" else expected,
        recurrence=raw.get("recurrence"),
        due=due,  # type: ignore[arg-type]
        notes=frozenset(Note(n) for n in raw.get("notes", [])),
        unit=raw.get("unit", ""),
        nfd=raw.get("nfd", False),
    )


def load_corpus() -> list[Case]:
    data = tomllib.loads(CORPUS.read_text(encoding="utf-8"))
    return [_case(raw, data["anchor"]) for raw in data["case"]]


CASES = load_corpus()


def read(case: Case) -> Suggestion | None:
    return suggest_deadline(case.input, case.anchor, CAL, unit=case.unit)


def outcome(case: Case, got: Suggestion | None) -> str:
    """"right", "wrong" (a date that differs, or any date on an abstention), "missed" (no
    date where one is expected) or "partly" (the date is right, recurrence or notes are not)."""
    deadline = got.deadline if got is not None else None
    if deadline != case.deadline:
        return "missed" if deadline is None else "wrong"
    recurrence = got.recurrence if got is not None else None
    if recurrence != case.recurrence:
        return "partly"
    if case.due is not None:
        rule = got.recurrence_rule if got is not None else None
        if rule is None or (rule.due_month, rule.due_day, rule.due_weekday) != case.due:
            return "partly"
    if not case.notes <= set(got.notes if got is not None else ()):
        return "partly"
    return "right"


def test_corpus_is_well_formed() -> None:
    """The corpus holds at least 150 distinct phrasings, 30 of them abstentions, in several
    styles, with and without diacritics and in NFD."""
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 150
    assert sum(c.abstain for c in CASES) >= 30
    assert sum(c.nfd for c in CASES) >= 5
    assert sum(c.text.isascii() for c in CASES) >= 30
    assert all(c.deadline is None or c.deadline >= c.anchor for c in CASES)


def test_corpus_score(capsys: pytest.CaptureFixture[str]) -> None:
    """At least 95 % of the corpus is read right and no abstention gets a date."""
    results = {c.id: outcome(c, read(c)) for c in CASES}
    total = len(CASES)
    abstentions = [c for c in CASES if c.abstain]
    counts = {k: sum(1 for v in results.values() if v == k) for k in ("right", "wrong", "missed", "partly")}
    abstained_right = sum(1 for c in abstentions if results[c.id] == "right")
    with capsys.disabled():
        print(
            f"\nphrase corpus: {total} cases; right {counts['right'] / total:.1%}, "
            f"wrong date {counts['wrong'] / total:.1%}, missed {counts['missed'] / total:.1%}, "
            f"partly {counts['partly'] / total:.1%}; abstentions right "
            f"{abstained_right}/{len(abstentions)}"
        )
    not_right = {k: v for k, v in results.items() if v != "right"}
    wrong_on_abstention = [c.id for c in abstentions if results[c.id] == "wrong"]
    assert not wrong_on_abstention, f"dates read where none is stated: {wrong_on_abstention}"
    assert counts["right"] / total >= TARGET_RIGHT, f"not right: {not_right}"


@pytest.mark.parametrize("case", [c for c in CASES if not c.nfd], ids=lambda c: c.id)
def test_nfd_reads_like_nfc(case: Case) -> None:
    """Every corpus text gives the same suggestion in decomposed (NFD) form as composed."""
    nfd = unicodedata.normalize("NFD", case.text)
    assert suggest_deadline(nfd, case.anchor, CAL, unit=case.unit) == suggest_deadline(
        case.text, case.anchor, CAL, unit=case.unit
    )
