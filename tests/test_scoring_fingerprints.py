"""Voter fingerprints: exact intervals, hand-counted cases, a known length preference recovered."""

import json

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import binomtest

from scoring.fingerprints import ShownVote, fingerprints, proportion, room_fingerprint, voter_fingerprint
from scoring.stats import clopper_pearson

TWINS = {"smollm2": ("smollm2", None), "smollm2-chatty": ("smollm2", "chatty"), "qwen": ("qwen", None)}


def feats(length, emoji=0, header=0, lst=0, bold=0):
    return (length, emoji, header, lst, bold)


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (17, 50), (1, 30), (250, 1000)])
def test_clopper_pearson_is_scipys_exact_interval(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    lo, hi = clopper_pearson(k, n)
    assert lo == pytest.approx(ci.low, abs=1e-10)
    assert hi == pytest.approx(ci.high, abs=1e-10)


def test_no_trials_gives_none_not_nan():
    assert clopper_pearson(0, 0) is None
    assert proportion(0, 0) == {"k": 0, "n": 0, "rate": None, "ci": None}
    with pytest.raises(ValueError):
        clopper_pearson(3, 2)


def test_hand_counted_fingerprint():
    votes = [
        # longer (left) chosen; left has more emoji; twin: treated (left) won
        ShownVote("ann", 1, "smollm2-chatty", "smollm2", "left", feats(300, 2), feats(100)),
        # shorter (right) chosen; same emoji; markdown: left 1+1+0=2 > right 0 -> less markdown chosen
        ShownVote("ann", 2, "qwen", "smollm2", "right", feats(300, 0, 1, 1), feats(100)),
        # tie: not decisive, counts nowhere but votes
        ShownVote("ann", 3, "qwen", "smollm2", "tie", feats(10), feats(500)),
        # lengths equal: not in longer_chosen; twin: treated (right) lost
        ShownVote("ann", 4, "smollm2", "smollm2-chatty", "left", feats(50, 0, 0, 0, 3), feats(50, 1)),
        # unknown features: in votes, decisive, position; nowhere else
        ShownVote("ann", 5, "qwen", "smollm2", "left"),
    ]
    fp = voter_fingerprint(votes, TWINS)
    assert (fp["voter"], fp["kind"], fp["votes"], fp["decisive"]) == ("ann", "human", 5, 4)
    assert fp["longer_chosen"]["k"] == 1 and fp["longer_chosen"]["n"] == 2
    assert fp["longer_chosen"]["rate"] == 0.5
    assert fp["longer_chosen"]["ci"] == pytest.approx(list(clopper_pearson(1, 2)))
    assert (fp["more_emoji_chosen"]["k"], fp["more_emoji_chosen"]["n"]) == (1, 2)  # vote 1 yes, vote 4 no
    assert (fp["more_markdown_chosen"]["k"], fp["more_markdown_chosen"]["n"]) == (1, 2)  # vote 2 no, vote 4 yes
    assert (fp["twin_pairs"]["k"], fp["twin_pairs"]["n"]) == (1, 2)
    assert fp["position_bias"]["first_shown_chosen"] == 0.75
    assert fp["position_bias"]["ci"] == pytest.approx(list(clopper_pearson(3, 4)))
    assert fp["style_coefficients"] is None
    json.dumps(fp, allow_nan=False)


def simulated_voter(name, length_effect, n, seed, tie_rate=0.1, kind="human"):
    """Votes where P(left) = expit(length_effect * ratio of lengths); models all equally good."""
    rng = np.random.default_rng(seed)
    models = ["m1", "m2", "m3"]
    votes = []
    for i in range(n):
        left, right = rng.choice(models, size=2, replace=False)
        fl = (float(rng.integers(20, 900)), *rng.integers(0, 4, size=4).astype(float))
        fr = (float(rng.integers(20, 900)), *rng.integers(0, 4, size=4).astype(float))
        ratio = (fl[0] - fr[0]) / (fl[0] + fr[0] + 1)
        if rng.random() < tie_rate:
            winner = "tie"
        else:
            winner = "left" if rng.random() < expit(length_effect * ratio) else "right"
        votes.append(ShownVote(name, f"{name}-{i}", str(left), str(right), winner, fl, fr, kind))
    return votes


def test_a_known_length_preference_is_recovered():
    biased = simulated_voter("bea", 2.0, 800, seed=1)
    neutral = simulated_voter("ned", 0.0, 800, seed=2)
    by_name = {fp["voter"]: fp for fp in fingerprints(biased + neutral)}
    bea, ned = by_name["bea"], by_name["ned"]
    length = bea["style_coefficients"]["length"]
    # the true coefficient per SD of the ratio is 2.0 * SD
    truth = 2.0 * length["sd_of_ratio"]
    assert length["ci"][0] < truth < length["ci"][1]
    assert length["ci"][0] > 0.3
    for f in ("emoji", "header", "list", "bold"):
        lo, hi = bea["style_coefficients"][f]["ci"]
        assert lo < 0 < hi, f
    lo, hi = ned["style_coefficients"]["length"]["ci"]
    assert lo < 0 < hi
    # both voters' coefficients are on the room's scale
    assert ned["style_coefficients"]["length"]["sd_of_ratio"] == length["sd_of_ratio"]
    assert bea["longer_chosen"]["ci"][0] > 0.55
    assert ned["longer_chosen"]["ci"][0] < 0.5 < ned["longer_chosen"]["ci"][1]
    # a voter with no position bias: the first shown is chosen about half the time
    assert bea["position_bias"]["ci"][0] < 0.5 < bea["position_bias"]["ci"][1]
    json.dumps(bea, allow_nan=False)


def test_style_coefficients_from_30_decisive_votes():
    votes = simulated_voter("cal", 1.0, 40, seed=3, tie_rate=0.0)
    assert voter_fingerprint(votes[:29])["style_coefficients"] is None
    thirty = voter_fingerprint(votes[:30])
    assert set(thirty["style_coefficients"]) == {"length", "emoji", "header", "list", "bold"}
    # ties do not count towards the 30
    ties = [ShownVote("cal", f"t{i}", "m1", "m2", "tie", feats(10), feats(20)) for i in range(5)]
    assert voter_fingerprint(votes[:29] + ties)["style_coefficients"] is None
    assert voter_fingerprint(votes[:10], min_style_votes=10)["style_coefficients"] is not None


def test_a_feature_that_never_varies_is_left_out():
    votes = [
        ShownVote("dee", i, "m1", "m2", "left" if i % 3 else "right", feats(100 + 50 * (i % 5)), feats(200))
        for i in range(40)
    ]
    coefs = voter_fingerprint(votes)["style_coefficients"]
    assert coefs["emoji"] == {"log_odds_per_sd": None, "ci": None, "odds_ratio": None,
                              "sd_of_ratio": 0.0, "constant": True}
    assert coefs["length"]["constant"] is False and coefs["length"]["ci"] is not None
    json.dumps(coefs, allow_nan=False)


def test_judge_position_bias_from_raw_verdicts():
    """A judge that always answers for the first-shown side shows 1.0, whatever its final votes."""
    final = [ShownVote("judge:x", i, "m1", "m2", "tie", feats(10), feats(20), "judge") for i in range(6)]
    raw = [ShownVote("judge:x", i, a, b, "left", None, None, "judge")
           for i in range(6) for a, b in (("m1", "m2"), ("m2", "m1"))]
    (fp,) = fingerprints(final, position_votes=raw)
    assert fp["kind"] == "judge"
    assert fp["position_bias"]["first_shown_chosen"] == 1.0 and fp["position_bias"]["n"] == 12
    assert fp["decisive"] == 0 and fp["longer_chosen"]["rate"] is None
    json.dumps(fp, allow_nan=False)


def test_room_pools_every_voter():
    votes = simulated_voter("a", 1.0, 20, seed=4, tie_rate=0) + simulated_voter("b", 1.0, 20, seed=5, tie_rate=0)
    room = room_fingerprint(votes)
    assert (room["voter"], room["kind"], room["votes"], room["decisive"]) == ("room", "human", 40, 40)
    singles = {fp["voter"]: fp for fp in fingerprints(votes)}
    assert singles["a"]["style_coefficients"] is None  # 20 decisive each
    assert room["style_coefficients"] is not None  # 40 pooled
    assert room["longer_chosen"]["k"] == singles["a"]["longer_chosen"]["k"] + singles["b"]["longer_chosen"]["k"]
    judge = simulated_voter("judge:j", 1.0, 5, seed=6, kind="judge")
    assert room_fingerprint(votes + judge)["kind"] == "mixed"


def test_room_style_interval_counts_a_battle_once():
    """Five voters who copy one another on every battle: the pooled interval is one voter's."""
    one = simulated_voter("v0", 1.5, 200, seed=7, tie_rate=0)
    copies = [ShownVote(f"v{j}", v.battle, v.left, v.right, v.winner, v.left_features, v.right_features)
              for j in range(5) for v in one]
    alone = voter_fingerprint(one)["style_coefficients"]["length"]
    pooled = room_fingerprint(copies)["style_coefficients"]["length"]
    width = lambda c: c["ci"][1] - c["ci"][0]  # noqa: E731
    assert width(pooled) == pytest.approx(width(alone), rel=0.15)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown winner"):
        voter_fingerprint([ShownVote("a", 1, "m1", "m2", "model_a")])
    with pytest.raises(ValueError, match="several voters"):
        voter_fingerprint([ShownVote("a", 1, "m1", "m2", "left"), ShownVote("b", 1, "m1", "m2", "left")])
    with pytest.raises(ValueError, match="more than one kind"):
        fingerprints([ShownVote("a", 1, "m1", "m2", "left"), ShownVote("a", 2, "m1", "m2", "left", kind="judge")])


def test_pooled_humans_beside_a_judge_share_one_scale():
    from scoring.fingerprints import style_scale

    humans = simulated_voter("h1", 1.0, 60, seed=8, tie_rate=0) + simulated_voter("h2", 1.0, 60, seed=9, tie_rate=0)
    judge = simulated_voter("judge:j", 3.0, 60, seed=10, tie_rate=0, kind="judge")
    everyone = humans + judge
    (j,) = [fp for fp in fingerprints(everyone) if fp["kind"] == "judge"]
    pooled = room_fingerprint(humans, name="humans", scale=style_scale(everyone))
    assert pooled["kind"] == "human"
    for f in ("length", "emoji"):
        assert pooled["style_coefficients"][f]["sd_of_ratio"] == j["style_coefficients"][f]["sd_of_ratio"]
    judge_length = j["style_coefficients"]["length"]["log_odds_per_sd"]
    assert judge_length > pooled["style_coefficients"]["length"]["log_odds_per_sd"]
