"""Translation catalogues: complete Vietnamese, matching placeholders, template up to date."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from babel.messages import mofile
from babel.support import Translations

from node.core.catalogs import TRANSLATIONS_DIR, compile_catalogs, extract_messages, read_catalog
from node.core.i18n import lazy_gettext, translated_into

TEMPLATE = TRANSLATIONS_DIR / "messages.pot"
# %(name)s style and bare %s / %d style placeholders; %% is a literal percent sign.
PERCENT_PLACEHOLDER = re.compile(r"%(?:\([A-Za-z_][A-Za-z0-9_]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]")
# {name} placeholders of str.format; {{ and }} are literal braces.
BRACE_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*(?:![rsa])?(?::[^{}]*)?\}")


def catalog_path(locale: str) -> Path:
    return TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"


def message_ids(path: Path) -> set[str]:
    return {message.id if isinstance(message.id, str) else message.id[0]
            for message in read_catalog(path) if message.id}


def placeholders(text: str) -> list[str]:
    percent = PERCENT_PLACEHOLDER.findall(text.replace("%%", ""))
    brace = BRACE_PLACEHOLDER.findall(text.replace("{{", "").replace("}}", ""))
    return sorted(percent + brace)


@pytest.fixture(scope="module")
def vietnamese():  # noqa: ANN201
    return [message for message in read_catalog(catalog_path("vi"), "vi") if message.id]


def test_vietnamese_catalogue_complete(vietnamese) -> None:  # noqa: ANN001
    untranslated = []
    for message in vietnamese:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(text.strip() for text in strings):
            untranslated.append(message.id)
    assert untranslated == []


def test_vietnamese_placeholders_match(vietnamese) -> None:  # noqa: ANN001
    mismatched = []
    for message in vietnamese:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = placeholders(ids[0])
        for msgid in ids[1:]:
            assert placeholders(msgid) == expected, msgid
        for text in strings:
            if placeholders(text) != expected:
                mismatched.append((ids[0], text))
    assert mismatched == []


def test_template_matches_sources(tmp_path: Path) -> None:
    extracted = extract_messages(tmp_path / "fresh.pot")
    fresh = {message.id if isinstance(message.id, str) else message.id[0]
             for message in extracted if message.id}

    stored = message_ids(TEMPLATE)

    assert sorted(fresh - stored) == [], "new messages: re-extract (see node/core/catalogs.py)"
    assert sorted(stored - fresh) == [], "stale messages: re-extract (see node/core/catalogs.py)"


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_catalogues_match_template(locale: str) -> None:
    stored = message_ids(TEMPLATE)

    in_catalogue = message_ids(catalog_path(locale))

    assert sorted(stored - in_catalogue) == [], f"run pybabel update for {locale}"
    assert sorted(in_catalogue - stored) == [], f"obsolete entries in {locale}"


def test_compiled_catalogue_translates(tmp_path: Path) -> None:
    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))

    written = compile_catalogs(copy)

    assert sorted(path.relative_to(copy).as_posix() for path in written) == [
        "en/LC_MESSAGES/messages.mo", "vi/LC_MESSAGES/messages.mo"]
    assert compile_catalogs(copy) == []
    with (copy / "vi" / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        assert len(mofile.read_mo(handle)) > 100
    translations = Translations.load(str(copy), ["vi"], "messages")
    assert translations.gettext("Completed on time") == "Hoàn thành đúng hạn"
    assert translations.gettext("Group of agencies (not identified)") == (
        "Giao nhóm cơ quan (chưa xác định)")
    assert translations.ngettext("%(num)d task found", "%(num)d tasks found", 3) % {"num": 3} == (
        "Tìm thấy 3 nhiệm vụ")


def test_compile_after_catalogue_change(tmp_path: Path) -> None:
    copy = tmp_path / "translations"
    shutil.copytree(TRANSLATIONS_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    compile_catalogs(copy)
    po_path = copy / "vi" / "LC_MESSAGES" / "messages.po"
    mo_path = po_path.with_suffix(".mo")
    newer = mo_path.stat().st_mtime + 10
    os.utime(po_path, (newer, newer))

    assert compile_catalogs(copy) == [mo_path]


def test_translated_into_outside_request() -> None:
    text = lazy_gettext("Problems:")

    with translated_into("vi"):
        vietnamese = str(text)
    with translated_into("en"):
        english = str(text)

    assert vietnamese == "Lỗi:"
    assert english == "Problems:"
    assert str(text) == "Problems:"


def test_translated_into_rejects_locale() -> None:
    with pytest.raises(ValueError, match="'fr'"), translated_into("fr"):
        pass
