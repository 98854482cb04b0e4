"""Appending to the audit log and verifying its hash chain.

Each entry's `entry_hash` is the SHA-256 of the canonical JSON of its other
fields (see `canonical_json`), `prev_hash` included, and each `prev_hash`
is the `entry_hash` of the entry before it. `verify` walks the chain in
sequence order and names the first entry where it breaks.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from node.audit.models import AuditEntry
from node.core.db import utcnow
from node.core.text import nfc

# prev_hash of the first entry, which has no entry before it.
GENESIS_HASH = "0" * 64

# Key of the PostgreSQL advisory lock that serialises appends: the ASCII
# bytes of "auditlog" read as a big-endian 64-bit integer.
AUDIT_LOCK_KEY = int.from_bytes(b"auditlog", "big")

VERIFY_BATCH_SIZE = 1000

HASH_MISMATCH = "hash mismatch (entry changed)"
SEQUENCE_GAP = "sequence gap (entry removed)"
PREVIOUS_HASH_MISMATCH = "previous hash does not match (entry inserted or reordered)"
SEQUENCE_OUT_OF_ORDER = "sequence below the expected number (entry inserted)"

# Fields covered by entry_hash: every column except the surrogate id, which
# is a storage detail, and entry_hash itself.
HASHED_FIELDS = (
    "sequence", "at", "actor", "action", "object_type", "object_id",
    "before", "after", "request_id", "prev_hash",
)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify`."""

    ok: bool
    # Entries read and found intact, in sequence order.
    checked: int
    first_bad_sequence: int | None = None
    reason: str | None = None
    # entry_hash of the last intact entry, or None when no entry is intact.
    last_hash: str | None = None


