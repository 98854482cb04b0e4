"""The hash-chained audit log: appending, verifying, tampering and the CLI."""

import threading
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from node.audit.models import AuditEntry
from node.audit.service import (
    GENESIS_HASH,
    HASH_MISMATCH,
    PREVIOUS_HASH_MISMATCH,
    SEQUENCE_GAP,
    SEQUENCE_OUT_OF_ORDER,
    canonical_json,
    compute_entry_hash,
    record,
    snapshot,
    verify,
)
from node.core import migrate
from node.core.db import make_engine, unit_of_work
from node.core.settings import load_settings
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.reference import add_classification_value
from node.local_tasks.service import create_document

VN = timezone(timedelta(hours=7))
HASHED_COLUMNS = ("sequence", "at", "actor", "action", "object_type", "object_id", "before",
                  "after", "request_id", "prev_hash")


def _append(session: Session, count: int = 5) -> list[AuditEntry]:
    entries = []
    for number in range(1, count + 1):
        entries.append(record(
            session, actor=f"cán bộ {number}", action="task.update", object_type="task",
            object_id=number, before={"reported_state": "not_started"},
            after={"reported_state": "in_progress", "progress_percent": 10 * number},
            request_id=f"req-{number}",
        ))
    return entries


def _document(**changes) -> DocumentInput:
    task = TaskInput(task_no="1", content="Xây dựng kế hoạch triển khai",
                     lead_agencies=["Văn phòng Trung ương Đảng"],
                     deadline=DeadlineInput(text="6/2026", on=date(2026, 6, 30), precision="month"))
    values = dict(reference="07/KH-VPTW", summary="Kế hoạch kiểm tra", issued_on=date(2026, 3, 2),
                  tasks=[task])
    values.update(changes)
    return DocumentInput(**values)


def _forged_row(sequence: int, prev_hash: str) -> dict:
    row = dict(sequence=sequence, at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC), actor="mallory",
               action="task.update", object_type="task", object_id="99", before=None,
               after={"reported_state": "completed"}, request_id=None, prev_hash=prev_hash)
    row["entry_hash"] = compute_entry_hash(row)
    return row


def _shift_up_from(session: Session, sequence: int) -> None:
    """Renumber entries from `sequence` on one higher, leaving a free slot at `sequence`."""
    # Two steps through negative numbers, because PostgreSQL checks the
    # unique sequence row by row during a single UPDATE.
    session.execute(text("UPDATE audit_entries SET sequence = -(sequence + 1) "
                         "WHERE sequence >= :sequence"), {"sequence": sequence})
    session.execute(text("UPDATE audit_entries SET sequence = -sequence WHERE sequence < 0"))


# Appending -------------------------------------------------------------------


def test_record_chains_entries(session):
    first, second, third = _append(session, 3)
    assert second.sequence == first.sequence + 1
    assert third.sequence == second.sequence + 1
    assert second.prev_hash == first.entry_hash
    assert third.prev_hash == second.entry_hash
    assert len(third.entry_hash) == 64
    assert int(third.entry_hash, 16) >= 0


def test_first_entry_links_to_genesis(session):
    session.execute(text("DELETE FROM audit_entries"))
    entry = record(session, actor=None, action="org_unit.create", object_type="org_unit",
                   object_id=1)
    assert entry.sequence == 1
    assert entry.prev_hash == GENESIS_HASH
    assert verify(session).ok


def test_record_hash_covers_stored_values(session):
    entry = _append(session, 1)[0]
    session.expire_all()
    stored = session.scalars(select(AuditEntry).where(AuditEntry.id == entry.id)).one()
    fields = {name: getattr(stored, name) for name in HASHED_COLUMNS}
    assert compute_entry_hash(fields) == stored.entry_hash
    assert stored.at.tzinfo is not None


def test_record_stores_text_as_nfc(session):
    decomposed = unicodedata.normalize("NFD", "Nguyễn Văn Hải")
    entry = record(session, actor=decomposed, action="document.create", object_type="document",
                   object_id="1", after={"signer": decomposed})
    session.expire_all()
    stored = session.get(AuditEntry, entry.id)
    assert stored.actor == "Nguyễn Văn Hải"
    assert stored.after == {"signer": "Nguyễn Văn Hải"}
    assert verify(session).ok


def test_record_rejects_missing_action(session):
    with pytest.raises(ValueError, match="action"):
        record(session, actor=None, action="", object_type="task", object_id=1)


