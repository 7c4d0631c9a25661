"""Incremental parsers for streamed model answers: bytes in, events out.

Two wire formats cover every provider: Server-Sent Events (OpenAI-compatible servers,
Anthropic) and newline-delimited JSON (Ollama). Both parsers are fed raw byte chunks exactly as
they come off the socket, so a chunk may end anywhere: in the middle of a line, of a CRLF pair
or of a multi-byte UTF-8 character. Nothing here does I/O or knows about httpx.

For any bytes input a parser either returns events or raises ``StreamFormatError`` with a
message a person can read; it never raises anything else, and it never buffers more than its
configured limits. After an error the parser is spent: every later call raises the same error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

__all__ = [
    "DEFAULT_MAX_EVENT",
    "DEFAULT_MAX_LINE",
    "LineSplitter",
    "NDJSONParser",
    "SSEEvent",
    "SSEParser",
    "StreamFormatError",
    "loads_json",
]

DEFAULT_MAX_LINE = 1 << 20  # 1 MiB: no real stream sends a longer line
DEFAULT_MAX_EVENT = 4 << 20  # 4 MiB: total data of one SSE event (multi-line data)

_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = "\ufeff"


class StreamFormatError(ValueError):
    """The bytes are not a well-formed stream of the expected kind. The message says why."""


def _size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"


def _as_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError(f"stream parsers take bytes, not {type(chunk).__name__}")


class LineSplitter:
    """Splits a byte stream into decoded text lines.

    A line ends at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (as the SSE specification says), also
    when the ``\\r`` and the ``\\n`` of one CRLF arrive in different chunks. Lines are decoded as
    strict UTF-8 only once complete, so a character split across chunks is fine. A leading byte
    order mark is dropped. A line (or an unfinished tail) longer than ``max_line`` bytes raises.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE):
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        self.max_line = max_line
        self.lines = 0  # complete lines produced so far
        self.bytes_in = 0
        self._buf = bytearray()
        self._skip_lf = False  # the last chunk ended with \r: a \n opening the next one is its pair
        self._first = True
        self._closed = False
        self._error: StreamFormatError | None = None

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held back, waiting for its end."""
        return len(self._buf)

    def _fail(self, message: str) -> StreamFormatError:
        self._error = StreamFormatError(message)
        return self._error

    def _check(self) -> None:
        if self._error is not None:
            raise StreamFormatError(str(self._error))
        if self._closed:
            raise StreamFormatError("the stream was already closed")

    def _decode(self, raw: bytes) -> str:
        if len(raw) > self.max_line:
            raise self._fail(f"a line of the stream is longer than {_size(self.max_line)}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self._fail(
                f"the stream is not valid UTF-8 (line {self.lines + 1}, byte {exc.start})"
            ) from None
        if self._first:
            self._first = False
            if text.startswith(_BOM):
                text = text[1:]
        self.lines += 1
        return text

    def feed(self, chunk: bytes) -> list[str]:
        """Take the next bytes; return the lines they complete (without their line ends)."""
        self._check()
        data = _as_bytes(chunk)
        self.bytes_in += len(data)
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        out: list[str] = []
        pos = 0
        buf = self._buf
        for match in _EOL.finditer(data):
            piece = data[pos:match.start()]
            if buf:
                buf += piece
                raw = bytes(buf)
                buf.clear()
            else:
                raw = piece
            out.append(self._decode(raw))
            pos = match.end()
            if pos == len(data) and match.group() == b"\r":
                self._skip_lf = True
        if pos < len(data):
            buf += data[pos:]
            if len(buf) > self.max_line:
                raise self._fail(f"a line of the stream is longer than {_size(self.max_line)}")
        return out

    def close(self) -> str | None:
        """End of input: return the unfinished last line, if there is one (None otherwise)."""
        self._check()
        self._closed = True
        if not self._buf:
            return None
        raw = bytes(self._buf)
        self._buf.clear()
        return self._decode(raw)


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched server-sent event."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class _LineParser:
    """What both parsers share: lines from a LineSplitter, and sticky errors (once a stream
    is found broken, every later call says so again instead of parsing on)."""

    def __init__(self, max_line: int = DEFAULT_MAX_LINE):
        self._lines = LineSplitter(max_line)
        self.complete = True
        self._error: StreamFormatError | None = None

    @property
    def lines(self) -> int:
        """Complete lines read so far (comments included): a sign of life from the server."""
        return self._lines.lines

    @property
    def bytes_in(self) -> int:
        return self._lines.bytes_in

    def _guarded(self, step: Callable[[], Any]) -> Any:
        if self._error is not None:
            raise StreamFormatError(str(self._error))
        try:
            return step()
        except StreamFormatError as exc:
            self._error = exc
            raise


class SSEParser(_LineParser):
    """Incremental Server-Sent Events parser (WHATWG HTML "event stream interpretation").

    ``feed(chunk)`` returns the events that chunk completes; ``close()`` returns what is left at
    the end of input. Comment lines (``: OPENROUTER PROCESSING``) and unknown fields are
    ignored; several ``data:`` lines of one event are joined with ``\\n``; an event without data
    is not dispatched. ``complete`` tells after ``close()`` whether the input ended on a line
    boundary (False: the stream stopped in the middle of a line, whose event is dropped). An
    event whose last line is whole but which lacks the closing blank line is dispatched.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE, max_event: int = DEFAULT_MAX_EVENT):
        if max_event < 1:
            raise ValueError("max_event must be at least 1")
        super().__init__(max_line)
        self.max_event = max_event
        self.comments = 0
        self.last_event_id: str | None = None
        self.retry: int | None = None
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._fields_seen = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return self._guarded(
            lambda: [e for line in self._lines.feed(chunk) if (e := self._line(line)) is not None])

    def close(self) -> list[SSEEvent]:
        tail = self._guarded(self._lines.close)
        if tail is not None:
            # The input stopped in the middle of a line: that event is lost, as the spec says.
            self.complete = False
            self._reset()
            return []
        # The input ended on a line boundary but maybe without the blank line that dispatches
        # the last event (``data: [DONE]\n`` then EOF). Be lenient: dispatch what is whole.
        event = self._dispatch()
        return [event] if event is not None else []

    def _reset(self) -> None:
        self._data = []
        self._data_size = 0
        self._event = ""
        self._fields_seen = False

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            self.comments += 1
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        self._fields_seen = True
        if name == "data":
            self._data_size += len(value) + 1
            if self._data_size > self.max_event:
                self._error = StreamFormatError(
                    f"an event of the stream carries more than {_size(self.max_event)} of data"
                )
                raise self._error
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._reset()
            return None
        event = SSEEvent(
            data="\n".join(self._data),
            event=self._event or "message",
            id=self.last_event_id,
            retry=self.retry,
        )
        self._reset()
        return event


