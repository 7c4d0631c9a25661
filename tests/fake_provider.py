"""A fake model server speaking the OpenAI, Ollama and Anthropic streaming protocols.

Real HTTP/1.1 over loopback with chunked streaming, in a background thread, standard library
only: it serves pytest-asyncio tests in the same process and ``blindside`` subprocesses alike.

    with FakeProvider() as fake:            # or the ``fake_provider`` pytest fixture
        fake.openai_url     # http://127.0.0.1:PORT/v1  -> POST /v1/chat/completions
        fake.ollama_url     # http://127.0.0.1:PORT     -> POST /api/chat
        fake.anthropic_url  # http://127.0.0.1:PORT     -> POST /v1/messages
        fake.requests       # what it received: RecordedRequest(path, headers, body, model, ...)

Standalone (benchmarks, demos): ``python -m tests.fake_provider --port 0`` prints its URL.

Behaviour is chosen per request by the model id, so one server can play both sides of a
battle differently. The grammar (see ``parse_spec``):

    fake:KEY=VALUE,KEY=VALUE,WORD,...

``fake:`` makes parsing strict (an unknown word or key answers 400 naming it); without the
prefix, known words apply and anything else is ignored (so ``"echo"``, ``"fast"``, ``"gpt-4o"``
all work). Values are percent-decoded (``say=Hello%2C%20world``).

Answer text
    tokens=N        number of tokens (default 20; ``say``/``echo`` default to the whole text)
    rate=R          tokens per second (default 0 = as fast as possible)
    ttft=S          seconds from the response headers to the first token
    wait=S          seconds before the response headers are sent
    text=STYLE      plain | markdown | code | unicode | echo (the last user message) | lorem
    say=TEXT        exactly this text (tokenized on whitespace)
    mention=WORD    the answer starts "As WORD, ..." (identity-leak tests)
    seed=N          seed for plain/lorem text (default: derived from the model id)
    finish=REASON   finish reason to report (default stop / end_turn)
    reasoning=N     N reasoning deltas first (reasoning_content / thinking / message.thinking)
    usage=MODE      OpenAI usage: auto (a last ``choices: []`` chunk when include_usage is asked),
                    separate, every (Gemini style), last (Mistral style), none
    comments        OpenRouter ``: OPENROUTER PROCESSING`` comment lines before the first token
    crlf            SSE lines end with CRLF
    nodone          OpenAI stream without the final ``data: [DONE]``
    no_stream_options  answer 400 to a request that has ``stream_options`` (older servers)
    echo_auth       the answer repeats the request's credential ("Your header was Bearer KEY."),
                    the key cut in two stream chunks (a proxy that echoes what it was sent)
    split=N         write the wire bytes in N-byte HTTP chunks (split UTF-8, CRLF, lines)
    auth=KEY        require this key (Bearer / x-api-key), else 401
    id=ANYTHING     ignored: makes a model id unique (per-id fault counters)

Presets: echo, fast (rate=0), slow (rate=10), slow-start (ttft=1), long (tokens=2000,rate=1000),
markdown, plain, code, unicode, lorem.

Faults (``fault=NAME`` or the bare NAME; ``@N`` = after N tokens, default half of them):
    400 401 403 404 429 500 502 503 529 ...   that HTTP status with the protocol's error body;
                    ``:K`` suffix fails only the first K requests for this model id, then works
                    (``fault=429:1`` = rate limited once, then fine). 429 sends Retry-After
                    (``retry_after=S``, default 1; ``retry_after=none`` omits it).
    quota           429 insufficient_quota (must not be retried)
    drop            close the connection before any response headers
    cut@N           close the connection mid-stream (no chunked terminator)
    eof@N           end the HTTP body cleanly but without the protocol's end marker
    malformed@N     a malformed line, then a clean end
    error@N         an in-stream error event (message names the model id and the server URL)
    stall@N         stop sending, keep the connection open (until the client leaves)
    trickle@N       the rest of the stream one byte every ``gap`` seconds (default 1)
    infinite        tokens forever (at ``rate``, default 1000/s when rate is 0)
    html            an HTML page (``status=S``, default 200)
    json            a whole non-streamed JSON answer (server ignores ``stream: true``)
    bigline         one line of ``size`` bytes (default 2 MiB)
    badutf8@N       invalid UTF-8 in a line
    empty           200 with an empty body
"""

