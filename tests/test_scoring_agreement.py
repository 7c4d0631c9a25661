"""Agreement between voters: hand-computed cases, Fleiss' kappa's textbook example, edge cases."""

import json
import math

import numpy as np
import pytest

from scoring.agreement import BattleVote, agreement_summary, fleiss_kappa, group_agreement, voter_pair_agreement


def votes(*rows):
    return [BattleVote(battle, voter, winner) for battle, voter, winner in rows]


# Wikipedia's worked example of Fleiss' kappa: 10 items, 14 raters, 5 categories
WIKIPEDIA = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example():
    # sums of squared counts per item: 196 60 70 94 74 98 58 46 66 66 = 828
    # P-bar = (828 - 10 * 14) / (10 * 14 * 13) = 0.378 and P_e = 0.2128 as on Wikipedia
    p_bar = (828 - 140) / 1820
    p_j = np.array([20, 28, 39, 21, 32]) / 140
    expected = (p_bar - p_j @ p_j) / (1 - p_j @ p_j)
    assert fleiss_kappa(WIKIPEDIA) == pytest.approx(expected, abs=1e-12)
    assert round(fleiss_kappa(WIKIPEDIA), 3) == 0.210


def test_fleiss_kappa_with_varying_votes_per_battle_by_hand():
    # b1: A A B, b2: A tie, b3: tie both_bad, b4: B alone (left out)
    v = votes(
        ("b1", "u", "model_a"), ("b1", "v", "model_a"), ("b1", "w", "model_b"),
        ("b2", "u", "model_a"), ("b2", "v", "tie"),
        ("b3", "u", "tie"), ("b3", "v", "both_bad"),
        ("b4", "u", "model_b"),
    )
    s = agreement_summary(v)
    assert s["battles_with_multiple_votes"] == 3
    assert s["vote_pairs"] == 5
    assert s["pairwise_agreement"] == pytest.approx(2 / 5)  # AA in b1, tie/both_bad in b3
    assert s["pairwise_agreement_without_ties"] == pytest.approx(1 / 3)  # only b1's three pairs
    # p_a = (1/3 + 0 + 1) / 3 = 4/9; pi = (7, 2, 9) / 18; p_e = 134/324; kappa = 10/190
    assert s["fleiss_kappa"] == pytest.approx(1 / 19)


def test_two_votes_per_battle_fleiss_is_scotts_pi():
    rng = np.random.default_rng(0)
    cats = rng.integers(0, 3, size=(40, 2))
    counts = np.array([np.bincount(c, minlength=3) for c in cats])
    p_o = np.mean(cats[:, 0] == cats[:, 1])
    share = np.bincount(cats.ravel(), minlength=3) / cats.size
    assert fleiss_kappa(counts) == pytest.approx((p_o - share @ share) / (1 - share @ share))


def test_voter_pairs_by_hand():
    v = votes(
        ("b1", "u", "model_a"), ("b1", "v", "model_a"), ("b1", "w", "model_b"),
        ("b2", "u", "tie"), ("b2", "v", "model_a"),
        ("b3", "u", "model_b"), ("b3", "v", "model_b"),
        ("b4", "w", "model_a"),
        ("b9", "x", "model_a"),  # x shares no battle with anyone
    )
    pairs = {(p["a"], p["b"]): p for p in voter_pair_agreement(v)}
    assert sorted(pairs) == [("u", "v"), ("u", "w"), ("v", "w")]
    uv = pairs[("u", "v")]
    assert uv["battles"] == 3
    assert uv["agreement"] == pytest.approx(2 / 3)
    assert uv["agreement_without_ties"] == 1.0  # b2 dropped: u voted tie
    # p_o = 2/3, p_e = (1*2 + 1*1 + 1*0) / 9 = 1/3
    assert uv["cohen_kappa"] == pytest.approx(0.5)
    uw = pairs[("u", "w")]
    assert (uw["battles"], uw["agreement"], uw["agreement_without_ties"], uw["cohen_kappa"]) == (1, 0.0, 0.0, 0.0)


def test_cohen_kappa_wikipedia_example():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    rows = [("model_a", "model_a")] * 20 + [("model_a", "model_b")] * 5
    rows += [("model_b", "model_a")] * 10 + [("model_b", "model_b")] * 15
    v = [BattleVote(i, "r1", x) for i, (x, _) in enumerate(rows)]
    v += [BattleVote(i, "r2", y) for i, (_, y) in enumerate(rows)]
    (pair,) = voter_pair_agreement(v)
    assert pair["agreement"] == pytest.approx(0.7)
    assert pair["cohen_kappa"] == pytest.approx(0.4)


def test_one_voter_against_the_pooled_humans():
    v = votes(
        ("b1", "u", "model_a"), ("b1", "v", "model_a"), ("b1", "w", "model_b"),
        ("b2", "u", "tie"), ("b2", "v", "model_a"),
        ("b1", "judge:x", "model_a"), ("b2", "judge:x", "model_b"), ("b5", "judge:x", "model_a"),
    )
    g = group_agreement(v, "judge:x", ["u", "v", "w"])
    assert (g["a"], g["b"], g["battles"], g["pairs"]) == ("judge:x", "humans", 2, 5)
    assert g["agreement"] == pytest.approx(2 / 5)
    assert g["agreement_without_ties"] == pytest.approx(2 / 4)
    # judge A:3 B:2, humans A:3 B:1 tie:1 -> p_e = 11/25, p_o = 10/25
    assert g["cohen_kappa"] == pytest.approx(-1 / 14)
    # the voter is never compared with itself, even when listed in the group
    assert group_agreement(v, "u", ["u", "v"])["pairs"] == 2


def test_edge_cases_give_none_not_nan():
    empty = agreement_summary([])
    assert empty == {
        "battles_with_multiple_votes": 0,
        "vote_pairs": 0,
        "pairwise_agreement": None,
        "pairwise_agreement_without_ties": None,
        "fleiss_kappa": None,
    }
    single = agreement_summary(votes(("b1", "u", "model_a"), ("b2", "v", "model_a")))
    assert single["battles_with_multiple_votes"] == 0 and single["fleiss_kappa"] is None
    # everyone always votes model_a: perfect agreement, kappa undefined
    same = votes(*[(f"b{i}", who, "model_a") for i in range(5) for who in ("u", "v", "w")])
    s = agreement_summary(same)
    assert s["pairwise_agreement"] == 1.0 and s["fleiss_kappa"] is None
    (pair, *_) = voter_pair_agreement(same)
    assert pair["agreement"] == 1.0 and pair["cohen_kappa"] is None
    only_ties = agreement_summary(votes(("b1", "u", "tie"), ("b1", "v", "model_a")))
    assert only_ties["pairwise_agreement_without_ties"] is None
    assert voter_pair_agreement(votes(("b1", "u", "model_a"), ("b2", "v", "model_a"))) == []
    assert group_agreement(same, "nobody", ["u"])["agreement"] is None
    for result in (empty, s, pair, only_ties):
        json.dumps(result, allow_nan=False)
        assert not any(isinstance(x, float) and math.isnan(x) for x in result.values())


def test_bad_input():
    with pytest.raises(ValueError, match="more than once"):
        agreement_summary(votes(("b1", "u", "model_a"), ("b1", "u", "model_b")))
    with pytest.raises(ValueError, match="unknown winner"):
        agreement_summary(votes(("b1", "u", "left")))