def test_record_rejects_non_dict_after(session):
    with pytest.raises(TypeError, match="after"):
        record(session, actor=None, action="task.update", object_type="task", object_id=1,
               after=["not", "a", "dict"])


# Canonical form and snapshots -------------------------------------------------------


def test_canonical_json_form():
    fields = {"b": "Đảng", "a": datetime(2026, 3, 2, 10, 0, tzinfo=VN), "c": [1, None, True]}
    expected = '{"a":"2026-03-02T03:00:00.000000Z","b":"Đảng","c":[1,null,true]}'
    assert canonical_json(fields) == expected


def test_canonical_json_normalises_to_nfc():
    composed = canonical_json({"name": "Hải"})
    decomposed = canonical_json({"name": unicodedata.normalize("NFD", "Hải")})
    assert composed == decomposed


class _Unit:
    name = "Ban Tổ chức Trung ương"
    issued_on = date(2026, 3, 2)
    created_at = datetime(2026, 3, 2, 8, 30, 0, 123456, tzinfo=VN)
    amount = Decimal("1.50")
    count = 3
    parent_id = None


def test_snapshot_converts_values():
    values = snapshot(_Unit(), ["name", "issued_on", "created_at", "amount", "count", "parent_id"])
    assert values == {
        "name": "Ban Tổ chức Trung ương",
        "issued_on": "2026-03-02",
        "created_at": "2026-03-02T01:30:00.123456Z",
        "amount": "1.50",
        "count": 3,
        "parent_id": None,
    }


@pytest.mark.parametrize(("value", "error"), [
    (datetime(2026, 3, 2, 8, 30), ValueError),
    (float("nan"), ValueError),
    ({1, 2}, TypeError),
    (object(), TypeError),
])
def test_snapshot_rejects_unsafe_value(value, error):
    holder = type("Holder", (), {"field": value})()
    with pytest.raises(error, match="field"):
        snapshot(holder, ["field"])


# Verifying ------------------------------------------------------------------------


def test_verify_passes_on_intact_log(session):
    entries = _append(session)
    total = session.scalar(select(func.count()).select_from(AuditEntry))
    result = verify(session)
    assert result.ok
    assert result.checked == total
    assert result.first_bad_sequence is None
    assert result.reason is None
    assert result.last_hash == entries[-1].entry_hash


@pytest.mark.parametrize("batch_size", [1, 2, 3, 1000])
def test_verify_same_result_in_any_batch_size(session, batch_size):
    _append(session, 7)
    total = session.scalar(select(func.count()).select_from(AuditEntry))
    result = verify(session, batch_size=batch_size)
    assert result.ok
    assert result.checked == total


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entries SET actor = 'mallory' WHERE sequence = :sequence",
    "UPDATE audit_entries SET actor = NULL WHERE sequence = :sequence",
    "UPDATE audit_entries SET object_id = '999' WHERE sequence = :sequence",
    "UPDATE audit_entries SET request_id = 'other' WHERE sequence = :sequence",
    "UPDATE audit_entries SET entry_hash = :fake WHERE sequence = :sequence",
])
def test_verify_detects_changed_field(session, statement):
    entries = _append(session)
    target = entries[1].sequence
    session.execute(text(statement), {"sequence": target, "fake": "f" * 64})
    result = verify(session, batch_size=2)
    assert not result.ok
    assert result.first_bad_sequence == target
    assert result.reason == HASH_MISMATCH
    assert result.last_hash == entries[0].entry_hash


def test_verify_detects_changed_json_value(session):
    entries = _append(session)
    target = entries[1].sequence
    session.execute(update(AuditEntry.__table__).where(AuditEntry.sequence == target)
                    .values(after={"reported_state": "completed", "progress_percent": 100}))
    result = verify(session)
    assert result.first_bad_sequence == target
    assert result.reason == HASH_MISMATCH


def test_verify_detects_changed_instant(session):
    entries = _append(session)
    target = entries[1].sequence
    session.execute(update(AuditEntry.__table__).where(AuditEntry.sequence == target)
                    .values(at=entries[1].at - timedelta(microseconds=1)))
    result = verify(session)
    assert result.first_bad_sequence == target
    assert result.reason == HASH_MISMATCH


def test_verify_detects_removed_entry(session):
    entries = _append(session)
    target = entries[2].sequence
    session.execute(text("DELETE FROM audit_entries WHERE sequence = :sequence"),
                    {"sequence": target})
    result = verify(session, batch_size=2)
    assert not result.ok
    assert result.first_bad_sequence == target
    assert result.reason == SEQUENCE_GAP


