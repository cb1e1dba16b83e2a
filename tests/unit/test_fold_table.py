"""`phrase_layout.fold` through its translation table folds each character as `_fold_char`
does, and `FoldedText.plain` is unchanged by its shortcut."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.rules.phrase_layout import FoldedText, _fold_char, fold

VIETNAMESE = "aăâđeêioôơuưyAĂÂĐEÊIOÔƠUƯYÁÀẢÃẠẮẰẲẴẶẤẦẨẪẬÉÈẺẼẸẾỀỂỄỆÍÌỈĨỊÓÒỎÕỌỐỒỔỖỘỚỜỞỠỢÚÙỦŨỤỨỪỬỮỰÝỲỶỸỴ"
TEXT = st.text(alphabet=st.sampled_from(VIETNAMESE) | st.characters(), max_size=40)


@given(TEXT)
def test_fold_is_each_character_folded(text: str) -> None:
    """Any text folds to its characters folded one by one (same length)."""
    assert fold(text) == "".join(_fold_char(c) for c in text)
    assert len(fold(text)) == len(text)


@given(TEXT)
def test_plain_means_no_letter_with_a_diacritic(text: str) -> None:
    """`plain` is true exactly when no letter of the NFC text folds to another character."""
    found = FoldedText.of(text)
    assert found.plain == (not any(c.isalpha() and _fold_char(c) != c for c in found.nfc))
