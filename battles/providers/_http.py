"""What the HTTP providers share: keys, headers, timeouts, retries, reading the stream, errors.

A subclass says where to POST (``path``), what to send (``build_body``, ``auth_headers``), which
wire format comes back (``wire``: "sse" or "ndjson") and how to read one parsed item
(``on_item``) or a whole non-streamed JSON answer (``on_json``). Everything else, above all the
promise that ``stream`` raises nothing but ``ProviderError``, lives here.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx

from battles.config import ModelConfig
from battles.providers import http_errors
from battles.providers.base import Delta, Message, ProviderError, StreamEnd
from battles.redact import redact, register_secret
from battles.streams import (
    DEFAULT_MAX_LINE,
    NDJSONParser,
    SSEParser,
    StreamFormatError,
    loads_json,
)

# 429 handling: wait for Retry-After (or this default when the server gives none) and retry
# once, unless the server asks for longer than RETRY_WAIT_MAX: then fail at once.
RETRY_WAIT_DEFAULT = 1.0
RETRY_WAIT_MAX = 10.0
ERROR_BODY_LIMIT = 64 * 1024  # bytes of a non-2xx body read for its message
JSON_BODY_LIMIT = 16 << 20  # a non-streamed JSON answer larger than this is refused
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class StreamState:
    """What one request has seen so far; ``on_item`` updates it."""

    answered: bool = False  # response headers arrived
    text_seen: bool = False  # at least one Delta was yielded
    done: bool = False  # the protocol's own end marker arrived
    finish_reason: str | None = None
    output_tokens: int | None = None


def clean_text(text: str) -> str:
    """Lone surrogates (from ``\\ud800`` escapes in JSON) become U+FFFD so text always encodes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)


