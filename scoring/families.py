"""Variant families on a real board: which models are variants of one another, and what
keeping the best-rated one of them is worth.

A team that rates k variants of its model (prompts, fine-tunes, sampling settings) and keeps
the best-rated one publishes the maximum of k noisy estimates: even when the variants are
equally good, that maximum sits above their common strength (see :mod:`scoring.selection`,
which simulates it). For a family with k > 1 placed members on a board this module gives,
for its best member (the highest rating):

Expected selection inflation
    E[max_i X_i] - mu for independent X_i ~ Normal(mu, s_i^2): what picking the best adds
    on average when the k variants are equally strong, at the vote counts they have. s_i is
    member i's own standard error, read off its 95% interval (half its width / 1.96, so the
    bootstrap and the sandwich board both work). With equal s_i this is s * E[max of k
    standard normals] (:func:`scoring.selection.expected_max_normal`); otherwise E[max] is
    integrated numerically from the distribution of the maximum, prod_i Phi(x / s_i):
    E[M] = int_0^inf (1 - F(x)) dx - int_-inf^0 F(x) dx.

Interval allowing for the pick (Sidak simultaneous intervals)
    Each member's interval is widened to simultaneous 95% coverage over the k members: the
    critical value z_k = Phi^-1(1 - (1 - 0.95^(1/k)) / 2) replaces 1.96, each side of the
    member's own interval stretched by z_k / 1.96 (a bootstrap interval keeps its
    asymmetry). Why this is the defensible choice: if all k intervals cover their truths
    at once, the interval of whichever member was picked covers its truth, so the picked
    member's interval covers with probability at least 0.95 whatever the true strengths
    (independent, normal estimates: P(all cover) = (0.95^(1/k))^k = 0.95). It needs no
    model of how the variants differ. The price is some conservatism: for equally strong
    variants the picked one errs only upwards, so it covers about 97.5% of the time (the
    naive 95% interval covers 0.975^k of the time: 93% for k = 3, 78% for k = 10).

Assumptions, said plainly: the members' estimates are treated as independent. On a board
they share opponents (and may have met each other), which correlates them slightly; with a
field much larger than the family this is small. Both figures describe the pick itself; a
re-test on fresh battles removes the inflation, which is the advice the board gives.

Pure math (numpy, scipy): families are resolved here from names and globs, the leaderboard
fills the results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

import numpy as np
from scipy import integrate, stats

from .selection import expected_max_normal

Z95 = float(stats.norm.ppf(0.975))
# relative difference under which the members' standard errors count as equal
EQUAL_SE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class FamilyMembership:
    """Which models of a board belong to which family, and what did not match."""

    members: dict[str, tuple[str, ...]]  # family name -> its models on the board, in board order
    unmatched_globs: tuple[tuple[str, str], ...]  # (glob, family) matching no model of the board
    conflicts: tuple[tuple[str, str, str], ...]  # (model, family kept, family ignored)


def resolve_families(
    models: Sequence[str],
    named: Iterable[tuple[str, str]] = (),
    globs: Iterable[tuple[str, str]] = (),
) -> FamilyMembership:
    """Members of each family among ``models`` (the board's model names).

    ``named``: (model name, family) pairs, exact names (the config's ``family``);
    ``globs``: (fnmatch glob, family) pairs (``--family GLOB=NAME``), matched
    case-sensitively on the whole name. A model claimed by two families stays in the first
    that claims it, globs first (the command line overrides the config); the conflict is
    reported.
    """
    globs = list(globs)
    rules = [(pattern, name, True) for pattern, name in globs] + [(model, name, False) for model, name in named]
    family_of: dict[str, str] = {}
    conflicts: list[tuple[str, str, str]] = []
    for model in models:
        for pattern, name, is_glob in rules:
            if not (fnmatchcase(model, pattern) if is_glob else model == pattern):
                continue
            kept = family_of.setdefault(model, name)
            if kept != name and (model, kept, name) not in conflicts:
                conflicts.append((model, kept, name))
    members: dict[str, tuple[str, ...]] = {}
    for model in models:
        if model in family_of:
            members[family_of[model]] = members.get(family_of[model], ()) + (model,)
    unmatched = tuple((pattern, name) for pattern, name in dict.fromkeys(globs)
                      if not any(fnmatchcase(m, pattern) for m in models))
    return FamilyMembership(members, unmatched, tuple(conflicts))


def standard_error(rating: float, lo: float, hi: float) -> float:
    """A member's standard error from its own 95% interval: half its width / 1.96."""
    return (hi - lo) / (2.0 * Z95)


def expected_max(standard_errors: Sequence[float]) -> float:
    """E[max_i s_i Z_i] for independent standard normals Z_i (the inflation of the best of
    len(standard_errors) equally strong variants)."""
    s = np.asarray(standard_errors, dtype=float)
    if s.size == 0 or np.any(~np.isfinite(s)) or np.any(s < 0):
        raise ValueError("standard errors must be finite and non-negative, at least one")
    k = s.size
    if k == 1:
        return 0.0
    top = float(s.max())
    if top == 0.0:
        return 0.0
    if float(s.min()) >= top * (1.0 - EQUAL_SE_TOLERANCE):
        return top * expected_max_normal(k)
    positive = s[s > 0]  # a member without noise is a point mass at 0: it only floors the max

    def cdf(x: float) -> float:
        value = float(np.prod(stats.norm.cdf(x / positive)))
        return value if x >= 0 or positive.size == k else 0.0  # P(max < x) = 0 below a point mass at 0

    upper, _ = integrate.quad(lambda x: 1.0 - cdf(x), 0.0, np.inf, epsabs=1e-10, epsrel=1e-9, limit=200)
    lower, _ = integrate.quad(cdf, -np.inf, 0.0, epsabs=1e-10, epsrel=1e-9, limit=200)
    return float(upper - lower)


def simultaneous_z(k: int, level: float = 0.95) -> float:
    """Sidak's critical value: k independent normal intervals covering all at once at ``level``."""
    if k < 1:
        raise ValueError("k must be at least 1")
    return float(stats.norm.ppf(1.0 - (1.0 - level ** (1.0 / k)) / 2.0))


def selection_adjusted_interval(rating: float, lo: float, hi: float, k: int) -> tuple[float, float]:
    """The member's own 95% interval, each side stretched to Sidak's simultaneous coverage
    over the k members of its family."""
    stretch = simultaneous_z(k) / Z95
    return float(rating - (rating - lo) * stretch), float(rating + (hi - rating) * stretch)


@dataclass(frozen=True)
class BestOfFamily:
    """The selection figures of a family's best member on one board."""

    best: str
    best_of: int
    expected_inflation: float
    adjusted_ci: tuple[float, float]


def best_of_family(entries: Sequence[tuple[str, float, float, float]]) -> BestOfFamily | None:
    """``entries``: (model, rating, ci low, ci high) of the family's placed members on one
    board. None with fewer than two (nothing was picked)."""
    placed = [e for e in entries if all(math.isfinite(v) for v in e[1:])]
    if len(placed) < 2:
        return None
    best = max(placed, key=lambda e: e[1])  # the first of equal ratings, in the caller's (board) order
    k = len(placed)
    inflation = expected_max([standard_error(*e[1:]) for e in placed])
    return BestOfFamily(best[0], k, float(inflation), selection_adjusted_interval(*best[1:], k))
