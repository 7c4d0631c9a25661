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


# -- models the votes cannot place (provisional) ---------------------------------------------------


def _table(a, b, winner, **kw):
    return BattleTable.from_records(a, b, winner, **kw)


def _by_model(res):
    return {m["model"]: m for m in res["models"]}


@pytest.mark.parametrize("ci", ["bootstrap", "sandwich"])
def test_one_decisive_vote_places_nobody(ci):
    res = compute_leaderboard(_table(["smollm2"], ["smollm2-chatty"], ["model_a"]), ci=ci, rounds=20)
    json.loads(json.dumps(res))
    rows = _by_model(res)
    for m in rows.values():
        assert m["provisional"] is True
        assert m["ci"] == [None, None]
        assert m["rank"] == 1
    assert rows["smollm2"]["rating"] > rows["smollm2-chatty"]["rating"]  # the point estimate is kept
    note = next(n for n in res["notes"] if "cannot place" in n)
    assert "2 of 2 models" in note and "only won or only lost" in note and "more votes will place it" in note


def _chain():
    """A only wins (against B and C); B and C beat each other and tie: strongly connected."""
    a = ["A", "A", "B", "C", "B", "C"] * 4
    b = ["B", "C", "C", "B", "C", "B"] * 4
    w = ["model_a", "model_a", "model_a", "model_a", "tie", "model_b"] * 4
    return a, b, w


@pytest.mark.parametrize("ci", ["bootstrap", "sandwich"])
def test_a_model_that_only_wins_is_provisional_and_the_rest_are_placed(ci):
    res = compute_leaderboard(_table(*_chain()), ci=ci, rounds=50, seed=1)
    rows = _by_model(res)
    assert rows["A"]["provisional"] and rows["A"]["ci"] == [None, None] and rows["A"]["rank"] == 1
    for name in ("B", "C"):
        m = rows[name]
        assert m["provisional"] is False
        lo, hi = m["ci"]
        assert np.isfinite(lo) and np.isfinite(hi) and lo < m["rating"] < hi
        assert hi - lo < 400  # the placeholder rating of A neither shifts nor widens them
        assert m["rank"] == 1  # A's open interval pushes nobody down
    # centred on the placed models
    assert (rows["B"]["rating"] + rows["C"]["rating"]) / 2 == pytest.approx(1000.0)
    assert rows["B"]["rating"] > rows["C"]["rating"]
    assert sum("cannot place 1 of 3 models" in n and "(A)" in n for n in res["notes"]) == 1


def test_a_model_that_only_loses_is_provisional_too():
    a, b, w = _chain()
    w = [{"model_a": "model_b", "model_b": "model_a"}.get(x, x) if ai == "A" else x for ai, x in zip(a, w)]
    rows = _by_model(compute_leaderboard(_table(a, b, w), rounds=20))
    assert rows["A"]["provisional"] and not rows["B"]["provisional"] and not rows["C"]["provisional"]
    assert rows["A"]["rating"] < rows["C"]["rating"]


def test_style_controlled_entry_of_a_provisional_model_is_marked():
    a, b, w = _chain()
    rng = np.random.default_rng(0)
    fa = rng.integers(1, 100, (len(a), 5)).astype(float)
    fb = rng.integers(1, 100, (len(a), 5)).astype(float)
    res = compute_leaderboard(_table(a, b, w, features_a=fa, features_b=fb), rounds=20)
    rows = _by_model(res)
    assert rows["A"]["style_controlled"]["provisional"] is True
    assert all(v is not None for v in rows["A"]["style_controlled"]["ci"])  # the penalised fit is finite
    assert rows["B"]["style_controlled"]["provisional"] is False


@pytest.mark.parametrize("outcome", ["tie", "both_bad"])
@pytest.mark.parametrize("ci", ["bootstrap", "sandwich"])
def test_a_tie_connects_both_ways_and_few_battles_widen_the_interval(outcome, ci):
    res = compute_leaderboard(_table(["x"], ["y"], [outcome]), ci=ci, rounds=20)
    assert not any("cannot place" in n for n in res["notes"])
    for m in res["models"]:
        assert m["provisional"] is False
        lo, hi = m["ci"]
        assert m["rating"] == pytest.approx(1000.0)
        # bootstrap and sandwich are both [1000, 1000] here; the model-based floor is not
        assert hi - lo > 400
    assert any("fewer than 5 battles" in n for n in res["notes"])


