"""Anthropic Messages API: ``POST {base_url}/v1/messages`` with ``stream: true``.

The system prompt goes in the top-level ``system`` field (system messages are lifted out of
``messages``); ``max_tokens`` is required by the API (1024 when the config has none). The
stream is SSE: ``message_start``, ``content_block_start``, ``content_block_delta`` (only
``text_delta`` is answer text; thinking and tool deltas are ignored), ``message_delta`` (stop
reason, cumulative ``usage.output_tokens``), ``message_stop`` (the end), ``ping`` and ``error``.
Unknown events are ignored, as Anthropic's versioning policy asks.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from battles.providers import http_errors
from battles.providers._http import HTTPProvider, StreamState, as_count
from battles.providers.base import Message
from battles.streams import SSEEvent, StreamFormatError, loads_json

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


class AnthropicProvider(HTTPProvider):
    path = "/v1/messages"
    wire = "sse"
    accept = "text/event-stream"

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}

    def extra_headers(self) -> dict[str, str]:
        return {"anthropic-version": ANTHROPIC_VERSION}

    def build_body(self, messages: list[Message]) -> dict[str, Any]:
        system = [m.get("content", "") for m in messages if m.get("role") == "system"]
        chat = [{"role": m.get("role"), "content": m.get("content", "")}
                for m in messages if m.get("role") != "system"]
        body: dict[str, Any] = {
            "model": self.model.model,
            "max_tokens": self.model.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": chat,
            "stream": True,
        }
        system_text = "\n\n".join(s for s in system if s)
        if system_text:
            body["system"] = system_text
        if self.model.temperature is not None:
            # Anthropic accepts 0..1; clamp rather than fail on a value meant for another API.
            body["temperature"] = min(self.model.temperature, 1.0)
        return body

    def finished_without_marker(self, state: StreamState) -> bool:
        return state.finish_reason is not None

    def on_item(self, item: SSEEvent, state: StreamState) -> Iterable[str]:
        if not item.data.strip():
            return ()
        obj = loads_json(item.data, "an event")
        if not isinstance(obj, dict):
            raise StreamFormatError("an event of the stream is not a JSON object")
        kind = obj.get("type") or item.event
        if kind == "error" or item.event == "error":
            raise http_errors.in_stream_error(http_errors.message_of(obj.get("error") or obj), self.model)
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = delta.get("text")
                if isinstance(text, str):
                    return (text,)
            return ()
        if kind == "content_block_start":
            block = obj.get("content_block")
            if isinstance(block, dict) and block.get("type") == "text":
                text = block.get("text")
                if isinstance(text, str) and text:
                    return (text,)
            return ()
        if kind == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict):
                reason = delta.get("stop_reason")
                if isinstance(reason, str) and reason:
                    state.finish_reason = reason
            usage = obj.get("usage")
            if isinstance(usage, dict):
                tokens = as_count(usage.get("output_tokens"))
                if tokens is not None:
                    state.output_tokens = tokens
            return ()
        if kind == "message_start":
            message = obj.get("message")
            usage = message.get("usage") if isinstance(message, dict) else None
            if isinstance(usage, dict):
                tokens = as_count(usage.get("output_tokens"))
                if tokens is not None:
                    state.output_tokens = tokens
            return ()
        if kind == "message_stop":
            state.done = True
        return ()

    def on_json(self, obj: Any, state: StreamState) -> Iterable[str]:
        if not isinstance(obj, dict):
            raise StreamFormatError("the answer is not a JSON object")
        if obj.get("type") == "error" or obj.get("error"):
            raise http_errors.in_stream_error(http_errors.message_of(obj.get("error") or obj), self.model)
        content = obj.get("content")
        if not isinstance(content, list):
            raise StreamFormatError("the answer has no content")
        reason = obj.get("stop_reason")
        state.finish_reason = reason if isinstance(reason, str) else None
        usage = obj.get("usage")
        if isinstance(usage, dict):
            state.output_tokens = as_count(usage.get("output_tokens"))
        return [b["text"] for b in content
                if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)]