def as_count(value: Any) -> int | None:
    """A token count from JSON: a non-negative int (floats like 12.0 accepted), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and 0 <= value < 1e15:
        return int(value)
    return None


class HTTPProvider:
    """Base class of the providers that speak HTTP through the engine's shared client."""

    path = ""
    wire = "sse"  # or "ndjson"
    accept = "text/event-stream"

    def __init__(self, model: ModelConfig, *, max_line: int = DEFAULT_MAX_LINE):
        self.model = model
        self.max_line = max_line

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model.name!r})"

    # -- what subclasses provide ------------------------------------------------------------

    def build_body(self, messages: list[Message]) -> dict[str, Any]:
        raise NotImplementedError

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def extra_headers(self) -> dict[str, str]:
        return {}

    def retry_body(self, status: int, body: bytes, sent: dict[str, Any]) -> dict[str, Any] | None:
        """A changed body to retry once with after this error status, or None."""
        return None

    def on_item(self, item: Any, state: StreamState) -> Iterable[str]:
        """Read one parsed item (an SSEEvent or a JSON value); return the text pieces in it."""
        raise NotImplementedError

    def on_json(self, obj: Any, state: StreamState) -> Iterable[str]:
        """Read a whole non-streamed JSON answer (a server that ignored ``stream: true``)."""
        raise http_errors.malformed_error("a JSON document came instead of a stream")

    def finished_without_marker(self, state: StreamState) -> bool:
        """The body ended cleanly without the end marker: is the answer still whole?"""
        return False

    # -- the request ------------------------------------------------------------------------

    def read_key(self) -> str | None:
        env = self.model.api_key_env
        if not env:
            return None
        value = (os.environ.get(env) or "").strip()
        if not value:
            raise ProviderError("no API key is set", hint=f"set {env}")
        register_secret(value)
        if not value.isascii() or not value.isprintable():
            raise ProviderError("the API key is not valid",
                                hint=f"{env} holds characters an API key cannot have")
        return value

    def headers(self, key: str | None) -> dict[str, str]:
        headers = {"Accept": self.accept}
        headers.update(self.extra_headers())
        for name, value in self.model.headers:
            headers[name] = value
        if key is not None:
            headers.update(self.auth_headers(key))
        return headers

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.model.timeout)

    async def stream(self, messages: list[Message], client: httpx.AsyncClient) -> AsyncIterator[Delta | StreamEnd]:
        state = StreamState()
        inner = self._stream(messages, client, state)
        async with aclosing(inner):
            try:
                async for item in inner:
                    yield item
            except ProviderError as exc:
                if exc.hint:
                    exc.hint = redact(exc.hint)
                raise
            except StreamFormatError as exc:
                raise http_errors.malformed_error(str(exc)) from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise http_errors.transport_error(exc, self.model, answered=state.answered,
                                                  streaming=state.text_seen) from None
            except (OSError, asyncio.TimeoutError) as exc:  # a transport that leaks a raw socket error
                raise ProviderError("the connection to the server failed",
                                    hint=redact(f"{type(exc).__name__}: {exc}")) from None
            except ExceptionGroup as group:
                # The connect step runs in a task group (e.g. port 99999: an OverflowError inside);
                # say what the first real failure was, not "unhandled errors in a TaskGroup".
                cause = _first_leaf(group)
                raise ProviderError("could not connect to the server",
                                    hint=redact(f"check base_url ({self.model.url}): "
                                                f"{type(cause).__name__}: {cause}")[:300]) from None
            except Exception as exc:
                raise ProviderError("the request failed unexpectedly",
                                    hint=redact(f"{type(exc).__name__}: {exc}")[:300]) from None

    async def _stream(self, messages: list[Message], client: httpx.AsyncClient,
                      state: StreamState) -> AsyncIterator[Delta | StreamEnd]:
        key = self.read_key()
        headers = self.headers(key)
        body = self.build_body(messages)
        response = await self._open(client, headers, body)
        state.answered = True
        try:
            async for piece in self._read(response, state):
                state.text_seen = True
                yield Delta(piece)
        finally:
            await response.aclose()
        yield StreamEnd(finish_reason=state.finish_reason, output_tokens=state.output_tokens)

    async def _open(self, client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        url = self.model.url + self.path
        rate_retried = False
        body_retried = False
        while True:
            request = client.build_request("POST", url, json=body, headers=headers, timeout=self.timeout())
            response = await client.send(request, stream=True)
            status = response.status_code
            if 200 <= status < 300:
                return response
            raw = await _read_some(response, ERROR_BODY_LIMIT)
            retry_after = http_errors.parse_retry_after(response.headers)
            if status == 429 and not rate_retried and not http_errors.is_quota(raw):
                wait = RETRY_WAIT_DEFAULT if retry_after is None else retry_after
                if wait <= RETRY_WAIT_MAX:
                    rate_retried = True
                    await asyncio.sleep(wait)
                    continue
            if not body_retried:
                changed = self.retry_body(status, raw, body)
                if changed is not None:
                    body_retried = True
                    body = changed
                    continue
            raise http_errors.status_error(status, raw, self.model, retry_after=retry_after,
                                           location=response.headers.get("location"))

    async def _read(self, response: httpx.Response, state: StreamState) -> AsyncIterator[str]:
        if "text/html" in response.headers.get("content-type", "").lower():
            raise http_errors.html_error(self.model, await _read_some(response, ERROR_BODY_LIMIT))
        parser = SSEParser(max_line=self.max_line) if self.wire == "sse" else NDJSONParser(max_line=self.max_line)
        stall_limit = self.model.timeout
        chunks = response.aiter_bytes()
        head = b""
        # Sniff the first non-blank byte: "<" is an HTML page whatever the content type says;
        # "{" or "[" on an SSE endpoint is a whole JSON answer (the server ignored stream: true).
        async for chunk in chunks:
            head += chunk
            if head.strip() or len(head) > 4096:
                break
        if not head:
            raise ProviderError("the server sent an empty answer")
        first = head.lstrip()[:1]
        if first == b"<":
            rest = await _drain(chunks, head, ERROR_BODY_LIMIT)
            raise http_errors.html_error(self.model, rest)
        if self.wire == "sse" and first in (b"{", b"["):
            whole = await _drain(chunks, head, JSON_BODY_LIMIT)
            if len(whole) > JSON_BODY_LIMIT:
                raise http_errors.malformed_error("the JSON answer is too large")
            obj = loads_json(whole.decode("utf-8", "replace"), "the answer")
            for piece in self.on_json(obj, state):
                if piece:
                    yield clean_text(piece)
            state.done = True
            return

        lines_seen = 0
        last_progress = time.monotonic()

        def take(items: list[Any]) -> list[str]:
            pieces = []
            for item in items:
                for piece in self.on_item(item, state):
                    if piece:
                        pieces.append(clean_text(piece))
                if state.done:
                    break
            return pieces

        for piece in take(parser.feed(head)):
            yield piece
        if not state.done:
            async for chunk in chunks:
                pieces = take(parser.feed(chunk))
                for piece in pieces:
                    yield piece
                if state.done:
                    break
                now = time.monotonic()
                if parser.lines != lines_seen:
                    lines_seen = parser.lines
                    last_progress = now
                elif now - last_progress > stall_limit:
                    # Bytes trickle in but no line completes: as good as a stall.
                    t = http_errors.seconds(stall_limit)
                    if state.text_seen:
                        raise ProviderError(f"the stream stalled: nothing new for {t} s")
                    raise ProviderError(f"no answer within {t} s")
            else:
                for piece in take(parser.close()):
                    yield piece
                if not state.done:
                    if parser.complete and self.finished_without_marker(state):
                        state.done = True
                    else:
                        raise ProviderError("the stream was cut off before it finished")


def _first_leaf(group: BaseExceptionGroup) -> BaseException:
    """The first exception inside ``group`` that is not itself a group."""
    first: BaseException = group
    while isinstance(first, BaseExceptionGroup) and first.exceptions:
        first = first.exceptions[0]
    return first


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body, then close it; transport errors end the read quietly."""
    data = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) >= limit:
                break
    except (httpx.HTTPError, OSError):
        pass
    finally:
        try:
            await response.aclose()
        except (httpx.HTTPError, OSError):
            pass
    return bytes(data[:limit])


async def _drain(chunks: AsyncIterator[bytes], head: bytes, limit: int) -> bytes:
    data = bytearray(head)
    async for chunk in chunks:
        data += chunk
        if len(data) > limit:
            break
    return bytes(data)
