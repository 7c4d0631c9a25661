"""Plain Bradley-Terry: hand-checked cases, invariances, intervals, real votes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import bt
from scoring.battles_table import BattleTable
from scoring.leaderboard import compute_leaderboard as compute_board
from scoring.simulate import simulate_arena
from tests.scoring_helpers import (
    LLAMA_EXPERIMENTAL,
    LLAMA_RELEASED,
    board,
    half_width,
    independent_bt_fit,
    real_votes,
)


def compute_leaderboard(table, **kw) -> dict:
    """The leaderboard in its JSON form (``blindside leaderboard --json``): the numbers users read."""
    return compute_board(table, **kw).to_json()


def table(pairs):
    """[(model_a, model_b, winner, count), ...] -> BattleTable."""
    a, b, w = [], [], []
    for ma, mb, win, count in pairs:
        a += [ma] * count
        b += [mb] * count
        w += [win] * count
    return BattleTable.from_records(a, b, w)


def ratings(t, **kw):
    kw.setdefault("ci", "sandwich")
    kw.setdefault("style_control", False)
    return {r["model"]: r["rating"] for r in compute_leaderboard(t, **kw)["models"]}


# ---------------------------------------------------------------- by hand


def test_three_wins_to_one_gives_400_log10_3():
    r = ratings(table([("A", "B", "model_a", 3), ("B", "A", "model_a", 1)]))
    assert r["A"] - r["B"] == pytest.approx(400 * math.log10(3), abs=1e-3)
    # mean-zero convention: centred on 1000
    assert r["A"] + r["B"] == pytest.approx(2000, abs=1e-6)


def test_ties_and_both_bad_are_half_a_win():
    # 1 win + 2 ties = a score of 2 out of 3: odds 2
    r1 = ratings(table([("A", "B", "model_a", 1), ("A", "B", "tie", 2)]))
    r2 = ratings(table([("A", "B", "model_a", 1), ("B", "A", "both_bad", 2)]))
    assert r1["A"] - r1["B"] == pytest.approx(400 * math.log10(2), abs=1e-3)
    assert r2["A"] - r2["B"] == pytest.approx(400 * math.log10(2), abs=1e-3)


def test_chain_without_direct_battles_is_exact_on_each_edge():
    r = ratings(table([("A", "B", "model_a", 2), ("A", "B", "model_b", 1), ("C", "B", "model_b", 2), ("C", "B", "model_a", 1)]))
    assert r["A"] - r["B"] == pytest.approx(400 * math.log10(2), abs=1e-3)
    assert r["B"] - r["C"] == pytest.approx(400 * math.log10(2), abs=1e-3)
    assert r["A"] - r["C"] == pytest.approx(800 * math.log10(2), abs=1e-3)


def test_plain_fit_penalty_is_negligible():
    """The only penalty is a 1e-6 ridge: no visible shrinkage even on 4 battles
    (a 0.25 L2 penalty like the style fit's would pull 190.85 down to ~180)."""
    cells = bt.pair_cells(np.array([0, 0, 0, 1]), np.array([1, 1, 1, 0]), np.array([1.0, 1, 1, 1]), 2)
    theta = bt.fit_plain_batched(cells)[0]
    assert 400 * (theta[0] - theta[1]) == pytest.approx(400 * math.log10(3), abs=1e-3)
    shrunk = bt.fit_plain_batched(cells, ridge=0.25)[0]
    assert 400 * (shrunk[0] - shrunk[1]) < 400 * math.log10(3) - 5


def test_unbeaten_model_gets_a_large_finite_rating():
    r = ratings(table([("A", "B", "model_a", 5), ("B", "C", "tie", 4)]))
    assert all(math.isfinite(v) for v in r.values())
    assert r["A"] - r["B"] > 1000


def test_two_model_sandwich_matches_binomial_variance():
    # 30 wins, 10 losses: var(log-odds) = 1 / (n p (1 - p)); each rating carries half the difference
    res = compute_leaderboard(table([("A", "B", "model_a", 30), ("A", "B", "model_b", 10)]), ci="sandwich", style_control=False)
    se_diff = 400 / math.log(10) / math.sqrt(40 * 0.75 * 0.25)
    for row in res["models"]:
        assert half_width(row["ci"]) == pytest.approx(1.959964 * se_diff / 2, rel=1e-6)


def test_sandwich_is_robust_to_ties_by_hand():
    """With ties the per-battle score variance is below p(1-p): the sandwich
    G / H^2 is narrower than the model-based 1 / H (here by sqrt 2)."""
    t = table([("A", "B", "model_a", 10), ("A", "B", "model_b", 10), ("B", "A", "tie", 20)])
    res = compute_leaderboard(t, ci="sandwich", style_control=False)
    h = 40 * 0.25  # n p (1 - p) at p = 0.5, per ln(10)^2
    g = 20 * 0.25  # sum (y - p)^2: the 20 decisive battles only
    se_diff = 400 / math.log(10) * math.sqrt(g) / h
    for row in res["models"]:
        assert row["rating"] == pytest.approx(1000.0, abs=1e-9)
        assert half_width(row["ci"]) == pytest.approx(1.959964 * se_diff / 2, rel=1e-6)
    # the contextual fit's sandwich (no features, no penalty) gives the same
    rows = bt.Rows(2, t.a, t.b, t.outcome, np.zeros((0, t.n)))
    theta, _ = bt.fit_contextual(rows, reg=0.0)
    cov = bt.contextual_sandwich_cov(rows, theta, reg=0.0)
    assert 400 * math.sqrt(cov[0, 0]) == pytest.approx(se_diff / 2, rel=1e-6)


def test_rank_rule():
    lo = np.array([10.0, 8.0, 1.0, 0.0])
    hi = np.array([12.0, 11.0, 9.0, 0.5])
    # model 2: only model 0 (lo 10 > 9) is clearly above; model 3: all three are
    assert bt.rank_from_intervals(lo, hi).tolist() == [1, 1, 2, 4]


# ------------------------------------------------------------ invariances


def _random_table(seed, n, k):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    labels = np.array(["model_a", "model_b", "tie", "both_bad"])
    w = labels[rng.choice(4, n, p=[0.4, 0.35, 0.15, 0.1])]
    names = [f"m{i}" for i in range(k)]
    return BattleTable.from_records([names[i] for i in a], [names[i] for i in b], w.tolist())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(30, 300), k=st.integers(2, 6))