def test_verify_detects_removed_first_entry(session):
    session.execute(text("DELETE FROM audit_entries WHERE sequence = 1"))
    result = verify(session)
    assert result.first_bad_sequence == 1
    assert result.reason == SEQUENCE_GAP
    assert result.checked == 0


def test_verify_detects_inserted_entry(session):
    entries = _append(session)
    slot = entries[2].sequence
    _shift_up_from(session, slot)
    # The forger links the row to the entry before it and hashes it correctly,
    # so the row itself passes. The chain breaks at the entry that follows it,
    # whose prev_hash still names the entry before the slot.
    session.execute(insert(AuditEntry.__table__).values(
        **_forged_row(slot, prev_hash=entries[1].entry_hash)))
    result = verify(session, batch_size=2)
    assert not result.ok
    assert result.first_bad_sequence == slot + 1
    assert result.reason == PREVIOUS_HASH_MISMATCH


def test_verify_detects_inserted_entry_with_wrong_link(session):
    entries = _append(session)
    slot = entries[2].sequence
    _shift_up_from(session, slot)
    session.execute(insert(AuditEntry.__table__).values(**_forged_row(slot, prev_hash="0" * 64)))
    result = verify(session)
    assert result.first_bad_sequence == slot
    assert result.reason == PREVIOUS_HASH_MISMATCH


def test_verify_detects_swapped_entries(session):
    entries = _append(session)
    first, second = entries[1].sequence, entries[2].sequence
    session.execute(text("UPDATE audit_entries SET sequence = -1 WHERE sequence = :s"),
                    {"s": first})
    session.execute(text("UPDATE audit_entries SET sequence = :a WHERE sequence = :b"),
                    {"a": first, "b": second})
    session.execute(text("UPDATE audit_entries SET sequence = :b WHERE sequence = -1"),
                    {"b": second})
    result = verify(session)
    assert result.first_bad_sequence == first
    assert result.reason == PREVIOUS_HASH_MISMATCH


def test_verify_detects_entry_numbered_zero(session):
    session.execute(insert(AuditEntry.__table__).values(**_forged_row(0, GENESIS_HASH)))
    result = verify(session)
    assert result.first_bad_sequence == 0
    assert result.reason == SEQUENCE_OUT_OF_ORDER


def test_verify_rejects_zero_batch_size(session):
    with pytest.raises(ValueError, match="batch_size"):
        verify(session, batch_size=0)


# Writes of the services -------------------------------------------------------


def _entries_about(session: Session, object_type: str, object_id: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(
        AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id))))


def test_create_document_records_entry(session, calendar):
    document = create_document(session, _document(), actor="chuyenvien", calendar=calendar)
    [entry] = _entries_about(session, "document", document.id)
    assert entry.action == "document.create"
    assert entry.actor == "chuyenvien"
    assert entry.before is None
    assert entry.after["reference"] == "07/KH-VPTW"
    assert entry.after["task_count"] == 1
    assert entry.after["summary"] == "Kế hoạch kiểm tra"
    assert entry.after["issued_on"] == "2026-03-02"
    assert verify(session).ok


def test_confidential_document_entry_has_no_content(session, calendar):
    tasks = [TaskInput(task_no=str(n), lead_agencies=["Văn phòng Trung ương Đảng"],
                       deadline=DeadlineInput(on=date(2026, 6, 30), precision="day"))
             for n in range(1, 4)]
    document = create_document(session, _document(confidentiality="mật", summary=None,
                                                  tasks=tasks), calendar=calendar)
    [entry] = _entries_about(session, "document", document.id)
    assert entry.after["confidentiality"] == "confidential"
    assert entry.after["task_count"] == 3
    assert entry.after["summary"] is None
    assert "tasks" not in entry.after
    assert "content" not in canonical_json(entry.after)


def test_agency_created_by_import_records_actor(session, calendar):
    create_document(session, _document(tasks=[TaskInput(
        task_no="1", content="Rà soát quy hoạch", lead_agencies=["Bộ Xây dựng"],
        deadline=DeadlineInput(on=date(2026, 6, 30), precision="day"))]),
        create_agencies=True, actor="nhapdulieu", calendar=calendar)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "org_unit.create")
                            .order_by(AuditEntry.sequence.desc())).first()
    assert entry.actor == "nhapdulieu"
    assert entry.after["name"] == "Bộ Xây dựng"
    assert entry.after["needs_review"] is True
    assert entry.after["aliases"] == []


