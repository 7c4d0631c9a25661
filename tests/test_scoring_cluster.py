"""Intervals when many voters vote the same battle: resample and sum scores by battle.

Known truth by simulation: battles between models with known ratings, each
voted by five voters who largely agree (a per-battle effect shared by its
voters).  Across many independent datasets the spread of the fitted ratings
is the truth the intervals must match; intervals that treat each vote as its
own battle are too narrow.
"""

import numpy as np
import pytest
from scipy.special import expit

from scoring import bt
from scoring.battles_table import STYLE_FEATURES, BattleTable
from scoring.leaderboard import compute_leaderboard

THETA = np.array([0.25, 0.08, -0.08, -0.25])  # log10 odds
MODELS = [f"m{i}" for i in range(len(THETA))]
VOTERS = 5
LENGTH_EFFECT = 0.6  # log-odds per unit of the length ratio


def simulate(seed: int, battles: int = 120, voters: int = VOTERS, spread: float = 3.0) -> BattleTable:
    """``battles`` battles, each voted by ``voters`` voters who share a battle effect.

    The battle effect (normal, sd ``spread`` in log-odds) makes its voters
    agree: with sd 3 two voters on one battle who both pick a side pick the
    same one about 4 times in 5.
    """
    rng = np.random.default_rng(seed)
    K = len(THETA)
    a = rng.integers(0, K, size=battles)
    b = (a + rng.integers(1, K, size=battles)) % K
    length_a = rng.integers(50, 800, size=battles).astype(float)
    length_b = rng.integers(50, 800, size=battles).astype(float)
    d_len = (length_a - length_b) / (length_a + length_b + 1.0)
    z = np.log(10) * (THETA[a] - THETA[b]) + LENGTH_EFFECT * d_len + rng.normal(0, spread, size=battles)
    p = np.repeat(expit(z), voters)
    u = rng.random(battles * voters)
    tie = rng.random(battles * voters) < 0.1
    winner = np.where(tie, "tie", np.where(u < p, "model_a", "model_b"))
    feats = np.zeros((battles, len(STYLE_FEATURES)))
    fa, fb = feats.copy(), feats.copy()
    fa[:, 0], fb[:, 0] = length_a, length_b
    fa[:, 1:] = rng.integers(0, 3, size=(battles, 4))
    fb[:, 1:] = rng.integers(0, 3, size=(battles, 4))
    rep = lambda x: np.repeat(x, voters, axis=0)  # noqa: E731
    return BattleTable.from_records(
        [MODELS[i] for i in rep(a)],
        [MODELS[i] for i in rep(b)],
        winner.tolist(),
        features_a=rep(fa),
        features_b=rep(fb),
        clusters=[f"battle-{g}" for g in rep(np.arange(battles))],
    )


def without_clusters(t: BattleTable) -> BattleTable:
    return BattleTable(t.models, t.a, t.b, t.outcome, t.winner_code, t.features_a, t.features_b)


def board(t, **kw):
    kw.setdefault("style_control", False)
    result = compute_leaderboard(t, seed=1, **kw).to_json()
    by = {r["model"]: r for r in result["models"]}
    raw = np.array([by[m]["rating"] for m in MODELS])
    ci = np.array([by[m]["ci"] for m in MODELS])
    out = {"rating": raw, "half": (ci[:, 1] - ci[:, 0]) / 2}
    if result["style_coefficients"]:
        c = result["style_coefficients"]["length"]
        out["length"] = c["log_odds_per_sd"]
        out["length_half"] = (c["ci"][1] - c["ci"][0]) / 2
    return out


@pytest.fixture(scope="module")
def sandwich_runs():
    """Many independent datasets: estimates and sandwich half-widths, clustered and per vote."""
    runs = []
    for seed in range(150):
        t = simulate(seed)
        runs.append((board(t, ci="sandwich", style_control=True),
                     board(without_clusters(t), ci="sandwich", style_control=True)))
    return runs


def _spread(values):
    values = np.asarray(values)
    return values.std(axis=0, ddof=1), values.mean(axis=0)


