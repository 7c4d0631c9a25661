"""Leaderboard results (typed, and their JSON shape), position bias, matrices and text rendering."""

import dataclasses
import json

import numpy as np
import pytest

from scoring.battles_table import BattleTable
from scoring.leaderboard import compute_leaderboard, describe_style_coefficient
from scoring.results import Leaderboard, ModelRating, PairwiseMatrices
from scoring.simulate import BASE, TWIN, simulate_arena
from scoring.stats import pairwise_matrices, position_bias, wilson_interval
from tui.leaderboard_text import render_leaderboard, render_matrices, render_simulation

# The JSON shape of ``blindside leaderboard --json`` (keys in order), as it was when the
# results became typed; scripts read it, so it only ever grows.
TOP_KEYS = ["method", "ci", "rounds", "seed", "anchor", "battles_used", "style_control", "style_convention",
            "style_battles_used",
            "battles_excluded", "models", "style_coefficients", "position_bias", "notes",
            "families"]  # variant families (issue 14): added at the end, on purpose
MODEL_KEYS = ["model", "battles", "wins", "losses", "ties", "both_bad", "win_rate", "rating", "ci", "rank",
              "provisional", "style_controlled", "family"]  # "family" (issue 14): null outside a family
STYLE_KEYS = ["rating", "ci", "rank", "rank_shift", "provisional"]
COEFFICIENT_KEYS = ["log_odds_per_sd", "ci", "odds_ratio", "sd_of_ratio", "constant"]
BIAS_KEYS = ["left_win_rate", "ci", "left_wins", "decisive_battles", "adjusted_log_odds", "adjusted_ci"]
EXCLUDED_KEYS = ["error", "identity_leak", "unvoted", "missing_style"]
MATRIX_KEYS = ["models", "battles", "wins", "ties", "win_rate"]


@pytest.fixture(scope="module")
def sim():
    return simulate_arena(12_000, seed=8)


@pytest.fixture(scope="module")
def result(sim):
    return compute_leaderboard(sim.table(), ci="bootstrap", rounds=50, seed=3)


def test_result_is_typed_and_frozen(result):
    assert isinstance(result, Leaderboard) and all(isinstance(m, ModelRating) for m in result.models)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.method = "elo"
    assert result.method == "bt" and result.ci == "bootstrap" and result.rounds == 50
    assert list(result.battles_excluded) == EXCLUDED_KEYS and result.battles_excluded.total == 0
    ratings = [m.rating for m in result.models]
    assert ratings == sorted(ratings, reverse=True)
    assert result.model(TWIN).model == TWIN and result.model("nobody") is None


def test_json_keeps_the_documented_shape(result, sim):
    data = json.loads(json.dumps(result.to_json()))
    assert list(data) == TOP_KEYS
    assert list(data["battles_excluded"]) == EXCLUDED_KEYS
    assert list(data["position_bias"]) == BIAS_KEYS
    for row in data["models"]:
        assert list(row) == MODEL_KEYS
        assert list(row["style_controlled"]) == STYLE_KEYS
        assert len(row["ci"]) == 2 and len(row["style_controlled"]["ci"]) == 2
    for c in data["style_coefficients"].values():
        assert list(c) == COEFFICIENT_KEYS and len(c["ci"]) == 2
    assert data["rounds"] == 50 and data["anchor"] is None and data["style_control"] is True
    # the numbers are the typed ones
    assert [r["rating"] for r in data["models"]] == [m.rating for m in result.models]
    assert data["models"][0]["ci"] == list(result.models[0].ci)

    ts = compute_leaderboard(sim.table(), method="trueskill", style_control=False, anchor=(BASE, 30.0),
                             matrices=True).to_json()
    assert list(ts) == TOP_KEYS + ["matrices"] and list(ts["matrices"]) == MATRIX_KEYS
    assert list(ts["models"][0]) == MODEL_KEYS + ["mu", "sigma", "conservative"]
    assert ts["models"][0]["style_controlled"] is None and ts["style_coefficients"] is None
    assert ts["anchor"] == {"model": BASE, "rating": 30.0} and ts["rounds"] is None
    assert ts["ci"] == "trueskill_3sigma"


