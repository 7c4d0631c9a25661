"""Pairing strategies and the left/right coin (``active``'s TrueSkill math: test_scoring_elo_trueskill.py)."""

from __future__ import annotations

import collections
import itertools
import random

import pytest
import trueskill

from battles.config import ArenaConfig, Config, ModelConfig
from battles.engine import Arena
from battles.errors import ConfigError
from battles.pairing import Pairing, draw_active, draw_balanced, draw_uniform, place, require_two
from battles.store import Store
from scoring.trueskill_ratings import TrueSkillTable

MODELS = ["m1", "m2", "m3", "m4"]


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "votes.db") as s:
        yield s


def add_battle(store: Store, a: str, b: str, *, status: str = "complete", winner: str | None = None) -> str:
    battle_id = store.begin_battle(model_a=a, model_b=b, prompt="p")
    store.finish_battle(battle_id, status=status, identity_leak=False, features_a=None, features_b=None)
    if winner:
        store.record_vote(battle_id, winner, "tester")
    return battle_id


def test_uniform_draws_every_pair_about_equally_often():
    rng = random.Random(7)
    counts = collections.Counter(frozenset(draw_uniform(MODELS, rng)) for _ in range(6000))
    assert set(counts) == {frozenset(p) for p in itertools.combinations(MODELS, 2)}
    # 6 pairs, 1000 expected each; sd ~ 29, so +-150 is a > 5 sd band
    assert all(850 < n < 1150 for n in counts.values()), counts


def test_uniform_never_pairs_a_model_with_itself():
    rng = random.Random(1)
    assert all(a != b for a, b in (draw_uniform(["x", "y"], rng) for _ in range(200)))


def test_balanced_picks_the_least_played_pair(store):
    for a, b in [("m1", "m2"), ("m1", "m2"), ("m1", "m3"), ("m1", "m4"), ("m2", "m3"), ("m2", "m4")]:
        add_battle(store, a, b)
    # m3-m4 has no battle yet: it must be drawn every time
    pairing = Pairing("balanced", random.Random(3))
    assert {frozenset(pairing.draw(MODELS, store)) for _ in range(50)} == {frozenset(("m3", "m4"))}


def test_balanced_breaks_ties_at_random(store):
    add_battle(store, "m1", "m2")
    pairing = Pairing("balanced", random.Random(5))
    drawn = collections.Counter(frozenset(pairing.draw(["m1", "m2", "m3"], store)) for _ in range(600))
    assert frozenset(("m1", "m2")) not in drawn
    assert set(drawn) == {frozenset(("m1", "m3")), frozenset(("m2", "m3"))}
    assert all(220 < n < 380 for n in drawn.values()), drawn


def test_balanced_ignores_errored_battles(store):
    # m1-m2 has 3 errored battles (not counted) and m1-m3, m2-m3 one real battle each
    for _ in range(3):
        add_battle(store, "m1", "m2", status="error")
    add_battle(store, "m1", "m3")
    add_battle(store, "m3", "m2")
    assert frozenset(draw_balanced(["m1", "m2", "m3"], store.pair_counts(), random.Random(0))) == {"m1", "m2"}


def test_balanced_spreads_battles_evenly_over_time(store):
    pairing = Pairing("balanced", random.Random(11))
    for _ in range(30):
        a, b = pairing.draw(MODELS, store)
        add_battle(store, a, b)
    assert set(store.pair_counts().values()) == {5}  # 30 battles over 6 pairs


def _package_ratings(outcomes):
    env = trueskill.TrueSkill()
    ratings = collections.defaultdict(env.create_rating)
    for a, b, winner in outcomes:
        if winner == "model_a":
            ratings[a], ratings[b] = trueskill.rate_1vs1(ratings[a], ratings[b], env=env)
        elif winner == "model_b":
            ratings[b], ratings[a] = trueskill.rate_1vs1(ratings[b], ratings[a], env=env)
        else:
            ratings[a], ratings[b] = trueskill.rate_1vs1(ratings[a], ratings[b], drawn=True, env=env)
    return env, ratings


