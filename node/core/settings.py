"""Typed node settings: a TOML file with `THEODOI_*` environment overrides."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

ENV_PREFIX = "THEODOI_"
CONFIG_ENV = "THEODOI_CONFIG"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CALENDAR_DIR = PROJECT_ROOT / "config" / "calendar"
DEFAULT_TRUST_DIR = PROJECT_ROOT / "config" / "trust"
# The central office sits in Hà Nội, so its reports are issued there unless set otherwise.
DEFAULT_REPORTS_PLACE = "Hà Nội"
# Maximum length of the place of issue, the same as for the place a report request gives.
MAX_REPORTS_PLACE_LENGTH = 300


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names it and the fix."""


@dataclass(frozen=True)
class WorkingHours:
    """Working periods of a working day, in local time, e.g. 08:00-12:00, 13:00-17:00."""

    periods: tuple[tuple[time, time], ...] = ((time(8, 0), time(12, 0)), (time(13, 0), time(17, 0)))
    # ISO weekdays (1 = Monday) that are working days unless the calendar makes them days off.
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Settings:
    """Everything a node reads at start-up; built once and never changed."""

    instance_path: Path = field(default_factory=lambda: Path.cwd() / "instance")
    database_url: str = ""
    secret_key: str = ""
    node_id: str = "local"
    node_level: int = 0
    node_org_unit: str = "VPTW"
    default_locale: str = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    log_level: str = "INFO"
    page_size: int = 50
    calendar_dir: Path = DEFAULT_CALENDAR_DIR
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    max_upload_bytes: int = 20 * 1024 * 1024
    # Address of the node as people open it, for links in e-mails; empty: no links.
    public_url: str = ""
    # Whether this process may run the periodic jobs (one runner per database
    # is chosen by a lease, so leaving it on everywhere is safe).
    scheduler_enabled: bool = True
    # Local time of the daily warning run.
    warnings_run_at: time = time(6, 15)
    # Warn this many working days before a deadline (Điều 18.1.d), one warning per lead.
    warnings_due_soon_working_days: tuple[int, ...] = (3, 1)
    # Repeat the overdue warning of a task every this many working days.
    warnings_overdue_every_working_days: int = 3
    # The regulation gives agencies no day for their periodic reports; this many
    # working days before the central office's summary is due is the node's choice.
    warnings_agency_report_lead_working_days: int = 5
    # Outgoing mail; an empty host sends no e-mail.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_sender: str = "theodoi@localhost"
    smtp_starttls: bool = False
    smtp_timeout_seconds: int = 10
    # Root and intermediate certificates that signatures on PDFs must chain to.
    signatures_trust_dir: Path = DEFAULT_TRUST_DIR
    # PKCS#12 file with the key and certificate that sign the node's PDFs; empty
    # means the key and certificate that `theodoi init` creates in instance_path.
    # Its password is read from $THEODOI_SIGNING_PASSWORD.
    signatures_pkcs12: Path | None = None
    # Signed PDFs larger than this many bytes are verified in a background thread.
    signatures_background_bytes: int = 2 * 1024 * 1024
    # Exchange delivery ([federation] section): the first retry delay after a
    # failed push, doubled per attempt up to the cap; how often the background
    # sender pushes and pulls without being woken (0 turns it off); how long a
    # peer's previous key stays valid after it rotates its key.
    federation_retry_base_seconds: float = 30.0
    federation_retry_max_seconds: float = 3600.0
    federation_sync_interval_seconds: float = 60.0
    federation_key_grace_hours: int = 72
    # The maximum number of messages pushed in one batch request. The parent
    # applies a batch in one transaction, which on SQLite holds the single write
    # lock throughout, so every concurrent push waits for it.
    # NOTE: 10 is an estimate, not a measured optimum. On a 2-CPU machine at
    # load 8 to 10, with the task workflow at 0.1 to 0.2 s per message, 50
    # children pushing batches of 10 ran past the 15 s busy and HTTP timeouts
    # (docs/benchmarks.md, "Batches, and the task workflow behind each message").
    federation_push_batch_size: int = 50
    # Place of issue printed before the date of every report ([reports] place):
    # the seat of the body this node serves. A report request may give another.
    reports_place: str = DEFAULT_REPORTS_PLACE

    @property
    def effective_database_url(self) -> str:
        """Return the database URL, defaulting to SQLite under the instance folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_path / 'theodoi.sqlite3'}"


def _parse_time(name: str, text: str) -> time:
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise SettingsError(
            f"Setting {name}: invalid time {text!r}; write it as HH:MM, e.g. 08:00"
        ) from None


def _parse_working_hours(raw: dict) -> WorkingHours:
    periods_raw = raw.get("periods", ["08:00-12:00", "13:00-17:00"])
    periods: list[tuple[time, time]] = []
    for item in periods_raw:
        if not isinstance(item, str) or "-" not in item:
            raise SettingsError(
                f"Setting working_hours.periods: invalid period {item!r}; "
                "write each period as HH:MM-HH:MM"
            )
        start_text, end_text = item.split("-", 1)
        start = _parse_time("working_hours.periods", start_text)
        end = _parse_time("working_hours.periods", end_text)
        if end <= start or (periods and start < periods[-1][1]):
            raise SettingsError(
                f"Setting working_hours.periods: period {item!r} must end after it starts "
                "and begin after the previous period ends"
            )
        periods.append((start, end))
    if not periods:
        raise SettingsError("Setting working_hours.periods: at least one period is required")
    weekdays = tuple(raw.get("weekdays", (1, 2, 3, 4, 5)))
    if not weekdays or any(day not in range(1, 8) for day in weekdays):
        raise SettingsError(
            f"Setting working_hours.weekdays: invalid value {list(weekdays)!r}; "
            "list ISO weekdays from 1 (Monday) to 7 (Sunday)"
        )
    return WorkingHours(periods=tuple(periods), weekdays=weekdays)


_SIMPLE_FIELDS = {
    "instance_path": Path,
    "database_url": str,
    "secret_key": str,
    "node_id": str,
    "node_level": int,
    "node_org_unit": str,
    "default_locale": str,
    "log_level": str,
    "page_size": int,
    "calendar_dir": Path,
    "max_upload_bytes": int,
    "public_url": str,
    "scheduler_enabled": bool,
    "warnings_run_at": time,
    "warnings_due_soon_working_days": tuple,
    "warnings_overdue_every_working_days": int,
    "warnings_agency_report_lead_working_days": int,
    "smtp_host": str,
    "smtp_port": int,
    "smtp_username": str,
    "smtp_password": str,
    "smtp_sender": str,
    "smtp_starttls": bool,
    "smtp_timeout_seconds": int,
    "signatures_trust_dir": Path,
    "signatures_pkcs12": Path,
    "signatures_background_bytes": int,
    "federation_retry_base_seconds": float,
    "federation_retry_max_seconds": float,
    "federation_sync_interval_seconds": float,
    "federation_key_grace_hours": int,
    "federation_push_batch_size": int,
    "reports_place": str,
}


def _flatten(data: dict) -> dict:
    """Map the TOML sections ([node], [database], ...) onto flat field names."""
    flat: dict = {}
    for key, value in data.items():
        if key == "working_hours":
            flat["working_hours"] = value
        elif isinstance(value, dict):
            for sub_key, sub_value in value.items():
                flat[f"{key}_{sub_key}"] = sub_value
        else:
            flat[key] = value
    return flat


def _convert_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"Setting {name}: invalid value {value!r}; use true or false")


def _convert_time(name: str, value: object) -> time:
    text = str(value).strip()
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError(text)
        return time(*(int(part) for part in parts))
    except ValueError:
        raise SettingsError(
            f"Setting {name}: invalid time {value!r}; write it as HH:MM or HH:MM:SS, e.g. 06:15"
        ) from None


def _convert_days(name: str, value: object) -> tuple[int, ...]:
    items = value.split(",") if isinstance(value, str) else value
    try:
        days = tuple(int(item) for item in items)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        days = ()
    if not days or any(day < 1 for day in days):
        raise SettingsError(
            f"Setting {name}: invalid value {value!r}; list whole numbers of working days, "
            "1 or more, e.g. [3, 1]"
        )
    return tuple(sorted(set(days), reverse=True))


def _convert(name: str, kind: type, value: object) -> object:
    if kind is bool:
        return _convert_bool(name, value)
    if kind is time:
        return _convert_time(name, value)
    if kind is tuple:
        return _convert_days(name, value)
    try:
        if kind is int and isinstance(value, str):
            return int(value)
        if kind is float and isinstance(value, bool):
            raise TypeError("a boolean is not a number")
        return kind(value)
    except (TypeError, ValueError):
        raise SettingsError(
            f"Setting {name}: invalid value {value!r}; expected {kind.__name__}"
        ) from None


def load_settings(path: Path | str | None = None, environ: dict | None = None) -> Settings:
    """Load settings from the TOML file at `path` (or $THEODOI_CONFIG) and the environment."""
    environ = dict(os.environ if environ is None else environ)
    path = path or environ.get(CONFIG_ENV)
    values: dict = {}
    if path:
        config_path = Path(path)
        if not config_path.is_file():
            raise SettingsError(
                f"Settings file not found: {config_path}; check --config or {CONFIG_ENV}"
            )
        try:
            values = _flatten(tomllib.loads(config_path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"Settings file {config_path} is not valid TOML: {exc}") from None
        for name in ("instance_path", "signatures_trust_dir", "signatures_pkcs12"):
            if values.get(name):
                values[name] = (config_path.parent / values[name]).resolve()
    for name in _SIMPLE_FIELDS:
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = environ[env_name]
    unknown = sorted(set(values) - set(_SIMPLE_FIELDS) - {"working_hours"})
    if unknown:
        raise SettingsError(f"Unknown settings: {', '.join(unknown)}; remove or rename them")
    # An empty PKCS#12 path means the node's own key, not the current folder.
    if values.get("signatures_pkcs12") == "":
        del values["signatures_pkcs12"]
    kwargs: dict = {
        name: _convert(name, _SIMPLE_FIELDS[name], value)
        for name, value in values.items()
        if name in _SIMPLE_FIELDS
    }
    if "working_hours" in values:
        kwargs["working_hours"] = _parse_working_hours(values["working_hours"])
    settings = Settings(**kwargs)
    for name in ("warnings_overdue_every_working_days", "smtp_port", "smtp_timeout_seconds"):
        if getattr(settings, name) < 1:
            raise SettingsError(f"Setting {name}: invalid value {getattr(settings, name)!r}; "
                                "give a whole number, 1 or more")
    if settings.warnings_agency_report_lead_working_days < 0:
        raise SettingsError("Setting warnings_agency_report_lead_working_days: invalid value "
                            f"{settings.warnings_agency_report_lead_working_days!r}; "
                            "give a whole number, 0 or more")
    if settings.default_locale not in ("vi", "en"):
        raise SettingsError(
            f"Setting default_locale: invalid value {settings.default_locale!r}; use vi or en"
        )
    _check_federation(settings)
    _check_reports_place(settings.reports_place)
    return settings


def _check_reports_place(place: str) -> None:
    if not place.strip() or "\n" in place or "\r" in place:
        raise SettingsError(
            f"Setting reports.place: invalid value {place!r}; give the place of issue on one "
            "line, e.g. \"Hà Nội\"")
    if len(place) > MAX_REPORTS_PLACE_LENGTH:
        raise SettingsError(
            f"Setting reports.place: {len(place)} characters is too long; give at most "
            f"{MAX_REPORTS_PLACE_LENGTH} characters")


def _check_federation(settings: Settings) -> None:
    if settings.federation_retry_base_seconds <= 0:
        raise SettingsError(
            "Setting federation.retry_base_seconds: invalid value "
            f"{settings.federation_retry_base_seconds!r}; use a number of seconds above 0")
    if settings.federation_retry_max_seconds < settings.federation_retry_base_seconds:
        raise SettingsError(
            "Setting federation.retry_max_seconds: invalid value "
            f"{settings.federation_retry_max_seconds!r}; use at least "
            f"federation.retry_base_seconds ({settings.federation_retry_base_seconds})")
    if settings.federation_sync_interval_seconds < 0:
        raise SettingsError(
            "Setting federation.sync_interval_seconds: invalid value "
            f"{settings.federation_sync_interval_seconds!r}; use 0 (off) or more seconds")
    # 200 is the parent's limit, node.federation.service.MAX_BATCH_MESSAGES.
    if not 1 <= settings.federation_push_batch_size <= 200:
        raise SettingsError(
            "Setting federation.push_batch_size: invalid value "
            f"{settings.federation_push_batch_size!r}; use 1 (one message per request) to 200")
    if settings.federation_key_grace_hours < 1:
        raise SettingsError(
            "Setting federation.key_grace_hours: invalid value "
            f"{settings.federation_key_grace_hours!r}; use at least 1 hour")


def replace(settings: Settings, **changes: object) -> Settings:
    """Return a copy of `settings` with `changes` applied (for tests and the demo)."""
    return dataclasses.replace(settings, **changes)
