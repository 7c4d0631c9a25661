"""The prompt input: a TextArea that never hands a control character to the terminal.

A prompt pasted in or drawn from a user's pack may carry escapes (``\\x1b[2J``) or bidi
overrides. They are turned into visible symbols as they enter the box, so what the box
shows, and what is sent to both models, is the same harmless text.
"""

from __future__ import annotations

from textual.document._edit import Edit
from textual.document._document import EditResult
from textual.widgets import TextArea

from tui.widgets.safe_text import printable


class PromptBox(TextArea):
    def load_text(self, text: str) -> None:
        super().load_text(printable(text))

    def edit(self, edit: Edit) -> EditResult:
        edit.text = printable(edit.text)
        return super().edit(edit)
