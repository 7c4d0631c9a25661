"""The leaderboard: ratings raw and style-controlled, style coefficients, position bias, a chart,
and (key ``m``) the pairwise win-rate and battle-count matrices. Human votes are rated by
default; key ``v`` cycles through whose votes are rated: the humans, then each judge
(``judge:NAME``, the same ``LeaderboardRequest.voter`` the voter menu and ``--voter`` set),
shown in the screen's title.

Ratings are computed in the app's one leaderboard worker (``tui.leaderboard_data.rate_in_thread``:
a thread, a database connection of its own); the table shows "computing…" meanwhile and the
keyboard stays live. The screen recomputes after every vote (``app.ratings_changed``).

Every rating, interval and name is worded by ``tui.rating_format``, as in the CLI's text: a
model the votes cannot place yet shows "–" and why, never its placeholder number.
"""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual import on
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Static

from battles.config import config_families
from battles.store import Store
from scoring.results import Leaderboard, LeaderboardRequest, ModelRating, PairwiseMatrices, StyleRating
from tui.rating_format import (
    COEFFICIENTS_HEADING,
    FAMILIES_HEADING,
    METHOD_NAMES,
    NONE,
    STYLE_STANDS_FOR,
    best_of_text,
    coefficient_line,
    exclusions_text,
    family_lines,
    interval_text,
    is_best_of_family,
    is_placed,
    model_name,
    position_bias_lines,
    rating_text,
    shift_text,
    win_rate_text,
)
from tui.widgets.rating_chart import RatingChart

METHODS = tuple((METHOD_NAMES[m], m) for m in ("bt", "elo", "trueskill"))
COLUMNS = ("Rank", "Model", "Battles", "Win rate", "Rating", "95% interval",
           "Style-ctrl", "SC interval", "SC rank", "Shift")
BOOTSTRAP_ROUNDS = 100
# the matrix view numbers its columns; a row's label names the model
MATRIX_NAME_WIDTH = 24


def filter_choices(store: Store) -> tuple[list[str], list[str]]:
    """The categories and voters present in the store, for the filter menus."""
    return store.categories(), store.voters()


def judge_voters(store: Store) -> list[str]:
    """The judges (voters of kind judge) with a vote in the store, by name."""
    return [r[0] for r in store.conn.execute("SELECT DISTINCT voter FROM votes WHERE kind = 'judge' ORDER BY 1")]


def next_view(current: str | None, judges: list[str]) -> str | None:
    """After ``current`` (a voter, None for the humans), the next of humans, judge, judge, ...;
    from a human voter picked in the menu, back to the humans."""
    views: list[str | None] = [None, *judges]
    return views[(views.index(current) + 1) % len(views)] if current in views else None


def rating_cell(entry: ModelRating | StyleRating | None, trueskill: bool = False) -> Text:
    """The rating, bold; '–' dimmed when the votes cannot place the model (or there is none)."""
    if entry is None or not is_placed(entry):
        return Text(NONE, justify="right", style="dim")
    return Text(rating_text(entry, trueskill), justify="right", style="bold")


def interval_cell(entry: ModelRating | StyleRating | None, trueskill: bool = False) -> Text:
    text = interval_text(entry, trueskill)
    return Text(text, style="" if entry is not None and is_placed(entry) else "dim italic")


_SHIFT_STYLES = {"↑": "bold green", "↓": "bold red"}


def shift_cell(shift: int | None) -> Text:
    """Rank movement under style control: ↑ moved up, ↓ moved down."""
    text = shift_text(shift)
    return Text(text, style=_SHIFT_STYLES.get(text[0], "dim"))


def model_cell(entry: ModelRating) -> Text:
    """The name; a family's best-rated member is marked 'best of k variants' (see the summary)."""
    text = Text(model_name(entry.model))
    if is_best_of_family(entry):
        text.append(f" ★ {best_of_text(entry.family.raw.best_of)}", style="bold yellow")
    return text


def table_rows(board: Leaderboard) -> list[tuple]:
    ts = board.method == "trueskill"
    rows = []
    for entry in board.models:
        styled = entry.style_controlled
        rows.append((
            Text(str(entry.rank), justify="right"),
            model_cell(entry),
            Text(str(entry.battles), justify="right"),
            Text(win_rate_text(entry.win_rate), justify="right"),
            rating_cell(entry, ts),
            interval_cell(entry, ts),
            rating_cell(styled),
            interval_cell(styled),
            Text(str(styled.rank) if styled else NONE, justify="right"),
            shift_cell(styled.rank_shift if styled else None),
        ))
    return rows


