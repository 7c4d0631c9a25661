"""Playing a deck: battles generated beforehand, shown one after another, voted with one key.

Once the voter has given a name, the first battle they have not voted on shows at once: its
prompt on top, both finished answers side by side (the answer panes in their finished state),
the sides in an order drawn per (voter, battle) so a returning voter sees what they saw
before. ``a``/``b``/``t``/``x`` vote and the next battle replaces it straight away: no prompt
box, no model call. With reveal ``each`` the models are named after each vote (``n`` goes on);
with ``end`` (default) only in the summary at the end, which also holds the voter's
fingerprint (``fingerprint_view``). F2 shows the voter their fingerprint at any time.

Before a vote nothing here names a model: the panes are "Model A" / "Model B" and the deck's
model list is never shown.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from battles import decks
from battles.errors import BlindsideError
from battles.store import Store
from tui.screens.fingerprint import FingerprintView, load_fingerprint
from tui.widgets.answer_pane import AnswerPane
from tui.widgets.safe_text import plain, printable

REVEALS = ("end", "each")
CHOICES = {"left": "Model A is better", "right": "Model B is better", "tie": "a tie", "both_bad": "both bad"}
VOTE_HINT = "Vote: a = A is better · b = B is better · t = tie · x = both bad"


def fingerprint_view(store: Store, voter: str) -> Widget | None:
    """The voter's fingerprint, shown under their summary at the end of a deck (as ``blindside
    voters --voter NAME`` reports it); computed in a thread, so the summary shows at once."""
    return DeckFingerprint(store.path, voter, id="summary-fingerprint")


class DeckFingerprint(FingerprintView):
    """``voter``'s fingerprint over every vote in the database, loaded in a thread worker."""

    def __init__(self, db_path, voter: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.db_path, self.voter = db_path, voter
        self.loaded = False  # set once the worker's answer is on screen (tests wait on it)

    def on_mount(self) -> None:
        self.update(Text("Your fingerprint: computing…", style="dim"))
        self._load(dict(self.app.config.models))

    @work(thread=True, exclusive=True, group="deck-fingerprint")
    def _load(self, models) -> None:
        fp, error = load_fingerprint(self.db_path, models, self.voter)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._ready, fp, error)

    def _ready(self, fp: dict | None, error: str | None) -> None:
        if error:
            self.update(Text(error))
        else:
            self.show(fp)
        self.loaded = True


@dataclass(frozen=True)
class Shown:
    """One deck battle as this voter sees it: ``left``/``right`` are the battle's sides."""

    battle: decks.DeckBattle
    swapped: bool  # the battle's model_b is on the left

    @property
    def left(self) -> tuple[str, object]:
        b = self.battle
        return (b.model_b, b.b) if self.swapped else (b.model_a, b.a)

    @property
    def right(self) -> tuple[str, object]:
        b = self.battle
        return (b.model_a, b.a) if self.swapped else (b.model_b, b.b)