def test_swapping_sides_and_flipping_winners_changes_nothing(seed, n, k):
    t = _random_table(seed, n, k)
    for ci in ("sandwich", "bootstrap"):
        r1 = compute_leaderboard(t, ci=ci, rounds=20, style_control=False)
        r2 = compute_leaderboard(t.swapped(), ci=ci, rounds=20, style_control=False)
        b1, b2 = board(r1), board(r2)
        for m, row in b1.items():
            assert row["rating"] == pytest.approx(b2[m]["rating"], abs=1e-6)
            assert row["ci"] == pytest.approx(b2[m]["ci"], abs=1e-6)
            assert row["rank"] == b2[m]["rank"]


def test_row_order_does_not_matter():
    t = _random_table(3, 500, 5)
    perm = np.random.default_rng(1).permutation(t.n)
    r1 = ratings(t)
    r2 = ratings(t.subset(perm))
    for m in r1:
        assert r1[m] == pytest.approx(r2[m], abs=1e-9)


def test_anchor_shifts_everything_by_one_constant():
    t = _random_table(4, 800, 5)
    plain = board(compute_leaderboard(t, ci="sandwich", style_control=False))
    anch = compute_leaderboard(t, ci="sandwich", style_control=False, anchor=("m2", 1250.0))
    rows = board(anch)
    assert rows["m2"]["rating"] == pytest.approx(1250.0)
    shift = 1250.0 - plain["m2"]["rating"]
    for m, row in rows.items():
        assert row["rating"] == pytest.approx(plain[m]["rating"] + shift)
        assert row["ci"] == pytest.approx([plain[m]["ci"][0] + shift, plain[m]["ci"][1] + shift])
        assert row["rank"] == plain[m]["rank"]
    assert anch["anchor"] == {"model": "m2", "rating": 1250.0}
    missing = compute_leaderboard(t, ci="sandwich", style_control=False, anchor=("nope", 1.0))
    assert missing["anchor"] is None and any("nope" in n for n in missing["notes"])


# ---------------------------------------------------------- bootstrap math


