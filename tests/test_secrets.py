"""API keys never land in a file, a log or a message.

Recognisable fake keys sit in the environment; battles succeed and fail against the fake
server (including 401 pages that echo the key back, raw or as ``Bearer ...``); every export
format is written; then the database (with its -wal), the exports, every captured output and
every log record at DEBUG (httpx and httpcore included) are scanned for the keys.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from battles.config import load_config
from battles.engine import Arena, check_model
from battles.exporters import EXPORT_FORMATS, export
from battles.store import Store
from tests.helpers_reliability import assert_no_traceback, child_env, fake_config_toml, fake_model, run_cli, \
    tree_bytes

KEYS = {
    "OPENAI_API_KEY": "sk-test-CANARY-1234567890abcdefXYZ",
    "ANTHROPIC_API_KEY": "sk-ant-test-CANARY-0987654321zyxwQRS",
    # No well-known key shape: only remembering the key read from the environment can hide it.
    "TEAM_GATEWAY_TOKEN": "gwCANARYplain5566778899tok",
}
# A key leaked in part is leaked: look for a distinctive middle of each too.
NEEDLES = [*KEYS.values(), "CANARY-1234567890", "CANARY-0987654321", "CANARYplain55667"]


def assert_no_key(data: bytes | str, where: str) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    for needle in NEEDLES:
        assert needle not in text, f"an API key ({needle[:12]}...) leaked into {where}"
    # Also as UTF-16 or escaped, in case a file stores text that way.
    if isinstance(data, bytes):
        for needle in NEEDLES:
            assert needle.encode("utf-16-le") not in data, f"an API key leaked (UTF-16) into {where}"


def lineup(fake) -> dict[str, dict]:
    return {
        "ok-openai": fake_model(fake, "openai", "fake:tokens=8,seed=1", api_key_env="OPENAI_API_KEY"),
        "ok-anthropic": fake_model(fake, "anthropic", "fake:tokens=8,seed=2", api_key_env="ANTHROPIC_API_KEY"),
        "ok-gateway": fake_model(fake, "openai", "fake:tokens=8,seed=3", api_key_env="TEAM_GATEWAY_TOKEN"),
        # 401s whose message echoes the key the server got: "Bearer sk-...", raw x-api-key, raw token
        "refused-openai": fake_model(fake, "openai", "fake:401", api_key_env="OPENAI_API_KEY"),
        "refused-anthropic": fake_model(fake, "anthropic", "fake:401", api_key_env="ANTHROPIC_API_KEY"),
        "refused-gateway": fake_model(fake, "openai", "fake:auth=the-right-one", api_key_env="TEAM_GATEWAY_TOKEN"),
        "refused-gateway-ollama": fake_model(fake, "ollama", "fake:auth=the-right-one",
                                             api_key_env="TEAM_GATEWAY_TOKEN"),
        "refused-anthropic-gateway": fake_model(fake, "anthropic", "fake:auth=the-right-one",
                                                api_key_env="TEAM_GATEWAY_TOKEN"),
        "broken-midway": fake_model(fake, "openai", "fake:tokens=10,error@4", api_key_env="OPENAI_API_KEY"),
    }


PAIRS = [
    ("ok-openai", "ok-anthropic"),
    ("ok-gateway", "refused-openai"),
    ("refused-anthropic", "ok-openai"),
    ("refused-gateway", "refused-gateway-ollama"),
    ("refused-anthropic-gateway", "broken-midway"),
]


@pytest.fixture
def keyed_env(monkeypatch):
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return KEYS


@pytest.fixture
def config_file(tmp_path, fake_provider) -> Path:
    path = tmp_path / "blindside.toml"
    path.write_text(fake_config_toml(lineup(fake_provider)), encoding="utf-8")
    return path


def assert_keys_were_sent(fake) -> None:
    """The keys really travelled (else finding none of them proves nothing)."""
    seen = " ".join(f"{r.header('authorization', '')} {r.header('x-api-key', '')}" for r in fake.requests)
    for value in KEYS.values():
        assert value in seen, f"the fake server never received {value[:12]}..."


async def test_keys_stay_out_of_the_database_logs_and_reasons_in_process(tmp_path, keyed_env, config_file,
                                                                         fake_provider, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included (restored afterwards)
    for name in ("httpx", "httpcore", "battles", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    config = load_config(config_file)
    db = tmp_path / "votes.db"
    shown: list[str] = []
    with Store(db) as store:
        async with Arena(config, store, seed=1) as arena:
            for left, right in PAIRS:
                battle = arena.start("Tell me a fact.", models=(left, right))
                await battle.run()
                for record in battle.results.values():
                    shown += [record.text, record.error or "", record.error_hint or "", repr(record)]
                if battle.can_vote:
                    reveal = battle.vote("a", "tester")
                else:
                    reveal = battle.reveal()
                shown.append(repr(reveal))
            for model in config.models.values():
                result = await check_model(model, arena.client)
                shown.append(repr(result))
        # While the store is open its -wal holds the recent pages: scan both now.
        assert_no_key(tree_bytes([db]), "the database or its -wal")
        exports = []
        for fmt in EXPORT_FORMATS:
            target = tmp_path / f"export.{fmt}"
            export(store, target, fmt)
            exports.append(target)
    assert_keys_were_sent(fake_provider)
    assert any("refused the API key" in s for s in shown), "no 401 was exercised"
    assert_no_key("\n".join(shown), "a record, reason, hint or reveal")
    assert_no_key(tree_bytes([db]), "the database after close")
    assert_no_key(tree_bytes(exports), "an export")
    log_text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "DEBUG logging captured nothing: the log check proves nothing"
    assert_no_key(log_text, "the logs")
    assert_no_key(caplog.text, "the formatted logs")


@pytest.mark.slow
def test_keys_stay_out_of_every_command_output_and_file(tmp_path, config_file, fake_provider):
    env = child_env(**KEYS)
    db = tmp_path / "votes.db"
    outputs: list[str] = []

    def cli(*args: str, ok: tuple[int, ...] = (0, 1)):
        done = run_cli(*args, "--config", str(config_file), "--db", str(db), env=env, cwd=tmp_path)
        assert done.returncode in ok, done.stderr
        assert_no_traceback(done.stderr)
        outputs.append(done.stdout + done.stderr)
        return done

    for index, (left, right) in enumerate(PAIRS):
        cli("battle", "--prompt", "Tell me a fact.", "--models", f"{left},{right}", "--vote", "a",
            *(["--json"] if index % 2 else []))
    unvoted = cli("battle", "--prompt", "Another.", "--models", "ok-openai,ok-gateway", "--json")
    cli("models", "--check")
    cli("models")
    cli("leaderboard")
    exports = []
    for fmt in ("jsonl", "csv", "arena-json"):
        target = tmp_path / f"all.{fmt}"
        cli("export", str(target), "--format", fmt, ok=(0,))
        exports.append(target)
    cli("export", "-", "--format", "jsonl", ok=(0,))
    import json

    battle_id = json.loads(unvoted.stdout)["battle_id"]
    cli("vote", battle_id, "b", ok=(0,))

    assert_keys_were_sent(fake_provider)
    joined = "\n".join(outputs)
    assert "refused the API key" in joined
    assert_no_key(joined, "command output")
    assert_no_key(tree_bytes([db]), "the database")
    assert_no_key(tree_bytes(exports), "an export")
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".log", ".txt")]
    assert_no_key(tree_bytes(leftovers), "a log file")


def test_a_key_in_a_config_header_is_refused_before_it_is_used(tmp_path):
    path = tmp_path / "blindside.toml"
    path.write_text('[models.x]\nprovider = "openai"\nmodel = "m"\n'
                    f'headers = {{ Authorization = "Bearer {KEYS["OPENAI_API_KEY"]}" }}\n', encoding="utf-8")
    done = run_cli("models", "--config", str(path), "--db", str(tmp_path / "v.db"), env=child_env())
    assert done.returncode == 2
    assert "api_key_env" in done.stderr
    assert_no_traceback(done.stderr)
    assert_no_key(done.stdout + done.stderr, "the config error")


def test_the_environment_is_not_written_anywhere_by_default(tmp_path):
    """No command writes a log file or a crash dump next to the user's files."""
    before = set(os.listdir(tmp_path))
    run_cli("--help", env=child_env(**KEYS), cwd=tmp_path)
    assert set(os.listdir(tmp_path)) == before