class DeckPlayScreen(Screen):
    DEFAULT_CSS = """
    #deck-progress { height: 1; padding: 0 1; color: $text-muted; }
    #deck-prompt { height: auto; max-height: 8; padding: 0 1; background: $boost; }
    """

    BINDINGS = [
        Binding("a", "vote('left')", "A is better"),
        Binding("b", "vote('right')", "B is better"),
        Binding("t", "vote('tie')", "Tie"),
        Binding("x", "vote('both_bad')", "Both bad"),
        Binding("n", "next", "Next battle"),
        Binding("enter", "next", "Next battle", show=False),
        Binding("f2", "app.fingerprint", "Your fingerprint"),  # at any time, as the app's own key
    ]

    # waiting (for the voter's name) -> ready (a battle to vote on) -> revealed (reveal each,
    # after a vote) -> done (the summary)
    phase: reactive[str] = reactive("waiting", init=False)

    def __init__(self, deck: str, reveal: str = "end") -> None:
        super().__init__()
        self.deck = deck
        self.reveal = reveal if reveal in REVEALS else "end"
        self.order: list[str] = []  # the deck's playable battle ids, in order
        self.votes: dict[str, str] = {}  # this voter's votes: battle id -> stored winner
        self.current: Shown | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="deck-progress", markup=False)
        with VerticalScroll(id="deck-prompt"):
            yield Static("", id="deck-prompt-text", markup=False)
        with Horizontal(id="answers"):
            yield AnswerPane("a", id="pane-a")
            yield AnswerPane("b", id="pane-b")
        yield Static("", id="reveal", markup=False)
        yield Static("", id="status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        if self.app.voter:
            self.start()
        else:
            self.ask_name()

    # -- the voter ------------------------------------------------------------------------------

    def ask_name(self) -> None:
        from tui.screens.voter import VoterPrompt

        self.phase = "waiting"
        self._status("Type your name to start: the deck remembers where you stopped.")
        self.app.push_screen(VoterPrompt(self.app.voter), self._named)

    def _named(self, name: str | None) -> None:
        name = (name or "").strip()
        if not name:  # no name: a guest's votes still count, but cannot be taken up again later
            name = f"guest-{secrets.token_hex(3)}"
            self.app.say(f"Voting as {name}. Give a name next time to continue where you stopped.")
        self.app.set_voter(name)
        self.start()

    def palette_commands(self):
        yield SystemCommand("Change voter", "Hand the deck to the next person", self.ask_name)

    # -- the battles ------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        return self.app.store

    def start(self) -> None:
        """(Re)load the deck for the current voter and show the first battle they have not voted on."""
        self.order = decks.playable_battles(self.store, self.deck)
        self.votes = decks.votes_of(self.store, self.deck, self.app.voter)
        self.show_next()

    def remaining(self) -> list[str]:
        return [b for b in self.order if b not in self.votes]

    def show_next(self) -> None:
        todo = self.remaining()
        if not todo:
            self.show_summary()
            return
        battle = decks.load_battle(self.store, todo[0])
        self.current = Shown(battle, decks.shown_swapped(self.app.voter, battle.id))
        reveal = self.query_one("#reveal", Static)
        reveal.update("")  # hidden is not enough: the names must be gone from the screen
        reveal.display = False
        self.query_one("#deck-prompt-text", Static).update(plain(battle.prompt))
        for pane, (_name, record) in zip(self.panes, (self.current.left, self.current.right)):
            pane.reset()
            pane.show_text(printable(record.text))
        number = len(self.order) - len(todo) + 1
        self.query_one("#deck-progress", Static).update(plain(f"Deck {self.deck} · battle {number} of {len(self.order)}"))
        self._status(VOTE_HINT)
        self.panes[0].markdown.focus()  # arrow keys scroll the answer; a/b/t/x still vote
        self.phase = "ready"

    @property
    def panes(self) -> tuple[AnswerPane, AnswerPane]:
        return self.query_one("#pane-a", AnswerPane), self.query_one("#pane-b", AnswerPane)

    def _status(self, text: str) -> None:
        self.query_one("#status", Static).update(plain(text))

    def watch_phase(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "vote":
            return self.phase == "ready"
        if action == "next":
            return self.phase == "revealed"
        return True

    # -- the vote ---------------------------------------------------------------------------------

    def action_vote(self, shown: str) -> None:
        current = self.current
        if current is None or self.phase != "ready":
            return
        winner = decks.stored_winner(shown, current.swapped)
        try:
            self.store.record_vote(current.battle.id, winner, self.app.voter, shown_swapped=current.swapped,
                                   kind="human")
        except BlindsideError as exc:  # e.g. voted meanwhile under the same name elsewhere
            self.app.say(str(exc), severity="warning")
            self.votes = decks.votes_of(self.store, self.deck, self.app.voter)
            self.show_next()
            return
        self.votes[current.battle.id] = winner
        if self.reveal == "each":
            self._reveal(current, shown)
        else:
            self.show_next()

    def _reveal(self, current: Shown, shown: str) -> None:
        (left, left_record), (right, right_record) = current.left, current.right
        self.panes[0].reveal(left, left_record)
        self.panes[1].reveal(right, right_record)
        text = Text()
        text.append(f"You voted {CHOICES[shown]}. ", style="bold")
        text.append(f"Model A was {printable(left)}; Model B was {printable(right)}.")
        text.append("\nn next battle", style="dim")
        widget = self.query_one("#reveal", Static)
        widget.update(text)
        widget.display = True
        self._status("Revealed. Press n for the next battle.")
        self.phase = "revealed"

    def action_next(self) -> None:
        if self.phase == "revealed":
            self.show_next()

    # -- the end ----------------------------------------------------------------------------------

    def show_summary(self) -> None:
        self.current = None
        self.phase = "done"
        self.app.push_screen(DeckSummary(self, self.app.voter))


def voter_choices(store: Store, order: list[str], votes: dict[str, str], voter: str) -> list[tuple]:
    """(number, prompt, left model, right model, chosen) per voted battle, in deck order."""
    rows = []
    for number, battle_id in enumerate(order, 1):
        winner = votes.get(battle_id)
        if winner is None:
            continue
        battle = decks.load_battle(store, battle_id)
        shown = Shown(battle, decks.shown_swapped(voter, battle_id))
        chosen = {"model_a": battle.model_a, "model_b": battle.model_b}.get(winner)
        rows.append((number, battle.prompt, shown.left[0], shown.right[0],
                     chosen if chosen else {"tie": "tie", "both_bad": "both bad"}[winner]))
    return rows


class DeckSummary(Screen):
    """The end of the deck: every vote of this voter with the models named, and their fingerprint."""

    DEFAULT_CSS = """
    #deck-summary { padding: 0 1; }
    #summary-head, #summary-tally { height: auto; padding: 1 0; }
    #summary-table { height: auto; }
    """

    BINDINGS = [Binding("n", "next_voter", "Next voter")]

    def __init__(self, play: DeckPlayScreen, voter: str) -> None:
        super().__init__()
        self.play = play
        self.deck, self.voter, self.order, self.votes = play.deck, voter, list(play.order), dict(play.votes)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="deck-summary"):
            yield Static("", id="summary-head", markup=False)
            yield DataTable(id="summary-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="summary-tally", markup=False)
            yield Static(Text("Your fingerprint: what you choose beyond the content", style="bold"),
                         id="summary-fingerprint-title")
            fingerprint = fingerprint_view(self.app.store, self.voter)
            if fingerprint is not None:
                yield fingerprint
        yield Footer()

    def on_mount(self) -> None:
        rows = voter_choices(self.app.store, self.order, self.votes, self.voter)
        head = Text(f"Deck {printable(self.deck)}: done. ", style="bold")
        head.append(f"{printable(self.voter)}, you voted on {len(rows)} battle{'s' if len(rows) != 1 else ''}. "
                    "Here is who was who.")
        self.query_one("#summary-head", Static).update(head)
        table = self.query_one("#summary-table", DataTable)
        table.add_columns("#", "prompt", "Model A", "Model B", "your choice")
        for number, prompt, left, right, chosen in rows:
            line = printable(" ".join(prompt.split()))
            table.add_row(str(number), Text(line[:50] + ("…" if len(line) > 50 else "")),
                          Text(printable(left)), Text(printable(right)), Text(printable(chosen)))
        tally = Counter(chosen for *_rest, chosen in rows)
        text = Text("Chosen: ", style="bold")
        text.append(" · ".join(f"{printable(name)} {count}" for name, count in tally.most_common()) or "nothing")
        self.query_one("#summary-tally", Static).update(text)

    def action_next_voter(self) -> None:
        """Hand the deck to the next person on this screen."""
        self.dismiss()
        self.play.ask_name()
