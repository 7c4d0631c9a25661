"""Reading JSON records one at a time, so a file of a million battles never sits in memory.

``iter_json_lines`` yields ``(line, value)`` per non-blank line, ``value`` being a
``BadRecord`` when the line is not valid JSON (the caller skips and counts it).
``iter_json_array`` walks a top-level JSON array element by element over a sliding buffer.
A syntax error inside an array makes the rest of the file unreadable, so it raises
``ValueError`` (the caller refuses the file).

Records are parsed by msgspec, about three times faster than the standard library, which
a million-record import feels. msgspec cannot stop after one value of a longer text, so an
array's records are cut apart at the separator the file uses between its first two
records (``",\n{"`` for one record per line, ``",\n  {"`` for FastChat's ``indent=2``).
A cut is only trusted when the piece parses as exactly one JSON value, which it cannot do
if the separator lay inside a string or a nested object. Anything msgspec refuses (a cut in
the wrong place, ``NaN``, a lone surrogate escape, a real syntax error) goes to the standard
library's ``raw_decode``, whose answer and error messages are the reference; what msgspec
accepts it reads as the standard library does (whole numbers of any size included), so
both paths read the same files the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, TextIO

import msgspec

from battles.importing.errors import BadRecord

CHUNK_CHARS = 1 << 20
# A decode error this close to the end of the buffer may just be a record cut by the chunk edge.
_EDGE = 256
_SPACE = re.compile(r"[ \t\r\n]*")
# After this many records read the slow way, the separator no longer tells records apart
# (unless most records still are cut by it): stop trying it.
_MAX_MISSES = 64
_decoder = json.JSONDecoder()
_fast_decode = msgspec.json.Decoder().decode
_FastError = (msgspec.DecodeError, RecursionError)  # the standard library then says why
_LONE_SURROGATE = ("a string holds a lone surrogate escape (such as \\ud800), which is not text; "
                   "fix or drop the record")


def iter_json_lines(stream: BinaryIO) -> Iterator[tuple[int, Any]]:
    for line_no, line in enumerate(stream, start=1):
        if line.isspace() or not line:
            continue
        try:
            yield line_no, _fast_decode(line)
            continue
        except _FastError:
            pass  # the standard library decides, and says why
        try:
            yield line_no, _text_or_bad(json.loads(line))
        except UnicodeDecodeError:
            yield line_no, BadRecord("not UTF-8 text")
        except RecursionError:
            yield line_no, BadRecord("JSON nested too deeply")
        except ValueError as exc:
            yield line_no, BadRecord(f"invalid JSON ({_short(exc)})")


def iter_json_array(stream: TextIO) -> Iterator[tuple[int, Any]]:
    buf = stream.read(CHUNK_CHARS)
    eof = not buf
    pos = _SPACE.match(buf, 0).end()
    line = 1 + buf.count("\n", 0, pos)
    if pos >= len(buf) or buf[pos] != "[":
        raise ValueError(f"line {line}: expected '[' to start the JSON array")
    pos += 1
    expect_value = True
    first = True
    separator = None  # what lies between two records, up to the next record's "{"
    gap_start = None  # where the text after the last record begins, while it is in buf
    fast = misses = 0
    while True:
        # whitespace, then ']' or a value (or ',' between values)
        while True:
            end = _SPACE.match(buf, pos).end()
            line += buf.count("\n", pos, end)
            pos = end
            if pos < len(buf) or eof:
                break
            buf, pos, eof = _refill(stream, buf, pos)
            gap_start = None
        if pos >= len(buf):
            raise ValueError(f"line {line}: the JSON array is not closed (the file ends early)")
        char = buf[pos]
        if char == "]" and (first or not expect_value):
            rest = buf[pos + 1:].strip() or (stream.read(CHUNK_CHARS).strip() if not eof else "")
            if rest:
                raise ValueError(f"line {line}: unexpected data after the end of the JSON array")
            return
        if not expect_value:
            if char != ",":
                raise ValueError(f"line {line}: expected ',' or ']' between records, found {char!r}")
            pos += 1
            expect_value = True
            continue
        if separator is None and gap_start is not None and char == "{" and misses < _MAX_MISSES:
            separator = buf[gap_start:pos + 1]
        while separator is not None:  # the fast path, record after record
            cut = buf.find(separator, pos)
            if cut == -1:
                break  # the last record of the buffer or of the file
            try:
                value = _fast_decode(buf[pos:cut])
            except _FastError:
                break
            fast += 1
            yield line, value
            end = cut + len(separator) - 1
            line += buf.count("\n", pos, end)
            pos = end
        if separator is not None:
            misses += 1
            if misses >= _MAX_MISSES and misses * 4 > fast:
                separator = None
        while True:
            try:
                value, end = _decoder.raw_decode(buf, pos)
                if end < len(buf) or eof:
                    break
            except RecursionError:
                raise ValueError(f"line {line}: a record is JSON nested too deeply") from None
            except json.JSONDecodeError as exc:
                cut = exc.msg.startswith("Unterminated string") or exc.pos >= len(buf) - _EDGE
                if eof or not cut:
                    err_line = line + buf.count("\n", pos, exc.pos)
                    raise ValueError(f"line {err_line}: invalid JSON ({exc.msg})") from None
            buf, pos, eof = _refill(stream, buf, pos)
        yield line, _text_or_bad(value)
        line += buf.count("\n", pos, end)
        pos = gap_start = end
        expect_value = False
        first = False


def _text_or_bad(value: Any) -> Any:
    """A value the standard library read, or BadRecord if a string in it is not text: the
    standard library lets a lone surrogate escape through (msgspec refuses it), and it
    could never be written to the database as UTF-8."""
    try:
        msgspec.json.encode(value)
    except UnicodeEncodeError:
        return BadRecord(_LONE_SURROGATE)
    return value


def _refill(stream: TextIO, buf: str, pos: int) -> tuple[str, int, bool]:
    """Drop what was consumed, append the next chunk."""
    more = stream.read(max(CHUNK_CHARS, len(buf) - pos))  # grows for one huge record
    return buf[pos:] + more, 0, not more


def _short(exc: ValueError) -> str:
    return getattr(exc, "msg", None) or str(exc).split(":")[0]
