"""Reading JSON records one at a time, so a file of a million battles never sits in memory.

``iter_json_lines`` yields ``(line, value)`` per non-blank line, ``value`` being a
``BadRecord`` when the line is not valid JSON (the caller skips and counts it).
``iter_json_array`` walks a top-level JSON array element by element with
``JSONDecoder.raw_decode`` over a sliding buffer. A syntax error inside an array makes the
rest of the file unreadable, so it raises ``ValueError`` (the caller refuses the file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO, TextIO

from battles.importing.errors import BadRecord

CHUNK_CHARS = 1 << 20
# A decode error this close to the end of the buffer may just be a record cut by the chunk edge.
_EDGE = 256
_SPACE = re.compile(r"[ \t\r\n]*")
_decoder = json.JSONDecoder()


def iter_json_lines(stream: BinaryIO) -> Iterator[tuple[int, Any]]:
    loads = json.loads
    for line_no, line in enumerate(stream, start=1):
        if line.isspace() or not line:
            continue
        try:
            yield line_no, loads(line)
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
    while True:
        # whitespace, then ']' or a value (or ',' between values)
        while True:
            end = _SPACE.match(buf, pos).end()
            line += buf.count("\n", pos, end)
            pos = end
            if pos < len(buf) or eof:
                break
            buf, pos, eof = _refill(stream, buf, pos)
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
        yield line, value
        line += buf.count("\n", pos, end)
        pos = end
        expect_value = False
        first = False


def _refill(stream: TextIO, buf: str, pos: int) -> tuple[str, int, bool]:
    """Drop what was consumed, append the next chunk."""
    more = stream.read(max(CHUNK_CHARS, len(buf) - pos))  # grows for one huge record
    return buf[pos:] + more, 0, not more


def _short(exc: ValueError) -> str:
    return getattr(exc, "msg", None) or str(exc).split(":")[0]