# -- a provider or proxy that echoes the key inside the answer ------------------------------------

def echo_lineup(fake) -> dict[str, dict]:
    """Models whose server answers "Your header was Bearer <key>." (the key cut in two chunks)."""
    return {
        "echo-gateway": fake_model(fake, "openai", "fake:echo_auth,tokens=4,seed=5", api_key_env="TEAM_GATEWAY_TOKEN"),
        "echo-anthropic": fake_model(fake, "anthropic", "fake:echo_auth,tokens=4,seed=6",
                                     api_key_env="ANTHROPIC_API_KEY"),
    }


async def test_an_answer_echoing_the_key_is_redacted_live_stored_and_exported(tmp_path, keyed_env, fake_provider):
    config_path = tmp_path / "blindside.toml"
    config_path.write_text(fake_config_toml(echo_lineup(fake_provider)), encoding="utf-8")
    config = load_config(config_path)
    db = tmp_path / "votes.db"
    live: dict[str, list[str]] = {"a": [], "b": []}
    with Store(db) as store:
        async with Arena(config, store, seed=1) as arena:
            battle = arena.start("Tell me a fact.", models=("echo-gateway", "echo-anthropic"))
            await battle.run(lambda side, piece: live[side].append(piece))
            assert battle.status == "complete", battle.results
            texts = [r.text for r in battle.results.values()]
            battle.vote("a", "tester")
        assert_no_key(tree_bytes([db]), "the database or its -wal")
        exports = []
        for fmt in EXPORT_FORMATS:
            target = tmp_path / f"export.{fmt}"
            export(store, target, fmt)
            exports.append(target)
    assert_keys_were_sent_for(fake_provider, [KEYS["TEAM_GATEWAY_TOKEN"], KEYS["ANTHROPIC_API_KEY"]])
    for side, pieces in live.items():
        assert "".join(pieces) == battle.results[side].text  # what was shown is what was stored
        assert len(pieces) > 1
    assert all(text.startswith("Your header was ") and "[redacted]" in text for text in texts), texts
    assert_no_key("\n".join(texts + [p for pieces in live.values() for p in pieces]), "the answer text")
    assert_no_key(tree_bytes([db]), "the database after close")
    assert_no_key(tree_bytes(exports), "an export")


