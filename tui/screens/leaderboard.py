"""The leaderboard: ratings raw and style-controlled, style coefficients, position bias, a chart.

Ratings are computed in a thread worker (a bootstrap over many votes takes a while) with a
database connection of its own; the table shows "computing…" meanwhile and the keyboard stays
live. The screen recomputes after every vote (``app.ratings_changed``).

A provisional model (the votes cannot place it yet: it has only won or only lost) shows its
placeholder rating as ``2123?`` and "not placed yet" where the interval would be.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Static
from textual.worker import get_current_worker

from battles.store import Store
from tui.widgets.rating_chart import RatingChart

METHODS = (("Bradley-Terry", "bt"), ("Elo", "elo"), ("TrueSkill", "trueskill"))
METHOD_NAMES = {value: label for label, value in METHODS}
COLUMNS = ("Rank", "Model", "Battles", "Win rate", "Rating", "95% interval",
           "Style-ctrl", "SC interval", "SC rank", "Shift")
BOOTSTRAP_ROUNDS = 100


def filter_choices(store: Store) -> tuple[list[str], list[str]]:
    """The categories and voters present in the store, for the filter menus."""
    return store.categories(), store.voters()


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}"


UNPLACED = "not placed yet"


def _provisional(entry: dict) -> bool:
    ci = entry.get("ci")
    return bool(entry.get("provisional")) or (bool(ci) and any(v is None for v in ci))


def _interval(ci) -> str:
    if not ci:
        return "–"
    if any(v is None for v in ci):
        return UNPLACED
    return f"[{_num(ci[0])}, {_num(ci[1])}]"


def rating_cell(entry: dict) -> Text:
    """The rating, bold; a provisional one dimmed with a '?' (its value is a placeholder)."""
    if entry.get("rating") is None:
        return Text("–", justify="right", style="bold")
    if _provisional(entry):
        return Text(_num(entry.get("rating")) + "?", justify="right", style="dim")
    return Text(_num(entry.get("rating")), justify="right", style="bold")


def interval_cell(entry: dict) -> Text:
    ci = entry.get("ci")
    if ci and any(v is None for v in ci):
        return Text(UNPLACED, style="dim italic")
    return Text(_interval(ci))


def shift_text(shift: int | None) -> Text:
    """Rank movement under style control: ↑ moved up, ↓ moved down."""
    if shift is None:
        return Text("–", style="dim")
    if shift > 0:
        return Text(f"↑{shift}", style="bold green")
    if shift < 0:
        return Text(f"↓{-shift}", style="bold red")
    return Text("=", style="dim")


def table_rows(result: dict) -> list[tuple]:
    rows = []
    for entry in result.get("models", []):
        styled = entry.get("style_controlled") or {}
        win_rate = entry.get("win_rate")
        rows.append((
            Text(str(entry.get("rank", "–")), justify="right"),
            Text(str(entry["model"])),
            Text(str(entry.get("battles", 0)), justify="right"),
            Text("–" if win_rate is None else f"{win_rate:.0%}", justify="right"),
            rating_cell(entry),
            interval_cell(entry),
            rating_cell(styled),
            interval_cell(styled),
            Text(str(styled["rank"]) if styled.get("rank") else "–", justify="right"),
            shift_text(styled.get("rank_shift") if styled else None),
        ))
    return rows


def summary_text(result: dict) -> Text:
    """Style coefficients, position bias and what was left out, as plain text."""
    text = Text()
    coefficients = result.get("style_coefficients")
    if coefficients:
        text.append("Style coefficients ", style="bold")
        text.append("(log-odds of winning per SD more of the feature, 95% interval)\n", style="dim")
        for name, value in coefficients.items():
            ci = value.get("ci") or [float("nan"), float("nan")]
            text.append(f"  {name:<7} {value['log_odds_per_sd']:+.2f} [{ci[0]:+.2f}, {ci[1]:+.2f}]\n")
    else:
        text.append("Style control: no style features to fit yet.\n", style="dim")
    bias = result.get("position_bias")
    if bias:
        lo, hi = bias.get("ci") or (float("nan"), float("nan"))
        text.append("Position bias ", style="bold")
        text.append(f"the left answer wins {bias['left_win_rate']:.1%} of decisive battles "
                    f"[{lo:.1%}, {hi:.1%}] (50% = no bias)\n")
    excluded = result.get("battles_excluded") or {}
    left_out = ", ".join(f"{count} {key.replace('_', ' ')}" for key, count in excluded.items() if count)
    text.append(f"{result.get('battles_used', 0)} battles counted", style="dim")
    text.append(f"; left out: {left_out}" if left_out else "", style="dim")
    return text


class LeaderboardScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("1", "method('bt')", "Bradley-Terry"),
        Binding("2", "method('elo')", "Elo"),
        Binding("3", "method('trueskill')", "TrueSkill"),
        Binding("r", "recompute", "Recompute"),
    ]

    def __init__(self) -> None:
        super().__init__()
        # LeaderboardRequest fields; the rating math (numpy) is imported in the worker thread
        self.request = {"method": "bt", "ci": "bootstrap", "rounds": BOOTSTRAP_ROUNDS,
                        "category": None, "voter": None}
        self.result: dict | None = None
        self.computing = False

    def compose(self) -> ComposeResult:
        categories, voters = filter_choices(self.app.store)
        yield Header()
        with Horizontal(id="lb-filters"):
            yield Select([(label, value) for label, value in METHODS], value="bt", allow_blank=False,
                         id="lb-method")
            yield Select([(Text(c), c) for c in categories], prompt="All categories", id="lb-category")
            yield Select([(Text(v), v) for v in voters], prompt="All voters", id="lb-voter")
        yield Static("", id="lb-status", markup=False)
        with VerticalScroll(id="lb-body"):
            yield DataTable(id="lb-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="lb-summary", markup=False)
            yield Static(Text("Ratings and 95% intervals: raw ", style="bold").append("●", style="bold cyan")
                         .append("  style-controlled ").append("●", style="bold magenta"), id="lb-chart-title")
            yield RatingChart(id="lb-chart")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.app.ratings_changed.subscribe(self, lambda _update: self.recompute())
        self.recompute()

    def palette_commands(self):
        for label, value in METHODS:
            yield SystemCommand(f"Leaderboard: {label}", f"Rate with {label}",
                                lambda value=value: self.action_method(value))

    # -- filters -----------------------------------------------------------------------------

    def action_method(self, method: str) -> None:
        self.query_one("#lb-method", Select).value = method

    def action_recompute(self) -> None:
        self.recompute()

    @on(Select.Changed)
    def filter_changed(self, event: Select.Changed) -> None:
        value = None if event.value is Select.BLANK else event.value
        field = {"lb-method": "method", "lb-category": "category", "lb-voter": "voter"}[event.select.id]
        if self.request[field] == value:
            return
        self.request = {**self.request, field: value}
        self.recompute()

    # -- computing ---------------------------------------------------------------------------

    def recompute(self) -> None:
        self.computing = True
        self.query_one("#lb-status", Static).update(
            Text(f"Computing {METHOD_NAMES[self.request['method']]} ratings…", style="dim"))
        self.query_one(DataTable).loading = self.result is None
        self._compute(self.request)

    @work(thread=True, exclusive=True, group="leaderboard")
    def _compute(self, request: dict) -> None:
        try:
            from tui.leaderboard_data import LeaderboardRequest, load_leaderboard

            with Store(self.app.store.path) as store:
                result, error = load_leaderboard(store, LeaderboardRequest(**request)), None
        except Exception as exc:  # show why, keep the screen
            result, error = None, f"The ratings could not be computed: {type(exc).__name__}: {exc}"
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, request, result, error)

    def _show(self, request: dict, result: dict | None, error: str | None) -> None:
        if request != self.request:
            return  # a newer request is on its way
        self.computing = False
        table = self.query_one(DataTable)
        table.loading = False
        status = self.query_one("#lb-status", Static)
        if error is not None:
            status.update(Text(error, style="bold red"))
            return
        self.result = result
        table.clear()
        for row in table_rows(result):
            table.add_row(*row)
        self.query_one("#lb-summary", Static).update(summary_text(result))
        # TrueSkill's mu lives on its own scale; its style-controlled column is Bradley-Terry.
        self.query_one(RatingChart).show(result.get("models", []), same_scale=request["method"] != "trueskill")
        interval = "bootstrap" if result.get("ci") == "bootstrap" else result.get("ci", "")
        filters = [f for f in (request["category"] and f"category {request['category']}",
                               request["voter"] and f"voter {request['voter']}") if f]
        status.update(Text(f"{METHOD_NAMES[request['method']]} · intervals: {interval}"
                           + (f" · {', '.join(filters)}" if filters else "")
                           + " · style-controlled = contextual Bradley-Terry", style="dim"))
