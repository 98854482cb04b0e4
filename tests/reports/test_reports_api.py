"""The report API and pages: produce, issue, download, bad input and who may see what."""

from __future__ import annotations

import io

from node.auth.service import create_api_token, create_user, grant_role, org_unit_by_code
from node.core.settings import replace
from tests.reports import data


def _produce(client, **body):  # noqa: ANN001, ANN202
    payload = {"scope": "summary", "kind": "quarterly", "org_unit": "VPTW", "day": "2026-02-15",
               **body}
    return client.post("/api/v1/reports", json=payload)


def _token(session_factory, username: str, role: str, unit_code: str) -> str:  # noqa: ANN001
    with session_factory() as session:
        user = create_user(session, username=username, full_name="Cán bộ kiểm thử",
                           password="mat-khau-kiem-thu-2026")
        grant_role(session, user, role, org_unit_by_code(session, unit_code))
        _, token = create_api_token(session, user, "tests")
        session.commit()
    return token


def test_produce_issue_and_download_over_the_api(client) -> None:  # noqa: ANN001
    data.store(client)
    response = _produce(client)
    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["status"] == "draft"
    assert report["symbol"] is None
    assert (report["period_start"], report["period_end"]) == ("2026-01-01", "2026-03-31")
    detail = client.get(f"/api/v1/reports/{report['id']}").get_json()
    assert detail["content"]["totals"]["counts"] == data.Q1_COUNTS

    issued = client.post(f"/api/v1/reports/{report['id']}/issue")
    assert issued.status_code == 200
    assert issued.get_json()["symbol"] == "1-BC/VPTW"
    again = client.post(f"/api/v1/reports/{report['id']}/issue")
    assert again.status_code == 409

    for fmt, mimetype in (("docx", "wordprocessingml"), ("xlsx", "spreadsheetml"),
                          ("pdf", "application/pdf")):
        download = client.get(f"/api/v1/reports/{report['id']}/download/{fmt}")
        assert download.status_code == 200
        assert mimetype in download.mimetype
        assert f'.{fmt}"' in download.headers["Content-Disposition"]
    assert client.get(f"/api/v1/reports/{report['id']}/download/odt").status_code == 404
    listing = client.get("/api/v1/reports").get_json()["items"]
    assert [item["id"] for item in listing] == [report["id"]]


def test_bad_request_names_each_field(client) -> None:  # noqa: ANN001
    response = client.post("/api/v1/reports", json={
        "scope": "province", "kind": "weekly", "org_unit": "", "day": "15/02/2026"})
    assert response.status_code == 422
    paths = {problem["path"] for problem in response.get_json()["errors"]}
    assert paths == {"scope", "kind", "org_unit", "day"}
    unknown = _produce(client, org_unit="KHONGCO")
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["path"] == "org_unit"
    ad_hoc = _produce(client, kind="ad_hoc", period_start="2026-05-01", period_end="2026-04-01")
    assert ad_hoc.status_code == 422
    assert ad_hoc.get_json()["errors"][0]["path"] == "period_end"
    assert client.get("/api/v1/reports").get_json()["items"] == []


def test_agency_approver_sees_and_issues_only_own_reports(client, app,  # noqa: ANN001
                                                          session_factory) -> None:
    data.store(client)
    summary = _produce(client).get_json()
    token = _token(session_factory, "pheduyet.btctw", "approver", "BTCTW")
    approver = app.test_client()
    approver.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    assert approver.get(f"/api/v1/reports/{summary['id']}").status_code == 404
    assert _produce(approver).status_code == 403
    own = _produce(approver, scope="agency", org_unit="BTCTW")
    assert own.status_code == 201
    assert approver.post(f"/api/v1/reports/{own.get_json()['id']}/issue").get_json()["symbol"] \
        == "1-BC/BTCTW"
    other = _produce(approver, scope="agency", org_unit="UBKTTW")
    assert other.status_code == 403
    assert [item["id"] for item in approver.get("/api/v1/reports").get_json()["items"]] \
        == [own.get_json()["id"]]


def test_anonymous_caller_is_refused(anonymous_client) -> None:  # noqa: ANN001
    assert anonymous_client.get("/api/v1/reports").status_code == 401


def test_report_pages_produce_and_show_the_figures(client) -> None:  # noqa: ANN001
    data.store(client)
    page = client.get("/reports")
    assert page.status_code == 200
    assert "Lập báo cáo" in page.get_data(as_text=True)
    response = client.post("/reports", data={"scope": "summary", "kind": "quarterly",
                                             "org_unit": "VPTW", "day": "2026-02-15"})
    assert response.status_code == 302
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Tổng hợp tình hình, kết quả thực hiện nhiệm vụ được giao quý I năm 2026" in detail
    assert "Dự thảo, chưa ban hành" in detail
    bad = client.post("/reports", data={"scope": "summary", "kind": "ad_hoc", "org_unit": "VPTW",
                                        "period_start": "2026-05-01", "period_end": "2026-04-01"})
    assert bad.status_code == 422
    assert "Ngày cuối kỳ không được trước ngày đầu kỳ" in bad.get_data(as_text=True)
    xlsx = client.get(response.headers["Location"] + "/download/xlsx")
    from openpyxl import load_workbook

    assert load_workbook(io.BytesIO(xlsx.data)).sheetnames[0] == "Tổng hợp"


def test_place_setting_is_the_default(client, app, settings) -> None:  # noqa: ANN001
    data.store(client)
    app.config["THEODOI_SETTINGS"] = replace(settings, reports_place="Cao Bằng")

    default = _produce(client)
    chosen = _produce(client, place="Đà Nẵng")

    assert default.status_code == 201, default.get_json()
    assert chosen.status_code == 201, chosen.get_json()
    default_content = client.get(f"/api/v1/reports/{default.get_json()['id']}").get_json()
    chosen_content = client.get(f"/api/v1/reports/{chosen.get_json()['id']}").get_json()
    assert default_content["content"]["place"] == "Cao Bằng"
    assert chosen_content["content"]["place"] == "Đà Nẵng"