def assert_keys_were_sent_for(fake, values) -> None:
    seen = " ".join(f"{r.header('authorization', '')} {r.header('x-api-key', '')}" for r in fake.requests)
    for value in values:
        assert value in seen, f"the fake server never received {value[:12]}..."


def test_the_battle_command_prints_an_echoed_key_redacted(tmp_path, fake_provider, capsys, monkeypatch):
    from tui.cli import main

    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    config_path = tmp_path / "blindside.toml"
    config_path.write_text(fake_config_toml(echo_lineup(fake_provider)), encoding="utf-8")
    for extra in ([], ["--json"]):
        code = main(["battle", "--prompt", "hi", "--models", "echo-gateway,echo-anthropic", "--config",
                     str(config_path), "--db", str(tmp_path / "v.db"), *extra])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "Your header was" in out and "[redacted]" in out
        assert_no_key(out + err, "the battle output")


def test_a_key_cut_anywhere_between_pieces_never_comes_out_whole_or_in_part():
    from battles.redact import StreamRedactor

    key = KEYS["TEAM_GATEWAY_TOKEN"]
    text = f"ok {key[:5]} not a key; Your header was {key}. And {key}{key} twice, then gw."
    for size in (1, 2, 3, 7, len(key) - 1, len(key), 1000):
        redactor = StreamRedactor([key])
        out = [redactor.feed(text[i:i + size]) for i in range(0, len(text), size)] + [redactor.finish()]
        joined = "".join(out)
        assert joined == text.replace(key, "[redacted]"), size
        assert all(piece.count(key[:12]) == 0 for piece in out)
