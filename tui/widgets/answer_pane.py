"""One anonymous side of a battle: a title, the answer streaming in as Markdown, errors, stats.

Streaming: ``feed`` only queues text (it is called for every token, from the engine's
callback), and a pump task hands what has queued to the ``MarkdownView`` at most ``FRAME_S``
apart (longer if rendering the unfinished tail got slow). Two fast streams thus cost a
bounded number of renders per second and never starve the keyboard. When the side ends the
last queued text is appended at once: the view then shows exactly the final text.

The pane shows ``Model A`` / ``Model B`` until the battle is revealed; nothing here knows
which model answers.
"""

from __future__ import annotations

import asyncio
import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tui.widgets.markdown_view import MarkdownView
from tui.widgets.safe_text import plain, printable

FEATURE_LABELS = (("emoji", "emoji"), ("header", "headers"), ("list", "list items"), ("bold", "bold"),
                  ("code_blocks", "code blocks"), ("words", "words"))


def _seconds(ms: float | None) -> str:
    return "–" if ms is None else f"{ms / 1000:.2f} s"


def format_stats(record) -> Text:
    """Time to first token, duration, tokens and style features of one revealed side."""
    features = record.features or {}
    parts = [f"first token {_seconds(record.ttft_ms)}", f"total {_seconds(record.duration_ms)}",
             f"{record.tokens if record.tokens is not None else '–'} tokens"]
    parts += [f"{features[key]} {label}" for key, label in FEATURE_LABELS if features.get(key) is not None]
    return Text(" · ".join(parts), style="dim")


class AnswerPane(Vertical):
    """Shows one side's answer. ``side`` is ``"a"`` or ``"b"``."""

    FRAME_S = 0.1  # the most often a pane re-renders while streaming (10 Hz: smooth, and cheap)

    DEFAULT_CSS = """
    AnswerPane { width: 1fr; height: 1fr; border: round $primary-darken-2; padding: 0 1; }
    AnswerPane:focus-within { border: round $primary; }
    AnswerPane > MarkdownView { height: 1fr; }
    AnswerPane .pane-error { color: $error; display: none; }
    AnswerPane .pane-stats { display: none; }
    AnswerPane.-failed .pane-error, AnswerPane.-revealed .pane-stats { display: block; }
    """

    class Shown(Message):
        """The pane shows its side's complete text for this turn."""

        def __init__(self, pane: AnswerPane) -> None:
            super().__init__()
            self.pane = pane

    def __init__(self, side: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.side = side
        self.label = f"Model {side.upper()}"
        self.border_title = Text(self.label)
        self.text = ""  # this turn's answer so far (as received, before display cleaning)
        self.history = ""  # Markdown of earlier turns, shown above this turn
        self.streaming = False
        self.shown_at: float | None = None  # perf_counter when the complete text was rendered
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._finished = False
        self._done = asyncio.Event()
        self._shown = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield MarkdownView(classes="answer")
        yield Static("", classes="pane-error", markup=False)
        yield Static("", classes="pane-stats", markup=False)

    @property
    def markdown(self) -> MarkdownView:
        return self.query_one(MarkdownView)

    @property
    def document(self) -> str:
        """Exactly what the pane should show once the turn has ended."""
        return self.history + printable(self.text)

    # -- a turn -----------------------------------------------------------------------------

    def start_turn(self, history: str = "") -> None:
        """Clear this turn's answer (keeping ``history`` above it) and start streaming."""
        self.history = history
        self.text = ""
        self._pending.clear()
        self._wake = asyncio.Event()
        self._finished = False
        self._done = asyncio.Event()
        self._shown = asyncio.Event()
        self.shown_at = None
        self.streaming = True
        self.remove_class("-failed")
        self.query_one(".pane-error", Static).update("")
        self.run_worker(self._pump(), group=f"pane-{self.side}", exclusive=True)

    def feed(self, piece: str) -> None:
        """Queue streamed text. Cheap: safe to call for every token."""
        if not self.streaming or not piece:
            return
        self.text += piece
        self._pending.append(printable(piece))
        self._wake.set()

    def finish(self, problem: str | None = None) -> None:
        """The side has ended; ``problem`` is an anonymous line saying why it is incomplete."""
        if problem:
            self.add_class("-failed")
            self.query_one(".pane-error", Static).update(plain(problem))
        self._finished = True
        self._done.set()
        self._wake.set()

    async def wait_shown(self) -> None:
        """Until the complete text of the current turn is on screen."""
        await self._shown.wait()

    async def _pump(self) -> None:
        view = self.markdown
        view.update(self.history)
        view.anchor()  # stick to the bottom while text arrives, until the user scrolls up
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self._pending:
                    chunk = "".join(self._pending)
                    self._pending.clear()
                    view.append(chunk)
                if self._finished and not self._pending:
                    break
                # Coalesce: a frame at most, and not before the last text is drawn (so a slow
                # render makes the next chunk bigger instead of queueing renders).
                started = time.perf_counter()
                await view.wait_rendered()
                rest = self.FRAME_S - (time.perf_counter() - started)
                if rest > 0 and not self._finished:  # the end of the answer cuts the wait short
                    try:
                        await asyncio.wait_for(self._done.wait(), rest)
                    except asyncio.TimeoutError:
                        pass
        finally:
            self.streaming = False
        await view.wait_rendered()
        self.call_after_refresh(self._mark_shown)

    def _mark_shown(self) -> None:
        self.shown_at = time.perf_counter()
        self._shown.set()
        self.post_message(self.Shown(self))

    def show_text(self, history: str) -> None:
        """Show a finished document at once (no streaming): history browsing, resets."""
        self.history, self.text, self.streaming = history, "", False
        self.markdown.update(history)
        self.markdown.scroll_home(animate=False)

    # -- after the vote ---------------------------------------------------------------------

    def reveal(self, name: str, record) -> None:
        title = Text(f"{self.label} · ")
        title.append(printable(name), style="bold")
        self.border_title = title
        self.query_one(".pane-stats", Static).update(format_stats(record))
        if record.error and record.error_hint:  # the hint may name the provider: only now
            self.add_class("-failed")
            detail = f"{self.label} failed: {record.error} — {record.error_hint}"
            self.query_one(".pane-error", Static).update(plain(detail))
        self.add_class("-revealed")

    def reset(self) -> None:
        """Back to an empty anonymous pane for a new battle."""
        self.border_title = Text(self.label)
        self.remove_class("-revealed", "-failed")
        self.query_one(".pane-stats", Static).update("")
        self.query_one(".pane-error", Static).update("")
        self.show_text("")
