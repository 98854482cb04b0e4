"""Splitting of agency cells taken from the real task tables."""

from __future__ import annotations

import unicodedata

import pytest

from node.local_tasks.agency_text import (
    classify_agency_cell,
    is_abbreviation,
    is_named_agency,
    names_a_group,
    split_agencies,
)

# (cell as written in the tables, agencies, groups), split by hand.
CELLS = [
    (
        "Bộ Khoa học và Công nghệ, Bộ Thông tin và Truyền thông",
        ["Bộ Khoa học và Công nghệ", "Bộ Thông tin và Truyền thông"],
        [],
    ),
    ("Bộ Văn hóa, Thể thao và Du lịch", ["Bộ Văn hóa, Thể thao và Du lịch"], []),
    (
        "Bộ Thông tin và Truyền thông Bộ Khoa học và Công nghệ",
        ["Bộ Thông tin và Truyền thông", "Bộ Khoa học và Công nghệ"],
        [],
    ),
    (
        "Ban Tuyên giáo Trung ương; các bộ, ngành, địa phương; VTV, VOV, TTXVN",
        ["Ban Tuyên giáo Trung ương", "VTV", "VOV", "TTXVN"],
        ["các bộ, ngành, địa phương"],
    ),
    ("VTV, VOV, TTXVN, các địa phương", ["VTV", "VOV", "TTXVN"], ["các địa phương"]),
    ("Bộ KH&CN, Bộ TT&TT và các địa phương", ["Bộ KH&CN", "Bộ TT&TT"], ["các địa phương"]),
    (
        "Bộ Khoa học và Công nghệ và các bộ, ngành, địa phương",
        ["Bộ Khoa học và Công nghệ"],
        ["các bộ, ngành, địa phương"],
    ),
    (
        "Bộ Công an, Bộ Lao động - Thương binh và Xã hội, Bộ Tài nguyên và Môi trường, "
        "Bộ Giao thông vận tải, Ngân hàng nhà nước Việt Nam, Bộ Nông nghiệp và Phát triển "
        "nông thôn, Bộ Khoa học và Công nghệ, Bộ Tài chính",
        [
            "Bộ Công an",
            "Bộ Lao động - Thương binh và Xã hội",
            "Bộ Tài nguyên và Môi trường",
            "Bộ Giao thông vận tải",
            "Ngân hàng nhà nước Việt Nam",
            "Bộ Nông nghiệp và Phát triển nông thôn",
            "Bộ Khoa học và Công nghệ",
            "Bộ Tài chính",
        ],
        [],
    ),
    (
        "Bộ Công an, Bộ Nội vụ, Bộ Kế hoạch và Đầu tư, Bộ Tài chính, Bộ Lao động - Thương binh "
        "và Xã hội,Thanh tra Chính phủ, các bộ, ngành và địa phương",
        [
            "Bộ Công an",
            "Bộ Nội vụ",
            "Bộ Kế hoạch và Đầu tư",
            "Bộ Tài chính",
            "Bộ Lao động - Thương binh và Xã hội",
            "Thanh tra Chính phủ",
        ],
        ["các bộ, ngành và địa phương"],
    ),
    (
        "Bộ Tư pháp, Bộ Giáo dục và Đào tạo, Bộ Xây dựng, Tòa án nhân dân tối cao, "
        "Bộ Nông nghiệp và Môi trường, Bộ Y tế, Bộ tài chính",
        [
            "Bộ Tư pháp",
            "Bộ Giáo dục và Đào tạo",
            "Bộ Xây dựng",
            "Tòa án nhân dân tối cao",
            "Bộ Nông nghiệp và Môi trường",
            "Bộ Y tế",
            "Bộ tài chính",
        ],
        [],
    ),
    (
        "Bộ Tư pháp, Bộ Nông nghiệp và Môi trường, Ủy ban nhân dân các địa phương",
        ["Bộ Tư pháp", "Bộ Nông nghiệp và Môi trường"],
        ["Ủy ban nhân dân các địa phương"],
    ),
    (
        "Bảo hiểm Xã hội Việt Nam, Bộ Công an và các địa phương Bắc Ninh, Bình Dương, An Giang",
        ["Bảo hiểm Xã hội Việt Nam", "Bộ Công an"],
        ["các địa phương Bắc Ninh, Bình Dương, An Giang"],
    ),
    (
        "Văn phòng Trung ương Đảng, Văn phòng Quốc hội, Văn phòng Chủ tịch nước, "
        "Văn phòng Chính phủ",
        [
            "Văn phòng Trung ương Đảng",
            "Văn phòng Quốc hội",
            "Văn phòng Chủ tịch nước",
            "Văn phòng Chính phủ",
        ],
        [],
    ),
    ("Văn phòng Chính phủ; Bộ Công an", ["Văn phòng Chính phủ", "Bộ Công an"], []),
    (
        "Viện Hàn lâm Khoa học và Công nghệ Việt Nam, Viện Hàn lâm Khoa học Xã hội Việt Nam",
        [
            "Viện Hàn lâm Khoa học và Công nghệ Việt Nam",
            "Viện Hàn lâm Khoa học Xã hội Việt Nam",
        ],
        [],
    ),
    (
        "Ban Quản lý Khu kinh tế, Sở Công Thương, các doanh nghiệp viễn thông; "
        "các cơ quan, đơn vị liên quan",
        ["Ban Quản lý Khu kinh tế", "Sở Công Thương"],
        ["các doanh nghiệp viễn thông", "các cơ quan, đơn vị liên quan"],
    ),
    (
        "Ban Quản lý các khu công nghệ cao và khu công nghiệp",
        ["Ban Quản lý các khu công nghệ cao và khu công nghiệp"],
        [],
    ),
    (
        "Sở Khoa học và Công nghệ Sở Công Thương; UBND các phường, xã",
        ["Sở Khoa học và Công nghệ", "Sở Công Thương"],
        ["UBND các phường, xã"],
    ),
    (
        "Các sở, ngành, UBND xã, phường, đặc khu Sở Tài chính",
        ["Sở Tài chính"],
        ["Các sở, ngành, UBND xã, phường, đặc khu"],
    ),
    (
        "Sở Tài chính Các sở, ngành, UBND xã, phường, đặc khu",
        ["Sở Tài chính"],
        ["Các sở, ngành, UBND xã, phường, đặc khu"],
    ),
    (
        "Sở Tài chính, Sở Nội vụ, các sở, ngành, UBND xã, phường, đặc khu",
        ["Sở Tài chính", "Sở Nội vụ"],
        ["các sở, ngành, UBND xã, phường, đặc khu"],
    ),
    (
        "Sở Khoa học và Công nghệ, Công an Thành phố",
        ["Sở Khoa học và Công nghệ", "Công an Thành phố"],
        [],
    ),
    ("Bộ Tài chính, bộ, ngành liên quan", ["Bộ Tài chính"], ["bộ, ngành liên quan"]),
    (
        "Các cơ quan Đảng, Quốc hội, Tòa án nhân dân tối cao, Viện Kiểm sát nhân dân tối cao",
        ["Quốc hội", "Tòa án nhân dân tối cao", "Viện Kiểm sát nhân dân tối cao"],
        ["Các cơ quan Đảng"],
    ),
    # A cell cut short in its source keeps its pieces verbatim.
    (
        "nghiệp và phát triển nông thôn, Bộ Khoa học và Công nghệ, Bộ Tài chính",
        ["nghiệp và phát triển nông thôn", "Bộ Khoa học và Công nghệ", "Bộ Tài chính"],
        [],
    ),
    (
        "Bộ Khoa học, Công nghệ, Bộ Thông tin và Truyền thông, Bộ Kế hoạch và Đầu tư và các "
        "địa phương",
        ["Bộ Khoa học, Công nghệ", "Bộ Thông tin và Truyền thông", "Bộ Kế hoạch và Đầu tư"],
        ["các địa phương"],
    ),
    (
        "Bộ Thông tin và Truyền thông, Bộ Khoa học và Công nghệ, Bộ",
        ["Bộ Thông tin và Truyền thông", "Bộ Khoa học và Công nghệ"],
        ["Bộ"],
    ),
]

