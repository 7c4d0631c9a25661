"""Make untrusted text (model answers, prompts, model names, error reasons) safe to show.

The one sanitizer of the program: the widgets and every plain-text command output use
``printable``, so a character is shown the same way on screen and on stdout.

Model output is data, never instructions to the terminal: an answer containing ``\\x1b[2J``
must not clear the screen. Control characters become their visible Unicode "control
pictures" (ESC becomes ␛, a lone carriage return ␍); C1 controls and the invisible
characters that reorder text (bidi embeddings, overrides, isolates and marks: "Trojan
source") become U+FFFD. Tabs, newlines and ``\\r\\n`` line ends stay: they only break lines.
A lone ``\\r`` does not stay: on a terminal it moves back to the start of the line, so later
text would overwrite what came before it. Rich markup is a separate risk, handled by building
``rich.text.Text`` (never markup strings).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported only by ``plain``: the commands that print need none of it
    from rich.text import Text

_KEEP = {"\n", "\t"}
_REORDERING = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_PICTURES = {
    code: (0x2400 + code if code < 0x20 else 0x2421 if code == 0x7F else 0xFFFD)
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_REORDERING]
    if chr(code) not in _KEEP
}
_ONE_LINE = {**_PICTURES, ord("\n"): 0x2424, ord("\t"): 0x2409}  # ␤ and ␉


def printable(text: str) -> str:
    """``text`` with every terminal control character replaced by a visible symbol."""
    if "\r" in text:
        # A lone \r becomes ␍; \r\n is a line end and stays as it is.
        return "\r\n".join(part.translate(_PICTURES) for part in text.split("\r\n"))
    return text.translate(_PICTURES)


def one_line(text: str, limit: int | None = None) -> str:
    """``printable`` for a name or a table cell: line breaks and tabs shown too (a name cannot
    start a line of its own), and cut to ``limit`` characters with "…" when longer."""
    text = text.translate(_ONE_LINE)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


# What JSON leaves raw but a terminal showing it would act on: DEL, C1, the reordering marks,
# and the line and paragraph separators (line breaks to some terminals and JavaScript).
_JSON_RAW_UNSAFE = re.compile("[" + "".join(chr(c) for c in sorted(_PICTURES) if c >= 0x7F) + "\u2028\u2029]")


def json_text(value: Any) -> str:
    """``value`` as indented JSON that is safe on a terminal: the exact text survives
    ``json.loads``, but every character a terminal could act on is written as ``\\uXXXX``."""
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return _JSON_RAW_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def plain(text: str, style: str = "") -> Text:
    """A Rich Text that shows ``text`` literally: no markup parsing, no control characters."""
    from rich.text import Text

    return Text(printable(text), style=style)
