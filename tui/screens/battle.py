"""The battle screen: a prompt, two anonymous answers streaming side by side, the vote, the reveal.

Phases (``phase``): ``idle`` (no battle yet) -> ``streaming`` -> ``ready`` (both answers in,
votable) or ``unvotable`` (a side failed or was stopped) -> ``voted`` / ``revealed``. The
footer shows only the keys that make sense in the current phase (``check_action``).

Until the vote nothing on this screen names a model: panes are "Model A" / "Model B", a failed
side shows the engine's anonymous reason, and hints (which may name a provider) wait for the
reveal. Model text is shown through the Markdown widget or ``rich.text.Text``, never markup.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Static, TextArea

from battles.errors import BlindsideError
from scoring.results import Leaderboard, ModelRating
from tui.rating_format import is_settled, model_name, settled_rating_text
from tui.widgets.answer_pane import AnswerPane
from tui.widgets.prompt_box import PromptBox
from tui.widgets.safe_text import plain

if TYPE_CHECKING:  # the engine (and httpx) load after the first paint
    from battles.engine import Battle, Reveal

WINNER_WORDS = {"model_a": "A is better", "model_b": "B is better", "tie": "a tie", "both_bad": "both bad"}

IDLE_HINT = "Type a prompt and press ctrl+s to send it to two anonymous models (ctrl+o: draw one from a prompt pack)."
VOTE_HINT = "Vote: a = A is better · b = B is better · t = tie · x = both bad   (f follow-up · r regenerate)"

# (action, palette title, palette help) for the command palette; shown when the action is enabled.
PALETTE = (
    ("send", "Send prompt", "Send the prompt box to both models (ctrl+s)"),
    ("vote('model_a')", "Vote: A is better", "Record the vote and reveal the models"),
    ("vote('model_b')", "Vote: B is better", "Record the vote and reveal the models"),
    ("vote('tie')", "Vote: tie", "Record the vote and reveal the models"),
    ("vote('both_bad')", "Vote: both bad", "Record the vote and reveal the models"),
    ("stop", "Stop streaming", "Cancel both answers"),
    ("new_battle", "New battle", "Clear the panes for a new prompt"),
    ("follow_up", "Follow-up turn", "Ask both models a next question before voting"),
    ("regenerate", "Regenerate", "Draw both answers of this turn again"),
    ("draw_prompt", "Draw a pack prompt", "Fill the prompt box from a prompt pack"),
    ("pick_pack", "Choose a prompt pack", "Pick the pack prompts are drawn from"),
    ("reveal", "Reveal models", "Show who was who in a battle that cannot be voted on"),
)


def rating_of(result: Leaderboard | None, model: str) -> ModelRating | None:
    return None if result is None else result.model(model)


def describe_move(model: str, before: ModelRating | None, after: ModelRating | None) -> str:
    """'name 1012 → 1020 (+8)'; 'new' for a model without an earlier rating; a rating the
    votes do not pin down yet reads 'not settled yet' (see ``tui.rating_format``)."""
    name = model_name(model)
    if after is None:
        return f"{name} not rated yet"
    now = settled_rating_text(after)
    if before is None:
        return f"{name} new → {now}"
    was = settled_rating_text(before)
    if is_settled(after) and is_settled(before):
        return f"{name} {was} → {now} ({after.rating - before.rating:+.0f})"
    return f"{name} {was} → {now}"


def quoted(prompt: str) -> str:
    return "\n".join(f"> {line}" for line in prompt.splitlines() or [""])


class BattleScreen(Screen):
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", priority=True),
        Binding("ctrl+enter", "send", "Send", show=False, priority=True),
        Binding("a", "vote('model_a')", "A is better"),
        Binding("b", "vote('model_b')", "B is better"),
        Binding("t", "vote('tie')", "Tie"),
        Binding("x", "vote('both_bad')", "Both bad"),
        Binding("s", "stop", "Stop"),
        Binding("n", "new_battle", "New battle"),
        Binding("f", "follow_up", "Follow-up"),
        Binding("r", "regenerate", "Regenerate"),
        Binding("v", "reveal", "Reveal"),
        Binding("p", "draw_prompt", "Pack prompt"),
        # In the prompt box p types a p: ctrl+o draws from a pack there too.
        Binding("ctrl+o", "draw_prompt", "Pack prompt", show=False, priority=True),
        Binding("l", "app.leaderboard", "Leaderboard"),
        Binding("h", "app.history", "History"),
        Binding("m", "app.models", "Models", show=False),
        Binding("escape", "leave_prompt", "Leave the prompt box", show=False),
    ]

    phase: reactive[str] = reactive("idle", init=False)

    def __init__(self) -> None:
        super().__init__()
        self.battle: Battle | None = None
        self.follow_up_mode = False
        self.send_pending = False  # sent before the arena was built: goes out once it is
        self.drawn = None  # the pack Prompt in the box, if it came from a pack
        self.last_reveal: Reveal | None = None
        self.last_move: str | None = None  # how the vote moved the ratings, once computed
        self.last_delta_at: float | None = None  # perf_counter of the latest streamed piece
        self._move_wanted: tuple[int, dict | None, Reveal] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="answers"):
            yield AnswerPane("a", id="pane-a")
            yield AnswerPane("b", id="pane-b")
        yield Static("", id="reveal", markup=False)
        yield Static(plain(IDLE_HINT), id="status", markup=False)
        with Horizontal(id="compose"):
            yield PromptBox(id="prompt", soft_wrap=True, show_line_numbers=False,
                           placeholder="Ask both models something…")
            with Vertical(id="compose-side"):
                yield Static("Your prompt", id="prompt-source", markup=False)
                yield Button("Send  ctrl+s", id="send", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.app.ratings_changed.subscribe(self, self._ratings_changed)
        self.query_one("#prompt", TextArea).focus()
        if getattr(self.app, "deck", None) is not None:
            self._draw_into_box()

    # -- helpers ------------------------------------------------------------------------------

    def pane(self, side: str) -> AnswerPane:
        return self.query_one(f"#pane-{side}", AnswerPane)

    @property
    def panes(self) -> tuple[AnswerPane, AnswerPane]:
        return self.pane("a"), self.pane("b")

    def set_status(self, text: str, style: str = "") -> None:
        self.query_one("#status", Static).update(plain(text, style))

    def _set_source(self, text: str) -> None:
        self.query_one("#prompt-source", Static).update(plain(text))

    def watch_phase(self) -> None:
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        phase = self.phase
        if action == "send":
            return None if phase == "streaming" else True
        if action == "vote":
            return True if phase == "ready" else (None if phase == "streaming" else False)
        if action == "stop":
            return phase == "streaming"
        if action == "new_battle":
            return None if phase == "streaming" else phase != "idle"
        if action == "follow_up":
            return phase == "ready"
        if action == "regenerate":
            return phase in ("ready", "unvotable")
        if action == "reveal":
            return phase == "unvotable"
        if action in ("draw_prompt", "pick_pack"):
            return phase != "streaming"
        return True

    def palette_commands(self):
        for action, title, help_text in PALETTE:
            name, _, rest = action.partition("(")
            params = (rest.rstrip(")").strip("'"),) if rest else ()
            if self.check_action(name, params):
                yield SystemCommand(title, help_text, partial(self.run_action, action))

    # -- sending --------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "send":
            self.run_action("send")

    def action_leave_prompt(self) -> None:
        self.pane("a").markdown.focus()

    def action_send(self) -> None:
        box = self.query_one("#prompt", TextArea)
        text = box.text.strip()
        if not text:
            self.app.say("Type a prompt first (or press ctrl+o to draw one from a prompt pack).", severity="warning")
            return
        if self.phase == "streaming":
            return
        battle = self.battle
        if self.follow_up_mode and battle is not None and self.phase == "ready":
            histories = {p.side: f"{p.document}\n\n---\n\n{quoted(text)}\n\n" for p in self.panes}
            self.follow_up_mode = False
            self._set_source(f"Follow-up · turn {battle.turn + 1}")
            self._stream(partial(battle.follow_up, text), histories)
            return
        if battle is not None and self.phase == "ready":
            self.app.say("The previous battle was left without a vote.")
        if self.app.arena is None:
            self.send_pending = True
            self.app.say("Starting up: your prompt goes out as soon as the models are ready.")
            return
        pack = category = None
        if self.drawn is not None and text == self.drawn.text.strip():
            pack, category = self.drawn.pack, self.drawn.category
        try:
            battle = self.app.arena.start(text, pack=pack, category=category)
        except BlindsideError as exc:
            self.app.say(str(exc), severity="error")
            return
        self._clear_battle()
        self.battle = battle
        self._stream(battle.run, {"a": "", "b": ""})

    def _on_delta(self, side: str, piece: str) -> None:
        self.pane(side).feed(piece)
        self.last_delta_at = time.perf_counter()

    @work(exclusive=True, group="battle")
    async def _stream(self, step, histories: dict[str, str]) -> None:
        battle = self.battle
        self.phase = "streaming"
        self.set_status("Both answers are streaming… press s to stop them.")
        for pane in self.panes:
            pane.start_turn(histories[pane.side])
        self.action_leave_prompt()
        failure: str | None = None
        try:
            await step(self._on_delta)
        except BlindsideError as exc:
            failure = str(exc)
        except Exception as exc:  # never let a bug take the app down; never print its text here
            failure = f"the battle stopped unexpectedly ({type(exc).__name__})"
            self.log.error(f"battle failed: {type(exc).__name__}")
        finally:
            for pane in self.panes:
                pane.finish(self._side_error(battle, pane.side))
        for pane in self.panes:
            await pane.wait_shown()
        self._after_turn(battle, failure)

    @staticmethod
    def _side_error(battle: Battle, side: str) -> str | None:
        from battles.engine import STOPPED, anonymous_error

        error = battle.results[side].error
        if not error:
            return None
        if error == STOPPED:
            return f"Model {side.upper()} was stopped before its answer was complete."
        return anonymous_error(side, error)

    def _after_turn(self, battle: Battle, failure: str | None) -> None:
        if battle is not self.battle:
            return
        if battle.can_vote:
            self.phase = "ready"
            self.set_status(VOTE_HINT)
        else:
            self.phase = "unvotable"
            reason = failure or "a side failed or was stopped"
            self.set_status(f"This battle can't be voted on ({reason}). "
                            "r regenerate · n new battle · v reveal who was who", "bold")

    # -- stop, regenerate, follow-up, new -------------------------------------------------------

    def action_stop(self) -> None:
        if self.battle is not None and self.phase == "streaming":
            self.battle.cancel()
            self.set_status("Stopping…")

    def action_regenerate(self) -> None:
        battle = self.battle
        if battle is None or self.phase not in ("ready", "unvotable"):
            return
        self.follow_up_mode = False
        self._stream(battle.regenerate, {p.side: p.history for p in self.panes})

    def action_follow_up(self) -> None:
        if self.battle is None or self.phase != "ready":
            return
        self.follow_up_mode = True
        box = self.query_one("#prompt", TextArea)
        box.text = ""
        self.drawn = None
        self._set_source(f"Follow-up · turn {self.battle.turn + 1}")
        self.set_status("Write the follow-up question and press ctrl+s; both models see their own answers.")
        box.focus()

    def action_new_battle(self) -> None:
        if self.phase == "streaming":
            return
        self._clear_battle()
        self.battle = None
        self.phase = "idle"
        box = self.query_one("#prompt", TextArea)
        box.text = ""
        self.drawn = None
        self._set_source("Your prompt")
        if getattr(self.app, "deck", None) is not None:
            self._draw_into_box()
        self.set_status(IDLE_HINT)
        box.focus()

    def _clear_battle(self) -> None:
        self.follow_up_mode = False
        self.last_reveal = None
        self._move_wanted = None
        for pane in self.panes:
            pane.reset()
        reveal = self.query_one("#reveal", Static)
        reveal.update("")
        reveal.display = False

    # -- prompt packs ----------------------------------------------------------------------------

    def action_draw_prompt(self) -> None:
        if getattr(self.app, "deck", None) is None:
            self.action_pick_pack()
            return
        self._draw_into_box()
        self.query_one("#prompt", TextArea).focus()

    def action_pick_pack(self) -> None:
        from tui.screens.pack_picker import PackPicker

        def chosen(name: str | None) -> None:
            if name and self.app.use_pack(name):
                self._draw_into_box()

        self.app.push_screen(PackPicker(), chosen)

    def _draw_into_box(self) -> None:
        prompt = self.app.next_prompt()
        if prompt is None:
            return
        self.drawn = prompt
        self.follow_up_mode = False
        self.query_one("#prompt", TextArea).text = prompt.text
        label = f"{prompt.category} · {prompt.pack}" if prompt.category else prompt.pack
        self._set_source(label or "Pack prompt")

    # -- the vote and the reveal ---------------------------------------------------------------

    def action_vote(self, winner: str) -> None:
        battle = self.battle
        if battle is None or self.phase != "ready" or not battle.can_vote:
            return
        before = self.app.ratings
        try:
            reveal = battle.vote(winner, self.app.voter)
        except BlindsideError as exc:
            self.app.say(str(exc), severity="error")
            return
        self.phase = "voted"
        self._move_wanted = (self.app.refresh_ratings(), before, reveal)
        self.show_reveal(reveal)

    def action_reveal(self) -> None:
        battle = self.battle
        if battle is None or self.phase != "unvotable":
            return
        try:
            reveal = battle.reveal()
        except BlindsideError as exc:
            self.app.say(str(exc), severity="error")
            return
        self.phase = "revealed"
        self.show_reveal(reveal)

    def show_reveal(self, reveal: Reveal, move: str | None = None) -> None:
        """Names, stats, the leak flag and (once computed) how the vote moved the ratings."""
        self.last_reveal, self.last_move = reveal, move
        self.pane("a").reveal(reveal.model_a, reveal.a)
        self.pane("b").reveal(reveal.model_b, reveal.b)
        text = Text()
        if reveal.winner:
            text.append(f"You voted {WINNER_WORDS.get(reveal.winner, reveal.winner)}. ", style="bold")
        else:
            text.append("Not voted. ", style="bold")
        text.append(f"Model A was {reveal.model_a}; Model B was {reveal.model_b}.")
        if reveal.identity_leak:
            names = ", ".join(reveal.leaked_names) or "a model name"
            text.append(f"\n⚠ Identity leak: an answer named {names}. "
                        "This vote is kept but not counted in the ratings.", style="bold yellow")
        if reveal.winner and not reveal.identity_leak:
            text.append("\nRatings (Bradley-Terry): ")
            text.append(move or "updating…", style="" if move else "dim")
        text.append("\nn new battle · l leaderboard · h history", style="dim")
        widget = self.query_one("#reveal", Static)
        widget.update(text)
        widget.display = True
        self.set_status("Revealed." if reveal.winner else "Revealed (this battle was not voted on).")

    def _ratings_changed(self, update) -> None:
        wanted = self._move_wanted
        if wanted is None or update.generation < wanted[0]:
            return
        generation, before, reveal = wanted
        self._move_wanted = None
        if update.result is None:
            move = update.error or "the ratings could not be computed"
        else:
            move = " · ".join(describe_move(name, rating_of(before, name), rating_of(update.result, name))
                              for name in (reveal.model_a, reveal.model_b))
        if self.last_reveal is reveal:
            self.show_reveal(reveal, move)
