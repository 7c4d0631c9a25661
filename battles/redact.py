"""Keep API keys out of anything that is shown, logged or stored.

``redact(text)`` replaces every key this process has read (providers call ``register_secret``
when they take a key from the environment), any extra ``secrets`` given, and anything shaped
like a credential (``Bearer ...``, ``x-api-key: ...``, ``sk-...``, ``?key=...``) with
``[redacted]``. ``redact_headers`` does the same for a headers mapping, blanking the values of
credential headers entirely.

Answer text is different: a model explaining ``Authorization: Bearer <token>`` is a good
answer, not a leak. ``redact_values`` and ``StreamRedactor`` replace only the key values
themselves (every configured key and every key read so far), and ``StreamRedactor`` does it on
a stream whose pieces may cut a key in two.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "SENSITIVE_HEADERS",
    "StreamRedactor",
    "known_secrets",
    "redact",
    "redact_headers",
    "redact_values",
    "register_secret",
    "secrets_from_env",
]

MASK = "[redacted]"
MIN_SECRET_LEN = 4  # shorter "keys" are not secrets worth mangling every text for

SENSITIVE_HEADERS = frozenset({
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "openai-api-key",
    "cookie",
    "set-cookie",
})

_lock = threading.Lock()
_secrets: set[str] = set()

_PATTERNS = [
    # "Authorization: Bearer abc", "bearer abc", "Basic abc"
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 " + MASK),
    # "x-api-key: abc", "api_key=abc", "'x-api-key': 'abc'", "authorization=..."
    (re.compile(
        r"(?i)((?:x-)?api[-_]?key|x-goog-api-key|authorization|access[-_]?token)"
        r"(['\"]?\s*[:=]\s*['\"]?)(?!\[redacted\]|bearer\b|basic\b)[^\s'\",;&}]+"
    ), r"\1\2" + MASK),
    # user:password@ in a URL
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1" + MASK + "@"),
    # ?key=abc in a URL (Gemini style)
    (re.compile(r"(?i)([?&](?:key|token|api_key)=)[^&\s#'\"]+"), r"\1" + MASK),
    # Common key shapes: sk-..., sk-ant-..., sk-or-v1-..., gsk_..., AIza..., hf_...
    (re.compile(r"\b(?:sk|gsk|xai|pk)[-_][A-Za-z0-9_\-]{16,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"), MASK),
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), MASK),
]


def register_secret(value: str | None) -> None:
    """Remember a key so every later ``redact`` hides it."""
    if value and len(value) >= MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)
            stripped = value.strip()
            if len(stripped) >= MIN_SECRET_LEN:
                _secrets.add(stripped)


def known_secrets() -> frozenset[str]:
    with _lock:
        return frozenset(_secrets)


def secrets_from_env(env_names: Iterable[str | None], environ: Mapping[str, str] | None = None) -> list[str]:
    """The values of the named environment variables (e.g. every model's ``api_key_env``)."""
    environ = os.environ if environ is None else environ
    out = []
    for name in env_names:
        if name:
            value = environ.get(name)
            if value and len(value.strip()) >= MIN_SECRET_LEN:
                out.append(value.strip())
    return out


def redact(text: Any, secrets: Iterable[str] = ()) -> str:
    """``text`` (made a string) with every key and key-shaped token replaced by ``[redacted]``."""
    if not isinstance(text, str):
        try:
            text = str(text)
        except Exception:  # a hostile __str__ must not break error reporting
            return MASK
    values = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN} | known_secrets()
    # Longest first, so a key that contains another one is hidden whole.
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _values(secrets: Iterable[str]) -> list[str]:
    """The key values to hide, longest first (a key that contains another is hidden whole)."""
    values = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN} | known_secrets()
    return sorted(values, key=len, reverse=True)


def redact_values(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every key value (``secrets`` and every key read so far) replaced by
    ``[redacted]``; nothing else changes."""
    for value in _values(secrets):
        if value in text:
            text = text.replace(value, MASK)
    return text


class StreamRedactor:
    """``redact_values`` for text that arrives in pieces.

    ``feed(piece)`` returns the text that is safe to show now; a tail that could be the start
    of a key is held back until the next piece tells (at most the longest key's length less
    one character). ``finish()`` returns what is held back, redacted.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        self._values = _values(secrets)
        self._longest = max(map(len, self._values), default=0)
        self._held = ""

    def feed(self, piece: str) -> str:
        if not self._values:
            return piece
        text = redact_values(self._held + piece, self._values)
        keep = self._key_start_at_end(text)
        self._held = text[len(text) - keep:] if keep else ""
        return text[:len(text) - keep]

    def finish(self) -> str:
        held, self._held = self._held, ""
        return redact_values(held, self._values)

    def _key_start_at_end(self, text: str) -> int:
        """Length of the longest end of ``text`` that a key starts with (0: none)."""
        for size in range(min(len(text), self._longest - 1), 0, -1):
            tail = text[-size:]
            if any(value.startswith(tail) for value in self._values):
                return size
        return 0


def redact_headers(headers: Mapping[str, Any] | Iterable[tuple[Any, Any]] | None,
                   secrets: Iterable[str] = ()) -> dict[str, str]:
    """A plain dict copy of ``headers`` with credential headers masked and keys redacted."""
    if headers is None:
        return {}
    if hasattr(headers, "raw") and hasattr(headers, "multi_items"):  # httpx.Headers: original case
        items = headers.raw
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    secrets = list(secrets)
    out: dict[str, str] = {}
    for name, value in items:
        name = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        value = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if name.lower() in SENSITIVE_HEADERS:
            value = MASK
        else:
            value = redact(value, secrets)
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out
