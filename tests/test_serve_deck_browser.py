"""A room in a real Chromium: three sessions of ``blindside serve --deck`` at once, each voter
typing a name and voting every battle; then the database, the agreement of
``leaderboard --json`` and the fingerprints of ``voters --json`` hold what they voted."""

from __future__ import annotations

import json
import sqlite3
from itertools import combinations

import pytest

from battles import decks
from tests.browser import (  # noqa: F401 (browser is a fixture)
    browser,
    new_context,
    open_app,
    screen_text,
    screenshot_on_failure,
    type_into_app,
    wait_for_screen,
)
from tests.helpers_reliability import fake_config_toml, fake_model, run_cli
from tests.serving import served
from tests.test_decks import write_pack

pytestmark = pytest.mark.slow

PROMPTS = ["What is a lighthouse for?", "Explain rain to a child."]
# Each voter's keys, one per battle in deck order: Model A, Model B, tie, both bad.
KEYS = {"ann": "aaaa", "bob": "abab", "cy": "tbxa"}
SHOWN = {"a": "left", "b": "right", "t": "tie", "x": "both_bad"}


@pytest.fixture
def deck_room(tmp_path, fake_server):
    """A 4-battle deck (2 prompts, 2 of the 3 pairs each) built with the CLI before serving."""
    config = tmp_path / "blindside.toml"
    config.write_text(fake_config_toml({
        "zephyr": fake_model(fake_server, "openai", "fake:tokens=14,seed=31,id=z"),
        "quartz": fake_model(fake_server, "anthropic", "fake:tokens=11,seed=32,id=q"),
        "onyx": fake_model(fake_server, "ollama", "fake:text=markdown,tokens=12,id=o")}, voter=None))
    db = tmp_path / "votes.db"
    built = run_cli("--config", str(config), "--db", str(db), "deck", "build", "room",
                    "--prompts", str(write_pack(tmp_path, PROMPTS)), "--models", "zephyr,quartz,onyx",
                    "--pairs", "2", "--seed", "5")
    assert built.returncode == 0, built.stderr
    fake_server.clear()
    return config, db


def cli_json(db, *args: str) -> dict:
    result = run_cli("--db", str(db), *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_three_browser_sessions_vote_the_same_deck_at_once(browser, tmp_path, deck_room, fake_server):
    config, db = deck_room
    with sqlite3.connect(db) as conn:
        order = [r[0] for r in conn.execute("SELECT battle_id FROM deck_battles WHERE deck = 'room' ORDER BY position")]
    assert len(order) == 4
    with served(tmp_path, "--config", str(config), "--deck", "room") as server:
        sessions = {}
        for voter in KEYS:  # three browsers open at once, each with its own session
            context = new_context(browser)
            page, status = open_app(context, server.address)
            assert status == 200
            sessions[voter] = (context, page)
        try:
            for voter, (_context, page) in sessions.items():
                with screenshot_on_failure(page, tmp_path / f"deck-{voter}-name.png"):
                    wait_for_screen(page, "Who is voting?")
                    type_into_app(page, voter)
            for voter, (_context, page) in sessions.items():
                with screenshot_on_failure(page, tmp_path / f"deck-{voter}-start.png"):
                    wait_for_screen(page, "battle 1 of 4")
            for number in range(4):  # round by round: the three voters on the same battle
                for voter, (_context, page) in sessions.items():
                    with screenshot_on_failure(page, tmp_path / f"deck-{voter}-{number + 1}.png"):
                        before = len(screen_text(page))
                        type_into_app(page, KEYS[voter][number], enter=False)
                        wait_for_screen(page, f"battle {number + 2} of 4" if number < 3 else "you voted on 4 battles",
                                        since=before)
            for voter, (_context, page) in sessions.items():
                with screenshot_on_failure(page, tmp_path / f"deck-{voter}-end.png"):
                    wait_for_screen(page, f"{voter}  ·  4 votes")  # the voter's own fingerprint
        finally:
            for context, _page in sessions.values():
                context.close()
    assert fake_server.requests == []  # the deck plays from the store: no model was called

    # The database: every voter on every battle, with the side order that voter saw.
    with sqlite3.connect(db) as conn:
        votes = {(b, v): (w, bool(s)) for b, v, w, s in conn.execute(
            "SELECT battle_id, voter, winner, shown_swapped FROM votes")}
    expected = {}
    for voter, keys in KEYS.items():
        for battle_id, key in zip(order, keys):
            swapped = decks.shown_swapped(voter, battle_id)
            expected[battle_id, voter] = (decks.stored_winner(SHOWN[key], swapped), swapped)
    assert votes == expected
    assert {s for _w, s in votes.values()} == {True, False}  # sides really were shuffled per voter

    # The agreement: every pair of votes on a battle, a tie and both_bad one verdict.
    verdict = {w: ("neither" if w in ("tie", "both_bad") else w) for w, _s in votes.values()}
    pairs = [verdict[votes[b, x][0]] == verdict[votes[b, y][0]] for b in order for x, y in combinations(KEYS, 2)]
    agreement = cli_json(db, "leaderboard", "--json")["agreement"]
    assert agreement["battles_with_multiple_votes"] == 4 and agreement["vote_pairs"] == 12
    assert agreement["pairwise_agreement"] == pytest.approx(sum(pairs) / len(pairs))
    assert set(agreement) >= {"fleiss_kappa"}

    # The fingerprints: each voter's votes, decisive ones and how often the first-shown side won.
    report = cli_json(db, "voters", "--json")
    by_voter = {v["voter"]: v for v in report["voters"]}
    assert set(by_voter) == set(KEYS)
    for voter, keys in KEYS.items():
        decisive = [k for k in keys if k in "ab"]
        entry = by_voter[voter]
        assert (entry["kind"], entry["votes"], entry["decisive"]) == ("human", 4, len(decisive))
        assert entry["position_bias"]["first_shown_chosen"] == pytest.approx(decisive.count("a") / len(decisive))
    assert {(p["a"], p["b"]) for p in report["agreement"]} == set(combinations(sorted(KEYS), 2))
    assert all(p["battles"] == 4 for p in report["agreement"])
