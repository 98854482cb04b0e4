"""Shared parts of the browser tests: one headless Chromium, nodes served on loopback ports.

Chromium starts once for the tests of this folder. Each test opens its own
browser contexts (cookies, storage), which are closed after it, so no two tests
share a session. A missing Chromium or Playwright fails the test with
what to install.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
TIMEOUT_MS = 20_000


def sync_playwright_or_fail():  # noqa: ANN201
    """Return Playwright's sync entry point, failing the test when a tool is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: run `pip install -e '.[test]'` "
                    "(or `pip install playwright`)", pytrace=False)
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: install Debian's package with "
                    "`apt-get install chromium`", pytrace=False)
    return sync_playwright


@pytest.fixture(scope="package")
def chromium() -> Iterator:
    """Headless Chromium, launched once for the browser tests."""
    sync_playwright = sync_playwright_or_fail()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                              headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser(chromium) -> Iterator:  # noqa: ANN001
    """The shared Chromium; every context the test opens is closed after it."""
    yield chromium
    for context in list(chromium.contexts):
        context.close()


@pytest.fixture
def page(browser):  # noqa: ANN001, ANN201
    """A page in a new browser context, with the tests' default timeout."""
    opened = browser.new_context(accept_downloads=True).new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    return opened


@contextmanager
def served(app: Flask) -> Iterator[str]:
    """Serve `app` on a free 127.0.0.1 port in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="node-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["theodoi_engine"].dispose()