def test_active_prefers_the_closest_trueskill_pair(store):
    # m1 crushes everyone, m4 loses to everyone, m2 and m3 trade wins: m2-m3 is the open question
    for _ in range(6):
        for other in ("m2", "m3", "m4"):
            add_battle(store, "m1", other, winner="model_a")
        for other in ("m2", "m3"):
            add_battle(store, other, "m4", winner="model_a")
        add_battle(store, "m2", "m3", winner="model_a")
        add_battle(store, "m3", "m2", winner="model_a")
    env, ref = _package_ratings(store.voted_outcomes())
    best = max(itertools.combinations(MODELS, 2),
               key=lambda p: trueskill.quality_1vs1(ref[p[0]], ref[p[1]], env=env))
    assert frozenset(best) == {"m2", "m3"}  # the reference agrees with the intuition
    pairing = Pairing("active", random.Random(0))
    assert {frozenset(pairing.draw(MODELS, store)) for _ in range(20)} == {frozenset(best)}


def test_active_ratings_match_the_trueskill_package(store):
    # Pairing rates with the package's default environment (draw probability 0.10): its ratings
    # must be what trueskill.rate_1vs1 gives, vote by vote, draws included.
    rng = random.Random(2)
    pairing = Pairing("active", random.Random(0))
    for n in range(120):
        a, b = rng.sample(MODELS, 2)
        add_battle(store, a, b, winner=rng.choice(["model_a", "model_b", "tie", "both_bad"]))
        if n % 7 == 0:
            pairing.draw(MODELS, store)  # rate incrementally, as the arena does between votes
    pairing.draw(MODELS, store)
    env, ref = _package_ratings(store.voted_outcomes())
    got = pairing._table.ratings
    assert set(got) == set(ref) == set(MODELS)
    for model, (mu, sigma) in got.items():
        assert mu == pytest.approx(ref[model].mu, abs=1e-9)
        assert sigma == pytest.approx(ref[model].sigma, abs=1e-9)


def test_active_with_no_votes_draws_any_pair(store):
    pairing = Pairing("active", random.Random(9))
    drawn = {frozenset(pairing.draw(MODELS, store)) for _ in range(300)}
    assert len(drawn) == 6


def test_active_leaves_out_leaked_and_errored_battles(store):
    # Only counted votes move ratings: a leaked m1 win must not make m1-m2 less uncertain.
    battle_id = store.begin_battle(model_a="m1", model_b="m2", prompt="p")
    store.finish_battle(battle_id, status="complete", identity_leak=True, features_a=None, features_b=None)
    store.record_vote(battle_id, "model_a", None)
    assert store.voted_outcomes() == []
    assert TrueSkillTable().update(store.voted_outcomes()) == {}


def test_draw_active_unknown_models_use_the_default_rating():
    ratings = {"m1": (40.0, 1.0), "m2": (10.0, 1.0)}
    # m3 and m4 are new: (m3, m4) is two default ratings, the most uncertain game
    assert frozenset(draw_active(MODELS, ratings, random.Random(0))) == {"m3", "m4"}


def test_coin_is_fair_and_recorded():
    rng = random.Random(123)
    swaps = sum(place(("x", "y"), rng)[2] for _ in range(10_000))
    assert 4800 < swaps < 5200  # sd 50: a 4 sd band
    left, right, swapped = place(("x", "y"), random.Random(0))
    assert (left, right) == (("y", "x") if swapped else ("x", "y"))


def test_arena_start_flips_the_coin_and_records_swapped(store):
    config = Config(arena=ArenaConfig(pairing="uniform"), models={
        name: ModelConfig(name=name, provider="openai", model=name, base_url="http://127.0.0.1:9")
        for name in ("left", "right")})
    arena = Arena(config, store, seed=21)
    left_counts = collections.Counter()
    for _ in range(400):
        battle = arena.start("hello")
        row = store.battle(battle.id)
        assert row["model_a"] == battle.models["a"].contestant
        assert bool(row["swapped"]) == battle.swapped
        left_counts[row["model_a"]] += 1
    assert 160 < left_counts["left"] < 240, left_counts


def test_fixed_pair_is_never_swapped(store):
    config = Config(models={name: ModelConfig(name=name, provider="openai", model=name) for name in ("p", "q")})
    arena = Arena(config, store, seed=1)
    for _ in range(20):
        battle = arena.start("hi", models=("q", "p"))
        assert (battle.models["a"].name, battle.models["b"].name, battle.swapped) == ("q", "p", False)


@pytest.mark.parametrize("models", [[], ["only"]])
def test_fewer_than_two_models_is_a_clear_config_error(models):
    with pytest.raises(ConfigError) as info:
        require_two(models)
    message = str(info.value)
    assert "[models." in message and "blindside.toml" in message


def test_unknown_strategy_is_refused():
    with pytest.raises(ConfigError, match="uniform, balanced, active"):
        Pairing("roundrobin", random.Random(0))