from __future__ import annotations

import argparse
import json
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

__all__ = [
    "FakeProvider",
    "RecordedRequest",
    "Spec",
    "SpecError",
    "expected_text",
    "expected_tokens",
    "parse_spec",
]

# --------------------------------------------------------------------------------------------
# The model-id grammar


class SpecError(ValueError):
    pass


TEXT_STYLES = ("plain", "markdown", "code", "unicode", "echo", "lorem")
FLAGS = ("comments", "crlf", "nodone", "no_stream_options", "echo_auth")
PRESETS: dict[str, dict[str, Any]] = {
    "echo": {"text": "echo"},
    "fast": {"rate": 0.0},
    "slow": {"rate": 10.0},
    "slow-start": {"ttft": 1.0},
    "long": {"tokens": 2000, "rate": 1000.0},
}
FAULT_NAMES = ("quota", "drop", "cut", "eof", "malformed", "error", "stall", "trickle", "infinite",
               "html", "json", "bigline", "badutf8", "empty")
_FAULT = re.compile(r"^(\d{3}|[a-z0-9]+)(?:@(\d+))?(?::(\d+))?$")
USAGE_MODES = ("auto", "separate", "every", "last", "none")


@dataclass
class Spec:
    tokens: int | None = None
    rate: float = 0.0
    ttft: float = 0.0
    wait: float = 0.0
    text: str = "plain"
    say: str | None = None
    mention: str | None = None
    seed: int | None = None
    finish: str | None = None
    reasoning: int = 0
    usage: str = "auto"
    flags: set[str] = field(default_factory=set)
    split: int = 0
    auth: str | None = None
    fault: str | None = None
    at: int | None = None
    times: int | None = None
    retry_after: str | None = "1"
    gap: float = 1.0
    status: int | None = None
    size: int = 2 << 20
    message: str | None = None


def _num(key: str, value: str, kind=float):
    try:
        result = kind(value)
    except ValueError:
        raise SpecError(f"{key}={value!r} is not a number") from None
    if result < 0:
        raise SpecError(f"{key}={value!r} must not be negative")
    return result


def _set_fault(spec: Spec, value: str) -> None:
    m = _FAULT.match(value)
    if not m or not (m.group(1).isdigit() or m.group(1) in FAULT_NAMES):
        raise SpecError(f"unknown fault {value!r}")
    spec.fault = m.group(1)
    spec.at = int(m.group(2)) if m.group(2) is not None else None
    spec.times = int(m.group(3)) if m.group(3) is not None else None


def _looks_like_fault(word: str) -> bool:
    m = _FAULT.match(word)
    return bool(m) and (m.group(1).isdigit() or m.group(1) in FAULT_NAMES)


def parse_spec(model: str | None) -> Spec:
    """The behaviour a model id asks for. Strict (SpecError) when it starts with ``fake:``."""
    model = model or ""
    strict = model.startswith("fake:")
    body = model[5:] if strict else model
    spec = Spec()
    for item in body.split(","):
        item = item.strip()
        if not item:
            continue
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq:
            word = key
            if word in TEXT_STYLES:
                spec.text = word
            if word in PRESETS:
                for k, v in PRESETS[word].items():
                    setattr(spec, k, v)
            elif word in FLAGS:
                spec.flags.add(word)
            elif _looks_like_fault(word):
                _set_fault(spec, word)
            elif word not in TEXT_STYLES and strict:
                raise SpecError(f"unknown word {word!r} in model id {model!r}")
            continue
        value = unquote(value.strip())
        try:
            if key == "tokens":
                spec.tokens = _num(key, value, int)
            elif key == "rate":
                spec.rate = _num(key, value)
            elif key == "ttft":
                spec.ttft = _num(key, value)
            elif key == "wait":
                spec.wait = _num(key, value)
            elif key == "text":
                if value not in TEXT_STYLES:
                    raise SpecError(f"text={value!r}: expected one of {', '.join(TEXT_STYLES)}")
                spec.text = value
            elif key == "say":
                spec.say = value
            elif key == "mention":
                spec.mention = value
            elif key == "seed":
                spec.seed = _num(key, value, int)
            elif key == "finish":
                spec.finish = value
            elif key == "reasoning":
                spec.reasoning = _num(key, value, int)
            elif key == "usage":
                if value not in USAGE_MODES:
                    raise SpecError(f"usage={value!r}: expected one of {', '.join(USAGE_MODES)}")
                spec.usage = value
            elif key == "split":
                spec.split = _num(key, value, int)
            elif key == "auth":
                spec.auth = value
            elif key == "fault":
                _set_fault(spec, value.lower())
            elif key == "retry_after":
                spec.retry_after = None if value.lower() == "none" else value
            elif key == "gap":
                spec.gap = _num(key, value)
            elif key == "status":
                spec.status = _num(key, value, int)
            elif key == "size":
                spec.size = _num(key, value, int)
            elif key == "message":
                spec.message = value
            elif key in ("id", "tag", "name"):
                pass
            elif key in FLAGS:
                if value.lower() in ("1", "true", "yes", "on"):
                    spec.flags.add(key)
            elif strict:
                raise SpecError(f"unknown key {key!r} in model id {model!r}")
        except SpecError:
            if strict:
                raise
    return spec


