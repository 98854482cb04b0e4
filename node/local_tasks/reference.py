"""Seeding of reference data: the org-unit tree, document kinds and classifications."""

from __future__ import annotations

import csv
import logging
import re
import tomllib
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.audit import service as audit_log
from node.core.errors import ValidationError
from node.core.text import clean
from node.local_tasks.models import (
    ClassificationScheme,
    ClassificationValue,
    DocumentKind,
    OrgUnit,
)
from node.local_tasks.service import create_org_unit

logger = logging.getLogger(__name__)

ROOT_CODE = "BCHTW"
_PARENTHESISED = re.compile(r"^(?P<outer>.+?)\s*\((?P<inner>[^()]+)\)\s*$")


def _data_text(name: str) -> str:
    return resources.files("node.local_tasks").joinpath("reference_data", name).read_text("utf-8")


def _aliases(name: str, short_name: str | None) -> list[str]:
    """Other names of a unit: both halves of "Đảng bộ tỉnh X (Tỉnh ủy X)"."""
    aliases: list[str] = []
    match = _PARENTHESISED.match(name)
    if match:
        aliases += [match["outer"], match["inner"]]
    if short_name:
        aliases.append(short_name)
    return aliases


def _province_rows() -> dict[str, dict]:
    rows = csv.DictReader(_data_text("vn_provinces_34_2025.csv").splitlines())
    return {row["code_gso"]: row for row in rows}


def seed_org_units(session: Session) -> int:
    """Create the units of the seed files that are not stored yet; return how many."""
    provinces = _province_rows()
    rows = list(csv.DictReader(_data_text("cpv_org_units_2025.csv").splitlines()))
    by_code = {unit.code: unit for unit in session.scalars(select(OrgUnit))}
    created = 0
    for row in rows:
        if row["code"] in by_code:
            continue
        parent = by_code.get(row["parent_code"]) if row["parent_code"] else None
        gso_code = None
        aliases = _aliases(row["name_vi"], None)
        if row["kind"] == "provincial_party_committee":
            gso_code = row["code"].removeprefix("TU")
            province = provinces[gso_code]
            aliases += [province["name_vi"], f"UBND {province['name_vi']}",
                        f"Ủy ban nhân dân {province['name_vi']}"]
        unit = create_org_unit(
            session, code=row["code"], name=row["name_vi"], name_en=row["name_en"],
            kind=row["kind"], parent=parent, gso_code=gso_code, status=row["status"],
            source=row["source"], aliases=aliases,
        )
        by_code[unit.code] = unit
        created += 1
    return created


def seed_classifications(session: Session) -> int:
    """Create missing classification schemes and values; never remove stored ones."""
    data = tomllib.loads(_data_text("classifications.toml"))
    created = 0
    for code, spec in data.items():
        scheme = session.scalars(select(ClassificationScheme).where(
            ClassificationScheme.code == code)).first()
        if scheme is None:
            scheme = ClassificationScheme(code=code, name_vi=spec["name_vi"],
                                          name_en=spec["name_en"], is_system=True,
                                          allows_many=spec.get("allows_many", False))
            session.add(scheme)
            session.flush()
        known = {value.code for value in scheme.values}
        for position, (value_code, name_vi, name_en) in enumerate(spec["values"]):
            if value_code not in known:
                session.add(ClassificationValue(scheme=scheme, code=value_code, name_vi=name_vi,
                                                name_en=name_en, position=position))
                created += 1
    session.flush()
    return created


def seed_document_kinds(session: Session) -> int:
    data = tomllib.loads(_data_text("document_kinds.toml"))
    known = set(session.scalars(select(DocumentKind.code)))
    created = 0
    for code, name_vi, name_en, prefixes in data["kinds"]:
        if code not in known:
            session.add(DocumentKind(code=code, name_vi=name_vi, name_en=name_en,
                                     symbol_prefixes=prefixes))
            created += 1
    session.flush()
    return created


def seed_reference_data(session: Session) -> dict[str, int]:
    """Seed every kind of reference data; safe to run again."""
    counts = {
        "org_units": seed_org_units(session),
        "document_kinds": seed_document_kinds(session),
        "classification_values": seed_classifications(session),
    }
    logger.info("reference data seeded", extra=counts)
    return counts


def add_classification_value(session: Session, *, scheme_code: str, code: str, name_vi: str,
                             name_en: str, actor: str | None = None) -> ClassificationValue:
    """Add a value to a classification scheme, creating the scheme if it is new."""
    code = clean(code)
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,59}", code):
        raise ValidationError(
            f"Invalid classification code {code!r}: use lower-case letters, digits and _",
        )
    scheme = session.scalars(select(ClassificationScheme).where(
        ClassificationScheme.code == scheme_code)).first()
    if scheme is None:
        scheme = ClassificationScheme(code=scheme_code, name_vi=scheme_code, name_en=scheme_code)
        session.add(scheme)
        session.flush()
    if any(value.code == code for value in scheme.values):
        raise ValidationError(f"Classification {scheme_code}={code} already exists")
    value = ClassificationValue(scheme=scheme, code=code, name_vi=clean(name_vi),
                                name_en=clean(name_en), position=len(scheme.values))
    session.add(value)
    session.flush()
    audit_log.record(session, actor=actor, action="classification.create",
                     object_type="classification", object_id=value.id,
                     after={"scheme": scheme_code, **audit_log.snapshot(
                         value, ("code", "name_vi", "name_en", "position", "is_active"))})
    logger.info("classification value added", extra={"scheme": scheme_code, "code": code})
    return value
