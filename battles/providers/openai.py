"""OpenAI-compatible chat completions: ``POST {base_url}/chat/completions`` with ``stream: true``.

Spoken by OpenAI and by vLLM, llama.cpp's server, LM Studio, Ollama's /v1, OpenRouter, Groq,
Together, DeepSeek, Mistral and Gemini's OpenAI endpoint, each with its quirks:

* usage: asked for with ``stream_options.include_usage``; OpenAI then sends it in a last chunk
  with ``choices: []``; Gemini puts it in every chunk, Mistral in the last one unasked, some
  servers never. The last count seen wins; servers that refuse ``stream_options`` with a 400
  get the request once more without it (and this provider stops sending it).
* ``: OPENROUTER PROCESSING`` comment lines, ``delta.content: null``, role-only first chunks,
  ``reasoning_content`` / ``reasoning`` (ignored: only the answer is judged), content given as
  a list of parts, ``finish_reason`` in the last choice, errors as ``data: {"error": ...}``.
* a stream that ends cleanly after a ``finish_reason`` but without ``data: [DONE]`` is whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from battles.providers import http_errors
from battles.providers._http import HTTPProvider, StreamState, as_count
from battles.providers.base import Message
from battles.streams import SSEEvent, StreamFormatError, loads_json

_STREAM_OPTIONS = re.compile(rb"(?i)stream_options|include_usage")


class OpenAIProvider(HTTPProvider):
    path = "/chat/completions"
    wire = "sse"
    accept = "text/event-stream"

    def __init__(self, model, **kwargs):
        super().__init__(model, **kwargs)
        self.send_stream_options = True

    def build_body(self, messages: list[Message]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model.model,
            "messages": [dict(m) for m in messages],
            "stream": True,
        }
        if self.send_stream_options:
            body["stream_options"] = {"include_usage": True}
        if self.model.temperature is not None:
            body["temperature"] = self.model.temperature
        if self.model.max_tokens is not None:
            body["max_tokens"] = self.model.max_tokens
        return body

    def retry_body(self, status: int, body: bytes, sent: dict[str, Any]) -> dict[str, Any] | None:
        if status in (400, 422) and "stream_options" in sent and _STREAM_OPTIONS.search(body or b""):
            self.send_stream_options = False
            return {k: v for k, v in sent.items() if k != "stream_options"}
        return None

    def finished_without_marker(self, state: StreamState) -> bool:
        return state.finish_reason is not None

    def on_item(self, item: SSEEvent, state: StreamState) -> Iterable[str]:
        data = item.data.strip()
        if data == "[DONE]":
            state.done = True
            return ()
        if not data:
            return ()
        obj = loads_json(data, "an event")
        if item.event == "error":
            raise http_errors.in_stream_error(http_errors.message_of(obj, 0) or data, self.model)
        if not isinstance(obj, dict):
            raise StreamFormatError("an event of the stream is not a JSON object")
        return self._chunk(obj, state)

    def _chunk(self, obj: dict, state: StreamState) -> list[str]:
        error = obj.get("error")
        if error or obj.get("object") == "error":
            raise http_errors.in_stream_error(http_errors.message_of(error or obj, 0), self.model)
        usage = obj.get("usage")
        if isinstance(usage, dict):
            tokens = as_count(usage.get("completion_tokens"))
            if tokens is None:
                tokens = as_count(usage.get("output_tokens"))
            if tokens is not None:
                state.output_tokens = tokens
        choices = obj.get("choices")
        if choices is None:
            return []
        if not isinstance(choices, list):
            raise StreamFormatError("an event of the stream has a malformed 'choices' field")
        pieces: list[str] = []
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) not in (0, None):
                continue  # n > 1 is never asked for; read only the first answer
            delta = choice.get("delta")
            if isinstance(delta, dict):
                pieces.extend(_content(delta.get("content")))
            elif "text" in choice:  # a completions-style chunk from an older server
                pieces.extend(_content(choice.get("text")))
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                if reason == "error":
                    raise http_errors.in_stream_error(None, self.model)
                state.finish_reason = reason
        return pieces

    def on_json(self, obj: Any, state: StreamState) -> Iterable[str]:
        if isinstance(obj, list) and obj:
            obj = obj[0]
        if not isinstance(obj, dict):
            raise StreamFormatError("the answer is not a JSON object")
        error = obj.get("error")
        if error or obj.get("object") == "error":
            raise http_errors.in_stream_error(http_errors.message_of(error or obj, 0), self.model)
        usage = obj.get("usage")
        if isinstance(usage, dict):
            state.output_tokens = as_count(usage.get("completion_tokens"))
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise StreamFormatError("the answer has no choices")
        choice = choices[0]
        reason = choice.get("finish_reason")
        state.finish_reason = reason if isinstance(reason, str) else None
        message = choice.get("message") or choice.get("delta") or {}
        if isinstance(message, dict):
            return _content(message.get("content"))
        return _content(choice.get("text"))


def _content(value: Any) -> list[str]:
    """Text of a ``content`` field: a string, null, or a list of parts (only text parts)."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        out = []
        for part in value:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and part.get("type", "text") in ("text", "output_text"):
                text = part.get("text")
                if isinstance(text, str):
                    out.append(text)
        return [p for p in out if p]
    return []