# --------------------------------------------------------------------------------------------
# Answer text

_WORDS = (
    "the answer is simple once you see how the pieces fit together and each step follows "
    "from the one before it so we start with the basics then build up a clear picture of what "
    "matters most while keeping an eye on edge cases that often surprise people in practice "
    "because small details change results a great deal over time"
).split()

_MARKDOWN = (
    "# A short guide\n\n"
    "Here is an overview with **bold** text, *italic* text and `inline code`.\n\n"
    "## Steps\n\n"
    "1. Read the question carefully.\n"
    "2. Write a first draft.\n"
    "3. Check every claim.\n\n"
    "- one point\n"
    "- another point\n"
    "  - a nested point\n\n"
    "```python\n"
    "def double(x):\n"
    "    return x * 2\n"
    "```\n\n"
    "> A quote to finish the section.\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
)

_CODE = (
    "```python\n"
    "import sys\n\n"
    "def main(argv):\n"
    "    total = 0\n"
    "    for arg in argv:\n"
    "        total += int(arg)\n"
    "    print(total)\n\n"
    "if __name__ == \"__main__\":\n"
    "    main(sys.argv[1:])\n"
    "```\n"
)

_UNICODE = (
    "naïve café — 日本語のテキスト 😀 👩‍👩‍👧 🇫🇷 مرحبا بالعالم Ελληνικά e\u0301 ✓ 한국어 "
)

_TOKEN = re.compile(r"\S+\s*|\s+")


def tokenize(text: str) -> list[str]:
    """Split text into word tokens whose concatenation is exactly the text."""
    return _TOKEN.findall(text)


def _repeat_tokens(block: str, n: int) -> list[str]:
    base = tokenize(block)
    if not base:
        return []
    out: list[str] = []
    while len(out) < n:
        out.extend(base)
    return out[:n]


