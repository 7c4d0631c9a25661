"""Decks: ``deck build`` generates each answer once through the engine, pairs the answers into
ordinary battles, leaves out leaks and failures (a rerun fills in only what is missing), and two
builds at once never duplicate a battle. ``deck list``/``show`` describe decks; bad input gets
one line and exit 2. Models are the loopback fake provider; the database a real SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from itertools import combinations
from pathlib import Path

import pytest

from battles import decks
from battles.config import ArenaConfig, Config, ModelConfig
from battles.deck_build import build_deck, plan_deck
from battles.store import Store
from tests.fake_provider import expected_text
from tui.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-test-DECKKEY0123456789abcdefXYZ"
MODELS = {  # name -> (provider, model id)
    "alpha": ("openai", "fake:tokens=12,seed=1"),
    "bravo": ("ollama", "fake:tokens=9,seed=2"),
    "charlie": ("anthropic", "fake:text=markdown,tokens=15"),
}
PROMPTS = ["What is a lighthouse for?", "Explain rain to a child.", "Name three uses of a brick."]


def config_of(fake, models: dict[str, tuple[str, str]] = MODELS) -> Config:
    return Config(arena=ArenaConfig(voter="tester"), models={
        name: ModelConfig(name=name, provider=provider, model=model_id, base_url=fake.base_url(provider),
                          api_key_env="BLINDSIDE_DECK_KEY")
        for name, (provider, model_id) in models.items()})


def write_config(tmp_path: Path, fake, models: dict[str, tuple[str, str]] = MODELS) -> Path:
    lines = ["[arena]", 'pairing = "uniform"', ""]
    for name, (provider, model_id) in models.items():
        lines += [f"[models.{name}]", f'provider = "{provider}"', f"model = {json.dumps(model_id)}",
                  f'base_url = "{fake.base_url(provider)}"', 'api_key_env = "BLINDSIDE_DECK_KEY"', ""]
    path = tmp_path / "blindside.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_pack(tmp_path: Path, prompts=PROMPTS, name: str = "room.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps({"id": f"q{i}", "text": p}) + "\n" for i, p in enumerate(prompts)),
                    encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("BLINDSIDE_DECK_KEY", KEY)


def rows(db: Path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def deck_requests(fake) -> list:
    return [r for r in fake.requests if r.model]


# -- the build ------------------------------------------------------------------------------------

async def test_each_answer_is_generated_once_and_paired_into_ordinary_battles(tmp_path, fake_provider):
    db = tmp_path / "v.db"
    with Store(db) as store:
        report = await build_deck(store, config_of(fake_provider), "room", prompts=str(write_pack(tmp_path)),
                                  models=["alpha", "bravo", "charlie"], seed=5)
    # 3 prompts x 3 models answered once each, though each answer is in two battles.
    assert len(deck_requests(fake_provider)) == 9
    assert Counter(r.model for r in deck_requests(fake_provider)) == {m: 3 for _, m in MODELS.values()}
    assert (report.planned, report.playable, report.leaks, report.new_battles) == (9, 9, 0, 9)
    assert report.answers_generated == 9 and not report.failures

    battles = rows(db, "SELECT id, source, status, identity_leak, prompt, model_a, model_b, swapped, a_tokens, "
                       "b_tokens, a_words, turns FROM battles")
    assert len(battles) == 9
    ids = {b[0] for b in battles}
    for _id, source, status, leak, prompt, a, b, _swapped, a_tokens, b_tokens, a_words, turns in battles:
        assert (source, status, leak, turns) == ("deck", "complete", 0, 1)
        assert a_tokens and b_tokens and a_words  # the engine's features, summed per side
    # every pair once per prompt, each side's text the model's own answer to that prompt
    pairs = Counter((prompt, frozenset((a, b))) for _i, _s, _st, _l, prompt, a, b, *_ in battles)
    assert pairs == {(p, frozenset(pair)): 1 for p in PROMPTS for pair in combinations(MODELS, 2)}
    for battle_id, side, text, features, tokens in rows(
            db, "SELECT battle_id, side, text, features, tokens FROM responses"):
        model_name, prompt = rows(db, f"SELECT model_{side}, prompt FROM battles WHERE id = ?", (battle_id,))[0]
        assert text == expected_text(MODELS[model_name][1], prompt)
        assert json.loads(features)["tokens"] == tokens
    placed = rows(db, "SELECT battle_id, position FROM deck_battles WHERE deck = 'room' ORDER BY position")
    assert {b for b, _ in placed} == ids and [p for _, p in placed] == list(range(9))
    # nobody voted yet, and the deck is recorded with its settings
    assert rows(db, "SELECT count(*) FROM votes") == [(0,)]
    with Store(db) as store:
        deck = decks.get_deck(store, "room")
        assert deck.models == ("alpha", "bravo", "charlie") and deck.seed == 5 and deck.planned == 9


async def test_building_again_calls_no_model_when_nothing_is_missing(tmp_path, fake_provider):
    db = tmp_path / "v.db"
    pack = str(write_pack(tmp_path))
    with Store(db) as store:
        await build_deck(store, config_of(fake_provider), "room", prompts=pack, models=["alpha", "bravo"])
        fake_provider.clear()
        again = await build_deck(store, config_of(fake_provider), "room")  # settings come from the deck
    assert deck_requests(fake_provider) == []
    assert (again.new_battles, again.answers_generated, again.playable) == (0, 0, 3)
    assert "Nothing was missing" in again.summary()
    assert rows(db, "SELECT count(*) FROM battles") == [(3,)]


async def test_failed_generations_are_reported_left_out_and_filled_in_by_the_next_build(tmp_path, fake_provider):
    models = {**MODELS, "charlie": ("anthropic", "fake:fault=401:1,tokens=6,id=flaky")}  # fails its first request
    db = tmp_path / "v.db"
    pack = str(write_pack(tmp_path))
    with Store(db) as store:
        first = await build_deck(store, config_of(fake_provider, models), "room", prompts=pack,
                                 models=["alpha", "bravo", "charlie"])
        assert len(first.failures) == 1 and first.failures[0].model == "charlie"
        assert (first.playable, first.missing) == (7, 2)  # charlie's two battles on that prompt
        summary = first.summary()
        assert "1 generation failed" in summary and "charlie on prompt q" in summary and "401" in summary
        assert KEY not in summary
        assert decks.deck_status(store, "room").missing == 2
        before = len(deck_requests(fake_provider))  # (not clear(): it would reset the fault counter)
        second = await build_deck(store, config_of(fake_provider, models), "room")
    # only the missing answer is asked for
    assert [r.model for r in deck_requests(fake_provider)[before:]] == [models["charlie"][1]]
    assert (second.new_battles, second.playable, second.missing, second.failures) == (2, 9, 0, [])
    assert rows(db, "SELECT count(*) FROM battles WHERE status = 'complete'") == [(9,)]
    assert rows(db, "SELECT count(*) FROM responses") == [(18,)]


async def test_battles_that_name_a_model_are_left_out_of_the_deck(tmp_path, fake_provider):
    models = {**MODELS, "charlie": ("anthropic", "fake:mention=charlie,tokens=6")}
    db = tmp_path / "v.db"
    with Store(db) as store:
        report = await build_deck(store, config_of(fake_provider, models), "room",
                                  prompts=str(write_pack(tmp_path)), models=["alpha", "bravo", "charlie"])
        playable = decks.playable_battles(store, "room")
    assert (report.leaks, report.playable) == (6, 3)
    assert "Left out: 6 battles whose answers name a model" in report.summary()
    # flagged as the engine flags a live battle, kept (a rebuild does not redo them), never played
    assert rows(db, "SELECT count(*) FROM battles WHERE identity_leak = 1 AND (model_a = 'charlie' "
                    "OR model_b = 'charlie')") == [(6,)]
    assert {r[0] for r in rows(db, "SELECT model_a || model_b FROM battles WHERE identity_leak = 0")} <= {
        "alphabravo", "bravoalpha"}
    assert len(playable) == 3


def test_sampled_pairs_are_dealt_evenly_over_the_prompts():
    models = ["m1", "m2", "m3", "m4"]  # six pairs
    plan = plan_deck("d", [f"p{i}" for i in range(12)], models, 2, seed=3)
    assert len(plan) == 24
    per_pair = Counter(frozenset((b.model_a, b.model_b)) for b in plan)
    assert set(per_pair.values()) == {4}  # each of the six pairs gets 24 / 6 battles
    assert all(n == 2 for n in Counter(b.prompt_id for b in plan).values())
    # ids per (deck, prompt, pair) whichever side is stored left; order and sides from the seed
    again = plan_deck("d", [f"p{i}" for i in range(12)], list(reversed(models)), 2, seed=3)
    assert {b.id for b in again} <= {b.id for b in plan_deck("d", [f"p{i}" for i in range(12)], models, None, 3)}
    assert [b.position for b in plan] == list(range(24))
    assert 0 < sum(b.swapped for b in plan) < 24


def test_two_builds_of_one_deck_at_once_never_duplicate_a_battle(tmp_path, fake_provider):
    slow = {name: (provider, model_id + ",rate=60") for name, (provider, model_id) in MODELS.items()}
    config = write_config(tmp_path, fake_provider, slow)
    pack = write_pack(tmp_path, PROMPTS + ["Why is the sea salty?"])
    db = tmp_path / "shared.db"  # does not exist yet: both also race to create the schema
    command = [sys.executable, "-m", "tui.cli", "--config", str(config), "--db", str(db), "deck", "build", "room",
               "--prompts", str(pack), "--models", "alpha,bravo,charlie", "--pairs", "2"]  # no seed: each draws one
    env = {**os.environ, "PYTHONPATH": str(REPO), "BLINDSIDE_DECK_KEY": KEY}
    children = [subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    outputs = [child.communicate(timeout=120) for child in children]
    for child, (out, err) in zip(children, outputs):
        assert child.returncode == 0, err
        assert "Traceback" not in err and KEY not in out + err
    # 4 prompts x 2 of the 3 pairs: both builds follow the plan of the one that created the deck
    assert rows(db, "SELECT count(*), count(DISTINCT id) FROM battles") == [(8, 8)]
    assert rows(db, "SELECT count(*), count(DISTINCT position) FROM deck_battles") == [(8, 8)]
    assert rows(db, "SELECT count(*) FROM responses") == [(16,)]
    assert rows(db, "SELECT count(*) FROM deck_answers") == [(12,)]
    assert rows(db, "SELECT count(*) FROM decks") == [(1,)]
    with Store(db) as store:
        deck = decks.get_deck(store, "room")
        planned = plan_deck("room", ["q0", "q1", "q2", "q3"], list(MODELS), 2, deck.seed)
    assert set(rows(db, "SELECT id, model_a, model_b, swapped FROM battles")) == {
        (b.id, b.model_a, b.model_b, int(b.swapped)) for b in planned}
    # both agree on what each battle says: the answer stored first is everyone's
    for battle_id, side, text in rows(db, "SELECT battle_id, side, text FROM responses"):
        model, prompt_id = rows(db, f"SELECT model_{side}, json_extract(meta, '$.prompt_id') FROM battles "
                                    "WHERE id = ?", (battle_id,))[0]
        assert rows(db, "SELECT text FROM deck_answers WHERE prompt_id = ? AND model = ?", (prompt_id, model)) == [
            (text,)]


# -- the command line ---------------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path, fake_provider):
    config = write_config(tmp_path, fake_provider)
    return ["--config", str(config), "--db", str(tmp_path / "v.db")]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_deck_build_list_and_show(cli, capsys, tmp_path):
    pack = str(write_pack(tmp_path))
    code, out, err = run_cli(capsys, *cli, "deck", "build", "room", "--prompts", pack, "--models", "alpha,bravo,charlie")
    assert code == 0, err
    assert "Deck room: 9 battles ready to vote on (3 prompts, 9 battles planned)." in out
    assert err == ""  # no progress bar when stderr is not a terminal
    with Store(cli[3]) as store:
        first, second = decks.playable_battles(store, "room")[:2]
        store.record_vote(first, "model_a", "ann", shown_swapped=True)
        store.record_vote(first, "tie", "bob")
        store.record_vote(second, "model_b", "ann")

    code, out, err = run_cli(capsys, *cli, "deck", "list")
    assert code == 0, err
    assert out.strip() == "room: 9 battles, 3 prompts, models alpha, bravo, charlie; 3 votes by 2 voters"

    code, out, err = run_cli(capsys, *cli, "deck", "show", "room")
    assert code == 0, err
    for line in ("prompts:  3 from " + pack, "models:   alpha, bravo, charlie (all pairs", "battles:  9 to vote on, of 9",
                 "left out: 0 for an identity leak", "missing:  0", "votes:    3 by 2 voters", "ann: 2 of 9",
                 "bob: 1 of 9"):
        assert line in out, line

    code, out, _ = run_cli(capsys, *cli, "deck", "show", "room", "--json")
    data = json.loads(out)
    assert (data["battles"], data["votes"], data["voters"], data["identity_leaks_left_out"], data["missing"]) == (
        9, 3, {"ann": 2, "bob": 1}, 0, 0)


def test_the_progress_bar_is_redrawn_in_place_and_erased(capsys):
    from tui.commands.deck_command import _ProgressBar

    bar = _ProgressBar("room")
    bar(0, 4, 0)
    bar(3, 4, 1)
    bar.clear()
    err = capsys.readouterr().err
    frames = err.split("\r")
    assert frames[1].startswith("Building deck room [") and frames[1].endswith("] 0/4 answers")
    assert frames[2].count("█") == 22 and frames[2].endswith("3/4 answers · 1 failed")
    assert frames[-1] == "\033[K"  # erased before the summary is printed


def one_line_error(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2, (out, err)
    assert out == "" and err.startswith("blindside: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, (word, err)


def test_bad_input_gets_one_line_and_exit_2(cli, capsys, tmp_path):
    pack = str(write_pack(tmp_path))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    one_line_error(*run_cli(capsys, *cli, "deck", "show", "nope"), "no deck 'nope'", "there are no decks yet")
    one_line_error(*run_cli(capsys, *cli, "deck", "build", "room", "--prompts", str(empty), "--models", "alpha,bravo"),
                   "no prompts")
    for name, text in (("nothing.jsonl", ""), ("nothing.toml", 'name = "nothing"\n')):  # other empty packs
        (tmp_path / name).write_text(text, encoding="utf-8")
        one_line_error(*run_cli(capsys, *cli, "deck", "build", "room", "--prompts", str(tmp_path / name),
                                "--models", "alpha,bravo"), "no prompts")
    one_line_error(*run_cli(capsys, *cli, "deck", "build", "room", "--prompts", "no-such-pack", "--models",
                            "alpha,bravo"), "no built-in prompt pack")
    one_line_error(*run_cli(capsys, *cli, "deck", "build", "room", "--prompts", pack, "--models", "alpha,zulu"),
                   "'zulu' is not in the lineup", "alpha, bravo, charlie")
    one_line_error(*run_cli(capsys, *cli, "deck", "build", "room", "--prompts", pack, "--models", "alpha,bravo",
                            "--pairs", "2"), "--pairs must be between 1 and 1")
    one_line_error(*run_cli(capsys, *cli, "deck", "build", "room"), "does not exist yet")
    one_line_error(*run_cli(capsys, *cli, "--deck", "nope"), "no deck 'nope'")
    one_line_error(*run_cli(capsys, *cli, "--reveal", "each"), "--reveal goes with --deck")
    one_line_error(*run_cli(capsys, *cli, "serve", "--deck", "nope"), "no deck 'nope'")
    assert rows(cli[3], "SELECT count(*) FROM decks") == [(0,)]
    # a deck keeps its settings: another lineup under the same name is refused
    assert run_cli(capsys, *cli, "deck", "build", "room", "--prompts", pack, "--models", "alpha,bravo")[0] == 0
    one_line_error(*run_cli(capsys, *cli, "deck", "build", "room", "--models", "alpha,charlie"),
                   "was built with --models alpha,bravo")
    one_line_error(*run_cli(capsys, *cli, "deck", "show", "other"), "decks here: room")


def test_serve_passes_the_deck_on_to_every_session(tmp_path):
    args = build_parser().parse_args(["--db", str(tmp_path / "v.db"), "serve", "--deck", "room", "--reveal", "each"])
    from tui.commands.serve_command import app_command

    command = app_command(args)
    assert "--deck room" in command and "--reveal each" in command
    args = build_parser().parse_args(["--deck", "room", "serve"])  # given before "serve" too
    assert "--deck room" in app_command(args) and "--reveal" not in app_command(args)


def test_the_deck_tables_come_with_every_store(tmp_path):
    db = tmp_path / "v.db"
    Store(db).close()
    assert "m003_decks" in {r[0] for r in rows(db, "SELECT name FROM _sqlite_migrations")}
    assert {"decks", "deck_battles", "deck_answers"} <= {r[0] for r in rows(
        db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
