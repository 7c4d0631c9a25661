"""The blindside Textual app: blind battles, the leaderboard, history, models, help.

The app owns the long-lived parts (config, store, the battle ``Arena``, the voter name and
the live ratings) and the screens read them from ``self.app``. Ratings are computed in a
thread worker, never on the event loop, and announced on ``ratings_changed``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal

from battles.config import Config
from battles.errors import BlindsideError
from battles.store import Store
from scoring.results import Leaderboard, LeaderboardRequest

if TYPE_CHECKING:  # httpx loads in the start-up thread, after the first paint
    import httpx

# The ratings shown at the reveal ("before -> after"): plain Bradley-Terry with the analytic
# (sandwich) interval, cheap enough to recompute after every vote.
LIVE_RATINGS = LeaderboardRequest(method="bt", ci="sandwich", rounds=1, style_control=False)

# Written (with the time) once the first screen is painted: lets bench/ time a cold start.
READY_FILE_ENV = "BLINDSIDE_READY_FILE"


def make_prompt_deck(pack: str, seed: int | None):
    """A shuffled deck of the prompts of pack ``pack`` (a pack name or a file), not a deck of
    battles (``--deck``). Raises ConfigError."""
    from battles.errors import ConfigError
    from prompts import PromptDeck, PromptPackError, load_pack

    try:
        return PromptDeck(load_pack(pack), seed)
    except PromptPackError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class RatingsUpdate:
    """A fresh live-ratings result. ``generation`` counts refreshes, so a screen can tell a
    result computed after its vote from an older one that finished late."""

    generation: int
    result: Leaderboard | None
    error: str | None = None


class BlindsideApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses live elsewhere
    TITLE = "blindside"
    SUB_TITLE = "blind side-by-side battles"

    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("f2", "fingerprint", "Your fingerprint", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, config: Config, store: Store, *, voter: str | None = None, prompts: str | None = None,
                 seed: int | None = None, client: httpx.AsyncClient | None = None,
                 live_ratings: LeaderboardRequest | None = None, lineup_report=None, deck: str | None = None,
                 reveal: str = "end") -> None:
        super().__init__()
        self.config = config
        self.lineup_report = lineup_report  # battles.lineup.LineupReport when no config named models
        self.store = store
        # A deck of battles to play (--deck), and when its models are named (--reveal end|each).
        self.deck_name = deck
        self.reveal = reveal
        # A deck asks each voter's name (its votes are per voter) unless --voter gave one.
        self.voter = voter or (None if deck else config.arena.voter)
        self.prompts = prompts
        self.seed = seed
        self.client = client
        self.live_ratings = live_ratings or LIVE_RATINGS
        self.arena = None  # battles.engine.Arena, built in a thread at start-up
        self._own_client: httpx.AsyncClient | None = None
        self._switch_interval = sys.getswitchinterval()
        self.ratings: Leaderboard | None = None  # latest live ratings (None until first computed)
        self.ratings_generation = 0  # refreshes started
        self._ratings_shown_generation = 0  # the refresh self.ratings comes from
        self.ratings_changed: Signal[RatingsUpdate] = Signal(self, "ratings_changed")
        self.deck = None  # the prompt pack prompts are drawn from (PromptDeck), if any
        if prompts:
            self.deck = make_prompt_deck(prompts, seed)

    @property
    def has_lineup(self) -> bool:
        return len(self.config.models) >= 2

    def on_mount(self) -> None:
        # Answers render in a worker thread; a shorter GIL switch interval (default 5 ms) lets
        # the event loop take the GIL back sooner, so keys stay quick while two answers stream.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        if self.deck_name:  # answers are stored: no lineup, no arena, no model call
            from tui.screens.deck_play import DeckPlayScreen

            self._show_voter()
            self.push_screen(DeckPlayScreen(self.deck_name, self.reveal))
            return
        if not self.has_lineup:
            from tui.screens.setup import SetupScreen

            self.push_screen(SetupScreen())
            return
        from tui.screens.battle import BattleScreen

        self.push_screen(BattleScreen())
        self._show_voter()
        if self.voter is None:
            from tui.screens.voter import VoterPrompt

            self.push_screen(VoterPrompt(), self.set_voter)
        self._start_arena()
        self.refresh_ratings()

    @work(thread=True, group="start-up")
    def _start_arena(self) -> None:
        """Build the battle arena off the event loop: the HTTP client loads the TLS certificates
        and the providers import their modules, which would stall the first battle's streams."""
        import httpx

        from battles.engine import CLIENT_LIMITS, CLIENT_TIMEOUT, Arena
        from battles.providers import make_provider

        for model in self.config.models.values():
            if model.provider in ("openai", "ollama", "anthropic"):  # not llama-cpp: it loads a model
                try:
                    make_provider(model)
                except Exception:  # the battle will report it, anonymously
                    pass
        client = self.client
        if client is None:
            client = self._own_client = httpx.AsyncClient(limits=CLIENT_LIMITS, timeout=CLIENT_TIMEOUT)
        arena = Arena(self.config, self.store, client=client, seed=self.seed)
        self.call_from_thread(self._arena_ready, arena)

    def _arena_ready(self, arena) -> None:
        from tui.screens.battle import BattleScreen

        self.arena = arena
        for screen in self.screen_stack:  # a prompt sent during start-up goes out now
            if isinstance(screen, BattleScreen) and screen.send_pending:
                screen.send_pending = False
                screen.action_send()

    def on_ready(self) -> None:
        ready_file = os.environ.get(READY_FILE_ENV)
        if ready_file:
            import time

            Path(ready_file).write_text(f"{time.time()}\n", encoding="utf-8")

    async def on_unmount(self) -> None:
        sys.setswitchinterval(self._switch_interval)
        if self.arena is not None:
            await self.arena.aclose()
        if self._own_client is not None:
            await self._own_client.aclose()

    # -- voter ----------------------------------------------------------------------------------

    def set_voter(self, name: str | None) -> None:
        self.voter = (name or "").strip() or None
        self._show_voter()

    def _show_voter(self) -> None:
        from tui.widgets.safe_text import printable

        self.sub_title = f"voter: {printable(self.voter)}" if self.voter else "voter: anonymous"

    def action_change_voter(self) -> None:
        from tui.screens.voter import VoterPrompt

        self.push_screen(VoterPrompt(self.voter), self.set_voter)

    # -- prompt packs ---------------------------------------------------------------------------

    def use_pack(self, name: str) -> bool:
        """Draw prompts from pack ``name`` (or a pack file) from now on; False if it won't load."""
        try:
            self.deck = make_prompt_deck(name, self.seed)
        except BlindsideError as exc:
            self.say(str(exc), severity="error")
            return False
        self.prompts = name
        return True

    def next_prompt(self):
        """The next pack prompt (``prompts.Prompt``), or None without a pack."""
        return None if self.deck is None else self.deck.draw()

    # -- live ratings -----------------------------------------------------------------------

    def refresh_ratings(self) -> int:
        """Recompute the live ratings in a thread; returns the generation that result will carry."""
        from tui.leaderboard_data import rate_in_thread

        self.ratings_generation += 1
        generation = self.ratings_generation

        def deliver(_request, board: Leaderboard | None, error: tuple[str, str] | None) -> None:
            reason = None if error is None else f"ratings could not be computed ({error[0]})"
            self._ratings_ready(RatingsUpdate(generation, board, reason))

        # numpy and the rating math load in that thread, off the event loop and after first paint
        rate_in_thread(self, self.store.path, self.live_ratings, deliver, group="ratings")
        return generation

    def _ratings_ready(self, update: RatingsUpdate) -> None:
        if update.result is not None and update.generation >= self._ratings_shown_generation:
            self.ratings = update.result
            self._ratings_shown_generation = update.generation
        self.ratings_changed.publish(update)

    # -- navigation -------------------------------------------------------------------------

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_fingerprint(self) -> None:
        from tui.screens.fingerprint import FingerprintScreen

        if not isinstance(self.screen, FingerprintScreen):
            self.push_screen(FingerprintScreen(self.voter))

    def action_leaderboard(self) -> None:
        from tui.screens.leaderboard import LeaderboardScreen

        self._open(LeaderboardScreen)

    def action_history(self) -> None:
        from tui.screens.history import HistoryScreen

        self._open(HistoryScreen)

    def action_models(self) -> None:
        from tui.screens.models import ModelsScreen

        self._open(ModelsScreen)

    def _open(self, screen_type: type[Screen]) -> None:
        """Show a screen over the battle, replacing another non-battle screen if one is open."""
        if isinstance(self.screen, screen_type):
            return
        if not self.has_lineup and screen_type.__name__ != "HelpScreen":
            self.notify("Write a config with at least two models first.", markup=False, severity="warning")
            return
        from tui.screens.battle import BattleScreen

        if not isinstance(self.screen, BattleScreen) and len(self.screen_stack) > 2:
            self.pop_screen()
        self.push_screen(screen_type())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.deck_name:  # leaderboard and history would name the models of battles still to vote
            yield SystemCommand("Help", "Every key of every screen", self.action_help)
            commands = getattr(screen, "palette_commands", None)
            if commands is not None:
                yield from commands()
            return
        yield SystemCommand("Leaderboard", "Ratings with and without style control", self.action_leaderboard)
        yield SystemCommand("History", "Past battles, searchable", self.action_history)
        yield SystemCommand("Models", "The lineup and a reachability check", self.action_models)
        yield SystemCommand("Help", "Every key of every screen", self.action_help)
        yield SystemCommand("Change voter", "The name recorded on your votes", self.action_change_voter)
        yield SystemCommand("Your fingerprint", "What you choose beyond the content (F2)", self.action_fingerprint)
        commands = getattr(screen, "palette_commands", None)
        if commands is not None:
            yield from commands()

    def say(self, message: str, *, severity: str = "information", title: str = "") -> None:
        """A notification whose text is shown literally (never parsed as markup)."""
        self.notify(message, severity=severity, title=title, markup=False)
