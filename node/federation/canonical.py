"""JSON Canonicalization Scheme (RFC 8785) and NFC normalisation of JSON values.

RFC 8785 fixes one byte sequence for each JSON value. Object members are
sorted by the UTF-16 code units of their names, and there is no insignificant
white space. Strings get the minimal escapes of ECMAScript's JSON.stringify,
and numbers are written as ECMAScript writes an IEEE 754 double
(Number.prototype.toString).
"""

from __future__ import annotations

import math
import unicodedata
from decimal import Decimal

# I-JSON (RFC 7493) interoperable integers. Larger ones cannot all be written as
# doubles, so a canonical form could change their value; they are rejected.
MAX_SAFE_INTEGER = 2**53 - 1

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def canonicalize(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value.

    Raises ValueError for values that have no canonical form: NaN, infinities,
    integers outside ±(2**53 - 1), lone surrogates and non-string object keys.
    """
    parts: list[str] = []
    _write(value, parts)
    text = "".join(parts)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"string contains a lone surrogate at position {exc.start}") from None


def canonicalize_members(members: dict[str, bytes]) -> bytes:
    """Return the canonical bytes of an object whose member values are already canonical bytes.

    `canonicalize_members({name: canonicalize(value) ...})` equals
    `canonicalize({name: value ...})`, so the members of an object can be
    written once and joined into several objects that leave some out.
    """
    parts = [canonicalize(name) + b":" + members[name] for name in sorted(members, key=_utf16_key)]
    return b"{" + b",".join(parts) + b"}"


def normalize_nfc(value: object) -> object:
    """Return a copy of a JSON value with every string and member name in Unicode NFC."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {unicodedata.normalize("NFC", key): normalize_nfc(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [normalize_nfc(item) for item in value]
    return value


def format_number(number: float | int) -> str:
    """Write a number as ECMAScript's Number.prototype.toString writes the double."""
    if isinstance(number, int):
        if abs(number) > MAX_SAFE_INTEGER:
            raise ValueError(f"integer {number} is outside ±(2**53 - 1) and has no exact JSON form")
        number = float(number)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"{number!r} is not allowed in JSON")
    if number == 0:
        return "0"  # both 0 and -0
    if number < 0:
        return "-" + format_number(-number)

    # repr() gives the shortest digit string that reads back as the same double,
    # which is the digit string ECMAScript chooses as well.
    _sign, digit_tuple, exponent = Decimal(repr(number)).as_tuple()
    digits = "".join(str(digit) for digit in digit_tuple).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    # ECMAScript's n: the value is 0.digits × 10**n.
    n = exponent + k

    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    exponent_text = f"{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    if k == 1:
        return f"{digits}e{exponent_text}"
    return f"{digits[0]}.{digits[1:]}e{exponent_text}"


def _write_string(text: str, parts: list[str]) -> None:
    parts.append('"')
    for char in text:
        escaped = _SHORT_ESCAPES.get(char)
        if escaped is not None:
            parts.append(escaped)
        elif char < " ":
            parts.append(f"\\u{ord(char):04x}")
        else:
            parts.append(char)
    parts.append('"')


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _write(value: object, parts: list[str]) -> None:
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int | float):
        parts.append(format_number(value))
    elif isinstance(value, str):
        _write_string(value, parts)
    elif isinstance(value, list | tuple):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"object member name {key!r} is not a string")
        parts.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_key)):
            if index:
                parts.append(",")
            _write_string(key, parts)
            parts.append(":")
            _write(value[key], parts)
        parts.append("}")
    else:
        raise ValueError(f"{type(value).__name__} is not a JSON value")