def test_clustered_sandwich_matches_the_spread_across_datasets(sandwich_runs):
    sd, centre = _spread([c["rating"] for c, _ in sandwich_runs])
    half_c = np.array([c["half"] for c, _ in sandwich_runs])
    half_n = np.array([n["half"] for _, n in sandwich_runs])
    ratio_c = half_c.mean(0) / (1.959964 * sd)
    ratio_n = half_n.mean(0) / (1.959964 * sd)
    assert np.all((ratio_c > 0.85) & (ratio_c < 1.2)), ratio_c
    # five correlated votes count as far fewer than five battles
    assert np.all(ratio_n < 0.7), ratio_n
    est = np.array([c["rating"] for c, _ in sandwich_runs])
    cover_c = (np.abs(est - centre) <= half_c).mean()
    cover_n = (np.abs(est - centre) <= half_n).mean()
    assert 0.92 <= cover_c <= 0.98, cover_c
    assert cover_n < 0.85, cover_n


def test_clustered_style_sandwich_matches_the_spread(sandwich_runs):
    sd, centre = _spread([c["length"] for c, _ in sandwich_runs])
    half_c = np.array([c["length_half"] for c, _ in sandwich_runs])
    half_n = np.array([n["length_half"] for _, n in sandwich_runs])
    assert 0.85 < half_c.mean() / (1.959964 * sd) < 1.2
    assert half_n.mean() / (1.959964 * sd) < 0.7
    est = np.array([c["length"] for c, _ in sandwich_runs])
    assert 0.9 <= (np.abs(est - centre) <= half_c).mean() <= 0.99


def test_cluster_bootstrap_matches_the_spread(sandwich_runs):
    """Bootstrap widths (fewer datasets: each costs 2 x 60 refits) against the spread."""
    sd, _ = _spread([c["rating"] for c, _ in sandwich_runs])
    style_sd, _ = _spread([c["length"] for c, _ in sandwich_runs])
    clustered, naive = [], []
    for seed in range(1000, 1030):
        t = simulate(seed)
        clustered.append(board(t, ci="bootstrap", rounds=60, style_control=True))
        naive.append(board(without_clusters(t), ci="bootstrap", rounds=60, style_control=True))
    ratio_c = np.mean([c["half"] for c in clustered], axis=0) / (1.959964 * sd)
    ratio_n = np.mean([n["half"] for n in naive], axis=0) / (1.959964 * sd)
    assert np.all((ratio_c > 0.8) & (ratio_c < 1.25)), ratio_c
    assert np.all(ratio_n < 0.7), ratio_n
    style_c = np.mean([c["length_half"] for c in clustered]) / (1.959964 * style_sd)
    style_n = np.mean([n["length_half"] for n in naive]) / (1.959964 * style_sd)
    assert 0.8 < style_c < 1.25
    assert style_n < 0.7


def test_identical_copies_of_a_battle_count_once():
    """Every battle voted m times the same way: the clustered sandwich is the one-vote sandwich."""
    one = simulate(7, voters=1)
    t = simulate(7, voters=1)
    copies = 4
    rows = np.repeat(np.arange(t.n), copies)
    many = t.subset(rows)
    many.cluster = np.repeat(np.arange(t.n), copies)
    cells_one = bt.pair_cells(one.a, one.b, one.outcome, 4)
    cells_many = bt.pair_cells(many.a, many.b, many.outcome, 4, cluster=many.cluster)
    theta_one = bt.fit_plain_batched(cells_one)[0]
    theta_many = bt.fit_plain_batched(cells_many)[0]
    cov_one = bt.plain_sandwich_cov(cells_one, theta_one)
    cov_many = bt.plain_sandwich_cov(cells_many, theta_many)
    np.testing.assert_allclose(cov_many, cov_one, rtol=1e-4, atol=1e-12)
    naive = bt.plain_sandwich_cov(bt.pair_cells(many.a, many.b, many.outcome, 4), theta_many)
    np.testing.assert_allclose(np.diag(naive), np.diag(cov_one) / copies, rtol=1e-4)


