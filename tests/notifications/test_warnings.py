"""Warning rules on the real 2026 working calendar, with dates worked out by hand."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from node.auth.service import org_unit_by_code
from node.core.timezone import VN_TZ
from node.notifications.models import DeadlineWarning, Notification
from node.notifications.service import address_notifications, raise_warnings
from node.notifications.texts import warning_text
from node.reports.periods import calendar_period
from node.reports.service import issue_report, produce_report
from tests.notifications.helpers import add_person, add_tasks


def _run_days(session, calendar, settings, first: date, last: date) -> None:  # noqa: ANN001
    day = first
    while day <= last:
        at = datetime.combine(day, time(6, 15), tzinfo=VN_TZ)
        raise_warnings(session, at=at, calendar=calendar, settings=settings)
        address_notifications(session, at=at)
        day += timedelta(days=1)


def _warnings_of(session, task, kinds=("due_soon", "due_today", "overdue")):  # noqa: ANN001, ANN202
    rows = session.scalars(select(DeadlineWarning).where(DeadlineWarning.task_id == task.id,
                                                         DeadlineWarning.kind.in_(kinds))
                           .order_by(DeadlineWarning.warned_on)).all()
    return [(row.warned_on, row.kind, row.working_days_left) for row in rows]


def test_deadline_on_a_monday(session, calendar, settings):
    # Mon 9 March 2026: 3 working days before is Wed 4 March, 1 is Fri 6
    # March; overdue from Tue 10 March, then every 3 working days: Fri 13,
    # Wed 18 March.
    tasks = add_tasks(session, calendar, {"1": date(2026, 3, 9)})

    _run_days(session, calendar, settings, date(2026, 3, 2), date(2026, 3, 20))

    assert _warnings_of(session, tasks["1"]) == [
        (date(2026, 3, 4), "due_soon", 3),
        (date(2026, 3, 6), "due_soon", 1),
        (date(2026, 3, 9), "due_today", None),
        (date(2026, 3, 10), "overdue", None),
        (date(2026, 3, 13), "overdue", None),
        (date(2026, 3, 18), "overdue", None),
    ]


def test_deadline_on_a_sunday(session, calendar, settings):
    # Sun 15 March 2026: warned on Wed 11 (Mon 16 is its 3rd next working
    # day) and Fri 13 March, no due-today warning on a day off, overdue
    # from Mon 16 March.
    tasks = add_tasks(session, calendar, {"1": date(2026, 3, 15)})

    _run_days(session, calendar, settings, date(2026, 3, 9), date(2026, 3, 16))

    assert _warnings_of(session, tasks["1"]) == [
        (date(2026, 3, 11), "due_soon", 3),
        (date(2026, 3, 13), "due_soon", 1),
        (date(2026, 3, 16), "overdue", None),
    ]


def test_deadline_after_the_may_holidays(session, calendar, settings):
    # Mon 4 May 2026 follows Thu 30 April and Fri 1 May (holidays) and Mon
    # 27 April (Hùng Kings' day, moved from Sunday): 1 working day before is
    # Wed 29 April, 3 working days before is Fri 24 April.
    tasks = add_tasks(session, calendar, {"1": date(2026, 5, 4)})

    _run_days(session, calendar, settings, date(2026, 4, 20), date(2026, 5, 4))

    assert _warnings_of(session, tasks["1"]) == [
        (date(2026, 4, 24), "due_soon", 3),
        (date(2026, 4, 29), "due_soon", 1),
        (date(2026, 5, 4), "due_today", None),
    ]


def test_finished_and_open_ended_tasks_get_none(session, calendar, settings):
    tasks = add_tasks(session, calendar, {"done": date(2026, 3, 9), "regular": None},
                      states={"done": "completed"})

    _run_days(session, calendar, settings, date(2026, 3, 2), date(2026, 3, 12))

    assert _warnings_of(session, tasks["done"]) == []
    assert _warnings_of(session, tasks["regular"]) == []


def test_second_run_on_a_day_adds_nothing(session, calendar, settings):
    add_tasks(session, calendar, {"1": date(2026, 3, 9), "2": date(2026, 3, 6)})
    at = datetime(2026, 3, 6, 6, 15, tzinfo=VN_TZ)

    first = raise_warnings(session, at=at, calendar=calendar, settings=settings)
    second = raise_warnings(session, at=at + timedelta(hours=5), calendar=calendar,
                            settings=settings)

    assert first["due_soon"] == 1
    assert first["due_today"] == 1
    assert all(count == 0 for count in second.values())


def test_overdue_escalates_to_monitoring_and_office(session, calendar, settings):
    tasks = add_tasks(session, calendar, {"1": date(2026, 3, 9)})
    people = {
        "lead": add_person(session, "capnhat.caobang", "updater", "TU04"),
        "monitoring": add_person(session, "theodoi.ubkt", "monitoring_officer", "UBKTTW"),
        "office": add_person(session, "chuyenvien.vptw", "central_officer", "VPTW"),
        "other": add_person(session, "capnhat.hanoi", "updater", "TU01"),
    }

    _run_days(session, calendar, settings, date(2026, 3, 6), date(2026, 3, 10))

    def kinds_for(person):  # noqa: ANN001, ANN202
        return session.execute(
            select(DeadlineWarning.warned_on, DeadlineWarning.kind)
            .join(Notification, Notification.warning_id == DeadlineWarning.id)
            .where(Notification.user_id == person.id, DeadlineWarning.task_id == tasks["1"].id,
                   DeadlineWarning.kind.in_(("due_soon", "due_today", "overdue")))
            .order_by(DeadlineWarning.warned_on)).all()

    assert kinds_for(people["lead"]) == [(date(2026, 3, 6), "due_soon"),
                                         (date(2026, 3, 9), "due_today"),
                                         (date(2026, 3, 10), "overdue")]
    assert kinds_for(people["monitoring"]) == [(date(2026, 3, 10), "overdue")]
    assert kinds_for(people["office"]) == [(date(2026, 3, 10), "overdue")]
    assert kinds_for(people["other"]) == []


def test_receipt_missed_is_warned_once(session, calendar, settings):
    # Transferred Mon 2 March 2026 at 09:00: 4 working hours end at 14:00.
    transferred = datetime(2026, 3, 2, 9, 0, tzinfo=VN_TZ)
    tasks = add_tasks(session, calendar, {"1": date(2026, 6, 30)}, transferred_at=transferred)

    _run_days(session, calendar, settings, date(2026, 3, 2), date(2026, 3, 4))

    rows = _warnings_of(session, tasks["1"], kinds=("receipt_missed",))
    assert rows == [(date(2026, 3, 3), "receipt_missed", None)]
    due_at = session.scalar(select(DeadlineWarning.due_at).where(
        DeadlineWarning.kind == "receipt_missed"))
    assert due_at == datetime(2026, 3, 2, 14, 0, tzinfo=VN_TZ)


def test_transfer_missed_reaches_the_office(session, calendar, settings):
    # Issued Mon 2 Feb 2026: transfer due by the end of Thu 5 February.
    tasks = add_tasks(session, calendar, {"1": date(2026, 6, 30)})
    office = add_person(session, "vanthu.vptw", "central_officer", "VPTW")
    lead = add_person(session, "pheduyet.caobang", "approver", "TU04")

    _run_days(session, calendar, settings, date(2026, 2, 5), date(2026, 2, 9))

    rows = _warnings_of(session, tasks["1"], kinds=("transfer_missed",))
    assert rows == [(date(2026, 2, 6), "transfer_missed", None)]
    recipients = set(session.scalars(select(Notification.user_id).join(DeadlineWarning).where(
        DeadlineWarning.kind == "transfer_missed")))
    assert recipients == {office.id}
    assert lead.id not in recipients


def test_report_due_dates_of_march(session, calendar, settings):
    # The office's March summary is due before 25 March (Tue 24): warned on
    # Thu 19 (3 working days before), Mon 23 (1 before) and Tue 24. Agencies
    # report 5 working days earlier, on Tue 17 March: warned on Thu 12,
    # Mon 16 and Tue 17 March.
    add_person(session, "capnhat.baocao", "updater", "TU04")

    _run_days(session, calendar, settings, date(2026, 3, 2), date(2026, 3, 25))

    rows = session.execute(
        select(DeadlineWarning.warned_on, DeadlineWarning.kind, DeadlineWarning.report_period)
        .where(DeadlineWarning.task_id.is_(None)).order_by(DeadlineWarning.warned_on)).all()
    assert rows == [
        (date(2026, 3, 12), "report_due_soon", "2026-Q1"),
        (date(2026, 3, 16), "report_due_soon", "2026-Q1"),
        (date(2026, 3, 17), "report_due_today", "2026-Q1"),
        (date(2026, 3, 19), "summary_due_soon", "2026-Q1"),
        (date(2026, 3, 23), "summary_due_soon", "2026-Q1"),
        (date(2026, 3, 24), "summary_due_today", "2026-Q1"),
    ]


def test_no_warnings_on_a_day_off(session, calendar, settings):
    add_tasks(session, calendar, {"1": date(2026, 3, 9)})

    counts = raise_warnings(session, at=datetime(2026, 3, 7, 6, 15, tzinfo=VN_TZ),
                            calendar=calendar, settings=settings)

    assert counts == {}


def test_year_without_calendar_skips_due_soon_only(session, calendar, settings):
    # Wed 30 Dec 2026: 3 working days ahead falls in 2027, which has no
    # calendar file; the overdue warning of a December task is still raised.
    tasks = add_tasks(session, calendar, {"1": date(2026, 12, 21)})

    counts = raise_warnings(session, at=datetime(2026, 12, 30, 6, 15, tzinfo=VN_TZ),
                            calendar=calendar, settings=settings)

    assert counts["overdue"] == 1
    assert counts["due_soon"] == 0
    assert _warnings_of(session, tasks["1"]) == [(date(2026, 12, 30), "overdue", None)]


def _issue_monthly_report(session, month_day: date, at: datetime) -> None:  # noqa: ANN001
    unit = org_unit_by_code(session, "TU04")
    draft = produce_report(session, scope="agency", org_unit=unit, issuer=unit,
                           period=calendar_period("monthly", month_day), now=at,
                           actor="pheduyet.caobang")
    issue_report(session, draft, at=at, actor="pheduyet.caobang")


def test_overdue_report_warned_until_issued(session, calendar, settings):
    # Agencies report 5 working days before the office's summary, which is
    # due before the 25th. January 2026: summary Sat 24, so the report is due
    # Mon 19 January (23, 22, 21, 20, 19). February: summary Tue 24, Tết
    # closes 16-20 February, so it is due Tue 10 February (23, 13, 12, 11, 10).
    unit = org_unit_by_code(session, "TU04")
    unit.created_at = datetime(2026, 1, 1, tzinfo=VN_TZ)
    updater = add_person(session, "capnhat.quahan", "updater", "TU04")
    office = add_person(session, "chuyenvien.quahan", "central_officer", "VPTW")
    other = add_person(session, "capnhat.hanoi.quahan", "updater", "TU01")
    _issue_monthly_report(session, date(2026, 2, 1), datetime(2026, 2, 9, 10, tzinfo=VN_TZ))

    # Repeated every 3 working days, as overdue tasks are: Mon 2, Thu 5, Tue 10 March.
    _run_days(session, calendar, settings, date(2026, 3, 2), date(2026, 3, 9))
    _issue_monthly_report(session, date(2026, 1, 1), datetime(2026, 3, 9, 15, tzinfo=VN_TZ))
    _run_days(session, calendar, settings, date(2026, 3, 10), date(2026, 3, 12))

    rows = session.execute(
        select(DeadlineWarning.warned_on, DeadlineWarning.report_period, DeadlineWarning.due_at,
               DeadlineWarning.audience)
        .where(DeadlineWarning.kind == "report_overdue").order_by(DeadlineWarning.warned_on)).all()
    january_due = datetime(2026, 1, 19, 23, 59, 59, tzinfo=VN_TZ)
    assert rows == [(date(2026, 3, 2), "2026-01", january_due, "escalated"),
                    (date(2026, 3, 5), "2026-01", january_due, "escalated")]
    recipients = session.execute(
        select(Notification.user_id, DeadlineWarning.warned_on).join(DeadlineWarning)
        .where(DeadlineWarning.kind == "report_overdue")
        .order_by(DeadlineWarning.warned_on, Notification.user_id)).all()
    assert recipients == [(updater.id, date(2026, 3, 2)), (office.id, date(2026, 3, 2)),
                          (updater.id, date(2026, 3, 5)), (office.id, date(2026, 3, 5))]
    assert other.id not in {user_id for user_id, _day in recipients}


def test_overdue_report_once_per_day(session, calendar, settings):
    unit = org_unit_by_code(session, "TU04")
    unit.created_at = datetime(2026, 1, 1, tzinfo=VN_TZ)
    add_person(session, "capnhat.motlan", "updater", "TU04")
    at = datetime(2026, 3, 2, 6, 15, tzinfo=VN_TZ)

    first = raise_warnings(session, at=at, calendar=calendar, settings=settings)
    second = raise_warnings(session, at=at, calendar=calendar, settings=settings)

    # Not issued by Mon 2 March: January (due 19/01) and February (due 10/02).
    assert first["report_overdue"] == 2
    assert second["report_overdue"] == 0


def test_overdue_report_text(session, calendar, settings, app):  # noqa: ANN001
    unit = org_unit_by_code(session, "TU04")
    unit.created_at = datetime(2026, 1, 1, tzinfo=VN_TZ)
    add_person(session, "capnhat.vanban", "updater", "TU04")
    raise_warnings(session, at=datetime(2026, 1, 20, 6, 15, tzinfo=VN_TZ), calendar=calendar,
                   settings=settings)
    warning = session.scalar(select(DeadlineWarning).where(
        DeadlineWarning.kind == "report_overdue"))

    with app.test_request_context("/"):
        text = warning_text(warning)

    # The January report was due on Mon 19 January 2026.
    assert text == (f"Báo cáo tháng 01/2026 của {unit.name} đã quá hạn: hạn nộp là "
                    "19/01/2026 nhưng chưa được ban hành.")
