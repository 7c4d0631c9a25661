"""What can go wrong in an import, split by who has to act."""

from __future__ import annotations

from dataclasses import dataclass

from battles.errors import BlindsideError


class ImportFileError(BlindsideError):
    """The file as a whole cannot be imported (missing, unreadable, not a known format,
    broken mid-way). Nothing was written."""

    exit_code = 2


class StrictImportError(BlindsideError):
    """``--strict`` and at least one bad row: the import was rolled back."""

    exit_code = 1


class BadRecord(Exception):
    """One row or record is unusable; the message says why (no line number: the reader adds it)."""


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