def test_cluster_bootstrap_draws_whole_battles():
    """Each resampled cell count is a sum of whole battles: multiples of the copies."""
    t = simulate(3, voters=1, battles=40)
    copies = 3
    many = t.subset(np.repeat(np.arange(t.n), copies))
    cells = bt.pair_cells(many.a, many.b, many.outcome, 4, cluster=np.repeat(np.arange(t.n), copies))
    counts = bt.plain_bootstrap_counts(cells, 50, np.random.default_rng(0))
    assert counts.shape == (50, len(cells.cell_count))
    assert np.all(counts % copies == 0)
    np.testing.assert_allclose(counts.sum(1).mean(), many.n, rtol=0.05)
    # battles of unequal sizes: the number of votes drawn varies from round to round
    sizes = np.arange(t.n) % 4 + 1
    cluster = np.repeat(np.arange(t.n), sizes)
    uneven = t.subset(cluster)
    cells = bt.pair_cells(uneven.a, uneven.b, uneven.outcome, 4, cluster=cluster)
    totals = bt.plain_bootstrap_counts(cells, 50, np.random.default_rng(0)).sum(1)
    assert len(np.unique(totals)) > 10
    np.testing.assert_allclose(totals.mean(), uneven.n, rtol=0.05)


@pytest.mark.parametrize("ci", ["bootstrap", "sandwich"])
def test_singleton_clusters_give_todays_results_exactly(ci):
    t = simulate(11, voters=1, battles=300)
    plain = without_clusters(t)
    shuffled = without_clusters(t)
    shuffled.cluster = np.random.default_rng(0).permutation(t.n) * 7 + 3
    expected = compute_leaderboard(plain, ci=ci, rounds=30, seed=5)
    assert compute_leaderboard(t, ci=ci, rounds=30, seed=5) == expected
    assert compute_leaderboard(shuffled, ci=ci, rounds=30, seed=5) == expected
    assert bt.pair_cells(t.a, t.b, t.outcome, 4, cluster=t.cluster).clusters is None


def test_cluster_follows_subset_and_swap():
    t = simulate(2, battles=10, voters=3)
    assert t.cluster.tolist()[:6] == [0, 0, 0, 1, 1, 1]
    assert t.subset(np.arange(t.n) >= 3).cluster.tolist()[:3] == [1, 1, 1]
    assert t.swapped().cluster.tolist() == t.cluster.tolist()
    with pytest.raises(ValueError, match="cluster"):
        BattleTable(t.models, t.a, t.b, t.outcome, t.winner_code, cluster=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="cluster"):
        BattleTable(t.models, t.a, t.b, t.outcome, t.winner_code, cluster=np.zeros(t.n))


def test_real_votes_one_vote_per_battle_id_change_nothing():
    """The shipped LMArena votes have one vote per battle id: clustering by id is today's board."""
    import csv
    import gzip
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "battles" / "data" / "arena-human-preference-140k-votes.csv.gz"
    with gzip.open(path, "rt", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cols = {k: [r[k] for r in rows] for k in ("id", "model_a", "model_b", "winner")}
    plain = BattleTable.from_records(cols["model_a"], cols["model_b"], cols["winner"])
    by_id = BattleTable.from_records(cols["model_a"], cols["model_b"], cols["winner"], clusters=cols["id"])
    assert len(np.unique(by_id.cluster)) == by_id.n
    for ci in ("sandwich", "bootstrap"):
        assert compute_leaderboard(by_id, ci=ci, rounds=20) == compute_leaderboard(plain, ci=ci, rounds=20)


def test_position_bias_counts_a_battle_once():
    """Copies of every vote: the left advantage's clustered interval is the one-vote interval."""
    from scoring.stats import position_bias

    t = simulate(5, voters=1, battles=400)
    copies = 4
    many = t.subset(np.repeat(np.arange(t.n), copies))
    width = lambda pb: pb["adjusted_ci"][1] - pb["adjusted_ci"][0]  # noqa: E731
    one, clustered = position_bias(t), position_bias(many)
    assert clustered["adjusted_log_odds"] == pytest.approx(one["adjusted_log_odds"], abs=1e-6)
    assert width(clustered) == pytest.approx(width(one), rel=1e-4)
    assert width(position_bias(without_clusters(many))) == pytest.approx(width(one) / 2, rel=1e-4)