def format_instant(value: datetime) -> str:
    """Format an aware instant as ISO 8601 UTC with microseconds: 2026-03-02T03:00:00.000000Z."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone. Attach one, "
                         "e.g. UTC")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def json_safe(value: Any, path: str = "value") -> Any:
    """Convert `value` into JSON types that survive a database round trip unchanged.

    Strings become NFC, instants become `format_instant` text, dates and
    times ISO 8601, decimals their exact text and enums their value.
    Raises TypeError for any other type and ValueError for NaN, infinities
    and naive datetimes, naming `path` in the message.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path}: {value} has no JSON form. Use a finite number or None")
        return value
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, Enum):
        return json_safe(value.value, path)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{path}: naive datetime {value.isoformat()} has no time zone. "
                             "Attach one, e.g. UTC")
        return format_instant(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return _json_safe_mapping(value, path)
    if isinstance(value, list | tuple):
        return [json_safe(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise TypeError(f"{path}: {type(value).__name__} cannot be stored in the audit log. "
                    "Convert it to a string, number, list or dict")


def _json_safe_mapping(value: Mapping, path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise TypeError(f"{path}: key {key!r} is a {type(key).__name__}, but keys must be "
                            "str or int")
        name = nfc(str(key))
        if name in result:
            raise ValueError(f"{path}: key {key!r} equals another key after NFC normalisation, "
                             "so one value would be lost. Rename one of the keys")
        result[name] = json_safe(item, f"{path}.{name}")
    return result


def snapshot(obj: object, fields: Iterable[str]) -> dict[str, Any]:
    """Read the attributes named by `fields` from `obj` as JSON-safe values (see `json_safe`)."""
    return {name: json_safe(getattr(obj, name), name) for name in fields}


def canonical_json(fields: Mapping[str, Any]) -> str:
    """Serialise `fields` in the one form the hash covers.

    Keys are sorted, separators carry no spaces, non-ASCII characters stay
    as they are (ensure_ascii=False) and every value goes through
    `json_safe` first, so strings are NFC and instants are UTC text with
    microseconds.
    """
    return json.dumps(json_safe(fields, "entry"), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False, allow_nan=False)


def compute_entry_hash(fields: Mapping[str, Any]) -> str:
    """Return the hex SHA-256 of the UTF-8 canonical JSON of `fields`."""
    return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()


def _hashed_fields(entry: Any) -> dict[str, Any]:
    """Collect the hashed fields of an AuditEntry or of a row with the same columns."""
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def _lock_log(session: Session) -> None:
    """Take the lock that serialises appends, held until the caller's transaction ends.

    Without it, two transactions could both read entry N as the last one
    and both append an entry N+1.
    """
    dialect = session.connection().dialect.name
    if dialect == "postgresql":
        # Released at commit or rollback. Under READ COMMITTED (the default)
        # the next statement sees the last entry committed by the previous
        # holder. NOTE: under REPEATABLE READ or SERIALIZABLE the snapshot
        # may predate the lock, and a concurrent append then fails on the
        # unique sequence instead of waiting.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
    elif dialect == "sqlite":
        # SQLite allows one writer at a time, and any write statement takes
        # the database's write lock until the transaction ends, even one that
        # changes no row. Taking it before reading the last entry means that
        # entry cannot change until this transaction commits.
        session.execute(text("UPDATE audit_entries SET sequence = sequence WHERE 0"))
    # Other databases have no lock here. The unique sequence still keeps the
    # chain from forking: a concurrent append fails with IntegrityError.


def _json_object(value: Mapping[str, Any] | None, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{path}: expected a dict of field values or None, "
                        f"got {type(value).__name__}")
    return _json_safe_mapping(value, path)


def record(
    session: Session,
    *,
    actor: str | None,
    action: str,
    object_type: str,
    object_id: int | str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    request_id: str | None = None,
) -> AuditEntry:
    """Append one entry to the audit log and flush it. The caller commits.

    The entry joins the caller's transaction, so it is stored if and only
    if the write it describes is. `actor` None means the node itself.
    `before` and `after` are dicts of field values (see `snapshot`).
    """
    if not action or not object_type or object_id is None or object_id == "":
        raise ValueError("an audit entry needs an action, an object type and an object id")
    entry = AuditEntry(
        actor=nfc(actor) if actor is not None else None,
        action=nfc(action),
        object_type=nfc(object_type),
        object_id=nfc(str(object_id)),
        before=_json_object(before, "before"),
        after=_json_object(after, "after"),
        request_id=nfc(request_id) if request_id is not None else None,
    )

    _lock_log(session)
    last = session.execute(
        select(AuditEntry.sequence, AuditEntry.entry_hash)
        .order_by(AuditEntry.sequence.desc())
        .limit(1)
    ).first()
    entry.sequence = last.sequence + 1 if last else 1
    entry.prev_hash = last.entry_hash if last else GENESIS_HASH
    entry.at = utcnow()
    entry.entry_hash = compute_entry_hash(_hashed_fields(entry))

    session.add(entry)
    session.flush()
    return entry


def verify(session: Session, *, batch_size: int = VERIFY_BATCH_SIZE) -> VerifyResult:
    """Check the hash chain of the whole audit log and report the first broken entry.

    Entries are read in sequence order, `batch_size` at a time, so memory
    use does not grow with the log. Each entry must have the next sequence
    number, carry the previous entry's hash and hash to its stored value.

    NOTE: a chain cannot show that entries were cut from its end, or that
    someone with write access rebuilt it from some entry onwards. Compare
    `last_hash` with a value kept outside the database to detect those.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    columns = [AuditEntry.__table__.c[name] for name in (*HASHED_FIELDS, "entry_hash")]
    expected_sequence = 1
    prev_hash = GENESIS_HASH
    last_hash: str | None = None
    checked = 0

    while True:
        # The first batch has no lower bound, so a forged entry numbered 0
        # or below is still read.
        query = select(*columns).order_by(AuditEntry.sequence).limit(batch_size)
        if checked:
            query = query.where(AuditEntry.sequence >= expected_sequence)
        rows = session.execute(query).all()

        for row in rows:
            failure = _check_entry(row, expected_sequence, prev_hash)
            if failure is not None:
                bad_sequence, reason = failure
                return VerifyResult(ok=False, checked=checked, first_bad_sequence=bad_sequence,
                                    reason=reason, last_hash=last_hash)
            checked += 1
            expected_sequence += 1
            prev_hash = last_hash = row.entry_hash

        if len(rows) < batch_size:
            return VerifyResult(ok=True, checked=checked, last_hash=last_hash)


def _check_entry(row: Any, expected_sequence: int, prev_hash: str) -> tuple[int, str] | None:
    """Return the bad sequence and the reason when `row` breaks the chain, else None."""
    if row.sequence > expected_sequence:
        return expected_sequence, SEQUENCE_GAP
    if row.sequence < expected_sequence:
        return row.sequence, SEQUENCE_OUT_OF_ORDER
    # The link is checked before the entry's own hash: an entry inserted with
    # a correct hash of its own shows up as a broken link in the entry after it.
    if row.prev_hash != prev_hash:
        return row.sequence, PREVIOUS_HASH_MISMATCH
    if compute_entry_hash(_hashed_fields(row)) != row.entry_hash:
        return row.sequence, HASH_MISMATCH
    return None


def list_entries(
    session: Session,
    *,
    limit: int,
    object_type: str | None = None,
    object_id: str | None = None,
) -> list[AuditEntry]:
    """Return at most `limit` entries, newest first, optionally only those about one object."""
    query = select(AuditEntry).order_by(AuditEntry.sequence.desc()).limit(limit)
    if object_type is not None:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == object_id)
    return list(session.scalars(query))
