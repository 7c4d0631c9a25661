"""Ollama's native chat API: ``POST {base_url}/api/chat``, newline-delimited JSON.

Each line is ``{"message": {"role": "assistant", "content": "..."}, "done": false}``; the last
has ``done: true``, ``done_reason`` and ``eval_count`` (output tokens). ``{"error": "..."}``
lines are errors. ``message.thinking`` (reasoning models) is ignored. Temperature and the token
limit go in ``options`` (``temperature``, ``num_predict``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from battles.providers import http_errors
from battles.providers._http import HTTPProvider, StreamState, as_count
from battles.providers.base import Message
from battles.streams import StreamFormatError


class OllamaProvider(HTTPProvider):
    path = "/api/chat"
    wire = "ndjson"
    accept = "application/x-ndjson"

    def build_body(self, messages: list[Message]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model.model,
            "messages": [dict(m) for m in messages],
            "stream": True,
        }
        options: dict[str, Any] = {}
        if self.model.temperature is not None:
            options["temperature"] = self.model.temperature
        if self.model.max_tokens is not None:
            options["num_predict"] = self.model.max_tokens
        if options:
            body["options"] = options
        return body

    def on_item(self, obj: Any, state: StreamState) -> Iterable[str]:
        if not isinstance(obj, dict):
            raise StreamFormatError("a line of the stream is not a JSON object")
        if obj.get("error"):
            raise http_errors.in_stream_error(http_errors.message_of(obj.get("error")), self.model)
        pieces: tuple[str, ...] = ()
        message = obj.get("message")
        if isinstance(message, dict):
            content = message.get("content")
            if isinstance(content, str) and content:
                pieces = (content,)
        elif isinstance(obj.get("response"), str) and obj["response"]:  # /api/generate shape
            pieces = (obj["response"],)
        if obj.get("done") is True:
            reason = obj.get("done_reason")
            state.finish_reason = reason if isinstance(reason, str) and reason else None
            state.output_tokens = as_count(obj.get("eval_count"))
            state.done = True
        return pieces
