"""Merging an agency created by an import into the agency it duplicates.

The real CSV names the Ministry of Science and Technology two ways. Counted
by hand in examples/tasks_real_documents.csv (a cell counts when it contains
the spelling):

* "Bộ Khoa học và Công nghệ": 22 lead cells and 23 coordinating cells, in
  44 tasks, because task 108 of 03/NQ-CP names it in both cells.
* "Bộ Khoa học, Công nghệ": one lead cell, task 46 of 03/NQ-CP, whose
  coordinating cell reads "Bộ Khoa học và Công nghệ, Bộ Thông tin và
  Truyền thông, Bộ Ngoại giao".

After the merge the kept unit leads task 46 and no longer coordinates it:
23 lead roles, 22 coordinating roles, still 44 tasks.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.audit.models import AuditEntry
from node.auth.models import RoleGrant
from node.core.errors import ConflictError, ValidationError
from node.dashboard import counters
from node.dashboard.models import DashboardMemberTotal
from node.evaluation.models import EvaluationScore
from node.federation.models import Enrolment, Peer
from node.local_tasks.assessment.models import InspectionFinding
from node.local_tasks.errors import OrgUnitNotFoundError
from node.local_tasks.importer.importer import import_file
from node.local_tasks.models import Document, OrgUnit, OrgUnitAlias, Task, TaskAgency
from node.local_tasks.org_unit_merge import merge_org_units, plan_merge
from node.local_tasks.service import create_org_unit, find_org_unit
from node.local_tasks.workflow.models import LeadAgencyState
from node.notifications.models import DeadlineWarning
from node.reports.models import ReportSnapshot
from tests.conftest import rolled_back_connection, savepoint, savepoint_sessions
from tests.local_tasks.roles import bearer_client, create_account

REAL_CSV = "tasks_real_documents.csv"
KEPT = "Bộ Khoa học và Công nghệ"
DUPLICATE = "Bộ Khoa học, Công nghệ"
# Models whose row counts show whether a rejected merge wrote anything.
WRITTEN_MODELS = (OrgUnit, OrgUnitAlias, TaskAgency, AuditEntry, EvaluationScore,
                  ReportSnapshot, DeadlineWarning)


def unit_named(session: Session, name: str) -> OrgUnit:
    return session.scalars(select(OrgUnit).where(OrgUnit.name == name)).one()


def roles_of_unit(session: Session, unit_id: int) -> list[tuple[int, str]]:
    return [(row.task_id, row.role) for row in session.execute(
        select(TaskAgency.task_id, TaskAgency.role).where(TaskAgency.org_unit_id == unit_id))]


def task_of(session: Session, reference: str, task_no: str) -> Task:
    return session.scalars(select(Task).join(Document).where(
        Document.reference == reference, Task.task_no == task_no)).one()


def count_rows(session: Session) -> dict[str, int]:
    return {model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in WRITTEN_MODELS}


def quarterly_report(unit: OrgUnit, status: str) -> ReportSnapshot:
    """Return the first-quarter 2026 report of `unit`, a draft or issued."""
    issued = status == "issued"
    return ReportSnapshot(
        kind="quarterly", scope="agency", org_unit_id=unit.id, period_start=date(2026, 1, 1),
        period_end=date(2026, 3, 31), as_of=datetime(2026, 3, 31, 10, tzinfo=UTC),
        status=status, title="Báo cáo quý I năm 2026", content={}, content_sha256="0" * 64,
        issued_at=datetime(2026, 4, 2, 3, tzinfo=UTC) if issued else None,
        number=7 if issued else None, symbol="7-BC/BKHCN" if issued else None)


def report_warning(unit: OrgUnit) -> DeadlineWarning:
    """Return the warning that the first-quarter 2026 report of `unit` is due soon."""
    return DeadlineWarning(kind="report_due_soon", warned_on=date(2026, 3, 30),
                           org_unit_id=unit.id, report_period="2026-Q1", audience="org_unit")


def child_unit(session: Session, parent: OrgUnit, name: str) -> OrgUnit:
    return create_org_unit(session, code=f"CHILD{parent.id}", name=name, kind="imported",
                           parent=parent, needs_review=True)


class TestMergeImportedSpellings:
    """The real CSV imported once for the class; a savepoint undoes each test."""

    @pytest.fixture(scope="class")
    @classmethod
    def class_connection(cls, engine):  # noqa: ANN001, ANN206
        with rolled_back_connection(engine) as connection:
            yield connection

    @pytest.fixture
    def connection(self, class_connection):  # noqa: ANN001, ANN201
        with savepoint(class_connection) as connection:
            yield connection

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def real_import(cls, class_connection, examples_dir: Path):  # noqa: ANN001, ANN206
        with savepoint_sessions(class_connection)() as session:
            result = import_file(session, examples_dir / REAL_CSV, create_agencies=True)
            counters.rebuild(session)
            session.commit()
        assert result.problems == []
        assert {KEPT, DUPLICATE} <= set(result.created_agencies)
        return result

    # The merge itself ---------------------------------------------------------------------

    def test_hand_counts_before_merge(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        kept_roles = roles_of_unit(session, kept.id)
        assert sum(role == "lead" for _, role in kept_roles) == 22
        assert sum(role == "coordinating" for _, role in kept_roles) == 23
        assert len({task_id for task_id, _ in kept_roles}) == 44
        task_46 = task_of(session, "03/NQ-CP", "46")
        assert roles_of_unit(session, duplicate.id) == [(task_46.id, "lead")]

    def test_target_gets_union_of_tasks(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        tasks_before = ({task_id for task_id, _ in roles_of_unit(session, kept.id)}
                        | {task_id for task_id, _ in roles_of_unit(session, duplicate.id)})
        duplicate_id = duplicate.id

        plan = merge_org_units(session, duplicate.id, kept.id, actor="vanphong.test")

        kept_roles = roles_of_unit(session, kept.id)
        assert {task_id for task_id, _ in kept_roles} == tasks_before
        assert len(tasks_before) == 44
        assert sum(role == "lead" for _, role in kept_roles) == 23
        assert sum(role == "coordinating" for _, role in kept_roles) == 22
        assert session.get(OrgUnit, duplicate_id) is None
        assert plan.task_count == 1
        assert plan.moved_roles == 1
        assert plan.dropped_roles == 1

    def test_task_naming_both_keeps_one_role(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        merge_org_units(session, unit_named(session, DUPLICATE).id, kept.id, actor="vanphong.test")
        session.expire_all()

        task = task_of(session, "03/NQ-CP", "46")
        kept_links = [link for link in task.agencies if link.org_unit_id == kept.id]
        assert [(link.role, link.position) for link in kept_links] == [("lead", 0)]
        coordinating = [(link.org_unit.name, link.position) for link in task.agencies
                        if link.role == "coordinating"]
        assert coordinating == [("Bộ Thông tin và Truyền thông", 0), ("Bộ Ngoại giao", 1)]
        assert "bo khoa hoc va cong nghe" in task.search_text

    def test_name_becomes_alias_of_target(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        merge_org_units(session, unit_named(session, DUPLICATE).id, kept.id, actor="vanphong.test")

        aliases = session.scalars(select(OrgUnitAlias.alias)
                                  .where(OrgUnitAlias.org_unit_id == kept.id)).all()
        assert aliases == [DUPLICATE]
        assert find_org_unit(session, DUPLICATE) is kept
        assert find_org_unit(session, "bo khoa hoc, cong nghe") is kept

    def test_audit_entry_names_both_units(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        duplicate_id, duplicate_code = duplicate.id, duplicate.code
        merge_org_units(session, duplicate.id, kept.id, actor="vanphong.test")

        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "org_unit.merge")
                                ).one()
        assert entry.actor == "vanphong.test"
        assert entry.object_id == str(duplicate_id)
        assert entry.before["name"] == DUPLICATE
        assert entry.before["code"] == duplicate_code
        assert entry.after["merged_into_id"] == kept.id
        assert entry.after["merged_into_name"] == KEPT
        assert entry.after["task_ids"] == [task_of(session, "03/NQ-CP", "46").id]

    def test_counters_equal_recount(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        assert not counters.check_against_recount(session)

        duplicate_totals = select(DashboardMemberTotal.task_count).where(
            DashboardMemberTotal.dimension == "lead",
            DashboardMemberTotal.member == str(duplicate.id))
        assert session.scalars(duplicate_totals).all() == [1]

        merge_org_units(session, duplicate.id, kept.id, actor="vanphong.test")
        session.flush()

        assert not counters.check_against_recount(session)
        assert session.scalars(duplicate_totals).all() == []

    def test_second_import_uses_alias(self, session: Session, examples_dir: Path,
                                      tmp_path: Path) -> None:
        kept = unit_named(session, KEPT)
        merge_org_units(session, unit_named(session, DUPLICATE).id, kept.id, actor="vanphong.test")
        units_before = session.scalar(select(func.count()).select_from(OrgUnit))
        # The same rows again under other document numbers, so the documents are new.
        with (examples_dir / REAL_CSV).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            row["document_number"] = "9" + row["document_number"]
        copy = tmp_path / "again.csv"
        with copy.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

        result = import_file(session, copy, create_agencies=True)

        assert result.problems == []
        assert result.created_agencies == []
        assert session.scalar(select(func.count()).select_from(OrgUnit)) == units_before
        task = task_of(session, "903/NQ-CP", "46")
        assert [link.org_unit_id for link in task.agencies if link.role == "lead"][0] == kept.id

    def test_evaluation_scores_of_source_deleted(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        session.add(EvaluationScore(
            org_unit_id=duplicate.id, period_kind="quarter",
            period_start=date(2025, 4, 1), period_end=date(2025, 6, 30),
            as_of=datetime(2025, 6, 30, 17, tzinfo=UTC),
            indicator_set="test", indicator_set_version=1, score=None, rating=None, inputs={}))
        session.flush()

        plan = merge_org_units(session, duplicate.id, kept.id, actor="vanphong.test")

        assert [(kind, start.isoformat()) for kind, start in plan.evaluation_periods] == [
            ("quarter", "2025-04-01")]
        assert session.scalar(select(func.count()).select_from(EvaluationScore)) == 0

    def test_draft_report_deleted_warning_moved(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        session.add(quarterly_report(duplicate, "draft"))
        warning = report_warning(duplicate)
        session.add(warning)
        session.flush()

        plan = merge_org_units(session, duplicate.id, kept.id, actor="vanphong.test")

        assert (plan.draft_reports, plan.warnings) == (1, 1)
        assert session.scalar(select(func.count()).select_from(ReportSnapshot)) == 0
        session.refresh(warning)
        assert warning.org_unit_id == kept.id

    def test_lead_state_and_finding_move(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        task = task_of(session, "03/NQ-CP", "46")
        state = LeadAgencyState(task_id=task.id, org_unit_id=duplicate.id,
                                reported_state="in_progress", progress_percent=30,
                                reported_at=datetime(2025, 5, 5, 3, tzinfo=UTC),
                                source_node_id="node-bkhcn")
        finding = InspectionFinding(org_unit_id=duplicate.id, kind="delay_sign",
                                    recorded_at=datetime(2025, 5, 6, 3, tzinfo=UTC),
                                    recorded_by="thanhtra.test", finding="Chậm báo cáo",
                                    recommendation="Đôn đốc báo cáo")
        session.add_all([state, finding])
        session.flush()

        plan = merge_org_units(session, duplicate.id, kept.id, actor="vanphong.test")
        session.expire_all()

        assert plan.lead_states == 1
        assert plan.findings == 1
        assert state.org_unit_id == kept.id
        assert state.progress_percent == 30
        assert finding.org_unit_id == kept.id

    def test_both_lead_states_rejected(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        task = task_of(session, "03/NQ-CP", "46")
        for unit in (kept, duplicate):
            session.add(LeadAgencyState(task_id=task.id, org_unit_id=unit.id,
                                        reported_state="not_started",
                                        reported_at=datetime(2025, 5, 5, 3, tzinfo=UTC),
                                        source_node_id="node-bkhcn"))
        session.flush()
        self.assert_rejected(session, ConflictError, duplicate.id, kept.id, "source_id",
                             f"Both units reported their own state on tasks {task.id}")

    # Rejections ---------------------------------------------------------------------------

    def assert_rejected(self, session: Session, error_type: type, source_id: object,
                        target_id: object, path: str, words: str) -> None:
        before = count_rows(session)
        with pytest.raises(error_type) as raised:
            merge_org_units(session, source_id, target_id, actor="vanphong.test")
        session.flush()
        messages = [problem.message for problem in raised.value.problems if problem.path == path]
        assert messages, raised.value.problems
        assert any(words in message for message in messages), messages
        assert count_rows(session) == before

    def test_merge_into_itself_rejected(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        self.assert_rejected(session, ValidationError, duplicate.id, duplicate.id, "target_id",
                             "cannot be merged into itself")

    def test_merge_into_descendant_rejected(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        child = child_unit(session, duplicate, "Vụ Công nghệ cao")
        self.assert_rejected(session, ValidationError, duplicate.id, child.id, "target_id",
                             "is below Bộ Khoa học, Công nghệ in the tree")

    def test_unit_with_children_rejected(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        child_unit(session, duplicate, "Vụ Công nghệ cao")
        self.assert_rejected(session, ConflictError, duplicate.id, unit_named(session, KEPT).id,
                             "source_id", "has units below it (Vụ Công nghệ cao)")

    def test_non_review_source_rejected(self, session: Session) -> None:
        seeded = session.scalars(select(OrgUnit).where(OrgUnit.code == "VPTW")).one()
        self.assert_rejected(session, ValidationError, seeded.id, unit_named(session, KEPT).id,
                             "source_id", "was not created by an import")

    def test_inactive_target_rejected(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        kept.status = "dissolved"
        session.flush()
        self.assert_rejected(session, ValidationError, unit_named(session, DUPLICATE).id, kept.id,
                             "target_id", "is not active")

    def test_linked_node_rejected(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        session.add(Peer(node_id="node-bkhcn", level=1, org_unit_code=duplicate.code,
                         public_key="a" * 64, protocol_version="1"))
        session.flush()
        self.assert_rejected(session, ConflictError, duplicate.id, unit_named(session, KEPT).id,
                             "source_id",
                             "Linked nodes represent Bộ Khoa học, Công nghệ (node-bkhcn)")

    def test_valid_enrolment_rejected(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        kept = unit_named(session, KEPT)
        now = datetime.now(UTC)
        session.add(Enrolment(token_sha256="b" * 64, org_unit_code=duplicate.code,
                              expires_at=now + timedelta(hours=2)))
        session.flush()
        self.assert_rejected(session, ConflictError, duplicate.id, kept.id, "source_id",
                             f"An enrolment token for {DUPLICATE} (code {duplicate.code}) "
                             "is still valid")

    def test_expired_enrolment_allows_merge(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        session.add(Enrolment(token_sha256="c" * 64, org_unit_code=duplicate.code,
                              expires_at=datetime.now(UTC) - timedelta(hours=2)))
        session.flush()

        plan = merge_org_units(session, duplicate.id, unit_named(session, KEPT).id,
                               actor="vanphong.test")

        assert plan.task_count == 1

    def test_role_grant_rejected(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        create_account(session, "capnhat.bkhcn", [("updater", duplicate.code)])
        self.assert_rejected(session, ConflictError, duplicate.id, unit_named(session, KEPT).id,
                             "source_id", "Accounts hold roles over Bộ Khoa học, Công nghệ "
                             "(capnhat.bkhcn)")
        assert session.scalar(select(func.count()).select_from(RoleGrant)) >= 1

    def test_issued_report_rejected(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        session.add(quarterly_report(duplicate, "issued"))
        session.flush()
        self.assert_rejected(session, ConflictError, duplicate.id, unit_named(session, KEPT).id,
                             "source_id", "Bộ Khoa học, Công nghệ has issued reports (1)")

    def test_same_day_warnings_rejected(self, session: Session) -> None:
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        session.add_all([report_warning(duplicate), report_warning(kept)])
        session.flush()
        self.assert_rejected(session, ConflictError, duplicate.id, kept.id, "source_id",
                             "Report warnings were sent to both Bộ Khoa học, Công nghệ and "
                             "Bộ Khoa học và Công nghệ on the same days (1)")

    def test_node_own_unit_rejected(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        before = count_rows(session)
        with pytest.raises(ConflictError) as raised:
            merge_org_units(session, duplicate.id, unit_named(session, KEPT).id, actor=None,
                            node_org_unit=duplicate.code)
        assert "this node's own unit" in raised.value.problems[0].message
        assert count_rows(session) == before

    def test_alias_of_third_unit_rejected(self, session: Session) -> None:
        third = unit_named(session, "Bộ Thông tin và Truyền thông")
        session.add(OrgUnitAlias(org_unit_id=third.id, alias=DUPLICATE,
                                 alias_folded="bo khoa hoc, cong nghe"))
        session.flush()
        self.assert_rejected(session, ConflictError, unit_named(session, DUPLICATE).id,
                             unit_named(session, KEPT).id, "source_id",
                             f"The name {DUPLICATE} is already another name of "
                             "Bộ Thông tin và Truyền thông")

    def test_unknown_source_rejected(self, session: Session) -> None:
        self.assert_rejected(session, OrgUnitNotFoundError, 987654, unit_named(session, KEPT).id,
                             "source_id", "No unit has the id 987654")

    def test_unknown_target_rejected(self, session: Session) -> None:
        duplicate = unit_named(session, DUPLICATE)
        self.assert_rejected(session, ValidationError, duplicate.id, 987654, "target_id",
                             "No unit has the id 987654")
        self.assert_rejected(session, ValidationError, duplicate.id, "bộ", "target_id",
                             "is not a whole number")
        self.assert_rejected(session, ValidationError, duplicate.id, None, "target_id",
                             "The unit is missing")

    def test_plan_writes_nothing(self, session: Session) -> None:
        before = count_rows(session)
        plan = plan_merge(session, unit_named(session, DUPLICATE).id, unit_named(session, KEPT).id)
        session.flush()
        assert plan.task_count == 1
        assert plan.new_aliases == [DUPLICATE]
        assert count_rows(session) == before

    # API and pages ------------------------------------------------------------------------

    def test_api_merges_for_central_officer(self, session: Session, client) -> None:  # noqa: ANN001
        kept = unit_named(session, KEPT)
        duplicate = unit_named(session, DUPLICATE)
        duplicate_id = duplicate.id
        url = f"/api/v1/org-units/{duplicate_id}/merge"

        preview = client.post(f"{url}?dry_run=true", json={"target_id": kept.id})
        assert preview.status_code == 200, preview.get_data(as_text=True)
        assert preview.get_json()["merged"] is False
        assert session.get(OrgUnit, duplicate_id) is not None

        response = client.post(url, json={"target_id": kept.id})
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        assert body["merged"] is True
        assert body["source"]["name"] == DUPLICATE
        assert body["target"]["name"] == KEPT
        assert body["task_ids"] == [task_of(session, "03/NQ-CP", "46").id]
        assert body["new_aliases"] == [DUPLICATE]
        session.expire_all()
        assert session.get(OrgUnit, duplicate_id) is None

    def test_api_errors_name_field(self, session: Session, client) -> None:  # noqa: ANN001
        duplicate = unit_named(session, DUPLICATE)
        url = f"/api/v1/org-units/{duplicate.id}/merge"

        response = client.post(url, json={"target_id": duplicate.id})
        assert response.status_code == 422
        assert response.content_type == "application/problem+json"
        problem = response.get_json()["errors"][0]
        assert problem["path"] == "target_id"
        assert problem["value"] == duplicate.id
        assert "không thể gộp vào chính nó" in problem["message"]

        response = client.post(url, json={"target": 5})
        assert response.status_code == 422
        assert response.get_json()["errors"][0]["path"] == "target"

        response = client.post(url, data="target_id=5")
        assert response.status_code == 415

        response = client.post("/api/v1/org-units/987654/merge", json={"target_id": 1})
        assert response.status_code == 404

    def test_api_conflict_for_children(self, session: Session, client) -> None:  # noqa: ANN001
        duplicate = unit_named(session, DUPLICATE)
        child_unit(session, duplicate, "Vụ Công nghệ cao")
        session.commit()
        response = client.post(f"/api/v1/org-units/{duplicate.id}/merge",
                               json={"target_id": unit_named(session, KEPT).id})
        assert response.status_code == 409
        assert response.content_type == "application/problem+json"
        assert "Vụ Công nghệ cao" in response.get_json()["errors"][0]["message"]

    def test_plain_officer_forbidden(self, app, session: Session) -> None:  # noqa: ANN001
        duplicate = unit_named(session, DUPLICATE)
        kept = unit_named(session, KEPT)
        updater = bearer_client(app, create_account(session, "capnhat.tu04",
                                                    [("updater", "TU04")]))
        session.commit()

        assert updater.post(f"/api/v1/org-units/{duplicate.id}/merge",
                            json={"target_id": kept.id}).status_code == 403
        assert updater.get(f"/agencies/{duplicate.id}/merge").status_code == 403
        assert updater.get(f"/agencies/{duplicate.id}/merge/confirm?target_id={kept.id}"
                           ).status_code == 403
        assert updater.post(f"/agencies/{duplicate.id}/merge",
                            data={"target_id": kept.id}).status_code == 403
        assert updater.post(f"/agencies/{duplicate.id}/keep").status_code == 403
        page = updater.get("/agencies?needs_review=1").get_data(as_text=True)
        assert f"/agencies/{duplicate.id}/merge" not in page
        session.expire_all()
        assert session.get(OrgUnit, duplicate.id) is not None
        assert session.get(OrgUnit, duplicate.id).needs_review is True

    def test_keep_as_own_agency(self, session: Session, client) -> None:  # noqa: ANN001
        kept = unit_named(session, KEPT)
        kept_id = kept.id
        listing = client.get("/agencies?needs_review=1").get_data(as_text=True)
        assert f'data-keep="{kept_id}"' in listing
        assert "Giữ là cơ quan riêng" in listing

        done = client.post(f"/agencies/{kept_id}/keep", follow_redirects=True)
        assert done.status_code == 200
        assert (f"{KEPT} được giữ là một cơ quan riêng và không còn ở trạng thái cần rà soát."
                in done.get_data(as_text=True))
        session.expire_all()
        assert session.get(OrgUnit, kept_id).needs_review is False
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "org_unit.review")
                                ).one()
        assert entry.object_id == str(kept_id)

        # A second confirmation finds nothing to confirm and changes nothing.
        again = client.post(f"/agencies/{kept_id}/keep", follow_redirects=True)
        assert f"{KEPT} không ở trạng thái cần rà soát." in again.get_data(as_text=True)
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "org_unit.review")) == 1

    def test_pages_merge_for_officer(self, session: Session, client) -> None:  # noqa: ANN001
        duplicate = unit_named(session, DUPLICATE)
        kept = unit_named(session, KEPT)
        duplicate_id = duplicate.id

        listing = client.get("/agencies?needs_review=1").get_data(as_text=True)
        assert f"/agencies/{duplicate_id}/merge" in listing
        assert "Gộp vào cơ quan khác" in listing

        form = client.get(f"/agencies/{duplicate_id}/merge").get_data(as_text=True)
        assert f'value="{kept.id}"' in form
        assert f'value="{duplicate_id}"' not in form

        confirm = client.get(f"/agencies/{duplicate_id}/merge/confirm?target_id={kept.id}")
        assert confirm.status_code == 200
        text = confirm.get_data(as_text=True)
        assert "1 nhiệm vụ" in text
        assert DUPLICATE in text
        assert KEPT in text

        rejected = client.get(f"/agencies/{duplicate_id}/merge/confirm?target_id={duplicate_id}")
        assert rejected.status_code == 422
        assert "không thể gộp vào chính nó" in rejected.get_data(as_text=True)
        # A unit that no import created is refused on the first page already.
        seeded = session.scalars(select(OrgUnit).where(OrgUnit.needs_review.is_(False))
                                 .order_by(OrgUnit.id)).first()
        kept_form = client.get(f"/agencies/{seeded.id}/merge")
        assert kept_form.status_code == 422
        kept_text = kept_form.get_data(as_text=True)
        assert "vì chưa có cơ quan nào mang tên này" not in kept_text
        assert "không được tạo khi nhập dữ liệu nên không thể gộp" in kept_text

        done = client.post(f"/agencies/{duplicate_id}/merge", data={"target_id": kept.id})
        assert done.status_code == 302
        session.expire_all()
        assert session.get(OrgUnit, duplicate_id) is None
        listing = client.get("/agencies?needs_review=1").get_data(as_text=True)
        assert "đã được gộp vào" in listing
        assert client.get("/dashboard/").status_code == 200

    def test_next_import_code_after_merge(self, session: Session, examples_dir: Path,
                                          tmp_path: Path) -> None:
        codes = session.scalars(select(OrgUnit.code).where(OrgUnit.kind == "imported")).all()
        highest = max(int(code[3:]) for code in codes)
        merge_org_units(session, unit_named(session, DUPLICATE).id, unit_named(session, KEPT).id,
                        actor="vanphong.test")
        with (examples_dir / REAL_CSV).open(encoding="utf-8", newline="") as handle:
            row = next(csv.DictReader(handle))
        row.update(document_number="77/NQ-CP", lead_agency="Bộ Khoa học và Kỹ thuật",
                   coordinating_agencies="")
        path = tmp_path / "one.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(row))
            writer.writeheader()
            writer.writerow(row)

        result = import_file(session, path, create_agencies=True)

        assert result.problems == []
        assert result.created_agencies == ["Bộ Khoa học và Kỹ thuật"]
        assert unit_named(session, "Bộ Khoa học và Kỹ thuật").code == f"IMP{highest + 1:05d}"