def _plain_tokens(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    start = True
    for i in range(n):
        word = rng.choice(_WORDS)
        if start:
            word = word.capitalize()
            start = False
        if i == n - 1 or rng.random() < 0.1:
            word += "."
            start = True
        out.append(word + " ")
    if out:
        out[-1] = out[-1].rstrip()
    return out


def last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def expected_tokens(model: str, prompt: str = "", spec: Spec | None = None) -> list[str]:
    """The tokens the fake answers ``model`` with (``prompt``: the last user message)."""
    spec = spec or parse_spec(model)
    default_n = 20 if spec.tokens is None else spec.tokens
    if spec.say is not None:
        tokens = tokenize(spec.say)
        if spec.tokens is not None:
            tokens = tokens[: spec.tokens]
    elif spec.text == "echo":
        tokens = tokenize(prompt or "(empty prompt)")
        if spec.tokens is not None:
            tokens = tokens[: spec.tokens]
    elif spec.text == "markdown":
        tokens = _repeat_tokens(_MARKDOWN, default_n)
    elif spec.text == "code":
        tokens = _repeat_tokens(_CODE, default_n)
    elif spec.text == "unicode":
        tokens = _repeat_tokens(_UNICODE, default_n)
    else:
        seed = spec.seed if spec.seed is not None else zlib.crc32(model.encode("utf-8"))
        tokens = _plain_tokens(seed, default_n)
    if spec.mention:
        tokens = tokenize(f"As {spec.mention}, I can answer that. ") + tokens
    return tokens


def expected_text(model: str, prompt: str = "") -> str:
    return "".join(expected_tokens(model, prompt))


# --------------------------------------------------------------------------------------------
# Wire formats


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class _Wire:
    """How one protocol frames a stream. Methods return bytes to write."""

    content_type = "text/event-stream; charset=utf-8"
    default_finish = "stop"
    length_finish = "length"

    def __init__(self, model: str, spec: Spec, body: dict, server_url: str):
        self.model = model
        self.spec = spec
        self.body = body
        self.server_url = server_url
        self.eol = "\r\n" if "crlf" in spec.flags else "\n"

    def sse(self, data: Any, event: str | None = None) -> bytes:
        eol = self.eol
        text = data if isinstance(data, str) else _dumps(data)
        head = f"event: {event}{eol}" if event else ""
        return f"{head}data: {text}{eol}{eol}".encode("utf-8")

    def error_message(self) -> str:
        return self.spec.message or (
            f"upstream model {self.model} failed at {self.server_url}/v1: overloaded, try again"
        )

    def max_tokens(self) -> int | None:
        return None

    # streams
    def start(self) -> list[bytes]:
        return []

    def comment(self) -> bytes | None:
        return None

    def reasoning(self, text: str, index: int) -> bytes:
        raise NotImplementedError

    def token(self, text: str, index: int, count: int) -> bytes:
        raise NotImplementedError

    def end(self, finish: str, count: int) -> list[bytes]:
        raise NotImplementedError

    def error_event(self) -> bytes:
        raise NotImplementedError

    def malformed(self) -> bytes:
        raise NotImplementedError

    def bad_utf8(self) -> bytes:
        raise NotImplementedError

    def big_line(self, size: int) -> bytes:
        raise NotImplementedError

    # whole answers
    def error_body(self, status: int, message: str) -> Any:
        raise NotImplementedError

    def full_json(self, text: str, finish: str, count: int) -> Any:
        raise NotImplementedError


def _prompt_tokens(body: dict) -> int:
    text = json.dumps(body.get("messages", ""), ensure_ascii=False) + str(body.get("system", ""))
    return max(1, len(text.split()))


class _OpenAIWire(_Wire):
    def max_tokens(self) -> int | None:
        value = self.body.get("max_completion_tokens", self.body.get("max_tokens"))
        return value if isinstance(value, int) else None

    def _usage_mode(self) -> str:
        mode = self.spec.usage
        if mode == "auto":
            options = self.body.get("stream_options")
            asked = isinstance(options, dict) and options.get("include_usage") is True
            return "separate" if asked else "none"
        return mode

    def _usage(self, count: int) -> dict:
        p = _prompt_tokens(self.body)
        return {"prompt_tokens": p, "completion_tokens": count, "total_tokens": p + count}

    def _chunk(self, delta: dict, finish: str | None, count: int, last: bool = False) -> bytes:
        obj: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        mode = self._usage_mode()
        if mode == "every" or (mode == "last" and last):
            obj["usage"] = self._usage(count)
        elif mode == "separate":
            obj["usage"] = None
        return self.sse(obj)

    def start(self) -> list[bytes]:
        return [self._chunk({"role": "assistant", "content": ""}, None, 0)]

    def comment(self) -> bytes | None:
        return f": OPENROUTER PROCESSING{self.eol}{self.eol}".encode()

    def reasoning(self, text: str, index: int) -> bytes:
        return self._chunk({"content": None, "reasoning_content": text}, None, index)

    def token(self, text: str, index: int, count: int) -> bytes:
        return self._chunk({"content": text}, None, count)

    def end(self, finish: str, count: int) -> list[bytes]:
        out = [self._chunk({}, finish, count, last=True)]
        if self._usage_mode() == "separate":
            out.append(self.sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                                 "created": 1700000000, "model": self.model, "choices": [],
                                 "usage": self._usage(count)}))
        if "nodone" not in self.spec.flags:
            out.append(self.sse("[DONE]"))
        return out

    def error_event(self) -> bytes:
        return self.sse({"error": {"message": self.error_message(), "type": "server_error", "code": 502}})

    def malformed(self) -> bytes:
        return f'data: {{"choices": [{{"delta": {{"content": "oops"{self.eol}{self.eol}'.encode()

    def bad_utf8(self) -> bytes:
        return b'data: {"choices":[{"index":0,"delta":{"content":"\xff\xfe bad"}}]}' + self.eol.encode() * 2

    def big_line(self, size: int) -> bytes:
        return b'data: {"choices":[{"index":0,"delta":{"content":"' + b"x" * size + b'"}}]}' + self.eol.encode() * 2

    def error_body(self, status: int, message: str) -> Any:
        kinds = {401: "invalid_request_error", 403: "permission_denied", 404: "invalid_request_error",
                 429: "rate_limit_exceeded"}
        code = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}.get(status)
        return {"error": {"message": message, "type": kinds.get(status, "server_error"), "param": None,
                          "code": code}}

    def full_json(self, text: str, finish: str, count: int) -> Any:
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": finish}],
                "usage": self._usage(count)}