def test_bootstrap_of_few_battles_is_at_least_the_sandwich_interval():
    a, b, w = ["x", "x", "y"], ["y", "y", "x"], ["model_a", "model_b", "model_a"]  # x 2-1 y
    boot = _by_model(compute_leaderboard(_table(a, b, w), rounds=50))
    sand = _by_model(compute_leaderboard(_table(a, b, w), ci="sandwich"))
    for name in ("x", "y"):
        assert boot[name]["ci"][0] <= sand[name]["ci"][0] + 1e-6
        assert boot[name]["ci"][1] >= sand[name]["ci"][1] - 1e-6


def test_anchor_on_a_provisional_model_is_not_applied_to_the_raw_board():
    res = compute_leaderboard(_table(*_chain()), rounds=10, anchor=("A", 1500.0), style_control=False)
    rows = _by_model(res)
    assert (rows["B"]["rating"] + rows["C"]["rating"]) / 2 == pytest.approx(1000.0)
    assert any("anchor model 'A' is provisional" in n for n in res["notes"])


def test_enough_votes_leave_nobody_provisional(result, sim):
    assert not any(m["provisional"] for m in result["models"])
    assert not any(m["style_controlled"]["provisional"] for m in result["models"])
    assert all(None not in m["ci"] for m in result["models"])
    assert not any("cannot place" in n for n in result["notes"])
    for method in ("elo", "trueskill"):
        res = compute_leaderboard(sim.table(), method=method, rounds=5, style_control=False)
        assert not any(m["provisional"] for m in res["models"])


def test_render_of_a_one_vote_board_says_provisional_without_a_confident_interval():
    import re

    res = compute_leaderboard(_table(["smollm2"], ["smollm2-chatty"], ["model_a"]), rounds=20)
    text = render_leaderboard(res)
    assert "provisional" in text
    table_lines = [line for line in text.splitlines() if "smollm2" in line and "%" in line]
    assert len(table_lines) == 2
    for line in table_lines:
        assert "not placed yet" in line
        assert re.search(r"\d\?", line)  # the rating carries a '?'
        assert "[" not in line
    assert not re.search(r"\[(-?\d+), \1\]", text)
    assert "2123" not in text.replace("2123?", "")  # never a bare confident number


def test_screens_and_chart_handle_a_provisional_model():
    from tui.screens.battle import describe_move
    from tui.screens.leaderboard import table_rows
    from tui.widgets.rating_chart import draw_interval_chart

    res = compute_leaderboard(_table(*_chain()), rounds=20, style_control=False)
    rows = {r[1].plain: [c.plain for c in r] for r in table_rows(res)}
    assert rows["A"][4].endswith("?") and rows["A"][5] == "not placed yet"
    assert rows["B"][5].startswith("[")
    chart = draw_interval_chart(res["models"], 80).plain
    a_line = next(line for line in chart.splitlines() if line.startswith("A "))
    assert "not placed yet" in a_line and "●" not in a_line
    axis = chart.splitlines()[-1].split()
    assert float(axis[-1]) < 1500  # A's placeholder rating does not stretch the axis
    a = _by_model(res)["A"]
    assert "not settled yet" in describe_move("A", None, a)
    assert "not settled yet" in describe_move("A", None, {**a, "provisional": False})  # ci [None, None]
    one = compute_leaderboard(_table(["x"], ["y"], ["model_a"]), rounds=5)
    assert "No model is placed yet" in draw_interval_chart(one["models"], 80).plain


def test_position_bias_gives_no_adjusted_figure_while_the_models_are_not_placed():
    from scoring.stats import position_bias

    one_vote = BattleTable.from_records(["x"], ["y"], ["model_a"])
    bias = position_bias(one_vote)
    assert bias["decisive_battles"] == 1
    assert bias["adjusted_log_odds"] is None and bias["adjusted_ci"] is None
    placed = BattleTable.from_records(["x", "y", "x", "y"], ["y", "x", "y", "x"],
                                      ["model_a", "model_a", "model_b", "tie"])
    assert position_bias(placed)["adjusted_log_odds"] is not None
