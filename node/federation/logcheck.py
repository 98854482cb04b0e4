"""Offline verification of an exported exchange log."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path

from node.federation.envelope import EnvelopeRejected, verify_envelope

LOG_FORMAT = "theodoi-exchange-log"


class LogFormatError(Exception):
    """The file is not an exported exchange log."""


@dataclass
class LogReport:
    checked: int = 0
    failures: list[str] = field(default_factory=list)


def verify_exported_log(path: Path) -> LogReport:
    """Verify the signature, schema and routing of every entry of an exported log.

    The clock is not checked, since old entries are expected.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        header = json.loads(lines[0]) if lines else None
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != LOG_FORMAT:
        raise LogFormatError(f"{path.name} is not an exchange log exported by "
                             "`theodoi federation export-log`")
    own = header["node"]
    keys = {peer["node_id"]: peer["public_key"] for peer in header.get("peers", [])}
    keys[own["node_id"]] = own["public_key"]

    report = LogReport()
    for line_number, line in enumerate(lines[1:], start=2):
        report.checked += 1
        failure = _check_entry(line, own["node_id"], keys)
        if failure:
            report.failures.append(f"line {line_number}: {failure}")
    return report


def _check_entry(line: str, own_node_id: str, keys: dict[str, str]) -> str | None:
    try:
        entry = json.loads(line)
        raw = base64.b64decode(entry["raw_base64"], validate=True)
        direction = entry["direction"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return "not a readable log entry"
    # An outbound message was signed by this node and an inbound one addressed to it.
    sender_keys = {own_node_id: keys[own_node_id]} if direction == "outbound" else keys
    recipient = own_node_id if direction == "inbound" else None
    try:
        verified = verify_envelope(raw, sender_keys, recipient=recipient)
    except EnvelopeRejected as rejection:
        return f"message {entry.get('message_id')}: {rejection.reason}: {rejection.message}"
    if verified.message_id != entry.get("message_id"):
        return (f"message {entry.get('message_id')}: the envelope carries id "
                f"{verified.message_id}")
    return None
