"""Leaderboard result shape, position bias, matrices and text rendering."""

import json

import numpy as np
import pytest

from scoring.battles_table import BattleTable
from scoring.leaderboard import compute_leaderboard, describe_style_coefficient
from scoring.simulate import BASE, TWIN, simulate_arena
from scoring.stats import pairwise_matrices, position_bias, wilson_interval
from tui.leaderboard_text import render_leaderboard, render_simulation


@pytest.fixture(scope="module")
def sim():
    return simulate_arena(12_000, seed=8)


@pytest.fixture(scope="module")
def result(sim):
    return compute_leaderboard(sim.table(), ci="bootstrap", rounds=50, seed=3)


def test_result_has_the_documented_shape_and_is_json(result):
    json.loads(json.dumps(result))
    for key in ("method", "ci", "battles_used", "battles_excluded", "models", "style_coefficients", "position_bias"):
        assert key in result
    assert result["method"] == "bt" and result["ci"] == "bootstrap"
    assert set(result["battles_excluded"]) >= {"error", "identity_leak", "unvoted", "missing_style"}
    row = result["models"][0]
    for key in ("model", "battles", "wins", "losses", "ties", "win_rate", "rating", "ci", "rank", "style_controlled"):
        assert key in row
    assert set(row["style_controlled"]) >= {"rating", "ci", "rank", "rank_shift"}
    assert set(result["position_bias"]) >= {"left_win_rate", "ci"}
    for c in result["style_coefficients"].values():
        assert set(c) >= {"log_odds_per_sd", "ci"}
    ratings = [m["rating"] for m in result["models"]]
    assert ratings == sorted(ratings, reverse=True)


def test_counts_add_up(sim, result):
    total = sum(m["battles"] for m in result["models"])
    assert total == 2 * sim.n
    for m in result["models"]:
        assert m["wins"] + m["losses"] + m["ties"] == m["battles"]
        assert m["win_rate"] == pytest.approx(m["wins"] / (m["wins"] + m["losses"]))
    assert sum(m["wins"] for m in result["models"]) == sum(m["losses"] for m in result["models"])


def test_pairwise_matrices():
    t = BattleTable.from_records(["a", "a", "b", "c"], ["b", "b", "a", "a"], ["model_a", "tie", "model_a", "model_b"])
    mats = pairwise_matrices(t)
    assert mats["models"] == ["a", "b", "c"]
    assert mats["battles"] == [[0, 3, 1], [3, 0, 0], [1, 0, 0]]
    assert mats["wins"] == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert mats["ties"][0][1] == 1
    assert mats["win_rate"][0][1] == 0.5 and mats["win_rate"][0][2] == 1.0 and mats["win_rate"][1][2] is None
    res = compute_leaderboard(t, ci="sandwich", style_control=False, matrices=True)
    assert res["matrices"] == mats


def test_wilson_interval_by_hand():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_position_bias_detects_a_simulated_left_bias():
    biased = position_bias(simulate_arena(20_000, seed=6, style_weights={}, left_bias=0.3).table())
    assert biased["ci"][0] > 0.5
    assert biased["left_win_rate"] == pytest.approx(1 / (1 + np.exp(-0.3)), abs=0.02)
    lo, hi = biased["adjusted_ci"]
    assert lo < 0.3 < hi
    fair = position_bias(simulate_arena(20_000, seed=6, style_weights={}).table())
    assert fair["ci"][0] < 0.5 < fair["ci"][1]
    assert fair["adjusted_ci"][0] < 0 < fair["adjusted_ci"][1]


def test_position_bias_adjusts_for_unbalanced_sides():
    # the strong model always sits left, no real bias: raw rate is high, adjusted is not estimable
    # beyond the strength, so the adjusted interval is wide and the raw one is not
    rng = np.random.default_rng(0)
    n = 4_000
    strong_left = rng.random(n) < 0.8
    a = np.where(strong_left, "s", "w")
    b = np.where(strong_left, "w", "s")
    p_strong = 0.75
    strong_wins = rng.random(n) < p_strong
    winner = np.where(strong_wins == strong_left, "model_a", "model_b")
    res = position_bias(BattleTable.from_records(a.tolist(), b.tolist(), winner.tolist()))
    assert res["ci"][0] > 0.55
    assert res["adjusted_ci"][0] < 0 < res["adjusted_ci"][1]


def test_empty_table():
    t = BattleTable.from_records([], [], [])
    res = compute_leaderboard(t)
    assert res["models"] == [] and res["battles_used"] == 0
    assert "no battles" in render_leaderboard(res)


def test_describe_style_coefficient():
    assert describe_style_coefficient("length", 0.25) == "a one-SD longer answer adds 0.25 log-odds (odds x1.28) of winning"
    assert "removes 0.10" in describe_style_coefficient("bold", -0.1)


def test_render_leaderboard_contains_the_story(result):
    text = render_leaderboard(result)
    lines = text.splitlines()
    assert any(TWIN in line and "↓" in line for line in lines)
    assert any(BASE in line and "↑" in line for line in lines)
    assert "a one-SD longer answer adds" in text
    assert "Position bias" in text and "decisive battles" in text
    assert "Excluded battles: error 0" in text and "missing style features 0" in text


def test_render_leaderboard_for_other_methods(sim):
    for method in ("elo", "trueskill"):
        res = compute_leaderboard(sim.table(), method=method, rounds=5, style_control=False)
        text = render_leaderboard(res)
        assert "Style control: off." in text
        assert TWIN in text


def test_render_simulation_tells_the_twin_story(sim, result):
    text = render_simulation(result, sim)
    assert "chatty twin vs base: raw +" in text
    assert "style-controlled" in text and "(truth: +0)" in text
    assert "Spearman correlation with the truth" in text
    assert "truth +" in text  # coefficient truth column
