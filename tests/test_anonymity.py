"""Before the vote nothing says which model is which: no model name, model id, provider, host or
URL, on screen (the Textual app) or in headless output (``blindside battle`` without
``--vote``, text and ``--json``), also while streaming and when one side fails."""

from __future__ import annotations

import json
import re

import pytest

from battles.config import ArenaConfig, Config, ModelConfig
from tests.app_harness import SIZE, all_text, make_app, send_prompt, wait_for, wait_phase
from tests.helpers_reliability import assert_no_traceback, child_env, fake_config_toml, fake_model, run_cli

# Contestant names and model ids chosen to be unmistakable in any output.
NAMES = {"ok-left": "zebrafinch-9000", "ok-right": "yakherder-lm", "failing": "quokka-turbo",
         "refused": "narwhal-pro", "trickling": "pangolin-mini"}
MODEL_IDS = {
    "ok-left": ("openai", "fake:tokens=12,seed=4,id=zebrafinch-weights"),
    "ok-right": ("anthropic", "fake:tokens=14,seed=5,id=yakherder-weights"),
    # an in-stream error whose message names the model id and the server URL
    "failing": ("ollama", "fake:tokens=12,error@3,id=quokka-weights"),
    "refused": ("openai", "fake:401,id=narwhal-weights"),
    "trickling": ("openai", "fake:tokens=60,rate=15,id=pangolin-weights"),  # streams for 4 s
}


def identity_words(fake) -> list[str]:
    """Everything that would tell a voter who answered."""
    words = list(NAMES.values()) + [model_id for _, model_id in MODEL_IDS.values()]
    words += ["zebrafinch", "yakherder", "quokka", "narwhal", "pangolin", "openai", "anthropic", "ollama",
              "127.0.0.1", "localhost", "http://", "https://", f":{fake.port}"]
    return words


def assert_anonymous(text: str, fake, where: str) -> None:
    lowered = text.lower()
    for word in identity_words(fake):
        assert word.lower() not in lowered, f"{word!r} appears in {where} before the vote:\n{text[:3000]}"


# -- headless -------------------------------------------------------------------------------------

@pytest.fixture
def config_file(tmp_path, fake_provider):
    models = {NAMES[key]: fake_model(fake_provider, provider, model_id, timeout=10)
              for key, (provider, model_id) in MODEL_IDS.items()}
    path = tmp_path / "blindside.toml"
    path.write_text(fake_config_toml(models), encoding="utf-8")
    return path


def battle_cli(config_file, db, pair: tuple[str, str], *extra: str):
    done = run_cli("battle", "--prompt", "What is a good name for a cat?", "--models",
                   f"{NAMES[pair[0]]},{NAMES[pair[1]]}", "--config", str(config_file), "--db", str(db), *extra,
                   env=child_env(), cwd=config_file.parent)
    assert_no_traceback(done.stderr)
    return done


