"""``blindside serve`` in a real Chromium: the token opens the app, the cookie keeps it open."""

from __future__ import annotations

import pytest

from tests.browser import (  # noqa: F401 (browser is a fixture)
    browser,
    new_context,
    open_app,
    screen_text,
    screenshot_on_failure,
    type_into_app,
    wait_for_screen,
)
from tests.helpers_reliability import fake_config_toml, fake_model
from tests.serving import served
from tui.serve_access import FORBIDDEN_TEXT

pytestmark = pytest.mark.slow

VOTER_PROMPT = "Who is voting?"


@pytest.fixture
def lineup_config(tmp_path, fake_server):
    """Two models on the fake server and no voter name, so each session asks for one."""
    config = tmp_path / "blindside.toml"
    config.write_text(fake_config_toml({"alpha": fake_model(fake_server, "openai", "fake:tokens=5"),
                                        "beta": fake_model(fake_server, "ollama", "fake:tokens=6")},
                                       voter=None))
    return config


def test_chromium_opens_the_app_with_the_token_and_reloads_through_the_cookie(browser, tmp_path, lineup_config):
    with served(tmp_path, "--config", str(lineup_config)) as server:
        context = new_context(browser)
        page, status = open_app(context, server.address)
        with screenshot_on_failure(page, tmp_path / "serve-browser.png"):
            assert status == 200
            wait_for_screen(page, VOTER_PROMPT)
            before = len(screen_text(page))
            type_into_app(page, "alice")
            wait_for_screen(page, "voter: alice", since=before)
            assert page.evaluate("document.body.classList.contains('-first-byte')")

            # Without the token in the address, the cookie alone brings the app back.
            response = page.goto(server.base, wait_until="domcontentloaded")
            assert response.status == 200
            assert "voter: alice" not in screen_text(page)  # a new page, a new session
            wait_for_screen(page, VOTER_PROMPT)
            type_into_app(page, "bob")
            wait_for_screen(page, "voter: bob")
        context.close()
        assert context.outside_requests  # the page's font: it must not take the token along
        assert not any(server.token in f"{url} {referer}" for url, referer in context.outside_requests)

        stranger = new_context(browser)  # another browser: no cookie
        page, status = open_app(stranger, server.base)
        with screenshot_on_failure(page, tmp_path / "serve-browser-stranger.png"):
            assert status == 403
            assert page.inner_text("body").strip() == FORBIDDEN_TEXT.strip()
            assert screen_text(page) == ""
        stranger.close()
    assert server.token not in "".join(server.stderr)
