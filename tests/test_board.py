"""blindside board: the real board app on a real SQLite file, votes written by another process."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

import pytest
from textual import events

from battles.store import NewBattle, Store
from tests.app_harness import rendered_lines, wait_for
from tui.board_app import BoardApp
from tui.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]
SIZE = (140, 45)
F = ("tokens", "emoji", "header", "list", "bold")
VOTE_SCRIPT = ("import sys\nfrom battles.store import Store\n"
               "with Store(sys.argv[1]) as s:\n"
               "    s.record_vote(sys.argv[2], 'model_a', sys.argv[3], shown_swapped=True)\n")


def make_battles(store: Store, n: int, *, voters: int = 0, seed: int = 1) -> None:
    """n complete battles among four models; with ``voters``, each already has one vote."""
    rng = random.Random(seed)
    models = ["alpha", "beta", "gamma", "alpha-chatty"]

    def features():
        return dict(zip(F, (rng.randint(10, 400), rng.randint(0, 3), rng.randint(0, 3), rng.randint(0, 4),
                            rng.randint(0, 4))))

    battles = []
    for i in range(n):
        a, b = rng.sample(models, 2)
        battles.append(NewBattle(
            id=f"g{i}", model_a=a, model_b=b, created=f"2025-01-01T{i:07d}", source="test",
            winner=rng.choice(["model_a", "model_b", "tie"]) if voters else None,
            voter=f"voter{i % voters}" if voters else None, features_a=features(), features_b=features()))
    store.insert_battles(battles)


async def vote_from_another_process(db: Path, battle: str, voter: str) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", VOTE_SCRIPT, str(db), battle, voter,
                                                cwd=REPO_ROOT)
    assert await proc.wait() == 0


def screen_text(app) -> str:
    return "\n".join(rendered_lines(app))


async def test_board_shows_a_vote_from_another_process_within_two_seconds(tmp_path):
    db = tmp_path / "votes.db"
    with Store(db) as store:
        make_battles(store, 6)
        store.record_vote("g0", "model_a", "ann")
        store.record_vote("g0", "model_b", "bob")
    app = BoardApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.shown >= 1, 20, "the first board")
        assert app.snapshot["votes"] == 2
        await wait_for(pilot, lambda: "ann" in screen_text(app) and "Fleiss' kappa" in screen_text(app), 5,
                       "the board drawn")
        for n, (battle, voter) in enumerate([("g1", "zoe"), ("g0", "zoe"), ("g2", "ann")], start=3):
            await vote_from_another_process(db, battle, voter)
            committed = time.monotonic()  # record_vote returned in that process: the vote is durable
            await wait_for(pilot, lambda n=n: app.snapshot["votes"] == n, 10, f"vote {n} on the board")
            assert time.monotonic() - committed < 2.0
        await wait_for(pilot, lambda: "5 votes on 3 battles by 3 voters" in screen_text(app), 5, "the board drawn")
        assert "zoe" in screen_text(app)
        assert app.snapshot["agreement"]["battles_with_multiple_votes"] == 1  # g0: ann, bob, zoe


async def test_keys_answer_while_the_board_recomputes(tmp_path):
    db = tmp_path / "votes.db"
    with Store(db) as store:
        make_battles(store, 20_000, voters=30)  # a recomputation long enough to press keys during
    app = BoardApp(db)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.shown >= 1, 60, "the first board")
        room = app.query_one("#board-room")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.computing, 10, "a recomputation")
        # The key goes in as a terminal's would; pilot.press would wait for the process to idle.
        started = time.monotonic()
        app.post_message(events.Key("p", "p"))
        await wait_for(pilot, lambda: room.display is False, 1.0, "the key to be handled")
        assert time.monotonic() - started < 0.5
        assert app.computing, "the key was handled only after the recomputation"
        await wait_for(pilot, lambda: app.shown >= 2, 60, "the refreshed board")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.computing, 10, "a recomputation")
        started = time.monotonic()
        app.post_message(events.Key("q", "q"))  # quits in the middle of a recomputation
        await wait_for(pilot, lambda: app._exit, 1.0, "the board to quit")
        assert app.computing and time.monotonic() - started < 0.5


async def test_deck_limits_the_board_to_its_battles(tmp_path):
    db = tmp_path / "votes.db"
    with Store(db) as store:
        make_battles(store, 6)
        # a deck holding two of the battles, as the deck build records it
        store.conn.execute("INSERT INTO decks (name, created, prompts, models) VALUES ('room', '2025', 'p', '[]')")
        store.conn.executemany("INSERT INTO deck_battles VALUES ('room', ?, ?)", [("g1", 1), ("g2", 2)])
        store.conn.commit()
        for battle in ("g0", "g1", "g2"):
            store.record_vote(battle, "model_a", "ann")
    app = BoardApp(db, deck="room")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.shown >= 1, 20, "the first board")
        assert (app.snapshot["votes"], app.snapshot["battles"]) == (2, 2)  # g0 is not in the deck


def test_an_unknown_deck_is_one_line_and_exit_2(tmp_path, capsys):
    db = tmp_path / "votes.db"
    Store(db).close()
    assert main(["board", "--db", str(db), "--deck", "nope"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "no deck 'nope'" in err


def test_serve_board_spawns_the_board(tmp_path):
    from tui.cli import build_parser
    from tui.commands.serve_command import app_command

    args = build_parser().parse_args(["serve", "--board", "--db", str(tmp_path / "v.db")])
    command = app_command(args)
    assert command.endswith(" board") and "--db" in command
    plain = app_command(build_parser().parse_args(["serve", "--db", str(tmp_path / "v.db")]))
    assert not plain.endswith(" board")
