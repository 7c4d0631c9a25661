"""Make untrusted text (model answers, prompts, error reasons) safe to put on a terminal.

Model output is data, never instructions to the terminal: an answer containing ``\\x1b[2J``
must not clear the screen. Control characters are swapped for their visible Unicode
"control pictures" (ESC becomes ␛) before any widget sees them. Line breaks and tabs stay.
Rich markup is a separate risk, handled by building ``rich.text.Text`` (never markup strings).
"""

from __future__ import annotations

from rich.text import Text

_KEEP = {"\n", "\t", "\r"}
# Bidi embeddings, overrides and isolates can make text display in another order than it is
# stored ("Trojan source"); the headless output escapes them too.
_BIDI_CONTROLS = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_CONTROL_PICTURES = {
    code: (0x2400 + code if code < 0x20 else 0x2421 if code == 0x7F else 0xFFFD)
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_BIDI_CONTROLS]
    if chr(code) not in _KEEP
}


def printable(text: str) -> str:
    """``text`` with every terminal control character replaced by a visible symbol."""
    return text.translate(_CONTROL_PICTURES)


def plain(text: str, style: str = "") -> Text:
    """A Rich Text that shows ``text`` literally: no markup parsing, no control characters."""
    return Text(printable(text), style=style)
