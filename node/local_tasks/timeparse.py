"""Parsing of instants given by people: ISO 8601, Vietnam time unless an offset is given."""

from __future__ import annotations

from datetime import date, datetime, time

from node.core.timezone import VN_TZ


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant; no offset means Vietnam time, a bare date the end of that day."""
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time(23, 59, 59, 999999), tzinfo=VN_TZ)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            "invalid instant; write it as ISO 8601, e.g. 2026-03-02T10:30:00+07:00 or 2026-03-02"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=VN_TZ)
    return parsed
