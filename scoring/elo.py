"""Online Elo, LMArena's ``compute_online_elo``.

Battles are visited in time order; after each one
    E_a = 1 / (1 + base ** ((R_b - R_a) / scale)),  R_a += k (S_a - E_a),  R_b -= k (S_a - E_a)
with S_a = 1 (a won), 0 (b won), 0.5 (tie or both_bad).  Defaults: k = 4,
scale = 400, base = 10, initial rating 1000.

Uncertainty (``bootstrap_online_elo``): each round resamples the battles with
replacement and replays the resample in time order (a battle drawn twice is
replayed twice in a row).  Keeping the time order makes the rounds comparable
with the point estimate, which is the single time-ordered pass; LMArena's
``get_bootstrap_result`` instead replays the resample in random order and
reports the bootstrap median, which for Elo is a different quantity.
"""

from __future__ import annotations

import math

import numpy as np


def online_elo(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    order: np.ndarray | None = None,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init_rating: float = 1000.0,
) -> np.ndarray:
    """Ratings (n_models,) after one pass over the battles in ``order``."""
    if order is not None:
        a, b, outcome = a[order], b[order], outcome[order]
    ratings = [float(init_rating)] * int(n_models)
    alpha = math.log(base) / scale
    exp = math.exp
    for i, j, s in zip(a.tolist(), b.tolist(), outcome.tolist()):
        if i == j:
            continue
        ri = ratings[i]
        rj = ratings[j]
        upd = k * (s - 1.0 / (1.0 + exp(alpha * (rj - ri))))
        ratings[i] = ri + upd
        ratings[j] = rj - upd
    return np.array(ratings)


def bootstrap_online_elo(
    a: np.ndarray,
    b: np.ndarray,
    outcome: np.ndarray,
    n_models: int,
    rounds: int,
    rng: np.random.Generator,
    order: np.ndarray | None = None,
    k: float = 4.0,
    scale: float = 400.0,
    base: float = 10.0,
    init_rating: float = 1000.0,
) -> np.ndarray:
    """(rounds, n_models) Elo ratings over time-ordered resamples.

    Round r draws n battles with replacement (``rng.integers``), then replays
    them in time order, a battle drawn c times being replayed c times in a row.
    """
    n = len(a)
    if order is not None:
        a, b, outcome = a[order], b[order], outcome[order]
    ratings = np.full((rounds, int(n_models)), float(init_rating))
    if n == 0:
        return ratings
    positions = np.arange(n)
    for r in range(rounds):
        counts = np.bincount(rng.integers(0, n, size=n), minlength=n)
        idx = np.repeat(positions, counts)
        ratings[r] = online_elo(
            a[idx], b[idx], outcome[idx], n_models, k=k, scale=scale, base=base, init_rating=init_rating
        )
    return ratings
