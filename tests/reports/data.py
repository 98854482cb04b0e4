"""Small data for the report tests, with each task's level at the end of Q1/2026 worked out by hand.

As of 31/03/2026 23:59:59 (Vietnam time):

  10-KH/TW (regular)
    A  Ban Tổ chức Trung ương, due 15/03, completed 10/03    completed on time
    B  Ban Tổ chức Trung ương, due 20/02, completed 05/03    completed late
    C  Ban Tổ chức Trung ương, due 20/03, in progress         in progress, overdue
    D  Ủy ban Kiểm tra Trung ương, due 30/06, not started     not started, on time
    E  Ủy ban Kiểm tra Trung ương, due 31/01, not started     not started, overdue
    F  Văn phòng Trung ương Đảng, no deadline, in progress    in progress, on time
    G  Văn phòng Trung ương Đảng, due 01/03, completed 10/04  in progress, overdue
       (its completion comes after the period end)
  11-CT/TW (confidential, mật)
    H  Ban Tổ chức Trung ương, due 01/03, ended not completed implemented, not completed
"""

from __future__ import annotations

PLAN = {
    "reference": "10-KH/TW",
    "kind": "plan",
    "summary": "Kế hoạch thực hiện nghị quyết về chuyển đổi số",
    "issued_on": "2026-01-05",
    "tasks": [
        {"task_no": "A", "content": "Xây dựng cơ sở dữ liệu đảng viên",
         "lead_agencies": ["Ban Tổ chức Trung ương"], "deadline_on": "2026-03-15",
         "reported_state": "completed", "completed_at": "2026-03-10T10:00:00+07:00"},
        {"task_no": "B", "content": "Ban hành quy trình số hóa hồ sơ",
         "lead_agencies": ["Ban Tổ chức Trung ương"], "deadline_on": "2026-02-20",
         "reported_state": "completed", "completed_at": "2026-03-05T10:00:00+07:00"},
        {"task_no": "C", "content": "Kết nối dữ liệu với các tỉnh ủy",
         "lead_agencies": ["Ban Tổ chức Trung ương"], "deadline_on": "2026-03-20",
         "reported_state": "in_progress"},
        {"task_no": "D", "content": "Kiểm tra việc cập nhật dữ liệu",
         "lead_agencies": ["Ủy ban Kiểm tra Trung ương"], "deadline_on": "2026-06-30"},
        {"task_no": "E", "content": "Giám sát chuyên đề về chuyển đổi số",
         "lead_agencies": ["Ủy ban Kiểm tra Trung ương"], "deadline_on": "2026-01-31"},
        {"task_no": "F", "content": "Theo dõi, đôn đốc thường xuyên",
         "lead_agencies": ["Văn phòng Trung ương Đảng"], "time_class": "regular",
         "reported_state": "in_progress"},
        {"task_no": "G", "content": "Tổng hợp báo cáo sơ kết",
         "lead_agencies": ["Văn phòng Trung ương Đảng"], "deadline_on": "2026-03-01",
         "reported_state": "completed", "completed_at": "2026-04-10T10:00:00+07:00"},
    ],
}

CONFIDENTIAL = {
    "reference": "11-CT/TW",
    "kind": "directive",
    "confidentiality": "mật",
    "issued_on": "2026-01-10",
    "tasks": [
        {"task_no": "H", "lead_agencies": ["Ban Tổ chức Trung ương"],
         "deadline_on": "2026-03-01", "reported_state": "ended_not_completed"},
    ],
}

Q1_COUNTS = {
    "completed_on_time": 1,          # A
    "completed_late": 1,             # B
    "in_progress_on_time": 1,        # F
    "in_progress_overdue": 2,        # C, G
    "implemented_not_completed": 1,  # H
    "not_started_on_time": 1,        # D
    "not_started_overdue": 1,        # E
}
# Ban Tổ chức Trung ương leads A, B, C and H.
Q1_COUNTS_BTCTW = {
    "completed_on_time": 1, "completed_late": 1, "in_progress_on_time": 0,
    "in_progress_overdue": 1, "implemented_not_completed": 1, "not_started_on_time": 0,
    "not_started_overdue": 0,
}
# Overdue tasks by deadline: E (31/01), then G and H (both 01/03, in creation order), then C.
Q1_OVERDUE_ORDER = ["E", "G", "H", "C"]
# Completed within Q1, by completion date.
Q1_COMPLETED_ORDER = ["B", "A"]


def store(client) -> None:  # noqa: ANN001
    """Post both documents through the API."""
    for body in (PLAN, CONFIDENTIAL):
        response = client.post("/api/v1/documents", json=body)
        assert response.status_code == 201, response.get_data(as_text=True)
