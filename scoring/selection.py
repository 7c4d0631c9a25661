"""Selection bias: a lab tests N private variants and publishes the best-rated one.

The setting is the simulated arena of :mod:`scoring.simulate`: its twelve
models with known strengths and its style-biased voters.  A lab enters N
variants of one model (the true strength of ``sim-maverick-instruct`` plus
Normal(0, spread) points each).  The variants write like a typical contestant:
each answer's style comes from the profile of a model of the field drawn at
random, so style hardly lifts or sinks them on the raw board (by -0.9 points
in the limit of many votes: the voters' preferences are not linear in style)
and what the simulation measures is selection.  Each variant gets V votes against
models of the field drawn at random; the lab publishes the variant with the
best raw rating.  Per trial and for each n of the report (the first n variants
of the trial):

* ``published_minus_truth``: raw rating of the published variant minus its
  true strength (mean over trials, and its sd);
* ``style_controlled_published_minus_truth``: the same variant's
  style-controlled rating minus its true strength;
* ``retest_minus_truth``: its raw rating on V fresh votes minus its true
  strength;
* ``expected_equal_variants``: sigma * E[max of n standard normals], sigma the
  standard error of a raw rating at V votes: the inflation theory expects when
  the variants are equally strong (E[max] by numerical integration).

How a variant is rated, and why it is the board's rating
    On a real board the field has far more votes than a lab's variants (on
    LMArena millions against 2,500 each), so the field's ratings and the style
    coefficients are pinned by the field's own votes and the variants' votes
    move them by a negligible amount; the variants do not meet one another.
    The board's likelihood then splits into one term per variant that depends
    on that variant's rating alone, and the variant's board rating is the 1-D
    maximum-likelihood solution of its own votes against the fixed field.
    The raw fit uses the field's raw ratings in the limit of many votes (a
    plain Bradley-Terry fit of the exact expected scores, see
    :func:`raw_field_ratings`); the style-controlled fit uses the field's true
    strengths and the voters' true style weights, which is where the
    contextual fit converges since it is the voters' model.  Both keep the
    board's penalties (the plain ridge and FastChat's 0.25 theta^2).  All
    variants of all trials are solved at once by vectorised Newton steps,
    instead of a full fit per trial.

Speed: a battle's style log-odds are drawn from a pool of
``POOL_PER_OPPONENT`` simulated answer pairs per opponent (the same
distribution as fresh draws), which leaves a few random numbers per vote.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import integrate, stats
from scipy.special import expit

from .bt import LN10, PLAIN_RIDGE, SCALE, STYLE_REG, PairCells, fit_plain_batched, to_points
from .simulate import BASE, draw_scores, roster, style_offsets

REPORT_SIZES = (1, 3, 10, 27)
DEFAULT_VOTES = 2500
DEFAULT_SPREAD = 10.0
DEFAULT_TRIALS = 200
MIN_VOTES = 10
POOL_PER_OPPONENT = 20_000
EXPECTED_SCORE_DRAWS = 20_000  # answer pairs per pair of field models for the raw field ratings
FIELD_SEED = 20250405  # the field's reference numbers are fixed, whatever the trial seed
CHUNK_VOTES = 1_500_000  # votes simulated at once (memory)


def expected_max_normal(n: int) -> float:
    """E[max of n independent standard normals] = integral of x n phi(x) Phi(x)^(n-1)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    if n == 1:
        return 0.0
    value, _ = integrate.quad(lambda x: x * n * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n - 1),
                              -np.inf, np.inf, epsabs=1e-12, epsrel=1e-10)
    return float(value)


def report_sizes(variants: int) -> list[int]:
    """N and each of 1, 3, 10 and 27 not above it."""
    return sorted({n for n in REPORT_SIZES if n <= variants} | {variants})


@dataclass(frozen=True)
class Field:
    names: list[str]
    truth: np.ndarray  # (K,) true strengths, points
    raw: np.ndarray  # (K,) raw-board ratings in the limit of many votes, points
    base_strength: float
    offsets: np.ndarray  # (K, POOL_PER_OPPONENT) style log-odds of a variant's answer against model j's
    raw_standard_error: float  # of a variant's raw rating at one vote (divide by sqrt(V))


