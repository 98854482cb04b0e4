"""The notification centre page, the unread count in the navigation, the webhook admin page."""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import select

from node.auth.service import create_api_token
from node.core.timezone import VN_TZ
from node.notifications.models import Notification, Webhook
from node.notifications.service import address_notifications, raise_warnings
from tests.accounts import officer_token
from tests.local_tasks.roles import bearer_client
from tests.notifications.helpers import add_person, add_tasks

RUN_AT = datetime(2026, 3, 6, 6, 15, tzinfo=VN_TZ)


def _person_client(app, session_factory, calendar, settings):  # noqa: ANN001, ANN202
    with session_factory() as session:
        add_tasks(session, calendar, {"1": date(2026, 3, 9), "2": date(2026, 3, 6)},
                  transferred_at=datetime(2026, 2, 3, 9, 0, tzinfo=VN_TZ))
        person = add_person(session, "capnhat.trang", "updater", "TU04")
        _, token = create_api_token(session, person, "tests")
        raise_warnings(session, at=RUN_AT, calendar=calendar, settings=settings)
        address_notifications(session, at=RUN_AT)
        session.commit()
        return bearer_client(app, token), person.id


def _unread_badge(html: str) -> str | None:
    found = re.search(r'data-unread-count="(\d+)"', html)
    return found.group(1) if found else None


def test_centre_lists_warnings_in_vietnamese(app, session_factory, calendar, settings):
    client, _ = _person_client(app, session_factory, calendar, settings)

    page = client.get("/notifications").get_data(as_text=True)

    assert "Thời hạn của nhiệm vụ 1 thuộc văn bản 21-KH/VPTW là 09/03/2026" in page
    assert "Đến hạn hôm nay" in page
    # The tasks were transferred but never received: receipt warnings too.
    assert page.count('class="unread"') == 4
    assert _unread_badge(page) == "4"


def test_centre_in_english(app, session_factory, calendar, settings):
    client, _ = _person_client(app, session_factory, calendar, settings)

    page = client.get("/notifications?lang=en").get_data(as_text=True)

    assert "The deadline of task 2 of 21-KH/VPTW is today, 06/03/2026." in page


def test_mark_read_lowers_the_count(app, session_factory, calendar, settings):
    client, person_id = _person_client(app, session_factory, calendar, settings)
    with session_factory() as session:
        first = session.scalars(select(Notification.id).where(
            Notification.user_id == person_id).order_by(Notification.id)).first()

    response = client.post(f"/notifications/{first}/read")
    page = client.get("/notifications").get_data(as_text=True)
    client.post("/notifications/read-all")
    after_all = client.get("/notifications").get_data(as_text=True)

    assert response.status_code == 302
    assert _unread_badge(page) == "3"
    assert _unread_badge(after_all) is None
    assert 'class="unread"' not in after_all


def test_someone_elses_notification_is_not_found(app, session_factory, calendar, settings):
    _, person_id = _person_client(app, session_factory, calendar, settings)
    with session_factory() as session:
        theirs = session.scalars(select(Notification.id).where(
            Notification.user_id == person_id)).first()
        other = add_person(session, "nguoikhac", "updater", "TU01")
        _, token = create_api_token(session, other, "tests")
        session.commit()

    response = bearer_client(app, token).post(f"/notifications/{theirs}/read")

    assert response.status_code == 404


def test_email_mode_is_saved_and_checked(app, session_factory, calendar, settings):
    client, _ = _person_client(app, session_factory, calendar, settings)

    saved = client.post("/notifications/preferences", data={"email_mode": "digest"},
                        follow_redirects=True).get_data(as_text=True)
    rejected = client.post("/notifications/preferences", data={"email_mode": "hourly"},
                           follow_redirects=True).get_data(as_text=True)

    assert 'value="digest" checked' in saved
    assert "Cách nhận thư &#39;hourly&#39; không hợp lệ" in rejected


def test_administrator_registers_a_webhook(app, session_factory):
    with session_factory() as session:
        from tests.local_tasks.roles import create_account

        token = create_account(session, "quantri.webhook", [("administrator", "BCHTW")])
        officer = officer_token(session, "vanphong.webhook")
        session.commit()
    admin = bearer_client(app, token)

    created = admin.post("/notifications/webhooks",
                         data={"name": "Thi đua", "url": "https://127.0.0.1:9/hook"})
    invalid = admin.post("/notifications/webhooks", data={"name": "Sai", "url": "127.0.0.1"})
    forbidden = bearer_client(app, officer).get("/notifications/webhooks")

    assert created.status_code == 200
    with session_factory() as session:
        secret = session.scalar(select(Webhook.secret).where(Webhook.name == "Thi đua"))
    assert secret in created.get_data(as_text=True)
    assert invalid.status_code == 422
    assert "Địa chỉ webhook &#39;127.0.0.1&#39; không hợp lệ" in invalid.get_data(as_text=True)
    assert forbidden.status_code == 403
