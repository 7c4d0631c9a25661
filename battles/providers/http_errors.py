"""Turn HTTP statuses, transport failures and server error messages into ``ProviderError``.

Every ``reason`` made here is anonymous: it never names the model, the provider, the host, the
URL or a key, so it can be shown while the battle is still blind. ``hint`` says what to do and
may name the environment variable, the base URL or the model id (it is shown after the reveal),
but it never carries a key: it goes through ``redact``.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from battles.config import ModelConfig
from battles.providers.base import ProviderError
from battles.redact import redact, secrets_from_env

__all__ = [
    "MAX_MESSAGE",
    "error_message",
    "html_error",
    "in_stream_error",
    "is_html",
    "key_hint",
    "malformed_error",
    "message_of",
    "parse_retry_after",
    "scrub",
    "seconds",
    "status_error",
    "transport_error",
]

MAX_MESSAGE = 200  # characters of a server's own message kept in a reason

# Brand and server names an upstream message may use to name itself. Matched case-insensitively
# as whole words; common English words ("together", "meta") are left out on purpose.
_VENDOR_WORDS = re.compile(
    r"(?i)(?<![\w-])(?:"
    r"open\s?ai|chat\s?gpt|gpt(?:-[\w.]+)*|o[134](?:-mini|-pro|-preview)?|"
    r"anthropic|claude(?:-[\w.]+)*|sonnet|opus|haiku|"
    r"google|gemini(?:-[\w.]+)*|gemma[\w.-]*|vertex(?:\s?ai)?|"
    r"mistral(?:ai)?[\w.-]*|mixtral[\w.-]*|codestral[\w.-]*|magistral[\w.-]*|"
    r"llama(?:[\w.-]*)|ollama|llama\.cpp|llama-cpp|vllm|lm\s?studio|sglang|tgi|"
    r"qwen[\w.-]*|qwq[\w.-]*|deep\s?seek[\w.-]*|open\s?router|groq|together\s?ai|together\.ai|"
    r"fireworks(?:\s?ai)?|perplexity|cohere|command-r[\w.+-]*|grok[\w.-]*|x\.ai|xai|"
    r"azure|bedrock|hugging\s?face|phi-\d[\w.-]*|kimi[\w.-]*|moonshot|glm-[\w.-]*|zhipu|nvidia|nim"
    r")(?![\w-])"
)
_URL = re.compile(r"(?i)\b(?:https?|wss?)://[^\s'\"<>)\]]+")
_IPV4 = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b")
_IPV6 = re.compile(r"\[[0-9a-fA-F:.]+\](?::\d{1,5})?")
_LOCALHOST = re.compile(r"(?i)\blocalhost(?::\d{1,5})?\b")
_PORT = re.compile(r"(?i)\bport\s+\d{2,5}\b")
_HTML = re.compile(rb"(?is)^\s*(?:<!doctype\s+html|<html|<head|<body|<\?xml|<!--|<h1|<title|<center|<p>)")
_TITLE = re.compile(r"(?is)<title[^>]*>(.*?)</title>")
_TAGS = re.compile(r"(?s)<[^>]*>")
_SPACES = re.compile(r"\s+")


def seconds(value: float) -> str:
    """60.0 → "60", 0.25 → "0.25"."""
    return f"{value:g}"


def _identity_terms(model: ModelConfig | None) -> list[str]:
    if model is None:
        return []
    terms = {model.model, model.name, model.contestant, model.provider, *model.aliases}
    for sep in ("/", ":", "@"):
        for part in model.model.split(sep):
            terms.add(part)
    if model.model_path:
        terms.add(model.model_path)
    return sorted((t for t in terms if t and len(t) >= 3), key=len, reverse=True)


def _address_terms(model: ModelConfig | None) -> list[str]:
    if model is None:
        return []
    url = model.url
    terms = {url}
    try:
        parts = urlsplit(url)
        if parts.netloc:
            terms.add(parts.netloc)
        if parts.hostname:
            terms.add(parts.hostname)
    except ValueError:
        pass
    return sorted((t for t in terms if t and len(t) >= 3), key=len, reverse=True)


def scrub(text: object, model: ModelConfig | None = None, *, limit: int = MAX_MESSAGE) -> str:
    """A server's message made safe for an anonymous reason.

    Keys are redacted; URLs, IP addresses and the configured host become ``[address]``; the
    model's id, name, aliases and provider become ``[model]``; vendor names become
    ``[vendor]``. Whitespace is collapsed and the result cut to ``limit`` characters.
    """
    env = [model.api_key_env] if model is not None else []
    text = redact(text, secrets_from_env(env))
    text = _URL.sub("[address]", text)
    for term in _address_terms(model):
        text = re.sub(re.escape(term), "[address]", text, flags=re.IGNORECASE)
    text = _IPV6.sub("[address]", text)
    text = _IPV4.sub("[address]", text)
    text = _LOCALHOST.sub("[address]", text)
    text = _PORT.sub("port [number]", text)
    for term in _identity_terms(model):
        text = re.sub(r"(?<![\w])" + re.escape(term) + r"(?![\w])", "[model]", text, flags=re.IGNORECASE)
    text = _VENDOR_WORDS.sub("[vendor]", text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _hint_text(text: str | None, limit: int = 300) -> str | None:
    if not text:
        return None
    text = _SPACES.sub(" ", redact(text)).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def is_html(body: bytes) -> bool:
    return bool(_HTML.match(body[:512]))


def _html_summary(body: bytes) -> str:
    text = body[:65536].decode("utf-8", "replace")
    title = _TITLE.search(text)
    if title:
        return _SPACES.sub(" ", _TAGS.sub(" ", title.group(1))).strip()
    return _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()[:120]


def error_message(body: bytes | str | None) -> str | None:
    """The human message in an error body of any common shape, or None.

    Covers ``{"error": {"message": ...}}`` (OpenAI, Anthropic, OpenRouter),
    ``{"error": "..."}`` (Ollama, llama.cpp), ``{"message": ...}`` / ``{"detail": ...}``
    (vLLM, FastAPI), a list of those (Gemini), plain text and HTML pages.
    """
    if body is None:
        return None
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else bytes(body)
    if not raw.strip():
        return None
    if is_html(raw):
        summary = _html_summary(raw)
        return f"an HTML page ({summary})" if summary else "an HTML page"
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return raw[:1000].decode("utf-8", "replace").strip() or None
    return message_of(obj, depth=0)


def message_of(obj: object, depth: int = 0) -> str | None:
    """The human message inside a parsed JSON error value, or None."""
    if depth > 4:
        return None
    if isinstance(obj, str):
        return obj.strip() or None
    if isinstance(obj, list):
        for item in obj[:3]:
            found = message_of(item, depth + 1)
            if found:
                return found
        return None
    if not isinstance(obj, dict):
        return None
    for key in ("error", "message", "detail", "msg", "error_message", "errors"):
        if key in obj:
            found = message_of(obj[key], depth + 1)
            if found:
                return found
    return None


def key_hint(model: ModelConfig) -> str:
    if model.api_key_env:
        return f"set {model.api_key_env} to a valid API key (the server refused the one it holds)"
    return ("this server wants an API key: set api_key_env in the config of "
            f"{model.name!r} to the name of the environment variable that holds it")


def parse_retry_after(headers: Mapping[str, str] | httpx.Headers | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date)."""
    if not headers:
        return None
    getter = headers.get
    ms = getter("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
            if math.isfinite(value) and value >= 0:
                return value
        except ValueError:
            pass
    raw = getter("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


_CONTEXT = re.compile(r"(?i)context[ _-]?(?:length|window)|maximum context|too many tokens|prompt is too long|"
                      r"input is too long|exceeds? the (?:maximum|max)")
_QUOTA = re.compile(r"(?i)insufficient[_ ]quota|exceeded your current quota|quota exceeded|"
                    r"out of credits?|insufficient (?:credits|balance|funds)|billing")


def is_quota(body: bytes | str | None) -> bool:
    message = error_message(body) or ""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    return bool(_QUOTA.search(message) or _QUOTA.search(raw[:4000]))


def status_error(status: int, body: bytes | None, model: ModelConfig, *,
                 retry_after: float | None = None, location: str | None = None) -> ProviderError:
    """The error for a non-2xx answer."""
    message = error_message(body)
    detail = _hint_text(message)
    if status in (401, 403):
        hint = key_hint(model)
        if detail:
            hint += f" (server said: {detail})"
        return ProviderError(f"the server refused the API key ({status})", status=status, hint=hint)
    if status == 404:
        hint = f"check that the server at {model.url} serves the model {model.model!r}"
        if model.provider == "ollama":
            hint += f"; pull it with `ollama pull {model.model}`"
        if detail:
            hint += f" (server said: {detail})"
        return ProviderError("the server does not know this model (404)", status=status, hint=hint)
    if status == 429:
        if is_quota(body):
            return ProviderError("the account is out of quota (429)", status=status, hint=detail,
                                 retry_after=retry_after)
        hint = detail or "wait a little and try again"
        if retry_after is not None:
            hint += f" (the server asked to wait {seconds(round(retry_after, 1))} s)"
        return ProviderError("rate limited (429)", status=status, hint=hint, retry_after=retry_after)
    if status == 402:
        return ProviderError("the account is out of credit (402)", status=status, hint=detail)
    if status in (400, 422):
        if message and _CONTEXT.search(message):
            return ProviderError(f"the prompt is too long for this model ({status})", status=status, hint=detail)
        return ProviderError(f"the server rejected the request ({status})", status=status, hint=detail)
    if status == 408:
        return ProviderError("the server timed out (408)", status=status, hint=detail)
    if status == 413:
        return ProviderError("the request is too large for the server (413)", status=status, hint=detail)
    if status == 405:
        return ProviderError("the server does not accept this request (405)", status=status,
                             hint=f"check base_url ({model.url})" + (f"; server said: {detail}" if detail else ""))
    if status in (529,):
        return ProviderError(f"the server is overloaded ({status})", status=status, hint=detail)
    if 500 <= status <= 599:
        return ProviderError(f"the server failed ({status})", status=status, hint=detail)
    if 300 <= status <= 399:
        hint = f"check base_url ({model.url})"
        if location:
            hint += f"; it redirects to {redact(location)}"
        return ProviderError(f"the server redirected the request ({status})", status=status, hint=hint)
    return ProviderError(f"the server answered with an error ({status})", status=status, hint=detail)


def transport_error(exc: BaseException, model: ModelConfig, *, answered: bool, streaming: bool) -> ProviderError:
    """The error for an httpx exception.

    ``answered``: the response headers had arrived. ``streaming``: answer text had arrived.
    """
    t = seconds(model.timeout)
    where = model.url
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderError(f"could not connect to the server within {t} s",
                             hint=f"is the server at {where} reachable?")
    if isinstance(exc, httpx.ProxyError):
        return ProviderError("could not connect through the proxy",
                             hint=_hint_text(f"check the proxy settings (HTTPS_PROXY, ALL_PROXY): {exc}"))
    if isinstance(exc, httpx.ConnectError):
        if model.provider == "ollama":
            hint = f"is Ollama running at {where}? Start it with `ollama serve`"
        else:
            hint = f"is the server at {where} running and reachable?"
        return ProviderError("could not connect to the server", hint=hint)
    if isinstance(exc, httpx.ReadTimeout):
        if streaming:
            return ProviderError(f"the stream stalled: nothing new for {t} s",
                                 hint=f"raise timeout (now {t} s) in the config if the model is slow")
        return ProviderError(f"no answer within {t} s",
                             hint=f"raise timeout (now {t} s) in the config if the model is slow to start")
    if isinstance(exc, httpx.WriteTimeout):
        return ProviderError(f"could not send the request within {t} s")
    if isinstance(exc, httpx.PoolTimeout):
        return ProviderError(f"no free connection within {t} s")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(f"no answer within {t} s")
    if isinstance(exc, httpx.DecodingError):
        return ProviderError("the server sent a malformed stream", hint="the response body could not be decoded")
    if isinstance(exc, httpx.TooManyRedirects):
        return ProviderError("the server redirected the request too many times", hint=f"check base_url ({where})")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return ProviderError("the configured server address is not a valid URL",
                             hint=f"check base_url ({redact(where)})")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.CloseError)):
        if not answered:
            return ProviderError("the server closed the connection without answering",
                                 hint=f"is {where} the right address for this kind of server?")
        return ProviderError("the stream was cut off before it finished")
    if isinstance(exc, httpx.LocalProtocolError):
        return ProviderError("the request could not be sent", hint=_hint_text(str(exc)))
    return ProviderError("the connection to the server failed", hint=_hint_text(f"{type(exc).__name__}: {exc}"))


def malformed_error(detail: str | None = None) -> ProviderError:
    return ProviderError("the server sent a malformed stream", hint=_hint_text(detail))


def html_error(model: ModelConfig, body: bytes = b"") -> ProviderError:
    summary = _html_summary(body) if body else ""
    hint = f"check base_url ({model.url}): it should point at the API, not a web page"
    if summary:
        hint += f" (page: {_hint_text(summary, 120)})"
    return ProviderError("the server answered with an HTML page, not a stream", hint=hint)


def in_stream_error(message: str | None, model: ModelConfig) -> ProviderError:
    """The server put an error event in the stream; keep its message, scrubbed."""
    clean = scrub(message, model) if message else ""
    reason = f"the server reported an error: {clean}" if clean else "the server reported an error"
    return ProviderError(reason, hint=_hint_text(message), quoted=clean or None)
