"""Splitting of agency cells ("Cơ quan chủ trì", "Cơ quan phối hợp") into names.

A cell lists agencies and classes of agencies in many ways::

    Bộ Khoa học và Công nghệ, Bộ Thông tin và Truyền thông
    Bộ Văn hóa, Thể thao và Du lịch                  (one agency, comma inside)
    Bộ Thông tin và Truyền thông Bộ Khoa học và Công nghệ   (no separator)
    Ban Tuyên giáo Trung ương; các bộ, ngành, địa phương; VTV, VOV, TTXVN
    Bộ KH&CN, Bộ TT&TT và các địa phương

The rules, each in its own function below:

1. Semicolons always separate. Commas, line breaks and "và" separate only
   when the text after them starts a new unit (rule 2). Separators inside
   brackets never count.
2. A unit starts with a capitalised head word of an agency name followed by
   a proper name ("Bộ Tài chính", "Sở KH&CN", "Ủy ban nhân dân tỉnh Đồng
   Tháp"), with an abbreviation ("VTV", "TTXVN"), or with a word that names
   a class ("các", "những", "một số", "địa phương", "doanh nghiệp", or a
   head word with no proper name after it: "Bộ, ngành", "UBND xã, phường").
   Text that starts no unit continues the one before ("Thể thao và Du
   lịch" after "Bộ Văn hóa,").
3. A unit that names a class is a group and keeps the rest of the text until
   a named agency starts ("Các sở, ngành, UBND xã, phường, đặc khu" is one
   group). Groups are kept verbatim for an officer to resolve.
4. With no separator, "Bộ X Bộ Y" and "Sở X Sở Y" are two agencies, a named
   "Bộ"/"Sở" after a group starts an agency, and a capitalised "Các" starts
   a group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from node.core.text import clean, fold

# Words are compared in lower case with their accents, because folding them
# away merges different words ("mọi"/"Môi", "quận"/"Quản", "sở"/"số").
# Old-style tone placement is mapped to the modern one first.
_TONE_VARIANTS = {"uỷ": "ủy", "toà": "tòa", "hoà": "hòa", "thuỷ": "thủy", "khoá": "khóa"}

# Words that start the name of one agency. Longer phrases are tried first,
# so "ủy ban nhân dân" wins over "ủy ban".
_HEAD_PHRASES = sorted(
    (
        "bộ", "sở", "ban", "ban cán sự", "văn phòng", "ủy ban", "ủy ban nhân dân", "ubnd",
        "hđnd", "hội đồng nhân dân", "tòa án", "tòa án nhân dân", "viện", "viện kiểm sát",
        "ngân hàng", "bảo hiểm", "bảo hiểm xã hội", "thanh tra", "kiểm toán", "trung tâm",
        "công an", "tập đoàn", "tổng công ty", "công ty", "đài", "thông tấn xã", "hội đồng",
        "hội", "mặt trận", "tổng cục", "cục", "chi cục", "học viện", "đại học", "trường",
        "tỉnh ủy", "thành ủy", "huyện ủy", "đảng ủy", "đảng đoàn", "liên đoàn", "đoàn",
        "kho bạc", "bộ tư lệnh", "bộ chỉ huy", "quân khu", "bệnh viện", "tạp chí",
        "nhà xuất bản", "cơ quan", "vụ",
    ),
    key=lambda phrase: -len(phrase.split()),
)

# Bodies whose name is complete without a proper name after it.
_SELF_NAMED = ("thủ tướng chính phủ", "quốc hội", "chính phủ", "thủ tướng")

# First words of a unit that names a class of agencies.
_GROUP_MARKERS = ("các", "những", "một số", "mọi", "toàn bộ", "tất cả")

# Words that name a kind of body rather than one body. After a head word
# they make the unit a class ("Bộ, ngành", "UBND xã, phường").
_CLASS_WORDS = (
    "ngành", "ngang bộ", "liên quan", "có liên quan", "chủ quản", "trực thuộc", "thuộc",
    "địa phương", "đơn vị", "doanh nghiệp", "cơ quan", "tổ chức", "bộ", "sở", "ban",
    "xã", "phường", "đặc khu", "cấp", "tỉnh", "thành phố", "huyện", "quận",
)
# Of the class words, those that are followed by a proper name when they are
# part of one agency's name: "UBND tỉnh Đồng Tháp", "UBND xã Tân Hòa".
_PLACE_WORDS = ("tỉnh", "thành phố", "huyện", "quận", "xã", "phường", "đặc khu")
# Phrases that start with a class word but belong inside names ("Thương binh và xã hội").
_NOT_CLASS = ("xã hội",)

# An abbreviation: at least two capitals, maybe with digits, "&", "." or "-".
_ABBREVIATION = re.compile(r"^(?=(?:\S*[A-ZĐ]){2})[A-ZĐ0-9&.\-]+$")

# Kinds of separator between a segment and the one before it.
START, COMMA, LINE, AND, NONE = "start", "comma", "line", "and", "none"


@dataclass
class _Segment:
    """A part of a cell between two candidate separators, with the separator before it."""

    separator: str  # one of START, COMMA, LINE, AND, NONE
    joiner: str  # the text that joins it to the segment before when they form one unit
    text: str


@dataclass
class _Unit:
    """An agency name or a group text being assembled from segments."""

    kind: str  # "agency" or "group"
    text: str


# Rule 2: what starts a unit ---------------------------------------------------------


def _word_key(word: str) -> str:
    lowered = word.lower().strip(",.;:")
    return _TONE_VARIANTS.get(lowered, lowered)


def _match_phrase(words: list[str], phrases: tuple[str, ...] | list[str]) -> int:
    """Return how many leading words form one of `phrases` (lower case, accents kept), or 0."""
    keys = [_word_key(word) for word in words]
    for phrase in phrases:
        size = len(phrase.split())
        if " ".join(keys[:size]) == phrase:
            return size
    return 0


def _is_capitalised(word: str) -> bool:
    return bool(word) and word[0].isupper()


def _starts_with_class_word(words: list[str]) -> bool:
    return _match_phrase(words, _CLASS_WORDS) > 0 and not _match_phrase(words, _NOT_CLASS)


def _names_one_body(rest: list[str]) -> bool:
    """Tell whether the words after a head word give a proper name rather than a class."""
    if not rest or _match_phrase(rest, _GROUP_MARKERS):
        return False
    # A capitalised word after the head is a name: "Công an Thành phố".
    if _is_capitalised(rest[0]) or not _starts_with_class_word(rest):
        return True
    place = _match_phrase(rest, _PLACE_WORDS)
    return place > 0 and len(rest) > place and _is_capitalised(rest[place])


def is_named_agency(text: str) -> bool:
    """Tell whether `text` starts by naming one agency, e.g. "Bộ Y tế" or "Quốc hội".

    The name needs a capitalised head word followed by a proper name, or is
    one of the bodies whose name is complete alone (Quốc hội, Chính phủ).
    """
    words = text.split()
    if _match_phrase(words, _SELF_NAMED) and _is_capitalised(words[0]):
        return True
    size = _match_phrase(words, _HEAD_PHRASES)
    if size == 0 or not _is_capitalised(words[0]):
        return False
    return _names_one_body(words[size:])


def is_abbreviation(word: str) -> bool:
    """Tell whether `word` is an abbreviation such as VTV, TTXVN or KH&CN."""
    return bool(_ABBREVIATION.match(word.strip(",.;:")))


def names_a_group(text: str, *, at_start: bool = False) -> bool:
    """Tell whether `text` starts by naming a class of agencies rather than one agency.

    True for "các ...", "một số ..." and for a head word without a proper
    name ("Bộ, ngành", "UBND xã, phường"). A bare class word ("địa phương",
    "doanh nghiệp") counts when it is written in lower case or opens the
    cell, because a capitalised one in mid-cell belongs to a name ("và Xã
    hội").
    """
    words = text.split()
    if not words:
        return False
    if _match_phrase(words, _GROUP_MARKERS):
        return True
    if _match_phrase(words, _SELF_NAMED):
        return False
    head = _match_phrase(words, _HEAD_PHRASES)
    if head:
        return not _names_one_body(words[head:])
    if not _starts_with_class_word(words):
        return False
    if not at_start and _is_capitalised(words[0]):
        return False
    place = _match_phrase(words, _PLACE_WORDS)
    # "Tỉnh Đồng Tháp" names one locality, "tỉnh, thành phố" a class.
    return not (place and len(words) > place and _is_capitalised(words[place]))


def _unit_kind(text: str, *, at_start: bool = False) -> str | None:
    """Return the kind of unit `text` starts ("agency" or "group"), or None if it starts none."""
    if names_a_group(text, at_start=at_start):
        return "group"
    if is_named_agency(text):
        return "agency"
    words = text.split()
    if words and is_abbreviation(words[0]):
        return "agency"
    return None


# Rule 1: candidate separators -------------------------------------------------------


def _split_outside_brackets(text: str, separators: str) -> list[tuple[str, str]]:
    """Split `text` at any character of `separators` outside brackets.

    Returns (separator, part) pairs; the first part has an empty separator.
    """
    parts: list[tuple[str, str]] = []
    depth = 0
    start = 0
    separator = ""
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}" and depth > 0:
            depth -= 1
        elif char in separators and depth == 0:
            parts.append((separator, text[start:index]))
            separator = char
            start = index + 1
    parts.append((separator, text[start:]))
    return parts


_AND = re.compile(r"\s+và\s+", re.IGNORECASE)
# "Bộ", "Sở" or "Các" inside a segment, written with a capital and followed by a word.
_UNSEPARATED_START = re.compile(r"\s+(?=(?:Bộ|Sở|Các)\s+\S)")


def _split_at_and(text: str) -> list[tuple[str, str]]:
    """Split at "và" where the words after it start a unit ("... và các địa phương")."""
    parts: list[tuple[str, str]] = []
    start = 0
    joiner = ""
    for match in _AND.finditer(text):
        if _unit_kind(text[match.end():]) is None:
            continue
        parts.append((joiner, text[start:match.start()]))
        joiner = match.group(0)
        start = match.end()
    parts.append((joiner, text[start:]))
    return parts


def _split_unseparated(text: str) -> list[tuple[str, str]]:
    """Split before a capitalised "Bộ", "Sở" or "Các" in the middle of a segment (rule 4)."""
    parts: list[tuple[str, str]] = []
    start = 0
    joiner = ""
    for match in _UNSEPARATED_START.finditer(text):
        following = text[match.end():].split()
        # "Bộ Tư lệnh Bộ đội Biên phòng" is one name: a ministry needs a
        # capitalised word after "Bộ".
        if match.start() == 0 or (following[0] != "Các" and not _is_capitalised(following[1])):
            continue
        parts.append((joiner, text[start:match.start()]))
        joiner = " "
        start = match.end()
    parts.append((joiner, text[start:]))
    return parts


def _segments(piece: str) -> list[_Segment]:
    """Cut a semicolon-free piece at every candidate separator."""
    segments: list[_Segment] = []
    for comma, comma_part in _split_outside_brackets(piece, ",\n"):
        outer = LINE if comma == "\n" else COMMA
        outer_joiner = " " if comma == "\n" else ", "
        for and_index, (and_joiner, and_part) in enumerate(_split_at_and(comma_part)):
            for gap_index, (_, part) in enumerate(_split_unseparated(and_part)):
                part = part.strip()
                if not part:
                    continue
                if gap_index > 0:
                    segment = _Segment(NONE, " ", part)
                elif and_index > 0:
                    segment = _Segment(AND, and_joiner, part)
                else:
                    segment = _Segment(outer if segments else START, outer_joiner, part)
                segments.append(segment)
    return segments


# Rules 3 and 4: joining segments into units -------------------------------------------


def _starts_new_unit(current: _Unit, segment: _Segment) -> str | None:
    """Return the kind of unit `segment` starts after `current`, or None if it continues it."""
    text = segment.text
    if segment.separator == NONE:
        first_word = text.split()[0]
        if first_word == "Các":
            return "group"
        same_head = current.text.split()[0] == first_word
        if is_named_agency(text) and (current.kind == "group" or same_head):
            return "agency"
        return None
    if current.kind == "group":
        # Only a named agency ends a group; abbreviations inside a group
        # ("chủ quản CSDLQG, CSDL chuyên ngành") are part of its wording.
        return "agency" if is_named_agency(text) else None
    return _unit_kind(text)


def _units(piece: str) -> list[_Unit]:
    units: list[_Unit] = []
    for segment in _segments(piece):
        if not units:
            units.append(_Unit(_unit_kind(segment.text, at_start=True) or "agency", segment.text))
            continue
        kind = _starts_new_unit(units[-1], segment)
        if kind is None:
            units[-1].text += segment.joiner + segment.text
        else:
            units.append(_Unit(kind, segment.text))
    return units


_EDGE_PUNCTUATION = re.compile(r"^[\s\-–•+*.,;:]+|[\s,;:]+$")


def _tidy(text: str) -> str:
    """Trim bullets, spaces and separators around a name, and a trailing dot."""
    text = _EDGE_PUNCTUATION.sub("", clean(text))
    return text[:-1].rstrip() if text.endswith(".") and not text.endswith("..") else text


def _classified_units(cell: object) -> list[_Unit]:
    if cell is None:
        return []
    raw = str(cell).replace("\r\n", "\n").replace("\r", "\n")
    units: list[_Unit] = []
    seen: set[str] = set()
    for _, piece in _split_outside_brackets(raw, ";"):
        lines = [clean(line) for line in piece.split("\n")]
        for unit in _units("\n".join(line for line in lines if line)):
            name = _tidy(unit.text)
            key = fold(name)
            if name and key not in seen:
                seen.add(key)
                units.append(_Unit(unit.kind, name))
    return units


# Public API ---------------------------------------------------------------------------


def split_agencies(cell: object) -> list[str]:
    """Split an agency cell into agency names and group texts, in the order written.

    Names are NFC, trimmed and given once each (compared without case and
    accents). Use classify_agency_cell to tell agencies from groups.
    """
    return [unit.text for unit in _classified_units(cell)]


def classify_agency_cell(cell: object) -> tuple[list[str], list[str]]:
    """Split an agency cell into (agencies, groups).

    Groups are the parts that name a class of agencies ("Các bộ, ngành, địa
    phương", "UBND xã, phường, đặc khu"); they are kept verbatim, never split
    into made-up agencies.
    """
    agencies: list[str] = []
    groups: list[str] = []
    for unit in _classified_units(cell):
        (groups if unit.kind == "group" else agencies).append(unit.text)
    return agencies, groups