@lru_cache(maxsize=1)
def selection_field() -> Field:
    names, truth, profile = roster()
    K = len(names)
    rng = np.random.default_rng(FIELD_SEED)
    # a variant writes like a field model drawn at random, against model j's answer
    offsets = np.empty((K, POOL_PER_OPPONENT))
    for j in range(K):
        own = profile[rng.integers(0, K, POOL_PER_OPPONENT)]
        offsets[j] = style_offsets(rng, own, np.repeat(profile[j:j + 1], POOL_PER_OPPONENT, axis=0))
    raw = raw_field_ratings(truth, profile, rng)
    base = float(truth[names.index(BASE)])
    return Field(names, truth, raw, base, offsets, _raw_standard_error(base, truth, raw, offsets))


def raw_field_ratings(truth: np.ndarray, profile: np.ndarray, rng) -> np.ndarray:
    """The field's plain Bradley-Terry ratings in the limit of many votes (points, mean 1000).

    E[score of i against j] = E[p] over the answers' style (each pair with
    ``EXPECTED_SCORE_DRAWS`` answer pairs), fitted as fractional vote counts.
    """
    K = len(truth)
    i, j = np.triu_indices(K, 1)
    P = len(i)
    m = EXPECTED_SCORE_DRAWS
    expected = np.empty(P)
    for k in range(P):
        o = style_offsets(rng, np.repeat(profile[i[k]:i[k] + 1], m, 0), np.repeat(profile[j[k]:j[k] + 1], m, 0))
        expected[k] = expit(LN10 * (truth[i[k]] - truth[j[k]]) / SCALE + o).mean()
    cells = PairCells(
        n_models=K, i=i.astype(np.int64), j=j.astype(np.int64),
        cell_pair=np.repeat(np.arange(P), 2), cell_y=np.tile([0.0, 1.0], P),
        cell_count=np.column_stack([m * (1.0 - expected), m * expected]).ravel(),
        starts=np.arange(0, 2 * P, 2),
    )
    return to_points(fit_plain_batched(cells)[0])


def _raw_standard_error(base: float, truth, raw, offsets) -> float:
    """Sandwich standard error (points) of the raw rating of an equal-strength variant from one vote.

    At the raw fit's limit theta* (expected score = model score over the
    field), the per-vote score ln10 (y - pi) has variance E[(y - pi)^2] with
    E[y^2] = p - t/4 (t the tie probability), and the information is
    ln10^2 E[pi (1 - pi)]; sigma at V votes is this value / sqrt(V).
    """
    p = expit(LN10 * (base - truth[:, None]) / SCALE + offsets)  # (K, pool)
    theta = _solve_raw(np.full((1, len(truth)), 1.0), p.mean(1).sum()[None], raw, start=(base - 1000) / SCALE,
                       ridge=0.0)[0]
    pi = expit(LN10 * (theta - (raw[:, None] - 1000) / SCALE))
    t = 0.6 * np.minimum(p, 1.0 - p)  # the arena's tie rate 0.3
    score_var = (p - t / 4.0 - 2.0 * pi * p + pi * pi).mean()
    info = (pi * (1.0 - pi)).mean()
    return float(SCALE * math.sqrt(score_var) / (LN10 * info))


def _solve_raw(counts: np.ndarray, scores: np.ndarray, reference: np.ndarray, start, ridge=PLAIN_RIDGE):
    """theta (log10 units) with sum_j n_j sigma(ln10 (theta - theta_j)) + ridge term = score, per row.

    counts (..., K) votes against each field model, scores (...) summed score;
    the 1-D Newton step is safe here: the loss is convex in theta, and steps
    are capped at 0.5 (200 points) so a variant that lost every vote walks out
    to the large finite rating the ridge gives it.
    """
    ref = (np.asarray(reference) - 1000.0) / SCALE
    theta = np.broadcast_to(np.asarray(start, dtype=np.float64), scores.shape).copy()
    for _ in range(100):
        p = expit(LN10 * (theta[..., None] - ref))
        g = LN10 * ((counts * p).sum(-1) - scores) + 2.0 * ridge * theta
        h = LN10 * LN10 * (counts * p * (1.0 - p)).sum(-1) + 2.0 * ridge
        step = np.clip(-g / np.maximum(h, 1e-300), -0.5, 0.5)
        theta += step
        if np.max(np.abs(step), initial=0.0) < 1e-10:
            break
    return theta


