"""The lineup from the config, with a reachability check (one-token request per model, all at once).

This screen is about the config, so it names models, providers and hosts; it is opened only
on request (m, or the command palette), never during a battle by itself.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from battles.config import ModelConfig

COLUMNS = ("Name", "Provider", "Model", "Host", "Check")


def host_of(model: ModelConfig) -> str:
    if model.provider == "llama-cpp":
        return "local file"
    return urlsplit(model.url).netloc or model.url or "–"


def check_cell(result) -> Text:
    if result is None:
        return Text("checking…", style="dim")
    if result.ok:
        return Text(f"ok · {result.latency_ms:.0f} ms", style="bold green")
    text = Text(f"✗ {result.error}", style="bold red")
    if result.hint:
        text.append(f" — {result.hint}", style="")
    return text


class ModelsScreen(Screen):
    """The lineup by contestant name (the name shown at the reveal)."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("c", "check", "Check again"),
    ]

    @property
    def lineup(self) -> dict[str, ModelConfig]:
        return {m.contestant: m for m in self.app.config.models.values()}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="models-head", markup=False)
        yield DataTable(id="models-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        config = self.app.config
        where = str(config.path) if config.path else "no config file"
        self.query_one("#models-head", Static).update(
            Text(f"{len(config.models)} models from {where} · pairing: {config.arena.pairing}", style="dim"))
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        for model in self.lineup.values():
            table.add_row(Text(model.contestant), Text(model.provider), Text(model.model), Text(host_of(model)),
                          check_cell(None), key=model.contestant)
        self.action_check()

    def action_check(self) -> None:
        table = self.query_one(DataTable)
        for name in self.lineup:
            table.update_cell(name, "Check", check_cell(None), update_width=True)
        self._check_all()

    @work(exclusive=True, group="model-check")
    async def _check_all(self) -> None:
        from battles.engine import check_model

        while self.app.arena is None:  # still starting up
            await asyncio.sleep(0.05)
        client = self.app.arena.client
        table = self.query_one(DataTable)

        async def one(model: ModelConfig) -> None:
            result = await check_model(model, client)
            table.update_cell(model.contestant, "Check", check_cell(result), update_width=True)

        await asyncio.gather(*(one(m) for m in self.lineup.values()))
