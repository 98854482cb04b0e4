"""Logging set-up: one line per event, with the ids passed in `extra` as key=value fields."""

from __future__ import annotations

import logging
import sys

_STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName",
}


class KeyValueFormatter(logging.Formatter):
    """Format a record as `time level logger message key=value ...`."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields = {
            key: value for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
        }
        if not fields:
            return base
        rendered = " ".join(f"{key}={value}" for key, value in sorted(fields.items()))
        return f"{base} {rendered}"


def configure_logging(level: str = "INFO") -> None:
    """Send the node's logs to stderr at `level`; safe to call more than once."""
    root = logging.getLogger()
    if not any(getattr(handler, "_theodoi", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler._theodoi = True  # type: ignore[attr-defined]
        handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(level.upper())