def _solve_style(opponent: np.ndarray, offset: np.ndarray, y: np.ndarray, truth: np.ndarray, start: np.ndarray):
    """theta per row of (..., V) votes with the field at its true strengths and the style log-odds known."""
    ref = (truth[opponent] - 1000.0) / SCALE
    scores = y.sum(-1)
    theta = start.copy()
    for _ in range(100):
        p = expit(LN10 * (theta[..., None] - ref) + offset)
        g = LN10 * (p.sum(-1) - scores) + 2.0 * STYLE_REG * theta
        h = LN10 * LN10 * (p * (1.0 - p)).sum(-1) + 2.0 * STYLE_REG
        step = np.clip(-g / h, -0.5, 0.5)
        theta += step
        if np.max(np.abs(step), initial=0.0) < 1e-10:
            break
    return theta


def _rate(field: Field, rng, strength: np.ndarray, votes: int, style: bool):
    """Raw (and style-controlled) ratings in points of variants of the given strengths, V fresh votes each."""
    K = len(field.names)
    shape = strength.shape
    flat = strength.reshape(-1)
    raw = np.empty(flat.size)
    sc = np.empty(flat.size) if style else None
    per = max(1, CHUNK_VOTES // votes)
    for lo in range(0, flat.size, per):
        s = flat[lo:lo + per]
        opponent = rng.integers(0, K, (s.size, votes))
        offset = field.offsets[opponent, rng.integers(0, POOL_PER_OPPONENT, (s.size, votes))]
        y = draw_scores(rng, expit(LN10 * (s[:, None] - field.truth[opponent]) / SCALE + offset))
        cell = (np.arange(s.size)[:, None] * K + opponent).ravel()
        counts = np.bincount(cell, minlength=s.size * K).reshape(s.size, K).astype(np.float64)
        start = (s - 1000.0) / SCALE
        theta = _solve_raw(counts, y.sum(-1), field.raw, start)
        raw[lo:lo + per] = to_points(theta)
        if style:
            sc[lo:lo + per] = to_points(_solve_style(opponent, offset, y, field.truth, theta))
    return raw.reshape(shape), (None if sc is None else sc.reshape(shape))


def simulate_selection(
    variants: int,
    votes_per_variant: int = DEFAULT_VOTES,
    spread: float = DEFAULT_SPREAD,
    trials: int = DEFAULT_TRIALS,
    seed: int = 7,
) -> dict:
    """``{"selection": {"trials", "votes_per_variant", "rows": [...]}}``; see the module docstring."""
    if variants < 1:
        raise ValueError("variants must be at least 1")
    if votes_per_variant < MIN_VOTES:
        raise ValueError(f"votes_per_variant must be at least {MIN_VOTES}")
    if not spread >= 0:
        raise ValueError("spread must be zero or more")
    if trials < 2:
        raise ValueError("trials must be at least 2")
    field = selection_field()
    rng = np.random.default_rng(seed)
    truth = field.base_strength + spread * rng.standard_normal((trials, variants))
    raw, sc = _rate(field, rng, truth, votes_per_variant, style=True)
    sigma = field.raw_standard_error / math.sqrt(votes_per_variant)
    rows = []
    every = np.arange(trials)
    for n in report_sizes(variants):
        pick = np.argmax(raw[:, :n], axis=1)
        chosen = truth[every, pick]
        published = raw[every, pick] - chosen
        retest, _ = _rate(field, rng, chosen, votes_per_variant, style=False)
        rows.append({
            "n": n,
            "published_minus_truth": float(published.mean()),
            "published_minus_truth_sd": float(published.std(ddof=1)),
            "retest_minus_truth": float((retest - chosen).mean()),
            "style_controlled_published_minus_truth": float((sc[every, pick] - chosen).mean()),
            "expected_equal_variants": sigma * expected_max_normal(n),
        })
    return {"selection": {"trials": trials, "votes_per_variant": votes_per_variant, "rows": rows}}
