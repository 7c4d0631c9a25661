import math

import numpy as np
import pytest
import trueskill

from scoring.battles_table import BattleTable
from scoring.elo import bootstrap_online_elo, online_elo
from scoring.leaderboard import compute_leaderboard as compute_board
from scoring.simulate import simulate_arena
from scoring.trueskill_ratings import TrueSkillTable, make_env, match_quality, trueskill_fit, trueskill_ratings
from tests.scoring_helpers import board


def compute_leaderboard(table, **kw) -> dict:
    """The leaderboard in its JSON form (``blindside leaderboard --json``): the numbers users read."""
    return compute_board(table, **kw).to_json()


# ------------------------------------------------------------------ Elo


def test_elo_single_updates_by_hand():
    a, b = np.array([0]), np.array([1])
    r = online_elo(a, b, np.array([1.0]), 2)
    assert r.tolist() == pytest.approx([1002.0, 998.0])
    # a draw between 1100 and 1000: expected 1/(1+10^-0.25)
    r = online_elo(np.array([0, 0]), np.array([1, 1]), np.array([1.0, 0.5]), 2, k=50)
    ra, rb = 1025.0, 975.0
    e = 1 / (1 + 10 ** ((rb - ra) / 400))
    assert r[0] == pytest.approx(ra + 50 * (0.5 - e))
    assert r[0] + r[1] == pytest.approx(2000)


def test_elo_draws_between_equals_change_nothing():
    n = 50
    r = online_elo(np.zeros(n, int), np.ones(n, int), np.full(n, 0.5), 2)
    assert r.tolist() == [1000.0, 1000.0]


def test_elo_follows_time_order():
    # a wins early, b wins late: the later results weigh more
    t = BattleTable.from_records(["a"] * 20 + ["b"] * 20, ["b"] * 20 + ["a"] * 20, ["model_a"] * 40, timestamps=list(range(40)))
    rows = board(compute_leaderboard(t, method="elo", rounds=5, style_control=False))
    assert rows["b"]["rating"] > rows["a"]["rating"]
    t2 = BattleTable.from_records(["a"] * 20 + ["b"] * 20, ["b"] * 20 + ["a"] * 20, ["model_a"] * 40, timestamps=list(range(40, 0, -1)))
    rows2 = board(compute_leaderboard(t2, method="elo", rounds=5, style_control=False))
    assert rows2["a"]["rating"] > rows2["b"]["rating"]


def test_elo_stronger_simulated_model_ends_higher_and_bootstrap_brackets_it():
    sim = simulate_arena(20_000, seed=2, style_weights={})
    res = compute_leaderboard(sim.table(), method="elo", rounds=30, style_control=False)
    rows = board(res)
    assert res["ci"] == "bootstrap"
    assert rows["sim-atlas-pro"]["rating"] > rows["sim-otter-7b"]["rating"] + 150
    assert rows["sim-otter-7b"]["rating"] > rows["sim-gecko-3b"]["rating"]
    from scipy.stats import spearmanr

    models = list(sim.true_ratings)
    rho = spearmanr([sim.true_ratings[m] for m in models], [rows[m]["rating"] for m in models]).statistic
    assert rho > 0.9
    inside = sum(r["ci"][0] <= r["rating"] <= r["ci"][1] for r in res["models"])
    assert inside >= 10


def test_elo_bootstrap_replays_duplicates():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 200)
    b = (a + 1) % 3
    y = rng.random(200).round()
    boot = bootstrap_online_elo(a, b, y, 3, 4, np.random.default_rng(5))
    # reproduce round 0 with a plain loop over the same draw
    rng2 = np.random.default_rng(5)
    counts = np.bincount(rng2.integers(0, 200, 200), minlength=200)
    idx = np.repeat(np.arange(200), counts)
    np.testing.assert_allclose(boot[0], online_elo(a[idx], b[idx], y[idx], 3), atol=1e-9)


def test_elo_sandwich_request_falls_back_with_a_note():
    sim = simulate_arena(1_000, seed=2)
    res = compute_leaderboard(sim.table(), method="elo", ci="sandwich", rounds=5, style_control=False)
    assert res["ci"] == "bootstrap" and res["notes"]


# ------------------------------------------------------------- TrueSkill


def test_fast_trueskill_matches_the_package():
    rng = np.random.default_rng(1)
    n, k = 600, 6
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    codes = rng.choice(4, n, p=[0.4, 0.35, 0.15, 0.1])
    env = make_env(0.25)
    mu1, s1, _ = trueskill_fit(a, b, codes, k, env=env, engine="fast")
    mu2, s2, _ = trueskill_fit(a, b, codes, k, env=env, engine="package")
    np.testing.assert_allclose(mu1, mu2, atol=1e-9)
    np.testing.assert_allclose(s1, s2, atol=1e-9)


