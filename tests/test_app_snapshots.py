"""Screenshots of the app compared with approved SVGs (pytest-textual-snapshot).

Deterministic by construction: a fixed arena seed (same pair, same sides), fixed answers (the
fake provider's built-in texts), a fixed terminal size and a fresh database. The reveal's timings are
wall-clock measurements, so the after-vote snapshot shows the same reveal with fixed figures.
Update after an intended change of the look: ``pytest tests/test_app_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import random
from dataclasses import replace

from battles.store import NewBattle, Store
from tests.app_harness import lineup, make_app, send_prompt, wait_for, wait_phase

SIZE = (110, 34)
# (Not ``say=``: the leak check would find the answer's words in the model id.)
LEFT_MODEL = "fake:text=markdown,tokens=45"
RIGHT_MODEL = "fake:text=plain,tokens=40,seed=11"


def battle_app(fake, tmp_path):
    return make_app(lineup(fake, LEFT_MODEL, RIGHT_MODEL), tmp_path / "votes.db", seed=3)


async def ask(pilot) -> None:
    # Send once the models are ready: a prompt sent during start-up shows a "starting up"
    # notice, which the first app test of a run (a cold start) would catch in the picture.
    await wait_for(pilot, lambda: pilot.app.arena is not None, what="the models to be ready")
    await send_prompt(pilot, "Why is the sky blue?")
    await wait_phase(pilot, "ready")
    await pilot.pause()


def test_battle_screen_before_the_vote(snap_compare, fake_provider, tmp_path):
    assert snap_compare(battle_app(fake_provider, tmp_path), terminal_size=SIZE, run_before=ask)


def test_battle_screen_after_the_vote(snap_compare, fake_provider, tmp_path):
    async def vote(pilot) -> None:
        await ask(pilot)
        await pilot.press("a")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.last_move is not None, what="the rating move")
        reveal = screen.last_reveal
        fixed = replace(reveal, a=replace(reveal.a, ttft_ms=210.0, duration_ms=940.0),
                        b=replace(reveal.b, ttft_ms=180.0, duration_ms=1230.0))
        screen.show_reveal(fixed, screen.last_move)
        await pilot.pause()

    assert snap_compare(battle_app(fake_provider, tmp_path), terminal_size=SIZE, run_before=vote)


def test_leaderboard(snap_compare, fake_provider, tmp_path):
    rng = random.Random(5)
    strength = {"alpha-model": 1.6, "beta-model": 1.0, "gamma-model": 0.6}
    battles = []
    for i in range(120):
        a, b = rng.sample(sorted(strength), 2)
        features = [{"tokens": rng.randint(50, 900), "emoji": rng.randint(0, 3), "header": rng.randint(0, 4),
                     "list": rng.randint(0, 8), "bold": rng.randint(0, 5)} for _ in range(2)]
        p_a = strength[a] / (strength[a] + strength[b])
        winner = rng.choices(["model_a", "model_b", "tie"], [p_a * 0.9, (1 - p_a) * 0.9, 0.1])[0]
        battles.append(NewBattle(id=f"b{i:03d}", model_a=a, model_b=b, winner=winner, source="import",
                                 created=f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00", voter="ann",
                                 category="coding" if i % 2 else "factual",
                                 features_a=features[0], features_b=features[1]))
    with Store(tmp_path / "votes.db") as store:
        store.insert_battles(battles)
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), tmp_path / "votes.db")

    async def open_board(pilot) -> None:
        await pilot.press("escape", "l")
        board = pilot.app.screen
        await wait_for(pilot, lambda: board.result is not None and not board.computing, what="leaderboard")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(110, 48), run_before=open_board)


def test_help_screen(snap_compare, fake_provider, tmp_path):
    async def open_help(pilot) -> None:
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(battle_app(fake_provider, tmp_path), terminal_size=(110, 60), run_before=open_help)