# Cells that name only a class of agencies: one group each, verbatim.
GROUP_CELLS = [
    "Các bộ, ngành, địa phương",
    "các bộ, ngành liên quan",
    "UBND các tỉnh, thành phố",
    "Các tỉnh, thành phố",
    "Các tỉnh, thành phố trực thuộc TW",
    "Các sở, ngành, UBND xã, phường, đặc khu",
    "UBND xã, phường, đặc khu",
    "Địa phương được lựa chọn",
    "Địa phương",
    "Các Bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ",
    "Bộ, ngành, địa phương",
    "Các bộ, cơ quan Trung ương và địa phương",
    "Các thành phố trực thuộc Trung ương và một số tỉnh đủ điều kiện",
    "Các bộ, ngành, địa phương là chủ quản CSDLQG, CSDL chuyên ngành",
    "Các bộ, ngành, địa phương, doanh nghiệp liên quan, các cơ quan đại diện Việt Nam ở nước ngoài",
    "Doanh nghiệp, nhà cung cấp dịch vụ IoT, nhà đầu tư",
    "Tập đoàn, doanh nghiệp công nghệ số",
    "Các sở, ban, ngành tỉnh",
]


@pytest.mark.parametrize(("cell", "agencies", "groups"), CELLS)
def test_classify_real_cells(cell: str, agencies: list[str], groups: list[str]) -> None:
    assert classify_agency_cell(cell) == (agencies, groups)


