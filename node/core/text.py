"""Vietnamese text handling: NFC normalisation, accent folding and collation."""

from __future__ import annotations

import re
import unicodedata

# Combining marks that change a vowel into another letter of the Vietnamese
# alphabet (ă, â, ê, ô, ơ, ư). They matter for the primary sort order.
_LETTER_MARKS = {"\u0306": "breve", "\u0302": "circumflex", "\u031b": "horn"}

# Tone marks in dictionary order: level (no mark), grave (huyền), hook (hỏi),
# tilde (ngã), acute (sắc), dot below (nặng).
_TONE_ORDER = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}

# The 29 letters of the Vietnamese alphabet in order, plus f, j, w, z for
# foreign words, placed where the Latin alphabet puts them.
_ALPHABET = [
    "a", "ă", "â", "b", "c", "d", "đ", "e", "ê", "f", "g", "h", "i", "j", "k", "l",
    "m", "n", "o", "ô", "ơ", "p", "q", "r", "s", "t", "u", "ư", "v", "w", "x", "y", "z",
]
_LETTER_RANK = {letter: index for index, letter in enumerate(_ALPHABET)}

_SPACES = re.compile(r"\s+")


def nfc(value: str) -> str:
    """Return `value` in Unicode NFC form, the one form stored everywhere."""
    return unicodedata.normalize("NFC", value)


def clean(value: str | None) -> str:
    """Normalise to NFC, collapse runs of whitespace and strip the ends."""
    if value is None:
        return ""
    return _SPACES.sub(" ", nfc(str(value))).strip()


def fold(value: str | None) -> str:
    """Lower-case `value` and drop every diacritic, đ → d included, for search."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFD", clean(value).lower())
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return without_marks.replace("đ", "d")


def _split_letter(ch: str) -> tuple[str, int]:
    """Split one character into its alphabet letter and its tone rank."""
    decomposed = unicodedata.normalize("NFD", ch)
    base, marks = decomposed[0], decomposed[1:]
    tone = 0
    letter_marks = ""
    for mark in marks:
        if mark in _TONE_ORDER:
            tone = _TONE_ORDER[mark]
        elif mark in _LETTER_MARKS:
            letter_marks += mark
    letter = unicodedata.normalize("NFC", base + letter_marks)
    return letter, tone


def sort_key(value: str | None) -> str:
    """Build a collation key that sorts in Vietnamese alphabetical order.

    The key contains digits only, so the database orders it the same way under
    any collation: SQLite and PostgreSQL return the same order for it.
    Letters are compared first, tones only break ties (as in dictionaries).
    """
    text = clean(value).lower()
    primary: list[str] = []
    tones: list[str] = []
    for ch in text:
        letter, tone = _split_letter(ch)
        rank = _LETTER_RANK.get(letter)
        if rank is not None:
            primary.append(f"{rank + 40:02d}")
        elif ch.isdigit():
            primary.append(f"{10 + int(ch):02d}")
        elif ch.isspace():
            primary.append("01")
        else:
            # Punctuation and other scripts sort after spaces, before digits,
            # in code point order.
            primary.append(f"02{ord(ch):06d}")
        tones.append(str(tone))
    return "".join(primary) + "00" + "".join(tones)
