"""The live board: a full-screen view of the room's votes, for a projector.

Raw and style-controlled ratings with their intervals (the leaderboard's chart), votes so
far per voter, agreement, and the room's pooled fingerprint, from the human votes (of one
deck with ``deck``).

Watching: a thread worker holds its own read connection and asks ``PRAGMA data_version``
every ``poll_s`` (0.5 s). That number changes when any other connection, in any process,
commits; a read costs microseconds. On a change the worker recomputes the board, still off
the event loop, and hands the result over with ``call_from_thread``: a vote cast anywhere is
on the board within about poll_s + one recomputation, and keys are never kept waiting.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from tui.screens.fingerprint import FingerprintView
from tui.team_text import name, percent
from tui.widgets.rating_chart import RatingChart

POLL_S = 0.5
MAX_VOTERS_SHOWN = 30


def voters_text(snapshot: Mapping) -> Text:
    voters = snapshot["voters"]
    if not voters:
        return Text("No votes yet.", style="dim")
    width = min(24, max(len(name(v["voter"])) for v in voters))
    text = Text()
    for v in voters[:MAX_VOTERS_SHOWN]:
        shown = name(v["voter"])
        shown = shown if len(shown) <= width else shown[: width - 1] + "…"
        text.append(f"{shown.ljust(width)} {v['votes']:>5}\n")
    if len(voters) > MAX_VOTERS_SHOWN:
        text.append(f"… and {len(voters) - MAX_VOTERS_SHOWN} more voters\n", style="dim")
    return text


def agreement_text(agreement: Mapping | None) -> Text:
    if agreement is None:
        return Text("Agreement shows once two people have voted the same battle.", style="dim")
    kappa = agreement["fleiss_kappa"]
    return Text(
        f"{agreement['battles_with_multiple_votes']} battles with 2+ votes\n"
        f"pairs agreeing: {percent(agreement['pairwise_agreement'])}"
        f" ({percent(agreement['pairwise_agreement_without_ties'])} without ties)\n"
        f"Fleiss' kappa: {'-' if kappa is None else f'{kappa:.2f}'}\n", style="")
    # a tie and both_bad are one verdict, "neither" (scoring.agreement)


class BoardApp(App[None]):
    TITLE = "blindside board"
    CSS = """
    #board-status { height: 1; padding: 0 1; color: $text-muted; }
    #board-top { height: 1fr; }
    #board-ratings { width: 2fr; padding: 0 1; }
    #board-side { width: 1fr; padding: 0 1; }
    .board-title { text-style: bold; padding-top: 1; }
    #board-room { height: auto; max-height: 14; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh_now", "Refresh now"),
        Binding("p", "toggle_room", "Room fingerprint on/off"),
    ]

    def __init__(self, db_path: str | Path, *, deck: str | None = None,
                 models: Mapping | None = None, poll_s: float = POLL_S) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.deck = deck
        self.models = dict(models or {})
        self.poll_s = poll_s
        self.snapshot: dict | None = None
        self.shown = 0  # boards put on screen so far (tests wait on it)
        self.computing = False
        self.error: str | None = None
        self._stop = threading.Event()
        self._refresh_asked = threading.Event()
        self.sub_title = f"deck {deck}" if deck else "all battles"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="board-status", markup=False)
        with Horizontal(id="board-top"):
            with VerticalScroll(id="board-ratings"):
                yield Static(Text("Ratings, 95% intervals: raw ", style="bold").append("●", style="bold cyan")
                             .append("  style-controlled ").append("●", style="bold magenta"),
                             classes="board-title")
                yield RatingChart(id="board-chart")
            with Vertical(id="board-side"):
                yield Static(Text("Votes so far"), classes="board-title")
                yield Static("", id="board-voters", markup=False)
                yield Static(Text("Agreement"), classes="board-title")
                yield Static("", id="board-agreement", markup=False)
        with VerticalScroll(id="board-room"):
            yield Static(Text("The room's fingerprint"), classes="board-title")
            yield FingerprintView(id="board-fingerprint")
        yield Footer()

    def on_mount(self) -> None:
        # The recomputation holds the GIL in short bursts; a short switch interval lets the
        # event loop take it back quickly, so keys answer during a refresh.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        self.query_one("#board-status", Static).update(Text("reading the votes…"))
        self._watch()

    def on_unmount(self) -> None:
        self._stop.set()
        sys.setswitchinterval(self._switch_interval)

    def action_refresh_now(self) -> None:
        self._refresh_asked.set()

    def action_toggle_room(self) -> None:
        room = self.query_one("#board-room")
        room.display = not room.display

    # -- watching ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="board-watch")
    def _watch(self) -> None:
        from battles.store import Store

        worker = get_current_worker()
        seen = None
        try:
            store = Store(self.db_path)  # this thread's own connection, used only to read
        except Exception as exc:
            self.call_from_thread(self._failed, f"cannot open the database: {exc}")
            return
        try:
            while not self._stop.is_set() and not worker.is_cancelled:
                version = store.conn.execute("PRAGMA data_version").fetchone()[0]
                if version != seen or self._refresh_asked.is_set():
                    self._refresh_asked.clear()
                    seen = version
                    self._recompute(store, worker)
                self._stop.wait(self.poll_s)
        finally:
            store.close()

    def _recompute(self, store, worker) -> None:
        from tui.team_data import board_snapshot, deck_battle_ids, load_votes, models_of, twins_map

        started = time.monotonic()
        self.computing = True
        try:
            battle_ids = deck_battle_ids(store, self.deck) if self.deck else None
            rows = load_votes(store, battle_ids)
            twins = twins_map(models_of(rows), self.models)
            snapshot, error = board_snapshot(rows, twins), None
        except Exception as exc:  # keep the last board up and say why
            snapshot, error = None, f"{type(exc).__name__}: {exc}"
        self.computing = False
        if not worker.is_cancelled and not self._stop.is_set():
            try:
                self.call_from_thread(self._show, snapshot, error, time.monotonic() - started)
            except RuntimeError:  # the app closed meanwhile
                pass

    def _failed(self, message: str) -> None:
        self.query_one("#board-status", Static).update(Text(message, style="bold red"))

    def _show(self, snapshot: dict | None, error: str | None, seconds: float) -> None:
        if self._stop.is_set() or not self.screen.query("#board-status"):
            return  # quitting: the widgets may be gone
        status = self.query_one("#board-status", Static)
        if error is not None:
            self.error = error
            status.update(Text(f"could not refresh: {error}", style="bold red"))
            return
        self.snapshot, self.error = snapshot, None
        leaderboard = snapshot["leaderboard"]
        self.query_one(RatingChart).show(leaderboard.models if leaderboard else ())
        self.query_one("#board-voters", Static).update(voters_text(snapshot))
        self.query_one("#board-agreement", Static).update(agreement_text(snapshot["agreement"]))
        self.query_one(FingerprintView).show(snapshot["room"])
        status.update(Text(
            f"{snapshot['votes']} votes on {snapshot['battles']} battles by {len(snapshot['voters'])} voters"
            f" · updated {time.strftime('%H:%M:%S')} ({seconds:.1f} s) · refreshes on every vote"))
        self.shown += 1