class _AnthropicWire(_Wire):
    default_finish = "end_turn"
    length_finish = "max_tokens"

    def max_tokens(self) -> int | None:
        value = self.body.get("max_tokens")
        return value if isinstance(value, int) else None

    def start(self) -> list[bytes]:
        self.text_index = 1 if self.spec.reasoning else 0
        out = [self.sse({"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "content": [], "model": self.model,
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": _prompt_tokens(self.body), "output_tokens": 1}}}, "message_start")]
        if self.spec.reasoning:
            out.append(self.sse({"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": ""}}, "content_block_start"))
        else:
            out.append(self._text_block_start())
        out.append(self.sse({"type": "ping"}, "ping"))
        self.text_started = not self.spec.reasoning
        return out

    def _text_block_start(self) -> bytes:
        return self.sse({"type": "content_block_start", "index": self.text_index,
                         "content_block": {"type": "text", "text": ""}}, "content_block_start")

    def reasoning(self, text: str, index: int) -> bytes:
        return self.sse({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "thinking_delta", "thinking": text}}, "content_block_delta")

    def token(self, text: str, index: int, count: int) -> bytes:
        prefix = b""
        if not self.text_started:
            self.text_started = True
            prefix = (self.sse({"type": "content_block_delta", "index": 0,
                                "delta": {"type": "signature_delta", "signature": "c2ln"}}, "content_block_delta")
                      + self.sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
                      + self._text_block_start())
        return prefix + self.sse({"type": "content_block_delta", "index": self.text_index,
                                  "delta": {"type": "text_delta", "text": text}}, "content_block_delta")

    def end(self, finish: str, count: int) -> list[bytes]:
        out = []
        if not self.text_started:
            out.append(self.sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
            out.append(self._text_block_start())
        out += [
            self.sse({"type": "content_block_stop", "index": self.text_index}, "content_block_stop"),
            self.sse({"type": "message_delta", "delta": {"stop_reason": finish, "stop_sequence": None},
                      "usage": {"output_tokens": count}}, "message_delta"),
            self.sse({"type": "message_stop"}, "message_stop"),
        ]
        return out

    def error_event(self) -> bytes:
        return self.sse({"type": "error", "error": {"type": "overloaded_error", "message": self.error_message()}},
                        "error")

    def malformed(self) -> bytes:
        return f"event: content_block_delta{self.eol}data: {{not json{self.eol}{self.eol}".encode()

    def bad_utf8(self) -> bytes:
        return (b'event: content_block_delta' + self.eol.encode()
                + b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xc3\x28"}}'
                + self.eol.encode() * 2)

    def big_line(self, size: int) -> bytes:
        return (b'event: content_block_delta' + self.eol.encode()
                + b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'
                + b"x" * size + b'"}}' + self.eol.encode() * 2)

    def error_body(self, status: int, message: str) -> Any:
        kinds = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                 500: "api_error", 529: "overloaded_error"}
        return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message}}

    def full_json(self, text: str, finish: str, count: int) -> Any:
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": self.model,
                "content": [{"type": "text", "text": text}], "stop_reason": finish, "stop_sequence": None,
                "usage": {"input_tokens": _prompt_tokens(self.body), "output_tokens": count}}