@pytest.mark.parametrize("cell", GROUP_CELLS)
def test_class_cells_stay_one_group(cell: str) -> None:
    assert classify_agency_cell(cell) == ([], [cell])


def test_split_keeps_order_of_agencies_and_groups() -> None:
    cell = "Ban Tuyên giáo Trung ương; các bộ, ngành, địa phương; VTV, VOV, TTXVN"
    assert split_agencies(cell) == [
        "Ban Tuyên giáo Trung ương",
        "các bộ, ngành, địa phương",
        "VTV",
        "VOV",
        "TTXVN",
    ]


def test_empty_cells() -> None:
    assert split_agencies(None) == []
    assert split_agencies("") == []
    assert classify_agency_cell("  ;  , ") == ([], [])


def test_line_breaks_separate_like_commas() -> None:
    cell = "Sở Tài chính\nCác sở, ngành, UBND xã, phường, đặc khu"
    agencies, groups = classify_agency_cell(cell)
    assert agencies == ["Sở Tài chính"]
    assert groups == ["Các sở, ngành, UBND xã, phường, đặc khu"]


def test_wrapped_line_joins_its_name() -> None:
    cell = "Bộ Tư pháp, Bộ Nông nghiệp và Môi trường, Ủy ban\nnhân dân các địa phương"
    agencies, groups = classify_agency_cell(cell)
    assert agencies == ["Bộ Tư pháp", "Bộ Nông nghiệp và Môi trường"]
    assert groups == ["Ủy ban nhân dân các địa phương"]


def test_bullets_and_trailing_dots_trimmed() -> None:
    cell = "- Bộ Tài chính;\n- Bộ Công Thương."
    assert split_agencies(cell) == ["Bộ Tài chính", "Bộ Công Thương"]


def test_commas_in_brackets_do_not_split() -> None:
    cell = "Bộ Công an (Trung tâm Dữ liệu quốc gia, Cục C06), Bộ Y tế"
    assert split_agencies(cell) == ["Bộ Công an (Trung tâm Dữ liệu quốc gia, Cục C06)", "Bộ Y tế"]


def test_repeated_names_given_once() -> None:
    assert split_agencies("Bộ Y tế, Bộ Y Tế, Bộ Tài chính") == ["Bộ Y tế", "Bộ Tài chính"]


def test_decomposed_text_comes_out_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Bộ Tài chính, các bộ, ngành")
    agencies, groups = classify_agency_cell(decomposed)
    assert agencies == ["Bộ Tài chính"]
    assert groups == ["các bộ, ngành"]


def test_old_tone_placement_is_recognised() -> None:
    assert classify_agency_cell("Uỷ ban nhân dân các tỉnh, thành phố") == (
        [],
        ["Uỷ ban nhân dân các tỉnh, thành phố"],
    )


def test_one_name_with_head_word_inside() -> None:
    assert split_agencies("Bộ Tư lệnh Bộ đội Biên phòng") == ["Bộ Tư lệnh Bộ đội Biên phòng"]
    assert split_agencies("UBND tỉnh Đồng Tháp") == ["UBND tỉnh Đồng Tháp"]


def test_rule_helpers() -> None:
    assert is_named_agency("Bộ Y tế")
    assert is_named_agency("Quốc hội")
    assert not is_named_agency("Bộ")
    assert not is_named_agency("bộ, ngành")
    assert names_a_group("các địa phương")
    assert names_a_group("UBND xã")
    assert not names_a_group("Xã hội")
    assert names_a_group("Địa phương được lựa chọn", at_start=True)
    assert is_abbreviation("TTXVN")
    assert is_abbreviation("KH&CN")
    assert not is_abbreviation("Bộ")
