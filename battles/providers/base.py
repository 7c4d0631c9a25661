"""The contract every provider keeps with the battle engine.

A provider turns (model config, chat messages) into an async stream of ``Delta`` text pieces
that ends with one ``StreamEnd``. It knows its wire protocol and nothing else: timing, the
response cap, style features, treatments, identity leaks and storage are the engine's job.

Failures are raised as ``ProviderError``. Its ``reason`` is anonymous (it never names the
model, provider, host, URL or key) so it can be shown before the vote, e.g.
``"the server refused the API key (401)"``; ``hint`` may name what to do and may reveal the
provider (e.g. ``"set OPENAI_API_KEY"``), so it is shown only after the battle is revealed or
has ended in an error. Neither ever contains a key. ``quoted`` is the end of ``reason`` that
the server wrote (its own error message, scrubbed); the rest of a reason is the program's own
fixed wording, which the engine never rewrites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Protocol

import httpx

from battles.config import ModelConfig

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class StreamEnd:
    finish_reason: str | None = None  # as the server said it ("stop", "length", "end_turn", ...)
    output_tokens: int | None = None  # server-reported usage, when it reports it


class ProviderError(Exception):
    def __init__(self, reason: str, *, status: int | None = None, hint: str | None = None,
                 retry_after: float | None = None, quoted: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.quoted = quoted if quoted and reason.endswith(quoted) else None
        self.status = status
        self.hint = hint
        self.retry_after = retry_after


class Provider(Protocol):
    async def stream(self, messages: list[Message], client: httpx.AsyncClient) -> AsyncIterator[Delta | StreamEnd]:
        """Yield the answer to ``messages`` as it arrives. ``messages`` includes the system prompt
        if the model has one. Raise ProviderError for any failure, never another exception."""
        ...