class _OllamaWire(_Wire):
    content_type = "application/x-ndjson"

    def max_tokens(self) -> int | None:
        options = self.body.get("options")
        value = options.get("num_predict") if isinstance(options, dict) else None
        return value if isinstance(value, int) and value >= 0 else None

    def _line(self, obj: Any) -> bytes:
        return (_dumps(obj) + "\n").encode("utf-8")

    def _message(self, content: str, **extra) -> dict:
        return {"model": self.model, "created_at": "2024-01-01T00:00:00.000000Z",
                "message": {"role": "assistant", "content": content, **extra}, "done": False}

    def reasoning(self, text: str, index: int) -> bytes:
        return self._line(self._message("", thinking=text))

    def token(self, text: str, index: int, count: int) -> bytes:
        return self._line(self._message(text))

    def end(self, finish: str, count: int) -> list[bytes]:
        final = self._message("")
        final.update(done=True, done_reason=finish, total_duration=123456789, load_duration=1234567,
                     prompt_eval_count=_prompt_tokens(self.body), prompt_eval_duration=1234567,
                     eval_count=count, eval_duration=98765432)
        return [self._line(final)]

    def error_event(self) -> bytes:
        return self._line({"error": self.error_message()})

    def malformed(self) -> bytes:
        return b'{"message": {"content": "oops"\n'

    def bad_utf8(self) -> bytes:
        return b'{"message":{"role":"assistant","content":"\xed\xa0\x80"},"done":false}\n'

    def big_line(self, size: int) -> bytes:
        return b'{"message":{"role":"assistant","content":"' + b"x" * size + b'"},"done":false}\n'

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def full_json(self, text: str, finish: str, count: int) -> Any:
        final = self._message(text)
        final.update(done=True, done_reason=finish, eval_count=count)
        return final


_PROTOCOLS = {
    "/v1/chat/completions": ("openai", _OpenAIWire),
    "/chat/completions": ("openai", _OpenAIWire),
    "/api/chat": ("ollama", _OllamaWire),
    "/v1/messages": ("anthropic", _AnthropicWire),
}


# --------------------------------------------------------------------------------------------
# The server


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None
    raw: bytes
    protocol: str | None
    model: str | None
    time: float

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


