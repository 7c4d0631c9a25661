"""Import one file into the store: detect the format, read, write everything in one transaction."""

from __future__ import annotations

import gc
import sqlite3
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from battles.errors import StoreError
from battles.importing.errors import ImportFileError
from battles.importing.records import ImportReport, good_battles
from battles.importing.source import FORMATS, detect_format, open_binary, read_error
from battles.store import Store

READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError)


def import_file(store: Store, path: str | Path, *, format: str = "auto", strict: bool = False,
                progress: Callable[[int, float], None] | None = None) -> ImportReport:
    """Add the battles of ``path`` to ``store`` in one transaction.

    Bad rows are skipped and counted (the first ten kept with their line numbers); with
    ``strict`` any bad row rolls the whole import back (StrictImportError). A file that
    cannot be read as a whole raises ImportFileError and changes nothing.
    ``progress(records read, share of the file read)`` is called every few thousand records.
    """
    path = Path(path)
    if format == "auto":
        format = detect_format(path)
    elif format not in FORMATS:
        raise ImportFileError(f"unknown import format {format!r}; use auto, {', '.join(FORMATS)}.")
    report = ImportReport(path=path, format=format)
    try:
        with open_binary(path) as stream, _no_cycle_collection():
            on_records = _with_share_read(stream, path, progress) if progress else None
            report.added, report.already_present = store.insert_battles(
                good_battles(stream, report, strict, on_records))
    except READ_ERRORS as exc:
        raise read_error(path, exc) from None
    except sqlite3.DatabaseError as exc:  # e.g. the disk filled up mid-import
        raise StoreError(f"{store.path}: cannot write the import ({exc}); nothing was imported.") from None
    return report


def _with_share_read(stream, path: Path, progress: Callable[[int, float], None]) -> Callable[[int], None]:
    """``progress`` with the share of the file read so far, from the position in the file on
    disk (for gzip, in the compressed bytes)."""
    size = path.stat().st_size or 1
    on_disk = getattr(stream, "fileobj", None) or stream  # GzipFile keeps the file it reads

    def report(records: int) -> None:
        progress(records, min(on_disk.tell() / size, 1.0))

    return report


@contextmanager
def _no_cycle_collection():
    """Pause the cyclic garbage collector: an import makes millions of small objects without
    cycles (refcounting frees them), which it would otherwise rescan again and again
    (about 10% of a large import's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
