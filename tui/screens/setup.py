"""Shown instead of the battle screen when the lineup has fewer than two models."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static


def setup_text(config, report=None) -> Text:
    """Where the lineup search ended and how to write a config (battles.lineup's own words)."""
    from battles.lineup import setup_help_text

    text = Text("Welcome to blindside\n\n", style="bold")
    if report is not None and report.models:
        text.append(report.describe() + "\n")
    if config.models:
        text.append(f"The config {config.path} names {len(config.models)} model(s); "
                    "a battle needs at least two.\n\n")
    text.append(setup_help_text())
    text.append("\nPress q to quit.", style="bold")
    return text


class SetupScreen(Screen):
    BINDINGS = [Binding("q", "app.quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="setup"):
            yield Static(setup_text(self.app.config, self.app.lineup_report), markup=False)
        yield Footer()
