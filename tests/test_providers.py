"""The HTTP providers against the fake server over loopback, plus error mapping and redaction."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import traceback
import types
from contextlib import aclosing
from pathlib import Path

import httpx
import pytest

from battles.config import ModelConfig
from battles.providers import Delta, ProviderError, StreamEnd, make_provider
from battles.providers import _http
from battles.providers.anthropic import AnthropicProvider
from battles.providers.http_errors import parse_retry_after, scrub, status_error
from battles.providers.ollama import OllamaProvider
from battles.providers.openai import OpenAIProvider
from battles.redact import MASK, redact, redact_headers, register_secret
from tests.fake_provider import FakeProvider, SpecError, expected_text, expected_tokens, parse_spec

PROTOCOLS = ["openai", "ollama", "anthropic"]
PROMPT = "Say something nice about otters"
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": PROMPT}]
KEY_ENV = "BLINDSIDE_TEST_KEY"
SECRET = "sk-test-SECRETSECRET-0123456789abcdef"
FINISH = {"openai": "stop", "ollama": "stop", "anthropic": "end_turn"}
LENGTH = {"openai": "length", "ollama": "length", "anthropic": "max_tokens"}


async def collect(model: ModelConfig, client: httpx.AsyncClient, messages=MESSAGES):
    items = [item async for item in make_provider(model).stream(messages, client)]
    assert items and isinstance(items[-1], StreamEnd)
    assert all(isinstance(i, Delta) and i.text for i in items[:-1])
    return "".join(i.text for i in items[:-1]), items[-1]


async def failure(model: ModelConfig, client: httpx.AsyncClient, messages=MESSAGES) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await collect(model, client, messages)
    return info.value


def assert_anonymous(exc: ProviderError, model: ModelConfig, *secrets: str) -> None:
    reason = exc.reason.lower()
    forbidden = [model.model, model.name, "127.0.0.1", "localhost", "http", "fake",
                 "openai", "ollama", "anthropic", "claude", "gpt"]
    if model.base_url:
        port = httpx.URL(model.base_url).port
        if port:
            forbidden.append(str(port))
    for word in forbidden:
        assert word.lower() not in reason, f"{word!r} leaks in {exc.reason!r}"
    for secret in secrets:
        for text in (exc.reason, exc.hint or "", str(exc), repr(exc), "".join(traceback.format_exception(exc))):
            assert secret not in text


# -- the happy path, per protocol ----------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_text_usage_and_finish(protocol, fake_model, http_client):
    model = fake_model("fake:tokens=12,text=markdown", protocol, name="zebra")
    text, end = await collect(model, http_client)
    assert text == expected_text(model.model, PROMPT)
    assert end == StreamEnd(finish_reason=FINISH[protocol], output_tokens=12)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_echo(protocol, fake_model, http_client):
    text, _ = await collect(fake_model("echo", protocol), http_client)
    assert text == PROMPT


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_unicode_split_into_single_bytes_with_crlf(protocol, fake_model, http_client):
    model = fake_model("fake:text=unicode,tokens=15,split=1,crlf", protocol)
    text, _ = await collect(model, http_client)
    assert text == expected_text(model.model)
    assert "😀" in text and "👩‍👩‍👧" in text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_reasoning_is_not_answer_text(protocol, fake_model, http_client):
    model = fake_model("fake:tokens=4,reasoning=3", protocol)
    text, end = await collect(model, http_client)
    assert text == expected_text(model.model)
    assert "thinking" not in text
    assert end.output_tokens == 7  # the server counts reasoning tokens as output


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_max_tokens_truncates_with_length_finish(protocol, fake_model, http_client):
    model = fake_model("fake:tokens=10", protocol, max_tokens=3)
    text, end = await collect(model, http_client)
    assert text == "".join(expected_tokens(model.model)[:3])
    assert end.finish_reason == LENGTH[protocol]
    assert end.output_tokens == 3


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_identity_mention_passes_through(protocol, fake_model, http_client):
    text, _ = await collect(fake_model("fake:mention=Claude,tokens=3", protocol), http_client)
    assert text.startswith("As Claude, ")


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
async def test_whole_json_answer_when_server_ignores_stream(protocol, fake_model, http_client):
    model = fake_model("fake:json,tokens=5", protocol)
    text, end = await collect(model, http_client)
    assert text == expected_text(model.model)
    assert end == StreamEnd(FINISH[protocol], 5)


async def test_both_sides_of_a_battle_stream_concurrently(fake_model, http_client):
    slow = fake_model("fake:ttft=0.4,tokens=3", "openai")
    fast = fake_model("fake:rate=25,tokens=10", "anthropic")
    started = time.monotonic()
    (a, _), (b, _) = await asyncio.gather(collect(slow, http_client), collect(fast, http_client))
    assert time.monotonic() - started < 0.7  # not 0.4 + 0.4 one after the other
    assert a == expected_text(slow.model) and b == expected_text(fast.model)


async def test_closing_early_stops_an_endless_stream(fake_model, http_client):
    stream = make_provider(fake_model("fake:infinite,rate=500", "openai")).stream(MESSAGES, http_client)
    seen = 0
    started = time.monotonic()
    async with aclosing(stream):
        async for item in stream:
            seen += 1
            if seen == 5:
                break
    assert time.monotonic() - started < 1.0


# -- what is sent --------------------------------------------------------------------------------

async def test_openai_request(fake_provider, fake_model, http_client, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    model = fake_model("fake:tokens=2", "openai", api_key_env=KEY_ENV, temperature=0.3, max_tokens=50,
                       headers=(("X-Title", "blindside"), ("HTTP-Referer", "https://example.org")))
    await collect(model, http_client)
    (request,) = fake_provider.requests
    assert request.path == "/v1/chat/completions"
    assert request.body == {"model": "fake:tokens=2", "messages": MESSAGES, "stream": True,
                            "stream_options": {"include_usage": True}, "temperature": 0.3, "max_tokens": 50}
    assert request.header("authorization") == f"Bearer {SECRET}"
    assert request.header("x-title") == "blindside"
    assert request.header("http-referer") == "https://example.org"
    assert request.header("accept") == "text/event-stream"


async def test_openai_request_without_optional_fields(fake_provider, fake_model, http_client):
    await collect(fake_model("fake:tokens=2", "openai"), http_client)
    body = fake_provider.last_request.body
    assert "temperature" not in body and "max_tokens" not in body
    assert fake_provider.last_request.header("authorization") is None


async def test_openai_base_url_without_v1(fake_provider, fake_model, http_client):
    text, _ = await collect(fake_model("fake:tokens=2", "openai", base_url=fake_provider.url + "/"), http_client)
    assert fake_provider.last_request.path == "/chat/completions" and text


async def test_anthropic_request(fake_provider, fake_model, http_client, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    model = fake_model("fake:tokens=2", "anthropic", api_key_env=KEY_ENV, temperature=0.5,
                       headers=(("anthropic-beta", "x"),))
    await collect(model, http_client)
    (request,) = fake_provider.requests
    assert request.path == "/v1/messages"
    assert request.body == {"model": "fake:tokens=2", "max_tokens": 1024, "stream": True, "temperature": 0.5,
                            "system": "You are terse.", "messages": [{"role": "user", "content": PROMPT}]}
    assert request.header("x-api-key") == SECRET
    assert request.header("anthropic-version") == "2023-06-01"
    assert request.header("anthropic-beta") == "x"
    assert request.header("authorization") is None


async def test_anthropic_without_system_prompt(fake_provider, fake_model, http_client):
    await collect(fake_model("fake:tokens=2", "anthropic", max_tokens=77), http_client,
                  messages=[{"role": "user", "content": "hi"}])
    body = fake_provider.last_request.body
    assert "system" not in body and body["max_tokens"] == 77


async def test_ollama_request(fake_provider, fake_model, http_client):
    await collect(fake_model("fake:tokens=2", "ollama", temperature=0.7, max_tokens=64), http_client)
    (request,) = fake_provider.requests
    assert request.path == "/api/chat"
    assert request.body == {"model": "fake:tokens=2", "messages": MESSAGES, "stream": True,
                            "options": {"temperature": 0.7, "num_predict": 64}}
    assert request.header("authorization") is None


async def test_ollama_request_without_options(fake_provider, fake_model, http_client):
    await collect(fake_model("fake:tokens=2", "ollama"), http_client)
    assert "options" not in fake_provider.last_request.body


# -- keys ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("value", [None, "", "   "])
async def test_missing_key_fails_before_sending(protocol, value, fake_provider, fake_model, http_client,
                                                monkeypatch):
    if value is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, value)
    exc = await failure(fake_model("fake:tokens=2", protocol, api_key_env=KEY_ENV), http_client)
    assert exc.reason == "no API key is set"
    assert exc.hint == f"set {KEY_ENV}"
    assert fake_provider.requests == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_key_accepted(protocol, fake_model, http_client, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    text, _ = await collect(fake_model(f"fake:tokens=3,auth={SECRET}", protocol, api_key_env=KEY_ENV), http_client)
    assert text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_wrong_key_refused_and_never_shown(protocol, fake_model, http_client, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    model = fake_model("fake:tokens=3,auth=the-right-key", protocol, api_key_env=KEY_ENV, name="zebra")
    exc = await failure(model, http_client)  # the fake's 401 message echoes the key it got
    assert exc.reason == "the server refused the API key (401)"
    assert exc.status == 401
    assert KEY_ENV in exc.hint
    assert_anonymous(exc, model, SECRET)


async def test_key_with_impossible_characters(fake_provider, fake_model, http_client, monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-ünïcode-key")
    exc = await failure(fake_model("fake:tokens=2", "openai", api_key_env=KEY_ENV), http_client)
    assert exc.reason == "the API key is not valid"
    assert "ünïcode" not in str(exc) + (exc.hint or "")
    assert fake_provider.requests == []


def test_provider_repr_has_no_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    model = ModelConfig(name="m", provider="openai", model="x", api_key_env=KEY_ENV)
    assert SECRET not in repr(make_provider(model))


# -- failures: anonymous reasons -----------------------------------------------------------------

FAULTS = [
    ("fault=401", "the server refused the API key (401)"),
    ("fault=403", "the server refused the API key (403)"),
    ("fault=404", "the server does not know this model (404)"),
    ("fault=400", "the server rejected the request (400)"),
    ("fault=500", "the server failed (500)"),
    ("fault=503", "the server failed (503)"),
    ("fault=529", "the server is overloaded (529)"),
    ("fault=quota", "the account is out of quota (429)"),
    ("fault=drop", "the server closed the connection without answering"),
    ("fault=cut@3", "the stream was cut off before it finished"),
    ("fault=eof@3", "the stream was cut off before it finished"),
    ("fault=malformed@2", "the server sent a malformed stream"),
    ("fault=badutf8@2", "the server sent a malformed stream"),
    ("fault=bigline", "the server sent a malformed stream"),
    ("fault=html", "the server answered with an HTML page, not a stream"),
    ("fault=html,status=502", "the server failed (502)"),
    ("fault=empty", "the server sent an empty answer"),
    ("fault=error@2", "the server reported an error: upstream model [model] failed at [address] "
                      "overloaded, try again"),
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("fault", "reason"), FAULTS, ids=[f for f, _ in FAULTS])
async def test_fault_reasons_are_anonymous(protocol, fault, reason, fake_model, http_client):
    model = fake_model(f"fake:tokens=6,{fault}", protocol, name="zebra-7b", aliases=("zeb",))
    exc = await failure(model, http_client)
    assert exc.reason == reason
    assert_anonymous(exc, model)


async def test_in_stream_error_hint_keeps_the_detail(fake_model, http_client):
    model = fake_model("fake:tokens=6,fault=error@2,message=Overloaded", "anthropic")
    exc = await failure(model, http_client)
    assert exc.reason == "the server reported an error: Overloaded"
    assert exc.hint == "Overloaded"


async def test_ollama_404_hint_says_pull(fake_model, http_client):
    exc = await failure(fake_model("fake:404", "ollama"), http_client)
    assert "ollama pull fake:404" in exc.hint


async def test_connection_refused(http_client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = ModelConfig(name="zebra", provider="openai", model="zebra-1", base_url=f"http://127.0.0.1:{port}/v1")
    exc = await failure(model, http_client)
    assert exc.reason == "could not connect to the server"
    assert str(port) in exc.hint  # the hint may say where; the reason may not
    assert_anonymous(exc, model)


async def test_invalid_base_url(http_client):
    model = ModelConfig(name="zebra", provider="openai", model="zebra-1", base_url="ftp://nowhere.example")
    exc = await failure(model, http_client)
    assert exc.reason == "the configured server address is not a valid URL"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_no_headers_within_timeout(protocol, fake_model, http_client):
    model = fake_model("fake:wait=2,tokens=2", protocol, timeout=0.3)
    started = time.monotonic()
    exc = await failure(model, http_client)
    assert exc.reason == "no answer within 0.3 s"
    assert time.monotonic() - started < 1.5
    assert_anonymous(exc, model)


async def test_slow_first_token_within_timeout_is_fine(fake_model, http_client):
    text, _ = await collect(fake_model("fake:ttft=0.3,tokens=2", "ollama", timeout=1.0), http_client)
    assert text


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stall_mid_stream(protocol, fake_model, http_client):
    model = fake_model("fake:tokens=6,stall@2", protocol, timeout=0.3)
    exc = await failure(model, http_client)
    assert exc.reason == "the stream stalled: nothing new for 0.3 s"


async def test_trickle_counts_as_a_stall(fake_model, http_client):
    # One byte every 0.1 s always beats the read timeout, but never completes a line.
    model = fake_model("fake:tokens=6,trickle@2,gap=0.1", "openai", timeout=0.35)
    started = time.monotonic()
    exc = await failure(model, http_client)
    assert exc.reason == "the stream stalled: nothing new for 0.35 s"
    assert time.monotonic() - started < 2


# -- 429 and other retries -----------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_429_retry_after_honoured_then_success(protocol, fake_provider, fake_model, http_client):
    model = fake_model("fake:tokens=3,fault=429:1,retry_after=0.3", protocol)
    started = time.monotonic()
    text, _ = await collect(model, http_client)
    assert time.monotonic() - started >= 0.3
    assert text == expected_text(model.model)
    assert len(fake_provider.requests) == 2


async def test_429_twice_fails_after_one_retry(fake_provider, fake_model, http_client):
    model = fake_model("fake:tokens=3,fault=429,retry_after=0.1", "openai")
    exc = await failure(model, http_client)
    assert exc.reason == "rate limited (429)"
    assert exc.status == 429 and exc.retry_after == pytest.approx(0.1)
    assert len(fake_provider.requests) == 2
    assert_anonymous(exc, model)


async def test_429_long_retry_after_is_not_waited_for(fake_provider, fake_model, http_client):
    started = time.monotonic()
    exc = await failure(fake_model("fake:fault=429,retry_after=30", "anthropic"), http_client)
    assert time.monotonic() - started < 1
    assert exc.reason == "rate limited (429)" and exc.retry_after == 30
    assert len(fake_provider.requests) == 1


async def test_429_without_retry_after_waits_the_default(fake_provider, fake_model, http_client, monkeypatch):
    monkeypatch.setattr(_http, "RETRY_WAIT_DEFAULT", 0.05)
    text, _ = await collect(fake_model("fake:tokens=2,fault=429:1,retry_after=none", "ollama"), http_client)
    assert text and len(fake_provider.requests) == 2


async def test_quota_429_is_not_retried(fake_provider, fake_model, http_client):
    await failure(fake_model("fake:quota", "openai"), http_client)
    assert len(fake_provider.requests) == 1


async def test_500_once_is_not_retried(fake_provider, fake_model, http_client):
    exc = await failure(fake_model("fake:tokens=2,fault=500:1", "openai"), http_client)
    assert exc.reason == "the server failed (500)"
    assert len(fake_provider.requests) == 1


async def test_stream_options_rejected_retries_without_them(fake_provider, fake_model, http_client):
    model = fake_model("fake:tokens=3,no_stream_options", "openai")
    provider = make_provider(model)
    items = [i async for i in provider.stream(MESSAGES, http_client)]
    assert "".join(i.text for i in items[:-1]) == expected_text(model.model)
    assert items[-1] == StreamEnd("stop", None)  # this server sends no usage then
    first, second = fake_provider.requests
    assert "stream_options" in first.body and "stream_options" not in second.body
    fake_provider.clear()
    [i async for i in provider.stream(MESSAGES, http_client)]
    assert len(fake_provider.requests) == 1  # remembered


# -- OpenAI-compatible dialects ------------------------------------------------------------------

@pytest.mark.parametrize(("usage", "tokens"), [("auto", 5), ("separate", 5), ("every", 5), ("last", 5),
                                               ("none", None)])
async def test_openai_usage_styles(usage, tokens, fake_model, http_client):
    text, end = await collect(fake_model(f"fake:tokens=5,usage={usage}", "openai"), http_client)
    assert end == StreamEnd("stop", tokens)


async def test_openai_openrouter_comments_while_waiting(fake_model, http_client):
    model = fake_model("fake:tokens=3,comments,ttft=0.6", "openai", timeout=0.45)
    text, _ = await collect(model, http_client)  # comments keep the connection alive
    assert text == expected_text(model.model)


async def test_openai_without_done_marker(fake_model, http_client):
    text, end = await collect(fake_model("fake:tokens=3,nodone", "openai"), http_client)
    assert text and end.finish_reason == "stop"


def mock_client(body: bytes, status: int = 200, content_type: str = "text/event-stream") -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def sse(*datas: str) -> bytes:
    return b"".join(f"data: {d}\n\n".encode() for d in datas)


MOCK = ModelConfig(name="zebra", provider="openai", model="org/zebra-7b", base_url="http://secret-host.example:8443/v1")


async def test_openai_dialect_quirks():
    body = sse(
        '{"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}',
        '{"choices":[{"index":0,"delta":{"reasoning_content":"hmm","content":null}}]}',
        '{"choices":[{"index":0,"delta":{"content":[{"type":"text","text":"Hel"},{"type":"thinking","thinking":"x"}]}}]}',
        '{"choices":[{"index":0,"delta":{"content":"lo \\ud800"}}],"usage":{"completion_tokens":2}}',
        '{"choices":[{"index":1,"delta":{"content":"other answer"}}]}',
        '{"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":null}',
        '{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":3}}',
        "[DONE]",
    )
    async with mock_client(b": OPENROUTER PROCESSING\n\n" + body) as client:
        text, end = await collect(MOCK, client)
    assert text == "Hello \ufffd"
    assert end == StreamEnd("length", 3)


@pytest.mark.parametrize("body", [
    sse('{"choices":[{"delta":{"content":"a"}}]}', '{"error":{"message":"org/zebra-7b crashed at 10.0.0.5:8000"}}'),
    sse('{"object":"error","message":"zebra-7b crashed at 10.0.0.5:8000","type":"BadRequestError"}'),
    b'event: error\ndata: {"message":"zebra-7b crashed at 10.0.0.5:8000"}\n\n',
])
async def test_openai_in_stream_error_shapes(body):
    async with mock_client(body) as client:
        exc = await failure(MOCK, client)
    assert exc.reason == "the server reported an error: [model] crashed at [address]"
    assert "zebra" in exc.hint  # the hint may reveal; it is shown after the reveal


async def test_openai_finish_reason_error():
    async with mock_client(sse('{"choices":[{"delta":{"content":"a"},"finish_reason":"error"}]}')) as client:
        exc = await failure(MOCK, client)
    assert exc.reason == "the server reported an error"


@pytest.mark.parametrize("body", [sse("[1, 2]"), sse('{"choices": "nope"}'), sse("{bad json}")])
async def test_openai_malformed_events(body):
    async with mock_client(body) as client:
        exc = await failure(MOCK, client)
    assert exc.reason == "the server sent a malformed stream"


async def test_openai_eof_without_finish_or_done_is_cut():
    async with mock_client(sse('{"choices":[{"delta":{"content":"a"}}]}')) as client:
        exc = await failure(MOCK, client)
    assert exc.reason == "the stream was cut off before it finished"


async def test_html_sniffed_even_with_a_stream_content_type():
    async with mock_client(b"\n  <!DOCTYPE html><html><title>Login</title></html>") as client:
        exc = await failure(MOCK, client)
    assert exc.reason == "the server answered with an HTML page, not a stream"
    assert "Login" in exc.hint


async def test_anthropic_quirks():
    model = ModelConfig(name="zebra", provider="anthropic", model="zebra-1", base_url="http://secret-host.example")
    body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"usage":{"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":"He"}}\n\n'
        b'event: brand_new_event\ndata: {"type":"brand_new_event"}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"input_json_delta","partial_json":"{}"}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"llo"}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"max_tokens"},'
        b'"usage":{"output_tokens":9}}\n\n'
    )  # no message_stop: whole anyway, since the stop reason came
    async with mock_client(body) as client:
        text, end = await collect(model, client)
    assert text == "Hello" and end == StreamEnd("max_tokens", 9)


async def test_ollama_done_without_reason_and_error_lines():
    model = ModelConfig(name="zebra", provider="ollama", model="zebra:7b", base_url="http://secret-host.example")
    body = b'{"message":{"content":"hi"},"done":false}\n{"done":true}\n'
    async with mock_client(body, content_type="application/x-ndjson") as client:
        assert await collect(model, client) == ("hi", StreamEnd(None, None))
    async with mock_client(b'{"error":"zebra:7b ran out of memory"}\n', content_type="application/x-ndjson") as client:
        exc = await failure(model, client)
    assert exc.reason == "the server reported an error: [model] ran out of memory"


@pytest.mark.parametrize("error", [RuntimeError("boom"), httpx.ReadTimeout("slow"), httpx.ConnectError("no"),
                                   httpx.RemoteProtocolError("bye"), OSError("socket"), KeyError("x")])
async def test_only_provider_errors_escape(error):
    def handler(request):
        raise error

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        exc = await failure(MOCK, client)
    assert isinstance(exc, ProviderError)
    assert_anonymous(exc, MOCK)


# -- the factory ---------------------------------------------------------------------------------

def test_make_provider_routes_by_provider(monkeypatch):
    kinds = {"openai": OpenAIProvider, "ollama": OllamaProvider, "anthropic": AnthropicProvider}
    for name, cls in kinds.items():
        assert type(make_provider(ModelConfig(name="m", provider=name, model="x"))) is cls
    fake_module = types.ModuleType("battles.providers.llama_cpp")
    fake_module.LlamaCppProvider = lambda model: ("local", model.name)
    monkeypatch.setitem(sys.modules, "battles.providers.llama_cpp", fake_module)
    monkeypatch.setattr("battles.providers.llama_cpp", fake_module, raising=False)
    assert make_provider(ModelConfig(name="tiny", provider="llama-cpp", model="x")) == ("local", "tiny")
    with pytest.raises(ValueError):
        make_provider(ModelConfig(name="m", provider="nope", model="x"))


def test_default_base_urls():
    assert make_provider(ModelConfig(name="m", provider="ollama", model="x")).model.url == "http://localhost:11434"


# -- redaction, scrubbing, Retry-After -----------------------------------------------------------

def test_redact_registered_and_given_secrets():
    register_secret("registered-secret-value")
    text = redact("a registered-secret-value b given-secret c", ["given-secret"])
    assert text == f"a {MASK} b {MASK} c"


@pytest.mark.parametrize("text", [
    "Authorization: Bearer abc.def-123",
    "x-api-key: sk-ant-api03-aaaaaaaaaaaaaaaaaaaaaaaaa",
    '{"api_key": "hunter2"}',
    "https://generativelanguage.googleapis.com/v1?key=AIzaSyA-very-secret",
    "https://user:pass@proxy.example:8080",
    "using sk-proj-abcdefghijklmnopqrstuvwxyz",
])
def test_redact_key_shapes(text):
    out = redact(text)
    assert MASK in out
    for secret in ("abc.def-123", "aaaaaaaaaaaa", "hunter2", "very-secret", "pass@", "abcdefghijklmnop"):
        assert secret not in out


def test_redact_headers():
    headers = httpx.Headers([("Authorization", "Bearer x"), ("X-Api-Key", "k"), ("Accept", "*/*")])
    assert redact_headers(headers) == {"Authorization": MASK, "X-Api-Key": MASK, "Accept": "*/*"}
    assert redact_headers({"X-Other": "contains given-one"}, ["given-one"]) == {"X-Other": f"contains {MASK}"}
    assert redact_headers(None) == {}


def test_scrub_removes_identity_address_and_vendor_names():
    model = ModelConfig(name="my-zebra", provider="openai", model="acme/zebra-7b-instruct",
                        base_url="https://api.acme-ai.example:9000/v1", aliases=("zz-top",))
    text = ("Model acme/zebra-7b-instruct (alias zz-top, my-zebra) via OpenAI-compatible proxy "
            "at https://api.acme-ai.example:9000/v1 and api.acme-ai.example, 10.1.2.3:80, localhost:11434; "
            "try Claude or gpt-4o-mini instead")
    out = scrub(text, model)
    for word in ("zebra", "zz-top", "acme", "OpenAI", "10.1.2.3", "11434", "Claude", "gpt"):
        assert word.lower() not in out.lower(), (word, out)
    assert len(scrub("x" * 1000, model)) <= 200


def test_parse_retry_after():
    assert parse_retry_after({"retry-after": "3"}) == 3
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:05 GMT"}, now=1445412480) == 5
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "-1"}) is None
    assert parse_retry_after({}) is None


def test_status_error_context_length_and_redirect():
    model = ModelConfig(name="m", provider="openai", model="x")
    exc = status_error(400, b'{"error":{"message":"This model\'s maximum context length is 8192 tokens"}}', model)
    assert exc.reason == "the prompt is too long for this model (400)"
    exc = status_error(301, b"", model, location="https://elsewhere.example/v1")
    assert exc.reason == "the server redirected the request (301)" and "elsewhere" in exc.hint


# -- the fake server itself ----------------------------------------------------------------------

def test_fake_spec_grammar():
    spec = parse_spec("fake:tokens=2000,rate=1000,ttft=0.5,text=markdown,fault=cut@50")
    assert (spec.tokens, spec.rate, spec.ttft, spec.text, spec.fault, spec.at) == (2000, 1000, 0.5, "markdown", "cut", 50)
    spec = parse_spec("fake:429:2,retry_after=none,say=Hello%2C%20world,comments")
    assert (spec.fault, spec.times, spec.retry_after, spec.say) == ("429", 2, None, "Hello, world")
    assert "comments" in spec.flags
    assert parse_spec("echo").text == "echo" and parse_spec("slow-start").ttft == 1.0
    assert parse_spec("gpt-4o-mini").fault is None  # lenient without the prefix
    with pytest.raises(SpecError, match="unknown key 'tokenz'"):
        parse_spec("fake:tokenz=3")
    with pytest.raises(SpecError, match="unknown fault"):
        parse_spec("fake:fault=explode")
    assert expected_text("fake:say=a%20b%20c") == "a b c"


async def test_fake_strict_spec_error_is_a_400_naming_it(fake_model, http_client):
    exc = await failure(fake_model("fake:tokenz=3", "openai"), http_client)
    assert exc.reason == "the server rejected the request (400)"
    assert "unknown key 'tokenz'" in exc.hint


async def test_fake_server_stops_cleanly_with_streams_still_open():
    fake = FakeProvider().start()
    model = ModelConfig(name="m", provider="openai", model="fake:stall@1,tokens=4", base_url=fake.openai_url)
    async with httpx.AsyncClient(trust_env=False) as client:
        stream = make_provider(model).stream(MESSAGES, client)
        assert isinstance(await anext(stream), Delta)  # now stalled, connection open
        assert fake.open_connections == 1
        started = time.monotonic()
        await asyncio.to_thread(fake.stop)
        assert time.monotonic() - started < 2
        with pytest.raises(ProviderError, match="cut off"):
            await anext(stream)
        await stream.aclose()


def test_fake_server_runs_standalone():
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_provider", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=str(Path(__file__).resolve().parent.parent))
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        reply = httpx.post(f"{url}/api/chat", json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
                           timeout=5, trust_env=False)
        assert reply.status_code == 200 and '"content":"hi"' in reply.text
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0


def test_a_reason_marks_which_part_the_server_wrote():
    from battles.providers.http_errors import in_stream_error

    model = ModelConfig(name="cut", provider="openai", model="cut-model", base_url="http://127.0.0.1:9")
    quoted = in_stream_error("cut-model is overloaded", model)
    assert quoted.reason == "the server reported an error: [model] is overloaded"
    assert quoted.quoted == "[model] is overloaded" and quoted.reason.endswith(quoted.quoted)
    assert in_stream_error(None, model).quoted is None
    assert status_error(500, b'{"error": "cut"}', model).quoted is None  # all fixed wording
    assert ProviderError("the stream was cut off", quoted="not the end").quoted is None


async def test_a_connect_failure_inside_a_task_group_is_a_plain_reason(http_client):
    model = ModelConfig(name="far", provider="openai", model="m", base_url="http://127.0.0.1:99999/v1", timeout=2)
    with pytest.raises(ProviderError) as caught:
        async with aclosing(make_provider(model).stream([{"role": "user", "content": "hi"}], http_client)) as events:
            async for _ in events:
                pass
    assert caught.value.reason == "could not connect to the server"
    assert "TaskGroup" not in (caught.value.hint or "") and "ExceptionGroup" not in (caught.value.hint or "")
