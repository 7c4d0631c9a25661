"""Every key of every screen, built from the screens' own bindings so it cannot drift."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

EXTRA = {
    "Everywhere": [
        ("ctrl+p", "Command palette: every action of the current screen, and 'Change theme'"),
    ],
    "Battle": [
        ("tab", "Move between the prompt box and the answers (vote keys work outside the box)"),
        ("↑ ↓ pgup pgdn", "Scroll an answer (it stops following the stream until you scroll back down)"),
    ],
}


def _sections(app_type: type) -> list[tuple[str, type]]:
    """The app's own class comes in from the running app: importing tui.app here would make
    a cycle (the app imports this screen)."""
    from tui.screens.battle import BattleScreen
    from tui.screens.history import BattleDetailScreen, HistoryScreen
    from tui.screens.leaderboard import LeaderboardScreen
    from tui.screens.models import ModelsScreen

    return [("Everywhere", app_type), ("Battle", BattleScreen), ("Leaderboard", LeaderboardScreen),
            ("History", HistoryScreen), ("A past battle", BattleDetailScreen), ("Models", ModelsScreen)]


def key_rows(owner: type) -> list[tuple[str, str]]:
    """(keys, description) for each binding of ``owner``, one row per action."""
    rows: dict[str, tuple[list[str], str]] = {}
    for item in owner.BINDINGS:
        binding = item if isinstance(item, Binding) else Binding(*item)
        keys = [k.strip() for k in binding.key.split(",")]
        if binding.action in rows:
            rows[binding.action][0].extend(keys)
        else:
            rows[binding.action] = (keys, binding.description or binding.action)
    return [(" / ".join(_pretty(k) for k in keys), description) for keys, description in rows.values()]


def _pretty(key: str) -> str:
    return {"question_mark": "?", "escape": "esc", "slash": "/"}.get(key, key)


def help_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_header=False,
                  box=None, padding=(0, 2), expand=True)
    table.add_column("key", style="bold", no_wrap=True, min_width=14)
    table.add_column("does", ratio=1)
    for keys, description in rows:
        table.add_row(Text(keys), Text(description))
    return table


class HelpScreen(Screen):
    BINDINGS = [Binding("escape,q,f1", "app.pop_screen", "Close help")]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="help"):
            for title, owner in _sections(type(self.app)):
                rows = key_rows(owner) + EXTRA.get(title, [])
                yield Static(help_table(title, rows), classes="help-section")
            yield Static(Text("Themes: open the command palette (ctrl+p) and choose 'Change theme'. "
                              "Model output is always shown as text: markup and escape codes in an "
                              "answer are displayed, never obeyed."), classes="help-section")
        yield Footer()