def hints_of(db, battle_id: str) -> list[str]:
    """The stored error hints: what to do about a failure, shown once the battle is over."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        return [h for (h,) in conn.execute("SELECT error_hint FROM responses WHERE battle_id = ?", (battle_id,)) if h]


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_headless_battle_names_nobody_before_the_vote(tmp_path, config_file, fake_provider, as_json):
    db = tmp_path / "votes.db"
    done = battle_cli(config_file, db, ("ok-left", "ok-right"), *(["--json"] if as_json else []))
    assert done.returncode == 0, done.stderr
    assert_anonymous(done.stdout + done.stderr, fake_provider, "`blindside battle` output")
    if as_json:
        out = json.loads(done.stdout)
        assert out["status"] == "complete"
        assert out["sides"]["a"]["model"] is None and out["sides"]["b"]["model"] is None
        battle_id = out["battle_id"]
        assert out["sides"]["a"]["text"]  # the answers themselves are there
    else:
        assert "=== Model A ===" in done.stdout and "=== Model B ===" in done.stdout
        battle_id = re.search(r"Battle ([0-9a-f]{32})", done.stdout).group(1)
    # The vote reveals them: the scan above would have seen the names had they been printed.
    voted = run_cli("vote", battle_id, "a", "--config", str(config_file), "--db", str(db), env=child_env())
    assert voted.returncode == 0, voted.stderr
    assert NAMES["ok-left"] in voted.stdout and NAMES["ok-right"] in voted.stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("pair", [("ok-left", "failing"), ("refused", "ok-right"), ("failing", "refused")],
                         ids=["in-stream-error", "401", "both-fail"])
def test_headless_battle_with_a_failing_side_names_nobody(tmp_path, config_file, fake_provider, as_json, pair):
    """The failure reason is anonymous, and so is everything else: what to do about it (the
    hint, which may name the provider) is left to `blindside models --check`."""
    db = tmp_path / "votes.db"
    done = battle_cli(config_file, db, pair, *(["--json"] if as_json else []))
    assert done.returncode == 1, done.stderr
    if as_json:
        out = json.loads(done.stdout)
        battle_id = out["battle_id"]
        assert out["status"] == "error" and out["winner"] is None
        for side in out["sides"].values():
            assert side["model"] is None and side["error_hint"] is None
        assert_anonymous(json.dumps(out, ensure_ascii=False), fake_provider, "`battle --json`")
        failed = [s for s in out["sides"].values() if s["error"]]
        assert failed and all(s["error"] for s in failed)
    else:
        battle_id = re.search(r"Battle ([0-9a-f]{32})", done.stdout).group(1)
        shown = done.stdout + done.stderr
        assert re.search(r"Model [AB] failed: ", shown)
        assert "blindside models --check" in shown
        for hint in hints_of(db, battle_id):
            assert hint not in shown
        assert_anonymous(shown, fake_provider, "`battle` output")
    # and such a battle can never be voted on afterwards
    voted = run_cli("vote", battle_id, "a", "--config", str(config_file), "--db", str(db), env=child_env())
    assert voted.returncode != 0
    assert_no_traceback(voted.stderr)


# -- the Textual app ---------------------------------------------------------------------------------

def app_config(fake, left: str, right: str) -> Config:
    models = {}
    for key in (left, right):
        provider, model_id = MODEL_IDS[key]
        models[NAMES[key]] = ModelConfig(name=NAMES[key], provider=provider, model=model_id,
                                         base_url=fake.base_url(provider), timeout=10)
    return Config(arena=ArenaConfig(voter="tester", pairing="uniform"), models=models)


async def test_the_app_names_nobody_while_streaming_or_before_the_vote(fake_provider, tmp_path):
    app = make_app(app_config(fake_provider, "trickling", "ok-right"), tmp_path / "votes.db")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send_prompt(pilot, "What is a good name for a cat?")
        await wait_for(pilot, lambda: screen.phase == "streaming" and any(p.markdown.source for p in screen.panes),
                       what="text arriving while both sides stream")
        assert_anonymous(all_text(app), fake_provider, "the screen while streaming")
        await wait_phase(pilot, "ready")
        assert_anonymous(all_text(app), fake_provider, "the screen before the vote")
        await pilot.press("a")
        await wait_phase(pilot, "voted")
        revealed = all_text(app)
        assert NAMES["trickling"] in revealed and NAMES["ok-right"] in revealed


@pytest.mark.parametrize("pair", [("ok-left", "failing"), ("refused", "ok-right")], ids=["in-stream-error", "401"])
async def test_the_app_names_nobody_when_a_side_fails(fake_provider, tmp_path, pair):
    app = make_app(app_config(fake_provider, *pair), tmp_path / "votes.db")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send_prompt(pilot, "What is a good name for a cat?")
        await wait_phase(pilot, "unvotable")
        await pilot.pause(0.2)
        text = all_text(app)
        assert "failed" in text
        assert_anonymous(text, fake_provider, "the screen of a battle with a failed side")
        await pilot.press("v")  # only an explicit reveal names them
        await wait_phase(pilot, "revealed")
        assert NAMES[pair[0]] in all_text(app)
        assert screen.phase == "revealed"


async def test_history_keeps_an_unvoted_battle_anonymous_even_to_a_search(fake_provider, tmp_path):
    """Another way in: the history screen, and a search for a model's name there."""
    from textual.widgets import DataTable, Input

    app = make_app(app_config(fake_provider, "ok-left", "ok-right"), tmp_path / "votes.db")
    async with app.run_test(size=SIZE) as pilot:
        battle_screen = app.screen
        await send_prompt(pilot, "What is a good name for a cat?")
        await wait_phase(pilot, "ready")
        await pilot.press("escape", "h")
        history = app.screen
        await wait_for(pilot, lambda: history.query_one(DataTable).row_count == 1, what="the history row")
        assert_anonymous(all_text(app), fake_provider, "the history screen")
        history.query_one(Input).value = NAMES["ok-left"]
        history.load()  # (typing starts the same search after a pause)
        await app.workers.wait_for_complete()  # the search runs in a worker thread
        await pilot.pause()
        assert history.query_one(DataTable).row_count == 0, "a name search found the unvoted battle"
        await pilot.press("escape")
        assert app.screen is battle_screen
        await pilot.press("a")
        await wait_phase(pilot, "voted")
        await pilot.press("h")
        history = app.screen
        history.query_one(Input).value = NAMES["ok-left"]
        await wait_for(pilot, lambda: history.query_one(DataTable).row_count == 1, what="the voted battle")
        assert NAMES["ok-left"] in all_text(app)  # once voted, the search and the row name it
