"""The headless commands ``battle``, ``vote`` and ``models`` against the fake provider server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from battles.store import Store
from tests.fake_provider import expected_text
from tui.cli import main

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-CLIKEY0123456789abcdefXYZ"
A_ID = "fake:tokens=9,seed=21"
B_ID = "fake:text=markdown,tokens=15"


def write_config(tmp_path: Path, fake, models: dict[str, tuple[str, str]], extra: str = "") -> Path:
    """models: name -> (provider, model id)."""
    lines = ['[arena]', 'pairing = "uniform"', extra, ""]
    for name, (provider, model_id) in models.items():
        lines += [f"[models.{name}]", f'provider = "{provider}"', f"model = {json.dumps(model_id)}",
                  f'base_url = "{fake.base_url(provider)}"', 'api_key_env = "BLINDSIDE_CLI_KEY"', ""]
    path = tmp_path / "blindside.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def setup(tmp_path, fake_provider, monkeypatch):
    monkeypatch.setenv("BLINDSIDE_CLI_KEY", KEY)
    config = write_config(tmp_path, fake_provider, {"alpha": ("openai", A_ID), "bravo": ("ollama", B_ID)})
    return ["--config", str(config), "--db", str(tmp_path / "votes.db")]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_anonymous(text: str, fake) -> None:
    for secret in ("alpha", "bravo", A_ID, B_ID, "127.0.0.1", str(fake.port), "ollama", "openai", KEY):
        assert secret not in text, secret
    assert "Traceback" not in text


def test_battle_json_before_the_vote(setup, capsys, fake_provider):
    code, out, err = run_cli(capsys, "battle", *setup, "--prompt", "Hi there", "--models", "alpha,bravo", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= {"battle_id", "status", "identity_leak", "winner", "sides"}
    assert data["status"] == "complete" and data["winner"] is None and data["identity_leak"] is False
    for side, model_id in (("a", A_ID), ("b", B_ID)):
        got = data["sides"][side]
        assert set(got) >= {"text", "error", "ttft_ms", "duration_ms", "tokens", "finish_reason", "features", "model"}
        assert got["model"] is None
        assert got["text"] == expected_text(model_id, "Hi there")
        assert got["error"] is None and got["finish_reason"] == "stop" and got["tokens"] > 0
        assert got["features"]["tokens"] == got["tokens"]
    assert_anonymous(out + err, fake_provider)
    # ...and the battle waits in the store for its vote
    with Store(setup[3]) as store:
        assert store.battle(data["battle_id"])["vote"] is None


def test_battle_with_vote_reveals_the_models(setup, capsys):
    code, out, err = run_cli(capsys, "battle", *setup, "--prompt", "Hi", "--models", "bravo,alpha",
                             "--vote", "b", "--voter", "carol", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["winner"] == "model_b"
    assert (data["sides"]["a"]["model"], data["sides"]["b"]["model"]) == ("bravo", "alpha")
    with Store(setup[3]) as store:
        assert store.battle(data["battle_id"])["vote"]["voter"] == "carol"


def test_battle_text_then_vote_command_then_a_second_vote_is_refused(setup, capsys, fake_provider):
    code, out, err = run_cli(capsys, "battle", *setup, "--prompt", "Hi", "--models", "alpha,bravo")
    assert code == 0, err
    assert "=== Model A ===" in out and "=== Model B ===" in out
    assert expected_text(A_ID, "Hi").strip() in out
    assert_anonymous(out + err, fake_provider)
    battle_id = out.split()[1]
    assert f"blindside vote {battle_id}" in out

    code, out, err = run_cli(capsys, "vote", battle_id, "a", *setup, "--voter", "dave")
    assert code == 0, err
    assert "Model A was: alpha" in out and "Model B was: bravo" in out and "Model A is better" in out

    code, out, err = run_cli(capsys, "vote", battle_id, "b", *setup, "--voter", "dave")  # the same voter again
    assert code == 1 and out == ""
    assert "already has a vote" in err and "Traceback" not in err
    with Store(setup[3]) as store:
        assert store.battle(battle_id)["vote"]["winner"] == "model_a"


def test_voter_defaults_to_the_config_then_the_user_name(tmp_path, fake_provider, capsys, monkeypatch):
    monkeypatch.setenv("BLINDSIDE_CLI_KEY", KEY)
    config = write_config(tmp_path, fake_provider, {"alpha": ("openai", A_ID), "bravo": ("ollama", B_ID)},
                          extra='voter = "erin"')
    db = tmp_path / "votes.db"
    code, out, _ = run_cli(capsys, "battle", "--config", str(config), "--db", str(db), "--prompt", "Hi",
                           "--vote", "tie", "--json")
    assert code == 0
    with Store(db) as store:
        assert store.battle(json.loads(out)["battle_id"])["vote"]["voter"] == "erin"


def test_prompt_from_stdin(setup, capsys, monkeypatch, tmp_path, fake_provider):
    config = write_config(tmp_path, fake_provider, {"alpha": ("openai", "fake:text=echo"),
                                                    "bravo": ("ollama", "fake:text=echo,id=2")})
    monkeypatch.setattr(sys, "stdin", io.StringIO("a prompt from a pipe\n"))
    code, out, err = run_cli(capsys, "battle", "--config", str(config), "--db", setup[3], "--prompt", "-", "--json")
    assert code == 0, err
    assert json.loads(out)["sides"]["a"]["text"] == "a prompt from a pipe\n"


def test_answers_cannot_drive_the_terminal(tmp_path, fake_provider, capsys, monkeypatch):
    monkeypatch.setenv("BLINDSIDE_CLI_KEY", KEY)
    evil = "fake:say=%1B%5B2J%1B%5D0%3Bpwned%07red%E2%80%AEtxt.exe%0D"
    config = write_config(tmp_path, fake_provider, {"alpha": ("openai", evil), "bravo": ("ollama", B_ID)})
    code, out, err = run_cli(capsys, "battle", "--config", str(config), "--db", str(tmp_path / "v.db"),
                             "--prompt", "Hi", "--models", "alpha,bravo")
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "\r" not in out
    assert "␛[2J" in out and "␍" in out and "\ufffd" in out  # shown as the app shows them
    code, out, _ = run_cli(capsys, "battle", "--config", str(config), "--db", str(tmp_path / "v.db"),
                           "--prompt", "Hi", "--models", "alpha,bravo", "--json")
    assert json.loads(out)["sides"]["a"]["text"].startswith("\x1b[2J")  # JSON keeps the exact text


def test_a_failed_side_exits_1_with_an_anonymous_error(tmp_path, fake_provider, capsys, monkeypatch):
    monkeypatch.setenv("BLINDSIDE_CLI_KEY", KEY)
    config = write_config(tmp_path, fake_provider, {"alpha": ("openai", A_ID),
                                                    "bravo": ("openai", "fake:tokens=5,auth=another-key")})
    argv = ["battle", "--config", str(config), "--db", str(tmp_path / "v.db"), "--prompt", "Hi",
            "--models", "alpha,bravo"]
    code, out, err = run_cli(capsys, *argv, "--vote", "a")
    assert code == 1
    assert "Model B failed: " in out and "401" in out and "cannot be voted" in out
    assert "Model A was" not in out
    assert KEY not in out + err and "Traceback" not in out + err
    code, out, _ = run_cli(capsys, *argv, "--json")
    data = json.loads(out)
    assert code == 1 and data["status"] == "error" and data["sides"]["b"]["error"]
    assert data["sides"]["a"]["model"] is None and KEY not in out


def test_unknown_model_exits_2_with_the_known_names(setup, capsys):
    code, out, err = run_cli(capsys, "battle", *setup, "--prompt", "Hi", "--models", "alpha,zulu")
    assert code == 2 and out == ""
    assert "zulu" in err and "alpha, bravo" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--prompt", "   "], "prompt is empty"),
    (["--prompt", "Hi", "--models", "alpha"], "two model names"),
])
def test_bad_usage_exits_2(setup, capsys, argv, message):
    code, out, err = run_cli(capsys, "battle", *setup, *argv)
    assert code == 2 and message in err


def test_vote_on_an_unknown_battle(setup, capsys):
    code, out, err = run_cli(capsys, "vote", "0123abcd", "a", *setup)
    assert code == 1 and "no battle 0123abcd" in err


def test_no_models_explains_how_to_write_a_config(tmp_path, capsys, monkeypatch):
    # No config file, no key, no Ollama, no local extra: nothing to battle with.
    import battles.lineup

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BLINDSIDE_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for env in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr(battles.lineup, "probe_ollama", lambda *a, **k: None)  # no Ollama may run here
    monkeypatch.setattr(battles.lineup, "bundled_model_path", lambda: None)
    for command in (["battle", "--prompt", "Hi"], ["models"]):
        code, out, err = run_cli(capsys, *command, "--db", str(tmp_path / "v.db"))
        assert code == 2 and out == ""
        assert "[models." in err and "provider" in err and "Traceback" not in err


def test_models_lists_and_checks_the_lineup(tmp_path, fake_provider, capsys, monkeypatch):
    monkeypatch.setenv("BLINDSIDE_CLI_KEY", KEY)
    config = write_config(tmp_path, fake_provider, {"alpha": ("openai", A_ID),
                                                    "bravo": ("openai", "fake:tokens=5,auth=another-key")})
    code, out, _ = run_cli(capsys, "models", "--config", str(config))
    assert code == 0
    assert "alpha" in out and "bravo" in out and A_ID in out
    code, out, err = run_cli(capsys, "models", "--config", str(config), "--check")
    assert code == 1
    assert "ok (" in out and "401" in out and KEY not in out + err
    code, out, _ = run_cli(capsys, "models", "--config", str(config), "--check", "--json")
    checks = {m["name"]: m["check"] for m in json.loads(out)["models"]}
    assert checks["alpha"]["ok"] and not checks["bravo"]["ok"] and KEY not in out


def test_leak_note_before_the_vote_and_names_after(tmp_path, fake_provider, capsys, monkeypatch):
    monkeypatch.setenv("BLINDSIDE_CLI_KEY", KEY)
    config = write_config(tmp_path, fake_provider, {"alpha": ("openai", "fake:tokens=4,mention=Zorblax"),
                                                    "bravo": ("ollama", B_ID)})
    text = config.read_text().replace('[models.bravo]', 'aliases = ["Zorblax"]\n\n[models.bravo]', 1)
    config.write_text(text)
    argv = ["battle", "--config", str(config), "--db", str(tmp_path / "v.db"), "--prompt", "Hi",
            "--models", "alpha,bravo"]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "identity leak" in out
    battle_id = out.split()[1]
    code, out, _ = run_cli(capsys, "vote", battle_id, "a", "--config", str(config), "--db", str(tmp_path / "v.db"))
    assert code == 0 and "Identity leak: an answer named Zorblax" in out


def test_subprocess_battle(setup, tmp_path):
    """The real entry point in a child process: --json on stdout, nothing on stderr, exit 0."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "BLINDSIDE_CLI_KEY": KEY}
    done = subprocess.run([sys.executable, "-m", "tui.cli", "battle", *setup, "--prompt", "Hi", "--json"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "complete"
    assert KEY not in done.stdout + done.stderr
