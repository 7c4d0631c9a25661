"""A small modal asking once for the voter's name (kept for the session)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


QUESTION = "Who is voting? The name is stored with your votes (leave empty to stay anonymous)."


class VoterPrompt(ModalScreen[str | None]):
    """Returns the name typed (None: vote anonymously)."""

    BINDINGS = [Binding("escape", "skip", "Vote anonymously")]

    def __init__(self, current: str | None = None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="voter-dialog", classes="dialog"):
            yield Label(QUESTION, id="voter-question", markup=False)
            yield Input(value=self.current or "", placeholder="your name", id="voter-name", max_length=80)
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="voter-ok", variant="primary")
                yield Button("Anonymous", id="voter-skip")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "voter-ok":
            self.dismiss(self.query_one(Input).value.strip() or None)
        else:
            self.dismiss(None)

    def action_skip(self) -> None:
        self.dismiss(None)
