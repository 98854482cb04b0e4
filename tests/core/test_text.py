import unicodedata

from node.core.text import clean, fold, sort_key


def test_fold_drops_accents_and_d_stroke():
    assert fold("Đảng bộ tỉnh Điện Biên") == "dang bo tinh dien bien"
    assert fold("  Nhiệm   vụ ") == "nhiem vu"


def test_fold_matches_decomposed_input():
    decomposed = unicodedata.normalize("NFD", "Thường xuyên")
    assert fold(decomposed) == fold("Thường xuyên")
    assert clean(decomposed) == "Thường xuyên"


def test_sort_key_follows_vietnamese_alphabet():
    names = ["Đồng Tháp", "Yên Bái", "An Giang", "Ăn", "Bắc Ninh", "Cà Mau", "Dak", "Ê", "E"]
    expected = ["An Giang", "Ăn", "Bắc Ninh", "Cà Mau", "Dak", "Đồng Tháp", "E", "Ê", "Yên Bái"]
    assert sorted(names, key=sort_key) == expected


def test_sort_key_letters_before_tones():
    # "ca" < "cà" < "cả" < "cã" < "cá" < "cạ", and all before "cb".
    words = ["cb", "cạ", "cá", "cã", "cả", "cà", "ca"]
    assert sorted(words, key=sort_key) == ["ca", "cà", "cả", "cã", "cá", "cạ", "cb"]


def test_sort_key_digits_only():
    assert sort_key("Bộ Công an").isdigit()
