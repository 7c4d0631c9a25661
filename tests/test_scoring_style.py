"""Style control (contextual Bradley-Terry) and the simulator's Llama 4 story."""

import math

import numpy as np
import pytest

from scoring import bt
from scoring.battles_table import STYLE_FEATURES, BattleTable
from scoring.leaderboard import compute_leaderboard as compute_board
from scoring.simulate import BASE, TWIN, compare_to_truth, simulate_arena
from tests.scoring_helpers import board, half_width


def compute_leaderboard(table, **kw) -> dict:
    """The leaderboard in its JSON form (``blindside leaderboard --json``): the numbers users read."""
    return compute_board(table, **kw).to_json()


@pytest.fixture(scope="module")
def sim():
    return simulate_arena(40_000, seed=3)


@pytest.fixture(scope="module")
def boot_result(sim):
    return compute_leaderboard(sim.table(), ci="bootstrap", rounds=100, seed=1)


@pytest.fixture(scope="module")
def sandwich_result(sim):
    return compute_leaderboard(sim.table(), ci="sandwich")


def test_style_design_formula_by_hand():
    fa = np.array([[10, 0, 1, 2, 0], [5, 2, 0, 0, 1], [0, 0, 0, 0, 0]], dtype=float)
    fb = np.array([[5, 1, 1, 0, 0], [10, 0, 1, 1, 0], [3, 0, 2, 0, 0]], dtype=float)
    d = (fa - fb) / (fa + fb + 1)
    z = (d - d.mean(0)) / d.std(0)
    design = bt.style_design(fa, fb, STYLE_FEATURES)
    assert design.features == list(STYLE_FEATURES)
    np.testing.assert_allclose(design.X, z)
    assert design.n_missing == 0


def test_missing_features_are_left_out_and_counted():
    fa = np.ones((4, 5))
    fb = np.ones((4, 5)) * 2
    fa[1, 3] = np.nan  # one battle lacks `list` on the left
    fa[:, 1] = np.nan  # emoji unknown everywhere: dropped, no battle lost for it
    fb[:, 1] = np.nan
    design = bt.style_design(fa, fb, STYLE_FEATURES)
    assert design.features == ["length", "header", "list", "bold"]
    assert design.keep.tolist() == [True, False, True, True]
    assert design.n_missing == 1


def test_style_coefficients_recovered_with_right_sign_and_size(sim, boot_result, sandwich_result):
    truth = sim.true_style_log_odds_per_sd
    for res in (boot_result, sandwich_result):
        coefs = res["style_coefficients"]
        assert set(coefs) == set(STYLE_FEATURES)
        for f, c in coefs.items():
            assert c["log_odds_per_sd"] > 0, f
            # truth inside the interval, or at worst just outside it
            lo, hi = c["ci"]
            slack = 0.5 * (hi - lo)
            assert lo - slack <= truth[f] <= hi + slack, (f, c, truth[f])
        assert coefs["length"]["log_odds_per_sd"] == pytest.approx(truth["length"], rel=0.15)
        assert coefs["emoji"]["log_odds_per_sd"] == pytest.approx(truth["emoji"], rel=0.2)


def test_coefficients_vanish_without_style_preference():
    res = compute_leaderboard(simulate_arena(30_000, seed=5, style_weights={}).table(), ci="sandwich")
    for f, c in res["style_coefficients"].items():
        assert c["ci"][0] < 0 < c["ci"][1] or abs(c["log_odds_per_sd"]) < 0.03, f


def test_style_controlled_board_recovers_true_strengths(sim, boot_result, sandwich_result):
    for res in (boot_result, sandwich_result):
        rows = board(res)
        covered = 0
        for m, true in sim.true_ratings.items():
            sc = rows[m]["style_controlled"]
            covered += sc["ci"][0] <= true <= sc["ci"][1]
            assert abs(sc["rating"] - true) < 2.0 * half_width(sc["ci"]), m
        assert covered >= 10


def test_simulator_story_raw_twin_far_above_base_style_level(sim, boot_result):
    rows = board(boot_result)
    twin, base = rows[TWIN], rows[BASE]
    assert sim.true_ratings[TWIN] == sim.true_ratings[BASE]
    # raw: the chatty twin is well above its base, intervals far apart
    assert twin["rating"] - base["rating"] > 80
    assert twin["ci"][0] > base["ci"][1]
    assert twin["rank"] <= 2 < base["rank"]
    # style-controlled: level, within intervals
    st, sb = twin["style_controlled"], base["style_controlled"]
    assert abs(st["rating"] - sb["rating"]) < half_width(st["ci"]) + half_width(sb["ci"])
    assert st["ci"][0] <= sb["ci"][1] and sb["ci"][0] <= st["ci"][1]
    assert twin["style_controlled"]["rank_shift"] < 0  # the twin drops
    cmp = compare_to_truth(boot_result, sim.true_ratings)
    assert cmp["spearman_style"] > 0.95
    assert cmp["spearman_style"] > cmp["spearman_raw"] + 0.03
    assert cmp["twin"]["truth"] == 0
    assert cmp["twin"]["raw"] > 80 and abs(cmp["twin"]["style"]) < 25


