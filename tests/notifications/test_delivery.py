"""Warnings delivered by e-mail to a loopback SMTP server and by signed webhooks."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from node import create_app
from node.core.settings import replace
from node.core.timezone import VN_TZ
from node.notifications.inbox import update_email_mode
from node.notifications.jobs import deliver_pending, raise_daily_warnings
from node.notifications.models import Notification, WebhookDelivery
from node.notifications.webhooks import create_webhook
from tests.notifications.helpers import add_person, add_tasks
from tests.notifications.mail_server import MailServer
from tests.notifications.webhook_receiver import WebhookReceiver

# Fri 6 March 2026, 06:15 in Vietnam: task 1 (due Mon 9 March) is 1 working
# day away, task 2 (due Fri 6 March) is due today.
RUN_AT = datetime(2026, 3, 6, 6, 15, tzinfo=VN_TZ)


@pytest.fixture
def mail_server():
    with MailServer() as server:
        yield server


@pytest.fixture
def mail_app(settings, session_factory, engine, mail_server):  # noqa: ANN001
    app = create_app(replace(settings, smtp_host="127.0.0.1", smtp_port=mail_server.port,
                             smtp_sender="canhbao@theodoi.test",
                             public_url="https://theodoi.test"))
    app.extensions["theodoi_sessions"] = session_factory
    return app


def _store(session_factory, calendar) -> dict:  # noqa: ANN001
    with session_factory() as session:
        # Transferred and received, so that only the deadline warnings apply.
        tasks = add_tasks(session, calendar, {"1": date(2026, 3, 9), "2": date(2026, 3, 6)},
                          transferred_at=datetime(2026, 2, 3, 9, 0, tzinfo=VN_TZ))
        for task in tasks.values():
            task.received_at = datetime(2026, 2, 3, 10, 0, tzinfo=VN_TZ)
        people = {
            "each": add_person(session, "capnhat.email", "updater", "TU04",
                               email="capnhat@caobang.test"),
            "digest": add_person(session, "pheduyet.email", "approver", "TU04",
                                 email="pheduyet@caobang.test"),
            "no_address": add_person(session, "lanhdao.caobang", "leader", "TU04"),
        }
        update_email_mode(session, people["digest"], "digest")
        session.commit()
        return {name: person.id for name, person in people.items()}


def _messages_to(mail_server, address: str) -> list:  # noqa: ANN001
    return [message for recipients, message in mail_server.messages if address in recipients]


def test_one_email_per_warning_in_both_languages(mail_app, mail_server, session_factory,
                                                 calendar):
    _store(session_factory, calendar)

    counts = raise_daily_warnings(mail_app, clock=lambda: RUN_AT)
    again = raise_daily_warnings(mail_app, clock=lambda: RUN_AT + timedelta(hours=1))

    assert counts["due_soon"] == 1
    assert counts["due_today"] == 1
    assert again["emails"] == 0
    each = _messages_to(mail_server, "capnhat@caobang.test")
    assert len(each) == 2
    assert {message["Subject"] for message in each} == {
        "Cảnh báo: Đến hạn hôm nay", "Cảnh báo: Sắp đến hạn"}
    body = next(m for m in each if m["Subject"] == "Cảnh báo: Sắp đến hạn").get_content()
    assert "Thời hạn của nhiệm vụ 1 thuộc văn bản 21-KH/VPTW là 09/03/2026" in body
    assert "The deadline of task 1 of 21-KH/VPTW is 09/03/2026" in body
    assert body.index("Thời hạn") < body.index("The deadline")
    assert "https://theodoi.test/tasks/" in body


def test_digest_is_one_email_a_day(mail_app, mail_server, session_factory, calendar):
    _store(session_factory, calendar)

    raise_daily_warnings(mail_app, clock=lambda: RUN_AT)

    digest = _messages_to(mail_server, "pheduyet@caobang.test")
    assert len(digest) == 1
    assert digest[0]["Subject"] == "Tổng hợp hằng ngày: 2 cảnh báo"
    assert len(mail_server.messages) == 3  # two single e-mails and one digest


def test_person_without_address_gets_no_email(mail_app, mail_server, session_factory,
                                              calendar):
    ids = _store(session_factory, calendar)

    raise_daily_warnings(mail_app, clock=lambda: RUN_AT)

    with session_factory() as session:
        statuses = set(session.scalars(select(Notification.email_status).where(
            Notification.user_id == ids["no_address"])))
        unread = session.scalars(select(Notification.read_at).where(
            Notification.user_id == ids["no_address"])).all()
    assert statuses == {"skipped"}
    assert unread == [None, None]


def test_webhook_signed_and_retried(mail_app, session_factory, calendar):
    _store(session_factory, calendar)
    with WebhookReceiver(fail_first=1) as receiver:
        with session_factory() as session:
            webhook = create_webhook(session, name="Hệ thống thi đua", url=receiver.url,
                                     actor="quantri")
            receiver.secret = webhook.secret
            session.commit()

        raise_daily_warnings(mail_app, clock=lambda: RUN_AT)
        assert len(receiver.received) == 1  # the first request got a 500
        too_early = deliver_pending(mail_app, clock=lambda: RUN_AT + timedelta(seconds=10))
        retried = deliver_pending(mail_app, clock=lambda: RUN_AT + timedelta(seconds=31))

    assert too_early["delivered"] == 0
    assert retried["delivered"] == 1
    assert receiver.bad_signatures == 0
    kinds = sorted(body["kind"] for body in receiver.received)
    assert kinds == ["due_soon", "due_today"]
    due_soon = next(body for body in receiver.received if body["kind"] == "due_soon")
    assert due_soon["task"]["document"] == "21-KH/VPTW"
    assert due_soon["working_days_left"] == 1
    assert due_soon["text"]["en"] == "The deadline of task 1 of 21-KH/VPTW is 09/03/2026 " \
                                     "(1 working days left)."
    with session_factory() as session:
        deliveries = session.scalars(select(WebhookDelivery)).all()
    assert sorted(d.attempts for d in deliveries) == [1, 2]
    assert {d.status for d in deliveries} == {"delivered"}


def test_webhook_gives_up_after_the_last_attempt(mail_app, session_factory, calendar):
    _store(session_factory, calendar)
    with WebhookReceiver(fail_first=1000) as receiver:
        with session_factory() as session:
            create_webhook(session, name="Luôn lỗi", url=receiver.url, actor="quantri")
            session.commit()
        raise_daily_warnings(mail_app, clock=lambda: RUN_AT)
        at = RUN_AT
        for _ in range(10):
            at += timedelta(hours=1)
            deliver_pending(mail_app, clock=lambda at=at: at)

    with session_factory() as session:
        deliveries = session.scalars(select(WebhookDelivery)).all()
    assert [d.status for d in deliveries] == ["failed", "failed"]
    assert [d.attempts for d in deliveries] == [6, 6]


def test_webhook_address_must_be_http(session):
    from node.core.errors import ValidationError

    with pytest.raises(ValidationError) as raised:
        create_webhook(session, name="Sai", url="ftp://127.0.0.1/hook", actor="quantri")

    assert raised.value.problems[0].path == "url"
    assert "ftp://127.0.0.1/hook" in raised.value.message


def test_demo_warnings_show_on_any_day(node_config):
    from node.cli import initialise_node
    from node.core.db import make_engine, make_session_factory, unit_of_work
    from node.core.settings import load_settings
    from node.local_tasks.calendar import load_calendar
    from node.notifications.jobs import raise_demo_warnings
    from node.notifications.models import DeadlineWarning

    settings = load_settings(node_config)
    initialise_node(settings)
    calendar = load_calendar(settings)
    today = datetime.now(VN_TZ).date()
    engine = make_engine(settings.effective_database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        add_tasks(session, calendar, {"1": today - timedelta(days=20)},
                  issued_on=today - timedelta(days=40))

    counts = raise_demo_warnings(settings)

    latest_working_day = today
    while not calendar.is_working_day(latest_working_day):
        latest_working_day -= timedelta(days=1)
    with make_session_factory(engine)() as session:
        overdue = session.scalars(select(DeadlineWarning.warned_on).where(
            DeadlineWarning.kind == "overdue")).all()
    engine.dispose()
    assert counts["overdue"] == 1
    assert overdue == [latest_working_day]


def test_webhook_registration_is_audited(session):
    from node.audit.models import AuditEntry
    from node.notifications.webhooks import delete_webhook

    webhook = create_webhook(session, name="Kiểm toán", url="https://127.0.0.1:9/hook",
                             actor="quantri")
    delete_webhook(session, webhook.id, actor="quantri")

    actions = session.scalars(select(AuditEntry.action).where(
        AuditEntry.object_type == "webhook").order_by(AuditEntry.sequence)).all()
    assert actions == ["webhook.create", "webhook.delete"]