class _ClientGone(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeProvider/1.0"
    sys_version = ""
    server: "_Server"

    # -- plumbing ----------------------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.fake.verbose:
            sys.stderr.write("fake-provider: " + (format % args) + "\n")

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (_ClientGone, BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True

    @property
    def stopping(self) -> threading.Event:
        return self.server.fake._stop

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self.stopping.wait(seconds):
            raise _ClientGone()

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            raise _ClientGone() from None

    def _chunk(self, data: bytes) -> None:
        if not data:
            return
        step = self.spec.split if self.spec.split > 0 else len(data)
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            self._write(b"%x\r\n%s\r\n" % (len(piece), piece))

    def _end_chunks(self) -> None:
        self._write(b"0\r\n\r\n")

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = _dumps(obj).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self._write(data)

    def _start_stream(self, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            return b""
        return self.rfile.read(n) if n > 0 else b""

    # -- routes --------------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        fake = self.server.fake
        fake._record(self, b"", None, None)
        if path in ("/v1/models", "/models"):
            self._send_json(200, {"object": "list", "data": [
                {"id": "fake:echo", "object": "model", "owned_by": "fake"},
                {"id": "fake:markdown", "object": "model", "owned_by": "fake"}]})
        elif path == "/api/tags":
            self._send_json(200, {"models": [{"name": "echo", "model": "echo"}]})
        elif path == "/api/version":
            self._send_json(200, {"version": "0.0.0-fake"})
        elif path == "/":
            data = b"fake provider is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self._write(data)
        else:
            self._send_json(404, {"error": f"no route {path}"})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        raw = self._read_body()
        protocol, wire_cls = _PROTOCOLS.get(path, (None, None))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) else None
        fake = self.server.fake
        fake._record(self, raw, protocol, model)
        if wire_cls is None:
            self._send_json(404, {"error": {"message": f"no route {path}"}})
            return
        if not isinstance(body, dict) or model is None:
            self._send_json(400, {"error": {"message": "request body must be JSON with a 'model'"}})
            return
        try:
            spec = parse_spec(model)
        except SpecError as exc:
            self.spec = Spec()
            wire = wire_cls(model, self.spec, body, fake.url)
            self._send_json(400, wire.error_body(400, f"fake provider: {exc}"))
            return
        self.spec = spec
        wire = wire_cls(model, spec, body, fake.url)
        self._serve(protocol, wire, spec, model, body)

    def _serve(self, protocol: str, wire: _Wire, spec: Spec, model: str, body: dict) -> None:
        fake = self.server.fake
        self._sleep(spec.wait)
        # Auth first, as real servers do.
        if spec.auth is not None:
            got = (self.headers.get("x-api-key") if protocol == "anthropic"
                   else (self.headers.get("Authorization") or "").removeprefix("Bearer "))
            if got != spec.auth:
                shown = got or "(none)"
                self._send_json(401, wire.error_body(401, f"Incorrect API key provided: {shown}"))
                return
        if "no_stream_options" in spec.flags and protocol == "openai" and "stream_options" in body:
            self._send_json(400, wire.error_body(
                400, "Unrecognized request argument supplied: stream_options"))
            return
        fault = spec.fault
        if fault is not None and (fault.isdigit() or fault == "quota"):
            if spec.times is None or fake._count(model) <= spec.times:
                self._status_fault(wire, spec, model, 429 if fault == "quota" else int(fault))
                return
            fault = None  # the first K requests failed; this one works
        if fault == "drop":
            self._hang_up()
            return
        if fault == "html":
            page = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                    b"<body><h1>Bad Gateway</h1><p>nginx</p></body></html>")
            self.send_response(spec.status or 200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self._write(page)
            return
        if fault == "empty":
            self.send_response(200)
            self.send_header("Content-Type", wire.content_type)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return

        prompt = last_user_text(body.get("messages"))
        tokens = expected_tokens(model, prompt, spec)
        if "echo_auth" in spec.flags:
            sent = self.headers.get("Authorization") or self.headers.get("x-api-key") or "(none)"
            half = len(sent) - len(sent.split()[-1]) // 2  # in the middle of the key itself
            tokens = ["Your header was ", sent[:half], sent[half:], ". "] + tokens
        finish = spec.finish or wire.default_finish
        limit = wire.max_tokens()
        if limit is not None and len(tokens) > limit:
            tokens = tokens[:limit]
            finish = spec.finish or wire.length_finish

        if fault == "json":
            self._sleep(spec.ttft)
            obj = wire.full_json("".join(tokens), finish, len(tokens))
            self._send_json(200, obj)
            return

        self._start_stream(wire.content_type)
        self._stream(wire, spec, tokens, finish, fault)

    def _status_fault(self, wire: _Wire, spec: Spec, model: str, status: int) -> None:
        headers: dict[str, str] = {}
        if status == 429 and spec.fault != "quota":
            message = "Rate limit reached for requests. Please try again later."
            if spec.retry_after is not None:
                headers["Retry-After"] = spec.retry_after
        elif spec.fault == "quota":
            message = "You exceeded your current quota, please check your plan and billing details."
            obj = wire.error_body(429, message)
            if isinstance(obj.get("error"), dict):
                obj["error"]["code"] = "insufficient_quota"
                obj["error"]["type"] = "insufficient_quota"
            self._send_json(429, obj)
            return
        elif status in (401, 403):
            got = self.headers.get("x-api-key") or self.headers.get("Authorization") or "(none)"
            message = f"Incorrect API key provided: {got}"
        elif status == 404:
            message = (f"model '{model}' not found, try pulling it first" if isinstance(wire, _OllamaWire)
                       else f"The model `{model}` does not exist or you do not have access to it.")
        elif status >= 500:
            message = "The server had an error while processing your request. Sorry about that!"
        else:
            message = f"fake provider: status {status} for {model}"
        if spec.message:
            message = spec.message
        self._send_json(status, wire.error_body(status, message), headers)

    def _stream(self, wire: _Wire, spec: Spec, tokens: list[str], finish: str, fault: str | None) -> None:
        n = len(tokens)
        at = spec.at if spec.at is not None else n // 2
        infinite = fault == "infinite"
        rate = spec.rate if spec.rate > 0 else (1000.0 if infinite else 0.0)
        trickling = False

        def send(data: bytes) -> None:
            if trickling:
                for i in range(len(data)):
                    self._sleep(spec.gap)
                    self._chunk(data[i:i + 1])
            else:
                self._chunk(data)

        for piece in wire.start():
            send(piece)
        if "comments" in spec.flags:
            send(wire.comment() or b"")
        t0 = time.monotonic()
        if spec.ttft > 0:
            if "comments" in spec.flags:
                # OpenRouter repeats its comment while the model has not started.
                deadline = t0 + spec.ttft
                while (left := deadline - time.monotonic()) > 0:
                    self._sleep(min(0.25, left))
                    if time.monotonic() < deadline:
                        send(wire.comment() or b"")
            else:
                self._sleep(spec.ttft)
        for i in range(spec.reasoning):
            send(wire.reasoning(f"thinking step {i} ", i))
        start = time.monotonic()

        def pace(i: int) -> None:
            if rate > 0:
                self._sleep(start + i / rate - time.monotonic())

        i = 0
        count = spec.reasoning
        word_cycle = tokens or ["word "]
        while infinite or i < n:
            if fault is not None and not infinite and i == at:
                if fault == "cut":
                    self._hang_up()
                    return
                if fault == "eof":
                    self._end_chunks()
                    return
                if fault == "malformed":
                    send(wire.malformed())
                    self._end_chunks()
                    return
                if fault == "error":
                    send(wire.error_event())
                    self._end_chunks()
                    return
                if fault == "badutf8":
                    send(wire.bad_utf8())
                    self._end_chunks()
                    return
                if fault == "bigline":
                    send(wire.big_line(spec.size))
                    self._end_chunks()
                    return
                if fault == "stall":
                    self._stall()
                    return
                if fault == "trickle":
                    trickling = True
            pace(i)
            text = tokens[i] if i < n else word_cycle[i % len(word_cycle)]
            count += 1
            send(wire.token(text, i, count))
            i += 1
        for piece in wire.end(finish, count):
            send(piece)
        self._end_chunks()

    def _stall(self, limit: float = 600.0) -> None:
        """Send nothing more; return when the client leaves, the server stops, or after ``limit``."""
        deadline = time.monotonic() + limit
        sock = self.connection
        while time.monotonic() < deadline and not self.stopping.is_set():
            try:
                readable, _, _ = select.select([sock], [], [], 0.1)
                if readable and not sock.recv(1, socket.MSG_PEEK):
                    break  # the client closed its end
            except (OSError, ValueError):
                break
        self._hang_up()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    fake: "FakeProvider"


class FakeProvider:
    """The fake server. ``start()`` (or ``with``) runs it in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False):
        self.host = host
        self.port = port
        self.verbose = verbose
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._counts: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> "FakeProvider":
        if self._server is not None:
            return self
        self._stop.clear()
        server = _Server((self.host, self.port), _Handler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-provider:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stop.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            handlers = list(self._handler_threads)
        deadline = time.monotonic() + 5
        for thread in handlers:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        self._server = None
        self._thread = None

    def __enter__(self) -> "FakeProvider":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def ollama_url(self) -> str:
        return self.url

    @property
    def anthropic_url(self) -> str:
        return self.url

    def base_url(self, provider: str) -> str:
        """The ``base_url`` a model config of ``provider`` should use."""
        return self.openai_url if provider == "openai" else self.url

    # -- what it saw -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    def requests_for(self, model: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests
                if (model is None or r.model == model) and (path is None or r.path == path)]

    def clear(self) -> None:
        """Forget recorded requests and the per-model counters of ``:K`` faults."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._connections)

    # -- used by the handler -----------------------------------------------------------------

    def _record(self, handler: _Handler, raw: bytes, protocol: str | None, model: str | None) -> None:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = RecordedRequest(
            method=handler.command, path=handler.path.split("?", 1)[0],
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body, raw=raw, protocol=protocol, model=model, time=time.time())
        with self._lock:
            self._requests.append(record)

    def _count(self, model: str) -> int:
        with self._lock:
            self._counts[model] = self._counts.get(model, 0) + 1
            return self._counts[model]

    def _track(self, conn: socket.socket, add: bool) -> None:
        thread = threading.current_thread()
        with self._lock:
            if add:
                self._connections.add(conn)
                self._handler_threads.add(thread)
            else:
                self._connections.discard(conn)
                self._handler_threads.discard(thread)


@contextmanager
def fake_provider_process() -> Iterator[str]:
    """This server in a child process, its CPU apart from the caller's (the benchmarks measure
    theirs): yields its URL, and stops it on the way out."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_provider", "--port", "0"],
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError("the fake provider server did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_provider",
                                     description="Run the fake OpenAI/Ollama/Anthropic server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    fake = FakeProvider(args.host, args.port, verbose=args.verbose).start()
    print(fake.url, flush=True)
    print(f"openai base_url: {fake.openai_url}   ollama/anthropic base_url: {fake.url}",
          file=sys.stderr, flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