def test_rank_shift_is_raw_minus_style_rank(boot_result):
    for row in boot_result["models"]:
        sc = row["style_controlled"]
        assert sc["rank_shift"] == row["rank"] - sc["rank"]


def test_swapping_sides_leaves_style_fit_unchanged():
    t = simulate_arena(5_000, seed=9).table()
    r1 = compute_leaderboard(t, ci="bootstrap", rounds=10, seed=2)
    r2 = compute_leaderboard(t.swapped(), ci="bootstrap", rounds=10, seed=2)
    b1, b2 = board(r1), board(r2)
    for m in b1:
        assert b1[m]["style_controlled"]["rating"] == pytest.approx(b2[m]["style_controlled"]["rating"], abs=1e-6)
        assert b1[m]["style_controlled"]["ci"] == pytest.approx(b2[m]["style_controlled"]["ci"], abs=1e-6)
    for f in r1["style_coefficients"]:
        assert r1["style_coefficients"][f]["log_odds_per_sd"] == pytest.approx(
            r2["style_coefficients"][f]["log_odds_per_sd"], abs=1e-8
        )


def test_contextual_fit_matches_lbfgs_on_the_same_objective():
    """Newton's answer is the minimiser of sum logloss + 0.25 ||theta||^2."""
    from scipy.optimize import minimize

    sim = simulate_arena(4_000, seed=21)
    t = sim.table()
    design = bt.style_design(t.features_a, t.features_b, STYLE_FEATURES)
    K = len(t.models)
    rows = bt.Rows(K, t.a, t.b, t.outcome, design.Xt)
    theta, _ = bt.fit_contextual(rows)
    X, y = design.X, t.outcome

    def f(p):
        z = math.log(10) * (p[t.a] - p[t.b]) + X @ p[K:]
        pr = 1 / (1 + np.exp(-z))
        r = pr - y
        g = np.concatenate(
            [math.log(10) * (np.bincount(t.a, r, K) - np.bincount(t.b, r, K)), X.T @ r]
        )
        return np.sum(np.logaddexp(0, z) - y * z) + 0.25 * p @ p, g + 0.5 * p

    ref = minimize(f, np.zeros(K + 5), jac=True, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 5000}).x
    np.testing.assert_allclose(theta, ref, atol=1e-5)


def test_missing_style_battles_counted_in_leaderboard():
    sim = simulate_arena(3_000, seed=4)
    fa = sim.features_a.copy()
    fa[:100, 0] = np.nan
    t = BattleTable.from_records(sim.model_a, sim.model_b, sim.winner, fa, sim.features_b)
    res = compute_leaderboard(t, ci="sandwich", excluded={"error": 2, "identity_leak": 1, "unvoted": 5, "missing_style": 4})
    assert res["battles_excluded"] == {"error": 2, "identity_leak": 1, "unvoted": 5, "missing_style": 104}
    assert res["style_battles_used"] == 2_900
    assert res["battles_used"] == 3_000


def test_style_control_off_or_unknown_gives_null():
    sim = simulate_arena(2_000, seed=4)
    off = compute_leaderboard(sim.table(), ci="sandwich", style_control=False)
    assert off["style_coefficients"] is None
    assert all(r["style_controlled"] is None for r in off["models"])
    assert off["battles_excluded"]["missing_style"] == 0
    nan = np.full((2_000, 5), np.nan)
    t = BattleTable.from_records(sim.model_a, sim.model_b, sim.winner, nan, nan)
    unknown = compute_leaderboard(t, ci="sandwich")
    assert unknown["style_coefficients"] is None
    assert unknown["battles_excluded"]["missing_style"] == 2_000


def test_simulated_records_are_plausible_integer_counts(sim):
    recs = sim.records()
    assert len(recs) == sim.n
    r = recs[0]
    assert set(r) == {"model_a", "model_b", "winner"} | {f"{k}_{s}" for k in ("tokens", "emoji", "header", "list", "bold") for s in "ab"}
    assert all(isinstance(r[k], int) and r[k] >= 0 for k in r if k[-2:] in ("_a", "_b") and k not in ("model_a", "model_b"))
    assert r["tokens_a"] >= 1
    twin_tokens = np.mean([x["tokens_a"] for x in recs if x["model_a"] == TWIN])
    base_tokens = np.mean([x["tokens_a"] for x in recs if x["model_a"] == BASE])
    assert twin_tokens > 2 * base_tokens
    assert simulate_arena(500, seed=3).winner == simulate_arena(500, seed=3).winner
    assert set(sim.winner) == {"model_a", "model_b", "tie", "both_bad"}
