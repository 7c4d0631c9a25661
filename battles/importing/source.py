"""Opening an import file: plain or gzip (recognised by its magic bytes, whatever its name),
and recognising which format it holds from its first bytes."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from pathlib import Path
from typing import BinaryIO

from battles.importing.errors import ImportFileError

GZIP_MAGIC = b"\x1f\x8b"
FORMATS = ("jsonl", "arena-json", "arena-csv")
EXPORT_MARKER = "blindside_export"  # key of the header line of blindside's own JSONL export
SNIFF_BYTES = 1 << 16
MAX_FIRST_LINE = 64 << 20  # a first JSONL line may hold a long conversation


def file_size(path: Path) -> int:
    """The size on disk of a file to import; ImportFileError if there is no such file."""
    if not path.exists():
        raise ImportFileError(f"{path}: no such file. Check the path and try again.")
    if path.is_dir():
        raise ImportFileError(f"{path} is a folder; give the path of a file to import.")
    try:
        return path.stat().st_size
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}.") from None


def open_binary(path: Path) -> BinaryIO:
    """The file's content as bytes, decompressed when it is gzip."""
    file_size(path)
    try:
        with open(path, "rb") as probe:
            magic = probe.read(2)
        return gzip.open(path, "rb") if magic == GZIP_MAGIC else open(path, "rb")
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror or exc}.") from None


def open_text(binary: BinaryIO) -> io.TextIOWrapper:
    # utf-8-sig: a byte-order mark written by spreadsheet tools is not part of the data.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")


def read_error(path: Path, exc: BaseException) -> ImportFileError:
    """A clear message for a file that breaks while being read."""
    if isinstance(exc, (EOFError, gzip.BadGzipFile, zlib.error)):
        return ImportFileError(f"{path}: the gzip data is truncated or corrupt ({exc}); nothing was imported. "
                               "Download or copy the file again.")
    if isinstance(exc, UnicodeDecodeError):
        return ImportFileError(f"{path}: not UTF-8 text (byte {exc.start} of a chunk cannot be decoded); "
                               "nothing was imported. Save the file as UTF-8 and try again.")
    return ImportFileError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}; nothing was imported.")


def detect_format(path: Path) -> str:
    """``jsonl`` (blindside's export), ``arena-json`` (LMArena records, array or JSON Lines)
    or ``arena-csv``, from the content; ImportFileError when it is none of them."""
    stream = open_binary(path)
    try:
        head = stream.read(SNIFF_BYTES)
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
        if not text:
            raise ImportFileError(f"{path} is empty; there is nothing to import.")
        if text[0] == "[":
            return "arena-json"
        if text[0] == "{":
            first_line = head + (b"" if b"\n" in head else stream.readline(MAX_FIRST_LINE))
            return _json_lines_kind(path, first_line.split(b"\n", 1)[0])
        return _csv_kind(path, text)
    except (OSError, EOFError, zlib.error) as exc:
        raise read_error(path, exc) from None
    finally:
        stream.close()


def _json_lines_kind(path: Path, first_line: bytes) -> str:
    try:
        first = json.loads(first_line)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to be a record
        raise ImportFileError(
            f"{path} starts with '{{' but its first line is not a complete JSON object. blindside reads "
            "JSON Lines (one object per line) or a JSON array of records.") from None
    if isinstance(first, dict) and (EXPORT_MARKER in first or {"status", "responses"} <= first.keys()):
        return "jsonl"
    return "arena-json"


def _csv_kind(path: Path, text: str) -> str:
    header_line = text.split("\n", 1)[0]
    try:
        header = next(csv.reader([header_line]))
    except csv.Error:
        header = []
    names = {name.strip().lower() for name in header}
    if {"model_a", "model_b", "winner"} <= names:
        return "arena-csv"
    raise ImportFileError(
        f"{path} is not a format blindside can import. Expected a blindside JSONL export, LMArena battle "
        "records (JSON array or JSON Lines) or a CSV with model_a, model_b and winner columns.")
