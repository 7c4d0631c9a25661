"""One line on stderr, rewritten in place while a long job runs (an import, a deck build, a
judging run) and erased before the summary or an error is printed. Callers create one only
when stderr is a terminal: piped output never gets carriage returns."""

from __future__ import annotations

import sys


class ProgressLine:
    def __init__(self) -> None:
        self.shown = False

    def show(self, text: str) -> None:
        sys.stderr.write(f"\r{text}")
        sys.stderr.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False


def bar(done: int, total: int, width: int) -> str:
    """``[████░░░░]``: the share done, ``width`` cells wide (full when there is nothing to do)."""
    filled = width * done // total if total else width
    return "[" + "█" * filled + "░" * (width - filled) + "]"