def test_trueskill_draw_between_newcomers():
    r = trueskill_ratings(["x"], ["y"], ["both_bad"], env=make_env(0.3))
    (mx, sx), (my, sy) = r["x"], r["y"]
    assert mx == pytest.approx(25.0) and my == pytest.approx(25.0)
    assert sx < 25 / 3 and sx == pytest.approx(sy)
    ref = trueskill.rate_1vs1(trueskill.Rating(), trueskill.Rating(), drawn=True, env=trueskill.TrueSkill(draw_probability=0.3))
    assert sx == pytest.approx(ref[0].sigma)


def test_trueskill_stronger_model_ends_higher():
    sim = simulate_arena(8_000, seed=4, style_weights={})
    r = trueskill_ratings(sim.model_a, sim.model_b, sim.winner)
    assert r["sim-atlas-pro"][0] > r["sim-wren-v2"][0] > r["sim-gecko-3b"][0]
    res = compute_leaderboard(sim.table(), method="trueskill", style_control=False)
    row = res["models"][0]
    assert res["ci"] == "trueskill_3sigma"
    assert row["conservative"] == pytest.approx(row["mu"] - 3 * row["sigma"])
    assert row["ci"] == pytest.approx([row["mu"] - 3 * row["sigma"], row["mu"] + 3 * row["sigma"]])
    assert row["rating"] == row["mu"]


def test_match_quality_matches_package_and_formula():
    env = make_env()
    q = match_quality((25.0, 8.0), (30.0, 3.0))
    assert q == pytest.approx(trueskill.quality_1vs1(trueskill.Rating(25, 8), trueskill.Rating(30, 3), env=env))
    beta2 = env.beta**2
    c2 = 2 * beta2 + 64 + 9
    assert q == pytest.approx(math.sqrt(2 * beta2 / c2) * math.exp(-25 / (2 * c2)))
    assert match_quality((30.0, 3.0), (25.0, 8.0)) == pytest.approx(q)
    assert match_quality((25.0, 3.0), (25.0, 3.0)) > match_quality((25.0, 3.0), (29.0, 3.0))
    assert match_quality(trueskill.Rating(25, 3), trueskill.Rating(25, 3)) == pytest.approx(
        match_quality((25, 3), (25, 3))

    )


def test_match_quality_matches_package_over_random_ratings():
    rng = np.random.default_rng(2)
    for env in (make_env(), trueskill.TrueSkill(beta=7.0)):
        for _ in range(50):
            r1 = (rng.uniform(10, 40), rng.uniform(0.5, 8.3))
            r2 = (rng.uniform(10, 40), rng.uniform(0.5, 8.3))
            ref = trueskill.quality_1vs1(env.create_rating(*r1), env.create_rating(*r2), env=env)
            assert match_quality(r1, r2, env=env) == pytest.approx(ref, abs=1e-12)


def _random_outcomes(n, seed):
    rng = np.random.default_rng(seed)
    models = ["m1", "m2", "m3", "m4", "m5"]
    outcomes = []
    for _ in range(n):
        i, j = rng.choice(len(models), 2, replace=False)
        outcomes.append((models[i], models[j], str(rng.choice(["model_a", "model_b", "tie", "both_bad"]))))
    return outcomes


def test_trueskill_table_incremental_equals_full_replay():
    outcomes = _random_outcomes(300, seed=4)
    table = TrueSkillTable()
    assert table.update([]) == {}
    for n in (1, 10, 11, 11, 50, 300):
        table.update(outcomes[:n])
    assert table.seen == 300
    a, b, w = zip(*outcomes)
    # same update function, same order: identical, not just close
    assert table.ratings == trueskill_ratings(a, b, w, env=make_env())
    assert table.env.draw_probability == trueskill.DRAW_PROBABILITY  # the package default


def test_trueskill_table_matches_package_rate_1vs1():
    outcomes = _random_outcomes(300, seed=5)
    env = make_env(0.3)
    table = TrueSkillTable(env)
    for n in range(0, 301, 37):
        table.update(outcomes[:n])
    table.update(outcomes)
    a, b, w = zip(*outcomes)
    ref = trueskill_ratings(a, b, w, env=env, engine="package")  # trueskill.rate_1vs1 per battle
    assert set(table.ratings) == set(ref)
    for m, (mu, sigma) in table.ratings.items():
        assert mu == pytest.approx(ref[m][0], abs=1e-9)
        assert sigma == pytest.approx(ref[m][1], abs=1e-9)


def test_trueskill_table_starts_over_when_the_list_shrinks():
    outcomes = _random_outcomes(40, seed=6)
    table = TrueSkillTable()
    table.update(outcomes)
    table.update(outcomes[:5])
    assert table.seen == 5
    assert table.ratings == TrueSkillTable().update(outcomes[:5])