def summary_text(board: Leaderboard) -> Text:
    """Variant families, style coefficients, position bias and what was left out, as plain text."""
    text = Text()
    if board.families:
        text.append(FAMILIES_HEADING + "\n", style="bold")
        for family in board.families:
            for line in family_lines(family, board.method == "trueskill"):
                text.append("  " + line + "\n")
    coefficients = board.style_coefficients
    if coefficients:
        text.append(COEFFICIENTS_HEADING.split(" (", 1)[0] + " ", style="bold")
        text.append("(" + COEFFICIENTS_HEADING.split(" (", 1)[1] + ")\n", style="dim")
        width = max(len(name) for name in coefficients)
        for name, value in coefficients.items():
            text.append("  " + coefficient_line(name, value, width) + "\n")
    else:
        text.append("Style control: no style features to fit yet.\n", style="dim")
    if board.position_bias:
        for line in position_bias_lines(board.position_bias):
            text.append(line + "\n")
    left_out = exclusions_text(board.battles_excluded, skip_zero=True)
    text.append(f"{board.battles_used} battles counted", style="dim")
    text.append(f"; left out: {left_out}" if left_out else "", style="dim")
    for note in board.notes:
        text.append("\n" + model_name(note, width=None), style="dim")
    return text


def matrix_rows(matrices: PairwiseMatrices) -> list[tuple]:
    """One row per model: its name, then per opponent 'win rate (battles)'."""
    rows = []
    for i, name in enumerate(matrices.models):
        cells = [Text(f"{i + 1} {model_name(name, MATRIX_NAME_WIDTH)}")]
        for j in range(len(matrices.models)):
            battles, rate = matrices.battles[i][j], matrices.win_rate[i][j]
            if i == j or not battles:
                cells.append(Text(NONE, justify="right", style="dim"))
                continue
            shown = NONE if rate is None else f"{100 * rate:.0f}%"
            style = "" if rate is None else "green" if rate > 0.5 else "red" if rate < 0.5 else ""
            cells.append(Text.assemble((shown, style), (f" ({battles})", "dim"), justify="right"))
        rows.append(tuple(cells))
    return rows


class LeaderboardScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("1", "method('bt')", "Bradley-Terry"),
        Binding("2", "method('elo')", "online Elo"),
        Binding("3", "method('trueskill')", "TrueSkill"),
        Binding("m", "toggle_matrices", "Matrices"),
        Binding("v", "next_voters", "Humans / judges"),
        Binding("r", "recompute", "Recompute"),
    ]

    def __init__(self, family_globs: tuple[tuple[str, str], ...] = ()) -> None:
        """``family_globs``: (glob, family) pairs, as ``--family GLOB=NAME``; the config's
        ``family`` fields are added on mount."""
        super().__init__()
        # the rating math (numpy) is imported in the worker thread
        self.request = LeaderboardRequest(method="bt", ci="bootstrap", rounds=BOOTSTRAP_ROUNDS, matrices=True,
                                          family_globs=tuple(family_globs))
        self.result: Leaderboard | None = None
        self.computing = False
        self.showing_matrices = False

    def compose(self) -> ComposeResult:
        categories, voters = filter_choices(self.app.store)
        yield Header()
        with Horizontal(id="lb-filters"):
            yield Select([(label, value) for label, value in METHODS], value="bt", allow_blank=False,
                         id="lb-method")
            yield Select([(Text(model_name(c)), c) for c in categories], prompt="All categories", id="lb-category")
            yield Select([(Text(model_name(v)), v) for v in voters], prompt="All voters", id="lb-voter")
        yield Static("", id="lb-status", markup=False)
        with VerticalScroll(id="lb-body"):
            yield DataTable(id="lb-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="lb-summary", markup=False)
            yield Static(Text("Ratings and 95% intervals: raw ", style="bold").append("●", style="bold cyan")
                         .append("  style-controlled ").append("●", style="bold magenta"), id="lb-chart-title")
            yield RatingChart(id="lb-chart")
        with VerticalScroll(id="lb-matrices"):
            yield Static(Text("Win rate of the row model against the column model, decisive battles only "
                              "(battles between them in brackets) · m: back to the ratings", style="dim"),
                         id="lb-matrix-title")
            yield DataTable(id="lb-matrix", cursor_type="cell", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#lb-table", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.query_one("#lb-matrices").display = False
        self.request = dataclasses.replace(self.request, families=config_families(self.app.config))
        self.app.ratings_changed.subscribe(self, lambda _update: self.recompute())
        self.recompute()

    def palette_commands(self):
        for label, value in METHODS:
            yield SystemCommand(f"Leaderboard: {label}", f"Rate with {label}",
                                lambda value=value: self.action_method(value))
        yield SystemCommand("Leaderboard: matrices", "Pairwise win rates and battle counts",
                            self.action_toggle_matrices)

    # -- filters and views -------------------------------------------------------------------

    def action_method(self, method: str) -> None:
        self.query_one("#lb-method", Select).value = method

    def action_recompute(self) -> None:
        self.recompute()

    def action_next_voters(self) -> None:
        """Rate the next of: the humans, each judge."""
        voter = next_view(self.request.voter, judge_voters(self.app.store))
        if voter == self.request.voter:
            return
        self.request = dataclasses.replace(self.request, voter=voter)
        menu = self.query_one("#lb-voter", Select)
        with menu.prevent(Select.Changed):
            try:
                menu.value = Select.BLANK if voter is None else voter
            except Exception:  # a judge that voted after the menu was filled: the title says it
                menu.clear()
        self.recompute()

    def _show_title(self) -> None:
        self.title = f"Leaderboard · votes rated: {model_name(self.request.votes_rated, width=None)}"

    def action_toggle_matrices(self) -> None:
        """Switch between the ratings and the pairwise matrices."""
        self.showing_matrices = not self.showing_matrices
        self.query_one("#lb-body").display = not self.showing_matrices
        self.query_one("#lb-matrices").display = self.showing_matrices
        self.query_one("#lb-matrix" if self.showing_matrices else "#lb-table", DataTable).focus()

    @on(Select.Changed)
    def filter_changed(self, event: Select.Changed) -> None:
        value = None if event.value is Select.BLANK else event.value
        field = {"lb-method": "method", "lb-category": "category", "lb-voter": "voter"}[event.select.id]
        if getattr(self.request, field) == value:
            return
        self.request = dataclasses.replace(self.request, **{field: value})
        self.recompute()

    # -- computing ---------------------------------------------------------------------------

    def recompute(self) -> None:
        from tui.leaderboard_data import rate_in_thread

        self._show_title()
        self.computing = True
        self.query_one("#lb-status", Static).update(
            Text(f"Computing {METHOD_NAMES[self.request.method]} ratings…", style="dim"))
        self.query_one("#lb-table", DataTable).loading = self.result is None
        rate_in_thread(self, self.app.store.path, self.request, self._show, group="leaderboard", exclusive=True)

    def _show(self, request: LeaderboardRequest, board: Leaderboard | None, error: tuple[str, str] | None) -> None:
        if request != self.request:
            return  # a newer request is on its way
        self.computing = False
        table = self.query_one("#lb-table", DataTable)
        table.loading = False
        status = self.query_one("#lb-status", Static)
        if board is None:
            kind, message = error or ("Error", "")
            status.update(Text(f"The ratings could not be computed: {kind}: {message}", style="bold red"))
            return
        self.result = board
        table.clear()
        for row in table_rows(board):
            table.add_row(*row)
        self.query_one("#lb-summary", Static).update(summary_text(board))
        # TrueSkill's mu lives on its own scale; its style-controlled column is Bradley-Terry.
        self.query_one(RatingChart).show(board.models, same_scale=request.method != "trueskill")
        self._show_matrices(board.matrices)
        filters = [f for f in (request.category and f"category {model_name(request.category)}",
                               request.voter and f"voter {model_name(request.voter)}") if f]
        status.update(Text(f"{METHOD_NAMES[request.method]} · intervals: {board.ci}"
                           + (f" · {', '.join(filters)}" if filters else "")
                           + f" · {STYLE_STANDS_FOR} · m: matrices", style="dim"))

    def _show_matrices(self, matrices: PairwiseMatrices | None) -> None:
        grid = self.query_one("#lb-matrix", DataTable)
        grid.clear(columns=True)
        if matrices is None:
            return
        grid.add_column("Model", key="model")
        for i in range(len(matrices.models)):
            grid.add_column(str(i + 1), key=str(i))
        for row in matrix_rows(matrices):
            grid.add_row(*row)
