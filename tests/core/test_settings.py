from datetime import time
from pathlib import Path

import pytest

from node.core.settings import SettingsError, load_settings


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_values_and_sections(tmp_path):
    path = _write(tmp_path, 'instance_path = "data"\n[node]\nid = "tinh-04"\nlevel = 1\n'
                            '[working_hours]\nperiods = ["07:30-11:30", "13:30-17:00"]\n')
    settings = load_settings(path, environ={})
    assert settings.node_id == "tinh-04"
    assert settings.node_level == 1
    assert settings.instance_path == tmp_path / "data"
    assert settings.working_hours.periods[0] == (time(7, 30), time(11, 30))


def test_environment_overrides_file(tmp_path):
    path = _write(tmp_path, 'database_url = "sqlite:///a.db"\n')
    settings = load_settings(path, environ={"THEODOI_DATABASE_URL": "postgresql://x/y",
                                            "THEODOI_PAGE_SIZE": "20"})
    assert settings.database_url == "postgresql://x/y"
    assert settings.page_size == 20


def test_default_database_is_sqlite_in_instance(tmp_path):
    settings = load_settings(None, environ={"THEODOI_INSTANCE_PATH": str(tmp_path)})
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'theodoi.sqlite3'}"


def test_invalid_number_names_setting(tmp_path):
    with pytest.raises(SettingsError, match="page_size.*'many'"):
        load_settings(None, environ={"THEODOI_PAGE_SIZE": "many"})


def test_unknown_key_rejected(tmp_path):
    with pytest.raises(SettingsError, match="databse_url"):
        load_settings(_write(tmp_path, 'databse_url = "x"\n'), environ={})


def test_overlapping_periods_rejected(tmp_path):
    path = _write(tmp_path, '[working_hours]\nperiods = ["08:00-12:00", "11:00-17:00"]\n')
    with pytest.raises(SettingsError, match="11:00-17:00"):
        load_settings(path, environ={})


def test_missing_file_named(tmp_path):
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "absent.toml", environ={})


def test_locale_must_be_vi_or_en():
    with pytest.raises(SettingsError, match="default_locale"):
        load_settings(None, environ={"THEODOI_DEFAULT_LOCALE": "fr"})


def test_reports_place_from_file_and_environment(tmp_path):
    path = _write(tmp_path, '[reports]\nplace = "Cao Bằng"\n')
    assert load_settings(None, environ={}).reports_place == "Hà Nội"
    assert load_settings(path, environ={}).reports_place == "Cao Bằng"
    overridden = load_settings(path, environ={"THEODOI_REPORTS_PLACE": "Đà Nẵng"})
    assert overridden.reports_place == "Đà Nẵng"


@pytest.mark.parametrize(("value", "expected"), [
    ("  ", "reports.place: invalid value '  '"),
    ("Hà Nội\nCao Bằng", "on one line"),
    ("x" * 301, "301 characters is too long"),
])
def test_invalid_reports_place_rejected(value, expected):
    with pytest.raises(SettingsError, match=expected):
        load_settings(None, environ={"THEODOI_REPORTS_PLACE": value})
@pytest.mark.parametrize("value", [0, 201])
def test_push_batch_size_range(tmp_path, value):
    path = _write(tmp_path, f"[federation]\npush_batch_size = {value}\n")
    with pytest.raises(SettingsError, match=f"federation.push_batch_size: invalid value {value}"):
        load_settings(path, environ={})


def test_push_batch_size_read(tmp_path):
    path = _write(tmp_path, "[federation]\npush_batch_size = 200\n")
    assert load_settings(path, environ={}).federation_push_batch_size == 200
