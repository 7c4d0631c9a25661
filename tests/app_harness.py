"""Helpers for the Textual app tests: a lineup on the fake server, waiting, reading the screen."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Markdown, Static

from tui.widgets.markdown_view import MarkdownView

from battles.config import ArenaConfig, Config, ModelConfig
from battles.store import Store
from tests.fake_provider import FakeProvider
from tui.app import BlindsideApp

SIZE = (120, 40)


def lineup(fake: FakeProvider, left_id: str, right_id: str, *, names=("alpha-model", "beta-model"),
           providers=("openai", "ollama"), voter: str | None = "tester") -> Config:
    """Two models on the fake server. Which one is drawn to the left is the arena's coin flip."""
    models = {
        name: ModelConfig(name=name, provider=provider, model=model_id, base_url=fake.base_url(provider))
        for name, provider, model_id in zip(names, providers, (left_id, right_id))
    }
    return Config(arena=ArenaConfig(voter=voter, pairing="uniform"), models=models)


def make_app(config: Config, db: Path, **kwargs) -> BlindsideApp:
    return BlindsideApp(config, Store(db), seed=kwargs.pop("seed", 7), **kwargs)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await pilot.pause(0.02)


async def send_prompt(pilot: Pilot, text: str) -> None:
    screen = pilot.app.screen
    screen.query_one("#prompt").text = text
    await pilot.press("ctrl+s")


async def wait_phase(pilot: Pilot, *phases: str, timeout: float = 15.0) -> None:
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.phase in phases, timeout, f"phase {phases}")


def rendered_lines(app: BlindsideApp) -> list[str]:
    """The characters on the (virtual) terminal right now."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def widget_texts(app: BlindsideApp) -> list[str]:
    """Every text the widget tree holds, shown or scrolled away: titles, labels, Markdown
    sources, table cells, notifications, the header's title and sub-title."""
    texts = [app.title, app.sub_title, app.screen.title or "", app.screen.sub_title or ""]
    texts += [n.message for n in app._notifications]
    for screen in app.screen_stack:
        nodes: list[Widget] = [screen, *screen.walk_children(with_self=False)]
        for node in nodes:
            for title in (node.border_title, node.border_subtitle):
                if title:
                    texts.append(str(title))
            if isinstance(node, (Markdown, MarkdownView)):
                texts.append(node.source)
            elif isinstance(node, Static):
                texts.append(str(node.render()))
            elif isinstance(node, DataTable):
                for row in range(node.row_count):
                    texts += [str(cell) for cell in node.get_row_at(row)]
    return texts


def all_text(app: BlindsideApp) -> str:
    return "\n".join(rendered_lines(app) + widget_texts(app))


def db_rows(db: Path, sql: str, params=()) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()
