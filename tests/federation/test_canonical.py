"""RFC 8785 canonical JSON: numbers, strings, member order and NFC normalisation."""

from __future__ import annotations

import json
import struct
import unicodedata

import pytest

from node.federation.canonical import (
    canonicalize,
    canonicalize_members,
    format_number,
    normalize_nfc,
)


def from_bits(bits: int) -> float:
    return struct.unpack(">d", struct.pack(">Q", bits))[0]


# IEEE 754 bit patterns and their serialisation, from RFC 8785 Appendix B.
RFC_NUMBERS = [
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x0000000000000001, "5e-324"),
    (0x8000000000000001, "-5e-324"),
    (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
    (0xFFEFFFFFFFFFFFFF, "-1.7976931348623157e+308"),
    (0x4340000000000000, "9007199254740992"),
    (0xC340000000000000, "-9007199254740992"),
    (0x4430000000000000, "295147905179352830000"),
    (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
    (0x44B52D02C7E14AF6, "1e+23"),
    (0x44B52D02C7E14AF7, "1.0000000000000001e+23"),
    (0x444B1AE4D6E2EF4E, "999999999999999700000"),
    (0x444B1AE4D6E2EF4F, "999999999999999900000"),
    (0x444B1AE4D6E2EF50, "1e+21"),
    (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
    (0x3EB0C6F7A0B5ED8D, "0.000001"),
    (0x41B3DE4355555553, "333333333.3333332"),
    (0x41B3DE4355555554, "333333333.33333325"),
    (0x41B3DE4355555555, "333333333.3333333"),
    (0x41B3DE4355555556, "333333333.3333334"),
    (0x41B3DE4355555557, "333333333.33333343"),
    (0xBECBF647612F3696, "-0.0000033333333333333333"),
    (0x43143FF3C1CB0959, "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), RFC_NUMBERS)
def test_number_matches_rfc_table(bits: int, expected: str) -> None:
    assert format_number(from_bits(bits)) == expected


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_number_rejects_non_finite(value: float) -> None:
    with pytest.raises(ValueError):
        canonicalize({"x": value})


def test_integers_written_as_doubles() -> None:
    assert canonicalize([0, -0, 1, -1, 100, 2**53 - 1]) == b"[0,0,1,-1,100,9007199254740991]"
    assert canonicalize([4.50, 2e-3, 1e30, 0.000001, 1e-7, 100.0]) == (
        b"[4.5,0.002,1e+30,0.000001,1e-7,100]")


def test_integers_beyond_safe_range_rejected() -> None:
    with pytest.raises(ValueError, match="2\\*\\*53"):
        canonicalize(2**53)
    with pytest.raises(ValueError):
        canonicalize(-(2**53))


def test_rfc_example_object() -> None:
    # The example of RFC 8785 section 3.2.2, as parsed values.
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,'
                '1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert canonicalize(value) == expected.encode("utf-8")


def test_members_sorted_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: U+1F600 is a surrogate pair (D83D DE00) and so
    # sorts before U+FB33, unlike in code point order.
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return",
             "\ufb33": "Hebrew Letter Dalet With Dagesh",
             "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
             "\u00f6": "Latin Small Letter O With Diaeresis"}
    names = list(json.loads(canonicalize(value)))
    assert names == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_string_escapes() -> None:
    text = "tab\t nl\n cr\r bs\b ff\f nul\x00 us\x1f del\x7f quote\" slash/ back\\ \u2028 ư"
    expected = ('"tab\\t nl\\n cr\\r bs\\b ff\\f nul\\u0000 us\\u001f del\x7f quote\\" slash/ '
                'back\\\\ \u2028 ư"')
    assert canonicalize(text) == expected.encode("utf-8")


def test_lone_surrogate_rejected() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        canonicalize("\ud800")


def test_no_whitespace_and_nested() -> None:
    assert canonicalize({"b": [1, {"d": None, "c": True}], "a": {}}) == (
        b'{"a":{},"b":[1,{"c":true,"d":null}]}')


def test_non_string_member_name_rejected() -> None:
    with pytest.raises(ValueError):
        canonicalize({1: "x"})


def test_nfc_normalises_keys_and_values() -> None:
    decomposed = unicodedata.normalize("NFD", "Nghị quyết")
    assert decomposed != "Nghị quyết"
    value = normalize_nfc({decomposed: [decomposed, 1, None]})
    assert value == {"Nghị quyết": ["Nghị quyết", 1, None]}


def test_members_join_to_canonical_form() -> None:
    # Member names outside the Basic Multilingual Plane sort by UTF-16 code units.
    value = {"payload": {"ý kiến": ["Đã xong", 1.5, None]}, "a": True, "\U0001f600": 2,
             "\uff61": "x", "signature": "c2ln"}
    members = {name: canonicalize(item) for name, item in value.items()}
    assert canonicalize_members(members) == canonicalize(value)
    assert canonicalize_members({}) == b"{}"
    without = {name: item for name, item in members.items() if name != "signature"}
    assert canonicalize_members(without) == canonicalize(
        {name: item for name, item in value.items() if name != "signature"})