def test_exclusions_are_a_mapping_that_takes_new_reasons():
    t = BattleTable.from_records(["a"], ["b"], ["tie"])
    res = compute_leaderboard(t, ci="sandwich", excluded={"error": 2, "self_battle": 3})
    assert dict(res.battles_excluded) == {"error": 2, "identity_leak": 0, "unvoted": 0, "missing_style": 1,
                                          "self_battle": 3}
    assert res.battles_excluded["self_battle"] == 3 and res.battles_excluded.total == 6
    assert list(res.to_json()["battles_excluded"]) == EXCLUDED_KEYS + ["self_battle"]
    assert "self battle 3" in render_leaderboard(res)


def test_counts_add_up(sim, result):
    total = sum(m.battles for m in result.models)
    assert total == 2 * sim.n
    for m in result.models:
        assert m.wins + m.losses + m.ties == m.battles
        assert m.win_rate == pytest.approx(m.wins / (m.wins + m.losses))
    assert sum(m.wins for m in result.models) == sum(m.losses for m in result.models)


def test_pairwise_matrices():
    t = BattleTable.from_records(["a", "a", "b", "c"], ["b", "b", "a", "a"], ["model_a", "tie", "model_a", "model_b"])
    mats = pairwise_matrices(t)
    assert mats["models"] == ["a", "b", "c"]
    assert mats["battles"] == [[0, 3, 1], [3, 0, 0], [1, 0, 0]]
    assert mats["wins"] == [[0, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert mats["ties"][0][1] == 1
    assert mats["win_rate"][0][1] == 0.5 and mats["win_rate"][0][2] == 1.0 and mats["win_rate"][1][2] is None
    res = compute_leaderboard(t, ci="sandwich", style_control=False, matrices=True)
    assert isinstance(res.matrices, PairwiseMatrices)
    assert res.to_json()["matrices"] == mats
    assert compute_leaderboard(t, ci="sandwich", style_control=False).matrices is None


def test_render_matrices_shows_win_rates_and_counts():
    t = BattleTable.from_records(["a", "a", "b", "c"], ["b", "b", "a", "a"], ["model_a", "tie", "model_a", "model_b"])
    text = render_matrices(compute_leaderboard(t, ci="sandwich", style_control=False, matrices=True).matrices)
    win_part, count_part = text.split("Battles between")
    rows = {line.split()[1]: line.split()[2:] for line in win_part.splitlines() if line.split()[:1] and line.split()[0].isdigit()}
    assert rows == {"a": ["–", "50%", "100%"], "b": ["50%", "–", "–"], "c": ["0%", "–", "–"]}
    counts = {line.split()[1]: line.split()[2:] for line in count_part.splitlines() if line.split()[:1] and line.split()[0].isdigit()}
    assert counts == {"a": ["–", "3", "1"], "b": ["3", "–", "0"], "c": ["1", "0", "–"]}


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
    assert res.models == () and res.battles_used == 0
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
    return {m.model: m for m in res.models}


@pytest.mark.parametrize("ci", ["bootstrap", "sandwich"])
def test_one_decisive_vote_places_nobody(ci):
    res = compute_leaderboard(_table(["smollm2"], ["smollm2-chatty"], ["model_a"]), ci=ci, rounds=20)
    assert [m["ci"] for m in json.loads(json.dumps(res.to_json()))["models"]] == [[None, None]] * 2
    rows = _by_model(res)
    for m in rows.values():
        assert m.provisional is True
        assert m.ci is None
        assert m.rank == 1
    assert rows["smollm2"].rating > rows["smollm2-chatty"].rating  # the point estimate is kept
    note = next(n for n in res.notes if "cannot place" in n)
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
    assert rows["A"].provisional and rows["A"].ci is None and rows["A"].rank == 1
    for name in ("B", "C"):
        m = rows[name]
        assert m.provisional is False
        lo, hi = m.ci
        assert np.isfinite(lo) and np.isfinite(hi) and lo < m.rating < hi
        assert hi - lo < 400  # the placeholder rating of A neither shifts nor widens them
        assert m.rank == 1  # A's open interval pushes nobody down
    # centred on the placed models
    assert (rows["B"].rating + rows["C"].rating) / 2 == pytest.approx(1000.0)
    assert rows["B"].rating > rows["C"].rating
    assert sum("cannot place 1 of 3 models" in n and "(A)" in n for n in res.notes) == 1


def test_a_model_that_only_loses_is_provisional_too():
    a, b, w = _chain()
    w = [{"model_a": "model_b", "model_b": "model_a"}.get(x, x) if ai == "A" else x for ai, x in zip(a, w)]
    rows = _by_model(compute_leaderboard(_table(a, b, w), rounds=20))
    assert rows["A"].provisional and not rows["B"].provisional and not rows["C"].provisional
    assert rows["A"].rating < rows["C"].rating


def test_style_controlled_entry_of_a_provisional_model_is_marked():
    a, b, w = _chain()
    rng = np.random.default_rng(0)
    fa = rng.integers(1, 100, (len(a), 5)).astype(float)
    fb = rng.integers(1, 100, (len(a), 5)).astype(float)
    res = compute_leaderboard(_table(a, b, w, features_a=fa, features_b=fb), rounds=20)
    rows = _by_model(res)
    assert rows["A"].style_controlled.provisional is True
    assert all(v is not None for v in rows["A"].style_controlled.ci)  # the penalised fit is finite
    assert rows["B"].style_controlled.provisional is False


@pytest.mark.parametrize("outcome", ["tie", "both_bad"])
@pytest.mark.parametrize("ci", ["bootstrap", "sandwich"])
def test_a_tie_connects_both_ways_and_few_battles_widen_the_interval(outcome, ci):
    res = compute_leaderboard(_table(["x"], ["y"], [outcome]), ci=ci, rounds=20)
    assert not any("cannot place" in n for n in res.notes)
    for m in res.models:
        assert m.provisional is False
        lo, hi = m.ci
        assert m.rating == pytest.approx(1000.0)
        # bootstrap and sandwich are both [1000, 1000] here; the model-based floor is not
        assert hi - lo > 400
    assert any("fewer than 5 battles" in n for n in res.notes)


def test_bootstrap_of_few_battles_is_at_least_the_sandwich_interval():
    a, b, w = ["x", "x", "y"], ["y", "y", "x"], ["model_a", "model_b", "model_a"]  # x 2-1 y
    boot = _by_model(compute_leaderboard(_table(a, b, w), rounds=50))
    sand = _by_model(compute_leaderboard(_table(a, b, w), ci="sandwich"))
    for name in ("x", "y"):
        assert boot[name].ci[0] <= sand[name].ci[0] + 1e-6
        assert boot[name].ci[1] >= sand[name].ci[1] - 1e-6


def test_anchor_on_a_provisional_model_is_not_applied_to_the_raw_board():
    res = compute_leaderboard(_table(*_chain()), rounds=10, anchor=("A", 1500.0), style_control=False)
    rows = _by_model(res)
    assert (rows["B"].rating + rows["C"].rating) / 2 == pytest.approx(1000.0)
    assert any("anchor model 'A' is provisional" in n for n in res.notes)


def test_enough_votes_leave_nobody_provisional(result, sim):
    assert not any(m.provisional for m in result.models)
    assert not any(m.style_controlled.provisional for m in result.models)
    assert all(m.ci is not None for m in result.models)
    assert not any("cannot place" in n for n in result.notes)
    for method in ("elo", "trueskill"):
        res = compute_leaderboard(sim.table(), method=method, rounds=5, style_control=False)
        assert not any(m.provisional for m in res.models)


def test_a_model_the_votes_cannot_place_shows_a_dash_and_why_never_a_number():
    import re

    res = compute_leaderboard(_table(["smollm2"], ["smollm2-chatty"], ["model_a"]), rounds=20)
    text = render_leaderboard(res)
    table_lines = [line for line in text.splitlines() if "smollm2" in line and "%" in line]
    assert len(table_lines) == 2
    won, lost = table_lines
    assert "not placed yet (only won so far)" in won and "not placed yet (only lost so far)" in lost
    for line in table_lines:
        assert "[" not in line and "?" not in line
        rating = line.split()[4]
        assert rating == "–"
    placeholder = f"{res.model('smollm2').rating:.0f}"
    assert placeholder not in text  # the placeholder rating is never printed
    assert not re.search(r"-?\d{4}\?", text)
    assert "the votes cannot place this model yet" in text


def test_screens_and_chart_handle_a_model_the_votes_cannot_place():
    from tui.screens.battle import describe_move
    from tui.screens.leaderboard import table_rows
    from tui.widgets.rating_chart import draw_interval_chart

    res = compute_leaderboard(_table(*_chain()), rounds=20, style_control=False)
    rows = {r[1].plain: [c.plain for c in r] for r in table_rows(res)}
    assert rows["A"][4] == "–" and rows["A"][5] == "not placed yet (only won so far)"
    assert rows["B"][5].startswith("[") and rows["B"][4].isdigit()
    text = render_leaderboard(res)
    a_text = next(line for line in text.splitlines() if line.split()[1:2] == ["A"])
    assert a_text.split()[4:] == rows["A"][4].split() + rows["A"][5].split()  # the CLI and the screen agree
    chart = draw_interval_chart(res.models, 80).plain
    a_line = next(line for line in chart.splitlines() if line.startswith("A "))
    assert "not placed yet" in a_line and "●" not in a_line
    axis = chart.splitlines()[-1].split()
    assert float(axis[-1]) < 1500  # A's placeholder rating does not stretch the axis
    a = _by_model(res)["A"]
    assert "not settled yet" in describe_move("A", None, a)
    assert "not settled yet" in describe_move("A", None, dataclasses.replace(a, provisional=False))  # ci None
    one = compute_leaderboard(_table(["x"], ["y"], ["model_a"]), rounds=5)
    assert "No model is placed yet" in draw_interval_chart(one.models, 80).plain


def test_constant_style_features_are_not_given_a_coefficient_on_screen_or_in_text():
    from tui.screens.leaderboard import summary_text

    a, b, w = _chain()
    rng = np.random.default_rng(0)
    fa = rng.integers(1, 100, (len(a), 5)).astype(float)
    fb = rng.integers(1, 100, (len(a), 5)).astype(float)
    fa[:, 1] = fb[:, 1] = 0.0  # emoji never used
    res = compute_leaderboard(_table(a, b, w, features_a=fa, features_b=fb), rounds=20)
    assert res.style_coefficients["emoji"].constant
    for text in (render_leaderboard(res), summary_text(res).plain):
        emoji = next(line for line in text.splitlines() if line.strip().startswith("emoji"))
        assert "not estimable" in emoji and "log-odds" not in emoji and "+0.00" not in emoji
        length = next(line for line in text.splitlines() if line.strip().startswith("length"))
        assert "a one-SD longer answer" in length


def test_method_names_are_the_same_in_text_and_on_screen(sim):
    from tui.screens.leaderboard import METHODS

    res = compute_leaderboard(sim.table(), method="elo", rounds=5, style_control=False)
    assert render_leaderboard(res).startswith("Leaderboard: online Elo,")
    assert ("online Elo", "elo") in METHODS


def test_position_bias_gives_no_adjusted_figure_while_the_models_are_not_placed():
    from scoring.stats import position_bias

    one_vote = BattleTable.from_records(["x"], ["y"], ["model_a"])
    bias = position_bias(one_vote)
    assert bias["decisive_battles"] == 1
    assert bias["adjusted_log_odds"] is None and bias["adjusted_ci"] is None
    placed = BattleTable.from_records(["x", "y", "x", "y"], ["y", "x", "y", "x"],
                                      ["model_a", "model_a", "model_b", "tie"])
    assert position_bias(placed)["adjusted_log_odds"] is not None


def _partition(labels) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for node, label in enumerate(np.asarray(labels).tolist()):
        groups.setdefault(label, set()).add(node)
    return {frozenset(g) for g in groups.values()}


def test_strong_components_match_scipy_on_random_graphs():
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from scoring.graph import strong_components

    rng = np.random.default_rng(4)
    for _ in range(300):
        n = int(rng.integers(1, 30))
        m = int(rng.integers(0, 3 * n))
        src, dst = rng.integers(0, n, m), rng.integers(0, n, m)
        graph = coo_matrix((np.ones(m), (src, dst)), shape=(n, n)).tocsr()
        expected = connected_components(graph, directed=True, connection="strong")[1]
        assert _partition(strong_components(n, src, dst)) == _partition(expected)
    chain = np.arange(5_000)  # a long cycle: no recursion limit
    assert _partition(strong_components(5_000, chain, (chain + 1) % 5_000)) == {frozenset(range(5_000))}


def test_a_leaderboard_fit_loads_no_scipy():
    import subprocess
    import sys

    code = ("import sys; from scoring.simulate import simulate_arena; from scoring.leaderboard import "
            "compute_leaderboard; compute_leaderboard(simulate_arena(2_000, seed=1).table(), ci='sandwich'); "
            "compute_leaderboard(simulate_arena(500, seed=1).table(), rounds=5); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