def test_seeded_org_units_recorded_as_system(session):
    entry = session.scalars(select(AuditEntry).where(AuditEntry.sequence == 1)).one()
    assert entry.action == "org_unit.create"
    assert entry.actor is None
    assert entry.after["is_root"] is True


def test_add_classification_value_records_entry(session):
    value = add_classification_value(session, scheme_code="scope", code="border",
                                     name_vi="Biên giới", name_en="Border areas", actor="quantri")
    [entry] = _entries_about(session, "classification", value.id)
    assert entry.action == "classification.create"
    assert entry.actor == "quantri"
    assert entry.after["scheme"] == "scope"
    assert entry.after["code"] == "border"
    assert entry.after["name_vi"] == "Biên giới"
    assert entry.after["is_active"] is True


# Concurrent writers -----------------------------------------------------------------


def test_concurrent_appends_keep_chain(fresh_database_url):
    engine = make_engine(fresh_database_url)
    migrate.upgrade(engine)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    writers, appends_per_writer = 4, 15
    errors: list[BaseException] = []

    def append_many(writer: int) -> None:
        try:
            for number in range(appends_per_writer):
                with unit_of_work(factory) as session:
                    record(session, actor=f"writer-{writer}", action="task.update",
                           object_type="task", object_id=number)
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=append_many, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    try:
        assert errors == []
        with unit_of_work(factory) as session:
            sequences = list(session.scalars(select(AuditEntry.sequence)
                                             .order_by(AuditEntry.sequence)))
            result = verify(session)
        assert sequences == list(range(1, writers * appends_per_writer + 1))
        assert result.ok
        assert result.checked == writers * appends_per_writer
    finally:
        engine.dispose()


# Command line -----------------------------------------------------------------------


@pytest.fixture
def run(node_config, monkeypatch):
    # Imported here so that a broken command elsewhere in the CLI fails only these tests.
    from node.cli import main

    monkeypatch.setenv("THEODOI_CONFIG", str(node_config))

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def node_factory(run):
    """Session factory on the CLI test node, initialised by `theodoi init`."""
    assert run("init").exit_code == 0
    engine = make_engine(load_settings().effective_database_url)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


def test_cli_verify_reports_intact_log(run, node_factory, calendar):
    with unit_of_work(node_factory) as session:
        create_document(session, _document(), actor="chuyenvien", calendar=calendar)
        total = session.scalar(select(func.count()).select_from(AuditEntry))
        last_hash = session.scalar(select(AuditEntry.entry_hash)
                                   .order_by(AuditEntry.sequence.desc()).limit(1))
    result = run("audit", "verify")
    assert result.exit_code == 0, result.output
    assert f"Audit log intact: {total} entries" in result.output
    assert f"Last entry hash: {last_hash}" in result.output


def test_cli_verify_names_changed_entry(run, node_factory, calendar):
    with unit_of_work(node_factory) as session:
        document = create_document(session, _document(), actor="chuyenvien", calendar=calendar)
        sequence = session.scalar(select(AuditEntry.sequence).where(
            AuditEntry.object_type == "document", AuditEntry.object_id == str(document.id)))
    with unit_of_work(node_factory) as session:
        session.execute(text("UPDATE audit_entries SET actor = 'mallory' WHERE sequence = :s"),
                        {"s": sequence})
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert f"Audit log broken at entry #{sequence}: {HASH_MISMATCH}" in result.output


def test_cli_verify_names_removed_entry(run, node_factory):
    with unit_of_work(node_factory) as session:
        session.execute(text("DELETE FROM audit_entries WHERE sequence = 3"))
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert f"Audit log broken at entry #3: {SEQUENCE_GAP}" in result.output


def test_cli_list_filters_by_object(run, node_factory, calendar):
    with unit_of_work(node_factory) as session:
        document = create_document(session, _document(), actor="chuyenvien", calendar=calendar)
    result = run("audit", "list", "--object", f"document:{document.id}")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("#")
    assert lines[0].endswith(f"\tchuyenvien\tdocument.create\tdocument:{document.id}")


def test_cli_list_limits_newest_first(run, node_factory):
    result = run("audit", "list", "--limit", "2")
    assert result.exit_code == 0, result.output
    sequences = [int(line.split("\t")[0].removeprefix("#")) for line in result.output.splitlines()]
    assert len(sequences) == 2
    assert sequences[0] == sequences[1] + 1
    assert "(system)\torg_unit.create" in result.output


def test_cli_list_rejects_bad_object(run, node_factory):
    result = run("audit", "list", "--object", "document")
    assert result.exit_code == 2
    assert "TYPE:ID" in result.output