def loads_json(text: str | bytes, what: str = "a line") -> Any:
    """``json.loads`` that raises only StreamFormatError (deep nesting and huge numbers too)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise StreamFormatError(f"{what} of the stream is JSON nested too deeply") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError, int digit limit, bad bytes
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not valid JSON"
        raise StreamFormatError(f"{what} of the stream is not valid JSON ({detail})") from None


class NDJSONParser(_LineParser):
    """Incremental newline-delimited JSON parser: one JSON value per line, blank lines skipped.

    ``close()`` parses a last line that has no line end (when it is valid JSON); ``complete``
    tells afterwards whether such a tail was cut off in the middle (False) or not.
    """

    def _parse(self, line: str, number: int) -> Any:
        return loads_json(line, f"line {number}")

    def feed(self, chunk: bytes) -> list[Any]:
        return self._guarded(lambda: self._parse_lines(chunk))

    def _parse_lines(self, chunk: bytes) -> list[Any]:
        before = self._lines.lines
        lines = self._lines.feed(chunk)
        return [self._parse(line, before + i + 1) for i, line in enumerate(lines) if line.strip()]

    def close(self) -> list[Any]:
        tail = self._guarded(self._lines.close)
        if tail is None or not tail.strip():
            return []
        try:
            return [self._parse(tail, self._lines.lines)]
        except StreamFormatError:
            # An unterminated, unparseable last line: the stream stopped mid-line.
            self.complete = False
            return []
