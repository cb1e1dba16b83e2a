"""The labels (``connector/labels.toml``): every one in both languages, so a renderer never
prints a key."""

from __future__ import annotations

from connector.i18n import LABELS, LANGS, label


def test_every_label_has_both_languages() -> None:
    """Each label holds a non-empty Vietnamese and English text."""
    assert LABELS
    for key, texts in LABELS.items():
        assert set(texts) == set(LANGS), key
        assert all(isinstance(t, str) and t for t in texts.values()), key


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
