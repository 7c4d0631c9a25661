"""Finding and validating the config file: the documented lookup order, no file being fine,
and one clear message (file, model entry, field) for each kind of mistake, exit code 2, no
traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from battles.config import Config, load_config, user_config_path
from battles.errors import ConfigError
from tui.cli import main

GOOD = """
[arena]
voter = "{who}"

[models.alpha]
provider = "ollama"
model = "llama3.2"
"""


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An isolated world: cwd, user config dir (XDG_CONFIG_HOME) and no $BLINDSIDE_CONFIG."""
    cwd = tmp_path / "project"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("BLINDSIDE_CONFIG", raising=False)
    user = user_config_path()
    assert str(user).startswith(str(tmp_path / "xdg"))
    user.parent.mkdir(parents=True)
    return {"cwd": cwd / "blindside.toml", "user": user, "env": tmp_path / "env.toml",
            "cli": tmp_path / "cli.toml"}


def write(path: Path, who: str) -> Path:
    path.write_text(GOOD.format(who=who), encoding="utf-8")
    return path


def test_no_config_file_anywhere_is_valid(places):
    config = load_config()
    assert config == Config() and config.path is None and config.models == {}


def test_lookup_order_cli_then_env_then_cwd_then_user_dir(places, monkeypatch):
    for name in ("user", "cwd", "env", "cli"):
        write(places[name], who=name)
    monkeypatch.setenv("BLINDSIDE_CONFIG", str(places["env"]))
    assert load_config(places["cli"]).arena.voter == "cli"
    assert load_config().arena.voter == "env"
    monkeypatch.delenv("BLINDSIDE_CONFIG")
    assert load_config().arena.voter == "cwd"
    places["cwd"].unlink()
    config = load_config()
    assert config.arena.voter == "user" and config.path == places["user"]
    assert config.models["alpha"].provider == "ollama"


@pytest.mark.parametrize("how", ["cli", "env"])
def test_a_named_config_file_that_does_not_exist_is_an_error(places, monkeypatch, how):
    missing = places["cwd"].parent / "nope.toml"
    write(places["cwd"], who="cwd")  # must not be used instead
    if how == "env":
        monkeypatch.setenv("BLINDSIDE_CONFIG", str(missing))
    with pytest.raises(ConfigError, match="no such config file") as error:
        load_config(missing if how == "cli" else None)
    assert str(missing) in str(error.value)


BAD_FILES = {
    "toml-syntax": ('[models.alpha\nprovider = "ollama"\n', ["not valid TOML"]),
    "unknown-provider": ('[models.alpha]\nprovider = "openia"\nmodel = "gpt-4o"\n',
                         ["'alpha'", "'provider'", "'openia'", "openai"]),
    "missing-model": ('[models.alpha]\nprovider = "openai"\n', ["'alpha'", "'model'", "missing"]),
    "wrong-type": ('[models.alpha]\nprovider = "ollama"\nmodel = "m"\ntemperature = "warm"\n',
                   ["'alpha'", "'temperature'", "a number"]),
    "unknown-field": ('[models.alpha]\nprovider = "ollama"\nmodel = "m"\ntemprature = 0.5\n',
                      ["'alpha'", "'temprature'", "unknown field"]),
    "key-in-headers": ('[models.alpha]\nprovider = "openai"\nmodel = "m"\n'
                       '[models.alpha.headers]\nAuthorization = "Bearer sk-abc"\n',
                       ["'alpha'", "'headers'", "api_key_env"]),
    "port-out-of-range": ('[models.alpha]\nprovider = "openai"\nmodel = "m"\nbase_url = "http://127.0.0.1:99999/v1"\n',
                          ["'alpha'", "'base_url'", "99999", "1-65535"]),
    "port-zero": ('[models.alpha]\nprovider = "openai"\nmodel = "m"\nbase_url = "http://localhost:0"\n',
                  ["'alpha'", "'base_url'", "1-65535"]),
    "port-not-a-number": ('[models.alpha]\nprovider = "openai"\nmodel = "m"\nbase_url = "http://h:eighty/v1"\n',
                          ["'alpha'", "'base_url'", "port"]),
    "url-scheme": ('[models.alpha]\nprovider = "openai"\nmodel = "m"\nbase_url = "ftp://example.com/v1"\n',
                   ["'alpha'", "'base_url'", "http"]),
    "url-no-scheme": ('[models.alpha]\nprovider = "ollama"\nmodel = "m"\nbase_url = "localhost:11434"\n',
                      ["'alpha'", "'base_url'", "http://"]),
    "url-no-host": ('[models.alpha]\nprovider = "openai"\nmodel = "m"\nbase_url = "http:///v1"\n',
                    ["'alpha'", "'base_url'", "host"]),
    "url-with-space": ('[models.alpha]\nprovider = "openai"\nmodel = "m"\nbase_url = "http://my host/v1"\n',
                       ["'alpha'", "'base_url'"]),
    "deadline-negative": ('[models.alpha]\nprovider = "ollama"\nmodel = "m"\ndeadline = -5\n',
                          ["'alpha'", "'deadline'"]),
    "deadline-text": ('[models.alpha]\nprovider = "ollama"\nmodel = "m"\ndeadline = "soon"\n',
                      ["'alpha'", "'deadline'", "a number"]),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_each_bad_file_gives_one_clear_message(places, kind):
    text, expected = BAD_FILES[kind]
    path = places["cwd"]
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config()
    message = str(error.value)
    assert message.startswith(str(path)), message  # names the file first
    for part in expected:
        assert part in message, message
    assert "sk-abc" not in message  # a key typed into the file is never echoed


@pytest.mark.parametrize("kind", ["toml-syntax", "unknown-provider", "key-in-headers", "port-out-of-range"])
def test_the_command_line_prints_the_message_and_exits_2_without_traceback(places, capsys, kind):
    text, expected = BAD_FILES[kind]
    places["cli"].write_text(text, encoding="utf-8")
    code = main(["models", "--config", str(places["cli"])])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("blindside: ") and str(places["cli"]) in captured.err
    assert expected[0] in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


@pytest.mark.parametrize("url", ["http://localhost:11434", "https://api.example.com/v1", "http://127.0.0.1:1/v1",
                                 "http://[::1]:65535", "HTTPS://Example.COM"])
def test_good_base_urls_are_taken(places, url):
    places["cwd"].write_text(f'[models.alpha]\nprovider = "openai"\nmodel = "m"\nbase_url = "{url}"\n',
                             encoding="utf-8")
    assert load_config().models["alpha"].base_url == url


def test_the_whole_answer_deadline_defaults_to_five_minutes(places):
    places["cwd"].write_text('[models.a]\nprovider = "ollama"\nmodel = "m"\n'
                             '[models.b]\nprovider = "ollama"\nmodel = "m"\ndeadline = 2.5\n', encoding="utf-8")
    models = load_config().models
    assert models["a"].deadline == 300.0 and models["b"].deadline == 2.5