def test_batched_bootstrap_equals_one_fit_per_round():
    t = _random_table(5, 2000, 6)
    cells = bt.pair_cells(t.a, t.b, t.outcome, 6)
    counts = bt.plain_bootstrap_counts(cells, 5, np.random.default_rng(0))
    batched = bt.fit_plain_batched(cells, counts)
    for r in range(5):
        single = bt.fit_plain_batched(cells, counts[r : r + 1])[0]
        np.testing.assert_allclose(batched[r], single, atol=1e-9)


def test_bootstrap_is_reproducible_and_seeded():
    t = _random_table(6, 1500, 5)
    r1 = compute_leaderboard(t, rounds=30, seed=7, style_control=False)
    r2 = compute_leaderboard(t, rounds=30, seed=7, style_control=False)
    r3 = compute_leaderboard(t, rounds=30, seed=8, style_control=False)
    assert r1 == r2
    assert [m["ci"] for m in r1["models"]] != [m["ci"] for m in r3["models"]]


def test_known_strengths_recovered_within_intervals():
    # no style preference: the raw board must recover the truth
    sim = simulate_arena(30_000, seed=11, style_weights={})
    t = sim.table()
    for ci in ("bootstrap", "sandwich"):
        rows = board(compute_leaderboard(t, ci=ci, style_control=False))
        covered = 0
        for m, true in sim.true_ratings.items():
            lo, hi = rows[m]["ci"]
            covered += lo <= true <= hi
            assert abs(rows[m]["rating"] - true) < 2.0 * half_width(rows[m]["ci"]), (ci, m)
        assert covered >= 10, (ci, covered)


def test_sandwich_and_bootstrap_widths_agree():
    t = simulate_arena(20_000, seed=12, style_weights={}).table()
    boot = board(compute_leaderboard(t, ci="bootstrap", rounds=200, style_control=False))
    sand = board(compute_leaderboard(t, ci="sandwich", style_control=False))
    for m in boot:
        assert half_width(boot[m]["ci"]) == pytest.approx(half_width(sand[m]["ci"]), rel=0.3)


# -------------------------------------------------------------- real votes


@pytest.fixture(scope="module")
def real_table():
    a, b, w = real_votes()
    return BattleTable.from_records(a, b, w)


def test_real_votes_match_an_independent_per_battle_fit(real_table):
    a, b, w = real_votes()
    assert len(w) == 135_634 and len(real_table.models) == 53
    ours = ratings(real_table)
    theirs = independent_bt_fit(a, b, w)
    assert set(ours) == set(theirs)
    worst = max(abs(ours[m] - theirs[m]) for m in ours)
    assert worst < 0.5, worst


def test_real_votes_fit_solves_the_score_equations(real_table):
    """At the MLE every model's expected score equals its actual score."""
    t = real_table
    K = len(t.models)
    theta = bt.fit_plain_batched(bt.pair_cells(t.a, t.b, t.outcome, K))[0]
    p = 1 / (1 + 10 ** (theta[t.b] - theta[t.a]))
    resid = t.outcome - p
    per_model = np.bincount(t.a, resid, K) - np.bincount(t.b, resid, K)
    battles = np.bincount(t.a, minlength=K) + np.bincount(t.b, minlength=K)
    assert np.max(np.abs(per_model) / battles) < 1e-6


def test_llama4_experimental_far_above_released(real_table):
    res = compute_leaderboard(real_table, ci="sandwich", style_control=True)
    rows = board(res)
    gap = rows[LLAMA_EXPERIMENTAL]["rating"] - rows[LLAMA_RELEASED]["rating"]
    assert gap > 100, gap
    assert rows[LLAMA_EXPERIMENTAL]["ci"][0] > rows[LLAMA_RELEASED]["ci"][1]
    # the file has no style features: style control is absent and counted
    assert res["style_coefficients"] is None
    assert rows[LLAMA_EXPERIMENTAL]["style_controlled"] is None
    assert res["battles_excluded"]["missing_style"] == real_table.n


def test_real_votes_bootstrap_and_sandwich_agree(real_table):
    boot = board(compute_leaderboard(real_table, ci="bootstrap", style_control=False))
    sand = board(compute_leaderboard(real_table, ci="sandwich", style_control=False))
    for m in boot:
        assert boot[m]["rating"] == sand[m]["rating"]
        if boot[m]["battles"] > 1000:
            assert half_width(boot[m]["ci"]) == pytest.approx(half_width(sand[m]["ci"]), rel=0.35), m
