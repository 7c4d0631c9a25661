"""Counts, win-rate matrices and position bias."""

from __future__ import annotations

import math

import numpy as np

from .battles_table import BOTH_BAD, TIE, WIN_A, WIN_B, BattleTable
from .bt import (
    PLAIN_RIDGE,
    Z95,
    Rows,
    cluster_labels,
    contextual_sandwich_cov,
    fit_contextual,
    pair_cells,
    placed_models,
)


def wilson_interval(successes: float, trials: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ([0, 1] when trials = 0)."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denom
    half = z * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float] | None:
    """Exact (Clopper-Pearson) interval for a binomial proportion; None when trials = 0.

    The bounds are beta quantiles: lo = B(a/2; k, n-k+1), hi = B(1-a/2; k+1, n-k),
    with lo = 0 at k = 0 and hi = 1 at k = n (scipy's binomtest(...).proportion_ci()
    with method="exact").
    """
    from scipy.special import betaincinv

    k, n = int(successes), int(trials)
    if n <= 0:
        return None
    if not 0 <= k <= n:
        raise ValueError("successes must be between 0 and trials")
    alpha = 1.0 - level
    lo = 0.0 if k == 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    hi = 1.0 if k == n else float(betaincinv(k + 1, n - k, 1.0 - alpha / 2))
    return lo, hi


def model_counts(table: BattleTable) -> dict[str, np.ndarray]:
    """Per model: battles, wins, losses, ties (tie + both_bad), both_bad."""
    K = len(table.models)
    a, b, code = table.a, table.b, table.winner_code

    def cnt(idx):
        return np.bincount(idx, minlength=K)

    battles = cnt(a) + cnt(b)
    wins = cnt(a[code == WIN_A]) + cnt(b[code == WIN_B])
    losses = cnt(a[code == WIN_B]) + cnt(b[code == WIN_A])
    draw = (code == TIE) | (code == BOTH_BAD)
    ties = cnt(a[draw]) + cnt(b[draw])
    bb = code == BOTH_BAD
    both_bad = cnt(a[bb]) + cnt(b[bb])
    return {"battles": battles, "wins": wins, "losses": losses, "ties": ties, "both_bad": both_bad}


def pairwise_matrices(table: BattleTable) -> dict:
    """Battle-count and win-rate matrices (row model vs column model).

    battles[i][j]: battles between i and j (either side), symmetric.
    wins[i][j]:    battles in which i beat j.
    ties[i][j]:    ties + both_bad between i and j, symmetric.
    win_rate[i][j]: wins[i][j] / (wins[i][j] + wins[j][i]), decisive battles
                   only (LMArena's convention); None where there are none.
    """
    K = len(table.models)
    a, b, code = table.a, table.b, table.winner_code

    def mat(mask, rows, cols):
        return np.bincount(rows[mask] * K + cols[mask], minlength=K * K).reshape(K, K)

    allm = np.ones(len(a), dtype=bool)
    ab = mat(allm, a, b)
    battles = ab + ab.T
    wins = mat(code == WIN_A, a, b) + mat(code == WIN_B, b, a)
    draw = (code == TIE) | (code == BOTH_BAD)
    tt = mat(draw, a, b)
    ties = tt + tt.T
    decisive = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        wr = wins / decisive
    win_rate = [[None if decisive[i, j] == 0 else float(wr[i, j]) for j in range(K)] for i in range(K)]
    return {
        "models": list(table.models),
        "battles": battles.tolist(),
        "wins": wins.tolist(),
        "ties": ties.tolist(),
        "win_rate": win_rate,
    }


def position_bias(table: BattleTable) -> dict:
    """How often the left answer (model_a) wins.

    ``left_win_rate``: share of decisive battles (ties and both_bad left out)
    won by the left side, with a 95 % Wilson interval.  Under no bias it is
    0.5 when sides are assigned at random.

    ``adjusted_log_odds``: the left side's advantage in a Bradley-Terry fit
    with an intercept, logit P(a wins) = ln10 (theta_a - theta_b) + h, on all
    battles (ties as half), with a sandwich 95 % interval.  It separates a
    real left bias from an unbalanced side assignment of strong models; with
    ``table.cluster`` (several votes on one battle) its sandwich sums the
    scores per battle.  The Wilson interval treats votes as independent. It is left out
    (None) while the votes cannot place every model that has battles: the fit would then
    report a meaningless, zero-width interval.
    """
    code = table.winner_code
    left = int((code == WIN_A).sum())
    right = int((code == WIN_B).sum())
    decisive = left + right
    lo, hi = wilson_interval(left, decisive)
    out = {
        "left_win_rate": (left / decisive) if decisive else 0.5,
        "ci": [lo, hi],
        "left_wins": left,
        "decisive_battles": decisive,
        "adjusted_log_odds": None,
        "adjusted_ci": None,
    }
    if decisive == 0 or table.n == 0:
        return out
    played = np.bincount(np.concatenate([table.a, table.b]), minlength=len(table.models)) > 0
    if not placed_models(pair_cells(table.a, table.b, table.outcome, len(table.models)))[played].all():
        return out
    K = len(table.models)
    labelled = cluster_labels(table.cluster)
    if labelled is not None:
        # several votes on one battle: one row per vote, scores summed per battle
        rows = Rows(n_models=K, a=table.a, b=table.b, y=table.outcome, Xt=np.ones((1, table.n)))
    else:
        # aggregate to (ordered pair, outcome) cells: the fit costs O(cells)
        y2 = np.rint(table.outcome * 2).astype(np.int64)
        key = (table.a * K + table.b) * 3 + y2
        counts = np.bincount(key, minlength=K * K * 3)
        nz = np.flatnonzero(counts)
        pair = nz // 3
        rows = Rows(
            n_models=K,
            a=pair // K,
            b=pair % K,
            y=(nz % 3) / 2.0,
            Xt=np.ones((1, len(nz))),
            weight=counts[nz].astype(np.float64),
        )
    theta, _ = fit_contextual(rows, reg=PLAIN_RIDGE)
    cluster = None if labelled is None else table.cluster
    cov = contextual_sandwich_cov(rows, theta, reg=PLAIN_RIDGE, cluster=cluster)
    h = float(theta[-1])
    se = math.sqrt(max(cov[-1, -1], 0.0))
    out["adjusted_log_odds"] = h
    out["adjusted_ci"] = [h - Z95 * se, h + Z95 * se]
    return out


__all__ = ["clopper_pearson", "wilson_interval", "model_counts", "pairwise_matrices", "position_bias"]
