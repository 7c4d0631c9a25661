"""Shared helpers for the scoring tests (no dependency on battles/ or tui/)."""

from __future__ import annotations

import csv
import functools
import gzip
import math
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

REAL_VOTES = Path(__file__).resolve().parents[1] / "battles" / "data" / "arena-human-preference-140k-votes.csv.gz"
LLAMA_EXPERIMENTAL = "llama-4-maverick-03-26-experimental"
LLAMA_RELEASED = "llama-4-maverick-17b-128e-instruct"


@functools.lru_cache(maxsize=1)
def real_votes() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(model_a, model_b, winner) of the real LMArena votes, read with gzip + csv."""
    with gzip.open(REAL_VOTES, "rt", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        a, b, w = [], [], []
        for row in reader:
            a.append(row["model_a"])
            b.append(row["model_b"])
            w.append(row["winner"])
    return tuple(a), tuple(b), tuple(w)


def independent_bt_fit(model_a, model_b, winner) -> dict[str, float]:
    """A deliberately plain Bradley-Terry fit, written apart from scoring.bt.

    One row per battle (no aggregation), ties and both_bad as half a win,
    scipy L-BFGS on the mean negative log-likelihood with an analytic
    gradient, no penalty; ratings centred to mean 1000, 400 points per
    factor of 10 in the odds.
    """
    names = sorted(set(model_a) | set(model_b))
    pos = {m: i for i, m in enumerate(names)}
    ia = np.array([pos[m] for m in model_a])
    ib = np.array([pos[m] for m in model_b])
    score = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "both_bad": 0.5}
    y = np.array([score[w] for w in winner])
    n, k = len(y), len(names)
    ln10 = math.log(10.0)

    def nll(theta):
        z = ln10 * (theta[ia] - theta[ib])
        p = 1.0 / (1.0 + np.exp(-z))
        loss = np.sum(np.logaddexp(0.0, z) - y * z) / n
        r = ln10 * (p - y) / n
        grad = np.bincount(ia, r, minlength=k) - np.bincount(ib, r, minlength=k)
        return loss, grad

    res = minimize(
        nll,
        np.zeros(k),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20000, "maxcor": 30, "gtol": 1e-12, "ftol": 1e-16},
    )
    theta = res.x - res.x.mean()
    return {m: 1000.0 + 400.0 * theta[i] for i, m in enumerate(names)}


def board(result: dict) -> dict[str, dict]:
    """Leaderboard rows by model name."""
    return {row["model"]: row for row in result["models"]}


def half_width(ci) -> float:
    return (ci[1] - ci[0]) / 2.0
