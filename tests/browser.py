"""A real Chromium (Debian's ``chromium``, driven by playwright) for the browser tests.

Import the fixtures into a test module (``from tests.browser import browser``) and open pages
with ``open_app``. Text on the app's screen is read from what its websocket brings (the
terminal draws on a canvas, so it is not in the page): ``wait_for_screen(page, "text")``.

Without chromium or playwright the tests are skipped with the reason, except where
``BLINDSIDE_REQUIRE_BROWSER=1`` (set by .ci/run): there a missing browser fails them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BLINDSIDE_CHROMIUM", "/usr/bin/chromium")
REQUIRE_ENV = "BLINDSIDE_REQUIRE_BROWSER"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}

# Keeps the app's output as plain text: each binary websocket message, decoded, escapes removed.
_CAPTURE_SCREEN = r"""
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  const escapes = /\x1b\[[0-9;:?<>=]*[ -\/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;
  let raw = "";
  window.__screenText = () => raw.replace(escapes, "");
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data !== "string") raw += decoder.decode(event.data, {stream: true});
      });
    }
  };
})();
"""


def browser_missing() -> str | None:
    """Why there is no browser to test with, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set BLINDSIDE_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module's tests."""
    missing = browser_missing()
    if missing:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def new_context(browser):
    """A fresh browser profile (no cookies) that reaches only this machine and records the screen.

    Requests that would leave the machine fail at once; ``context.outside_requests`` lists them
    as (url, referer) (the page asks Google for a font)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(_CAPTURE_SCREEN)
    context.outside_requests = []

    def only_this_machine(route) -> None:
        request = route.request
        if request.url.startswith(("http://127.0.0.1", "http://localhost")):
            route.continue_()
        else:
            context.outside_requests.append((request.url, request.headers.get("referer")))
            route.abort()

    context.route("**/*", only_this_machine)
    return context


def open_app(context, url: str):
    """A new page at ``url``; returns (page, the HTTP status of the page)."""
    page = context.new_page()
    response = page.goto(url, wait_until="domcontentloaded")
    return page, response.status


def screen_text(page) -> str:
    return page.evaluate("window.__screenText ? window.__screenText() : ''")


def wait_for_screen(page, text: str, *, since: int = 0, timeout: float = 30) -> None:
    """Wait until the app has drawn ``text`` (after the first ``since`` characters of its
    output: pass ``len(screen_text(page))`` from before an action to see only what it drew)."""
    page.wait_for_function(
        "([text, since]) => window.__screenText && window.__screenText().slice(since).includes(text)",
        arg=[text, since], timeout=timeout * 1000)


def type_into_app(page, text: str, *, enter: bool = True) -> None:
    """Keys to the app, through the terminal's own input (as a person typing)."""
    page.focus(".xterm-helper-textarea")
    page.keyboard.type(text)
    if enter:
        page.keyboard.press("Enter")


@contextlib.contextmanager
def screenshot_on_failure(page, path: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot of the failure: {path}")
        raise
