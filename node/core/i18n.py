"""Translations through Flask-Babel: Vietnamese by default, English beside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, request
from flask_babel import Babel, force_locale, gettext, lazy_gettext, ngettext

SUPPORTED_LOCALES = ("vi", "en")
LOCALE_COOKIE = "theodoi_locale"

_ = gettext
_l = lazy_gettext
__all__ = ["_", "_l", "gettext", "lazy_gettext", "ngettext", "init_i18n", "select_locale",
           "translated_into"]


def select_locale() -> str:
    """Pick the locale: ?lang=, then the locale cookie, then the node's default."""
    requested = request.args.get("lang") or request.cookies.get(LOCALE_COOKIE)
    if requested in SUPPORTED_LOCALES:
        return requested
    return current_app.config.get("BABEL_DEFAULT_LOCALE", "vi")


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "vi")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(
        __import__("pathlib").Path(__file__).resolve().parents[1] / "translations"
    )
    Babel(app, locale_selector=select_locale, timezone_selector=lambda: "Asia/Ho_Chi_Minh")

    @app.after_request
    def _remember_locale(response):  # noqa: ANN001, ANN202
        requested = request.args.get("lang")
        if requested in SUPPORTED_LOCALES:
            response.set_cookie(LOCALE_COOKIE, requested, max_age=365 * 24 * 3600, samesite="Lax")
        return response


@contextmanager
def translated_into(locale: str) -> Iterator[None]:
    """Translate `gettext` and `lazy_gettext` into `locale` outside a web request.

    CLI commands use this: without an application context Flask-Babel
    returns every message untranslated, that is in English. It pushes an
    application context of a bare Flask app that has only the translations.
    """
    from node.core.catalogs import compile_catalogs

    if locale not in SUPPORTED_LOCALES:
        raise ValueError(f"invalid locale {locale!r}; use vi or en")
    app = Flask(__name__)
    app.config["BABEL_DEFAULT_LOCALE"] = locale
    compile_catalogs()
    init_i18n(app)
    with app.app_context(), force_locale(locale):
        yield
