"""Documents posted to the API by the web, API and browser tests, and their levels by hand.

Two documents with eight tasks cover the seven completion levels. As of
10/07/2026 09:00 (Vietnam time) each task is in the level written beside it.
"""

from __future__ import annotations

# As of this instant every level has at least one task (see the comments below).
AT_JULY = "2026-07-10T09:00:00+07:00"

RESOLUTION = {
    "reference": "01-NQ/TW",
    "kind": "resolution",
    "summary": "Về phát triển hạ tầng giao thông",
    "issued_on": "2026-01-05",
    "signer": "Nguyễn Văn An",
    "issuing_body": "Ban Chấp hành Trung ương",
    "tasks": [
        # T1: completed on 20/03 before its deadline of 31/03: completed on time.
        {
            "task_no": "1",
            "content": "Xây dựng đề án phát triển đường sắt tốc độ cao",
            "lead_agencies": ["Văn phòng Trung ương Đảng"],
            "coordinating_agencies": ["Ban Tổ chức Trung ương"],
            "monitoring_agency": "Ủy ban Kiểm tra Trung ương",
            "deadline_on": "2026-03-31",
            "reported_state": "completed",
            "completed_at": "2026-03-20T09:00:00+07:00",
            "classifications": [{"scheme": "priority", "value": "key"}],
        },
        # T2: due at the end of Quý II/2026 (30/06), still in progress: overdue.
        {
            "task_no": "2",
            "content": "Hoàn thiện thể chế về đất đai",
            "lead_agencies": ["Ban Tổ chức Trung ương"],
            "deadline": "Quý II/2026",
            "reported_state": "in_progress",
        },
        # T3: due 27/02 at 17:00 and never started: not started, overdue.
        {
            "task_no": "3",
            "content": "Tổng kết công tác cán bộ",
            "lead_agencies": ["Ban Tổ chức Trung ương"],
            "deadline_at": "2026-02-27T17:00:00+07:00",
        },
        # T4: led by a group of agencies, without deadline: in progress, on time.
        {
            "task_no": "4",
            "content": "Tuyên truyền nghị quyết",
            "group_assignments": [{"role": "lead", "text": "Các tỉnh ủy, thành ủy"}],
            "time_class": "regular",
            "reported_state": "in_progress",
        },
    ],
}

CONCLUSION = {
    "reference": "02-KL/TW",
    "kind": "conclusion",
    "summary": "Về công tác kiểm tra, giám sát",
    "issued_on": "2026-01-12",
    "tasks": [
        # T5: completed on 12/02, two days after its deadline: completed late.
        {
            "content": "Kiểm tra việc thực hiện quy chế",
            "lead_agencies": ["Ủy ban Kiểm tra Trung ương"],
            "deadline_on": "2026-02-10",
            "reported_state": "completed",
            "completed_at": "2026-02-12T08:00:00+07:00",
        },
        # T6: ended without being completed: implemented but not completed.
        {
            "content": "Nghiên cứu lý luận về kinh tế tư nhân",
            "lead_agencies": ["Hội đồng Lý luận Trung ương"],
            "deadline_on": "2026-05-31",
            "reported_state": "ended_not_completed",
        },
        # T7: due at the end of 2026, not started: not started, on time.
        {
            "content": "Sơ kết công tác ở Cà Mau",
            "lead_agencies": ["Tỉnh ủy Cà Mau"],
            "deadline": "Năm 2026",
        },
        # T8: the agency will not carry it out: not started, overdue.
        {
            "content": "Xây dựng quy định về văn thư",
            "lead_agencies": ["Văn phòng Trung ương Đảng"],
            "deadline_on": "2026-06-01",
            "reported_state": "will_not_carry_out",
        },
    ],
}

# Levels as of AT_JULY, by (document reference, position).
LEVELS_IN_JULY = {
    ("01-NQ/TW", 0): "completed_on_time",
    ("01-NQ/TW", 1): "in_progress_overdue",
    ("01-NQ/TW", 2): "not_started_overdue",
    ("01-NQ/TW", 3): "in_progress_on_time",
    ("02-KL/TW", 0): "completed_late",
    ("02-KL/TW", 1): "implemented_not_completed",
    ("02-KL/TW", 2): "not_started_on_time",
    ("02-KL/TW", 3): "not_started_overdue",
}

COUNTS_IN_JULY = {
    "completed_on_time": 1,
    "completed_late": 1,
    "in_progress_on_time": 1,
    "in_progress_overdue": 1,
    "implemented_not_completed": 1,
    "not_started_on_time": 1,
    "not_started_overdue": 2,
}

# Lead agencies in Vietnamese alphabetical order (B < Đ < H < U < V), with their
# tasks in July. Code-point order would put Đ and Ủ after V.
LEAD_AGENCIES_IN_JULY = [
    ("Ban Tổ chức Trung ương", {"in_progress_overdue": 1, "not_started_overdue": 1}),
    ("Đảng bộ tỉnh Cà Mau (Tỉnh ủy Cà Mau)", {"not_started_on_time": 1}),
    ("Hội đồng Lý luận Trung ương", {"implemented_not_completed": 1}),
    ("Ủy ban Kiểm tra Trung ương", {"completed_late": 1}),
    ("Văn phòng Trung ương Đảng", {"completed_on_time": 1, "not_started_overdue": 1}),
]


def confidential_directive() -> dict:
    """A confidential (mật) document: numbers, dates and agencies only."""
    return {
        "reference": "05-CT/TW",
        "kind": "directive",
        "confidentiality": "mật",
        "issued_on": "2026-02-02",
        "tasks": [
            {"task_no": "1", "lead_agencies": ["Ban Nội chính Trung ương"],
             "deadline_on": "2026-04-30"},
        ],
    }


def numbered_plan(count: int, reference: str = "07-KH/TW") -> dict:
    """A plan with `count` simple tasks, for pagination."""
    return {
        "reference": reference,
        "kind": "plan",
        "summary": "Kế hoạch thực hiện",
        "issued_on": "2026-03-02",
        "tasks": [
            {"task_no": str(number), "content": f"Nhiệm vụ số {number} của kế hoạch",
             "lead_agencies": ["Văn phòng Trung ương Đảng"], "deadline_on": "2026-09-30"}
            for number in range(1, count + 1)
        ],
    }
