"""The labels (``connector/labels.toml``): every one in both languages, so a renderer never
prints a key."""

from __future__ import annotations

import string

from connector.i18n import LABELS, LANGS, label


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_label_has_both_languages() -> None:
    """Each label holds a non-empty Vietnamese and English text."""
    assert LABELS
    for key, texts in LABELS.items():
        assert set(texts) == set(LANGS), key
        assert all(isinstance(t, str) and t for t in texts.values()), key


def test_both_languages_of_what_check_found_take_the_same_placeholders() -> None:
    """`check` fills one set of values (`Found`) for both texts: one asking for another would
    raise in one language only. (Dates and periods are given each language's own values.)"""
    found = {key: texts for key, texts in LABELS.items() if key.startswith("check_found_")}
    assert len(found) >= 10
    for key, texts in found.items():
        assert _placeholders(texts["vi"]) == _placeholders(texts["en"]), key


def test_label_fills_placeholders_and_names_a_missing_key() -> None:
    """`label` fills `{placeholders}`; an unknown key is a KeyError naming it."""
    assert label("as_of", "en", date="2022-03-07") == "As of 2022-03-07"
    assert label("status_title", "vi") == "Tình trạng kết nối iDesk"
    try:
        label("no_such_label")
    except KeyError as exc:
        assert "no_such_label" in str(exc)
    else:
        raise AssertionError("an unknown label must raise")
