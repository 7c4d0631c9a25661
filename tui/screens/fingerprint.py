"""A voter's fingerprint: what they tend to choose beyond the content.

``FingerprintView(fingerprint)`` draws one fingerprint dict (``scoring.fingerprints``'s shape,
e.g. from ``tui.team_data.fingerprint_of``), so any screen can show it (the end of a deck,
the board's pooled room). ``FingerprintScreen`` shows the app's current voter their own,
computed in a thread worker, on a key at any time (F2).
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from tui.team_text import FEATURE_WORDS, estimate, name, style_line

BAR_WIDTH = 31  # odd: the 50 % mark sits in the middle cell


def _bar(rate: float, ci: list[float] | None) -> Text:
    """``··╌╌●╌│╌╌··``: the share ``●``, its interval ``╌``, the 50 % mark ``│``."""
    cells = ["·"] * BAR_WIDTH
    if ci:
        for i in range(round(ci[0] * (BAR_WIDTH - 1)), round(ci[1] * (BAR_WIDTH - 1)) + 1):
            cells[i] = "╌"
    cells[(BAR_WIDTH - 1) // 2] = "│"
    cells[min(BAR_WIDTH - 1, round(rate * (BAR_WIDTH - 1)))] = "●"
    return Text("".join(cells), style="bold cyan")


def _measure(label: str, rate: float | None, ci, n: int) -> Text:
    line = Text(label.ljust(38))
    if rate is None or not n:
        line.append("not measured yet (no decisive vote where it applies)", style="dim")
        return line
    line.append_text(_bar(rate, ci))
    shown, interval = estimate(rate, ci)
    line.append(f"  {shown} [{interval}%] of {n}")
    return line


def render_fingerprint(fp: Mapping | None) -> Text:
    """The fingerprint as text: one bar per measure (50 % = no lean), then the style fit."""
    if not fp or not fp.get("votes"):
        return Text("No votes yet: vote on a few battles, then look again.")
    out = Text()
    out.append(f"{name(fp.get('voter'))}", style="bold")
    out.append(f"  ·  {fp['votes']} votes, {fp['decisive']} chose a side\n\n")
    for key, (word, _) in FEATURE_WORDS.items():
        p = fp.get(key) or {}
        out.append_text(_measure(f"Chose {word}", p.get("rate"), p.get("ci"), p.get("n", 0)))
        out.append("\n")
    pos = fp.get("position_bias") or {}
    out.append_text(_measure("Chose the answer shown first (left)", pos.get("first_shown_chosen"),
                             pos.get("ci"), pos.get("n", 0)))
    out.append("\n")
    twin = fp.get("twin_pairs") or {}
    out.append_text(_measure("Treated twin beat its plain model", twin.get("rate"), twin.get("ci"), twin.get("n", 0)))
    out.append("\n\n")
    out.append("● the share, ╌ its 95% interval, │ half: a bar clear of │ is a lean beyond chance.\n",
               style="dim")
    out.append(style_line(fp), style="dim")
    return out


def load_fingerprint(db_path, models: Mapping, voter: str) -> tuple[dict | None, str | None]:
    """(``voter``'s fingerprint or None, an error line or None), read through a connection of
    the calling thread's own: call it from a thread worker."""
    from battles.store import Store
    from tui.team_data import fingerprint_of, load_votes, models_of, twins_map

    try:
        with Store(db_path) as store:
            rows = load_votes(store)
        twins = twins_map(models_of(rows), models)
        return fingerprint_of(rows, twins, voter), None
    except Exception as exc:  # a failed report must never take the app down
        return None, f"The fingerprint could not be computed ({type(exc).__name__})."


class FingerprintView(Static):
    """One fingerprint dict, drawn; ``show(fp)`` replaces it."""

    DEFAULT_CSS = """
    FingerprintView { height: auto; padding: 1 2; }
    """

    def __init__(self, fingerprint: Mapping | None = None, **kwargs) -> None:
        super().__init__(render_fingerprint(fingerprint), **kwargs)
        self.fingerprint = fingerprint

    def show(self, fingerprint: Mapping | None) -> None:
        self.fingerprint = fingerprint
        self.update(render_fingerprint(fingerprint))


class FingerprintScreen(Screen):
    """The app's voter's own fingerprint, on the style scale of every vote in the database."""

    BINDINGS = [Binding("escape,q,f2", "app.pop_screen", "Back")]

    def __init__(self, voter: str | None) -> None:
        super().__init__()
        self.voter = voter
        self.loaded = False  # set once the worker's answer is on screen (tests wait on it)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static(Text("Your fingerprint: what you choose beyond the content", style="bold"),
                         id="fp-title")
            yield FingerprintView(id="fp-view")
        yield Footer()

    def on_mount(self) -> None:
        view = self.query_one(FingerprintView)
        if not self.voter:
            view.update(Text("Votes without a name have no fingerprint: set your name first "
                             "(command palette, ctrl+p: 'Change voter')."))
            self.loaded = True
            return
        view.update(Text("computing…", style="dim"))
        self._load(self.app.store.path, dict(self.app.config.models), self.voter)

    @work(thread=True, exclusive=True, group="fingerprint")
    def _load(self, db_path, models, voter: str) -> None:
        fp, error = load_fingerprint(db_path, models, voter)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._ready, fp, error)

    def _ready(self, fp: dict | None, error: str | None) -> None:
        view = self.query_one(FingerprintView)
        if error:
            view.update(Text(error))
        else:
            view.show(fp)
        self.loaded = True
