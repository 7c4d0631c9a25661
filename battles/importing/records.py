"""The good battles of an import file, each with a stable id; bad rows counted in the report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from battles.importing.arena import BATTLE_ID_GIVEN, arena_battle, content_id
from battles.importing.arena_csv import read_arena_csv
from battles.importing.blindside_jsonl import blindside_battle, check_header, is_header
from battles.importing.errors import BadRecord, BadRow, ImportFileError, StrictImportError
from battles.importing.jsonstream import iter_json_array, iter_json_lines
from battles.importing.source import open_text
from battles.store import NewBattle, now_iso

MAX_REPORTED_BAD_ROWS = 10
PROGRESS_EVERY = 10_000  # records between two progress calls: a few a second in a large import
MAX_REASON_CHARS = 300  # a reason quoting a 10 MB cell must not paste it into the terminal


@dataclass
class ImportReport:
    path: Path
    format: str
    added: int = 0
    already_present: int = 0
    bad_rows: int = 0
    first_bad_rows: list[BadRow] = field(default_factory=list)

    def summary(self) -> str:
        battles = "battle" if self.added == 1 else "battles"
        rows = "row" if self.bad_rows == 1 else "rows"
        return (f"Imported {self.added:,} {battles} from {self.path} ({self.already_present:,} already present, "
                f"{self.bad_rows:,} bad {rows} skipped).")


def good_battles(stream, report: ImportReport, strict: bool,
                 progress: Callable[[int], None] | None = None) -> Iterator[NewBattle]:
    """The file's good battles, each with a stable id; bad rows go to the report.
    ``progress(records read so far)`` is called every PROGRESS_EVERY records."""
    seen: set[str] = set()
    held: NewBattle | None = None  # the last battle, until the next record is not one of its votes
    for count, (line, item, id_basis) in enumerate(_read(stream, report), start=1):
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
        if isinstance(item, BadRecord):
            report.bad_rows += 1
            if len(report.first_bad_rows) < MAX_REPORTED_BAD_ROWS:
                reason = str(item)
                if len(reason) > MAX_REASON_CHARS:
                    reason = reason[:MAX_REASON_CHARS] + f"... ({len(reason):,} characters in all)"
                report.first_bad_rows.append(BadRow(line, reason))
            elif strict:
                break  # enough to show; the import is refused anyway
            continue
        if id_basis is BATTLE_ID_GIVEN:
            if held is not None and held.id == item.id:
                held.votes = [*held.votes, *item.votes]  # blindside's export writes them one after another
                continue
        elif report.format != "jsonl":
            item.id = _unique_id(item.id or content_id(id_basis), seen)
        if held is not None:
            yield held
        held = item
    if held is not None:
        yield held
    if strict and report.bad_rows:
        listing = "\n".join(f"  {row}" for row in report.first_bad_rows)
        raise StrictImportError(f"{report.path}: {report.bad_rows:,} bad row(s) with --strict; nothing was "
                                f"imported. Fix them, or import without --strict to skip them:\n{listing}")


def _unique_id(key: str, seen: set[str]) -> str:
    """The k-th record of a file with the same id (or, without one, the same content) gets
    ``key~k``: two identical votes in one file stay two votes, and re-importing the file
    yields the same ids, so it adds nothing."""
    if key not in seen:
        seen.add(key)
        return key
    k = 2
    while f"{key}~{k}" in seen:
        k += 1
    seen.add(f"{key}~{k}")
    return f"{key}~{k}"


def _read(stream, report: ImportReport):
    """(line, NewBattle | BadRecord, what to hash for an id) per record of the file."""
    name = str(report.path)
    source = f"import:{report.format}"
    created = now_iso()  # the time of records that carry none
    if report.format == "arena-csv":
        yield from read_arena_csv(open_text(stream), name=name, source=source, default_created=created)
        return
    records = _json_records(stream, name)
    if report.format == "jsonl":
        yield from _blindside_records(records, name)
        return
    for line, record in records:
        if isinstance(record, BadRecord):
            yield line, record, None
            continue
        if is_header(record):
            raise ImportFileError(f"{name} is a blindside export; import it with --format jsonl (or auto).")
        try:
            battle = arena_battle(record, source=source, default_created=created)
        except BadRecord as bad:
            yield line, bad, None
            continue
        yield line, battle, (BATTLE_ID_GIVEN if battle.votes else record)


def _blindside_records(records, name: str):
    for index, (line, record) in enumerate(records):
        if is_header(record):
            check_header(record, name)
            continue
        if index == 0 and not isinstance(record, BadRecord):
            raise ImportFileError(f"{name} is not a blindside export (its first line has no "
                                  f"\"blindside_export\" header). For LMArena records use --format arena-json.")
        if isinstance(record, BadRecord):
            yield line, record, None
            continue
        try:
            yield line, blindside_battle(record), None
        except BadRecord as bad:
            yield line, bad, None


def _json_records(stream, name: str):
    """(line, record) from a JSON array or JSON Lines, whichever the file holds."""
    peek = stream.peek(1 << 12) if hasattr(stream, "peek") else b""
    if peek.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
        text = open_text(stream)
        try:
            yield from iter_json_array(text)
        except ValueError as exc:
            if isinstance(exc, UnicodeDecodeError):
                raise
            raise ImportFileError(f"{name}: {exc}; the rest of the array cannot be read, so nothing was "
                                  "imported. Fix the file (or write it as JSON Lines, one record per line).") \
                from None
    else:
        yield from iter_json_lines(stream)
