"""Compilation of the translation catalogues (.po to .mo) and extraction of message ids.

Compiled .mo files are not kept in git: `create_app` compiles a catalogue
whose .mo is missing or older than its .po. To add or change a message:

    pybabel extract -F babel.cfg -k _l -k message -k invalid:3 --no-location --sort-output \
        -o node/translations/messages.pot .
    pybabel update -i node/translations/messages.pot -d node/translations

then translate the new entries of `vi/LC_MESSAGES/messages.po`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from babel.messages import mofile, pofile
from babel.messages.catalog import Catalog

logger = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
BABEL_CONFIG = PROJECT_ROOT / "babel.cfg"
# Keywords passed to `pybabel extract` besides its defaults (`_`, `gettext`, `ngettext`...).
# The workflow builds its messages with `message(template, ...)` and
# `invalid(path, value, template, ...)`, so their template arguments are msgids too.
EXTRA_KEYWORDS = ("_l", "message", "invalid:3")


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return pofile.read_po(handle, locale=locale)


def compile_catalogs(translations_dir: Path = TRANSLATIONS_DIR, *,
                     force: bool = False) -> list[Path]:
    """Write a .mo beside each .po whose .mo is missing or older; return the files written.

    Fuzzy entries are left out, as `pybabel compile` does without `--use-fuzzy`.
    """
    written: list[Path] = []
    for po_path in sorted(translations_dir.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if (not force and mo_path.exists()
                and mo_path.stat().st_mtime >= po_path.stat().st_mtime):
            continue
        catalog = read_catalog(po_path, locale=po_path.parts[-3])
        # One temporary name per process: several workers may compile at once.
        temporary = mo_path.with_name(f"{mo_path.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("wb") as handle:
                mofile.write_mo(handle, catalog, use_fuzzy=False)
            # Renaming makes the new file appear whole to a process reading it meanwhile.
            temporary.replace(mo_path)
        except OSError as exc:
            # A read-only install keeps serving: with no .mo the screens fall back to English.
            logger.error("compiling translation catalogue failed",
                         extra={"path": str(mo_path), "error": str(exc)})
            continue
        written.append(mo_path)
        logger.info("translation catalogue compiled", extra={"path": str(mo_path)})
    return written


def extract_messages(output: Path) -> Catalog:
    """Extract the message ids of the sources into `output` (a .pot) and return the catalogue."""
    from babel.messages.frontend import CommandLineInterface

    arguments = ["pybabel", "-q", "extract", "-F", str(BABEL_CONFIG), "-o", str(output),
                 "--no-location", "--omit-header"]
    for keyword in EXTRA_KEYWORDS:
        arguments += ["-k", keyword]
    CommandLineInterface().run([*arguments, str(PROJECT_ROOT)])
    return read_catalog(output)
