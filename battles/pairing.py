"""Which two models fight next, and which one sits on the left.

Strategies (``[arena] pairing`` in the config):

- ``uniform``: any two distinct models, all pairs equally likely.
- ``balanced``: the pair with the fewest battles so far (errored battles not counted), ties
  broken at random, so every pair gets about as many battles.
- ``active``: the pair whose outcome is most uncertain, by TrueSkill's match quality over the
  votes so far; ties (e.g. before any vote) broken at random.

The drawn pair is unordered; ``place`` then flips a fair coin for left/right, recorded as
``swapped`` so a position bias can be measured later.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from battles.config import PAIRINGS
from battles.errors import ConfigError

# TrueSkill's defaults (Herbrich et al. 2007, and the ``trueskill`` package).
MU = 25.0
SIGMA = MU / 3
BETA = SIGMA / 2
TAU = SIGMA / 100
DRAW_PROBABILITY = 0.10

_QUALITY_TIE = 1e-12  # qualities this close count as equal (then the draw is random)


def require_two(models: Sequence[str]) -> None:
    if len(models) < 2:
        have = "no models" if not models else f"only one model ({models[0]})"
        raise ConfigError(
            f"A battle needs two models and the lineup has {have}. Add a [models.NAME] table per "
            "model to blindside.toml (or the file given with --config), e.g.\n" + SAMPLE_CONFIG
        )


SAMPLE_CONFIG = """\
  [models.small]
  provider = "ollama"
  model = "llama3.2:1b"

  [models.mini]
  provider = "openai"
  model = "gpt-4o-mini"
  api_key_env = "OPENAI_API_KEY"
"""


def all_pairs(models: Sequence[str]) -> list[tuple[str, str]]:
    return list(itertools.combinations(models, 2))


def draw_uniform(models: Sequence[str], rng: random.Random) -> tuple[str, str]:
    require_two(models)
    first, second = rng.sample(list(models), 2)
    return first, second


def draw_balanced(models: Sequence[str], pair_counts: dict[frozenset[str], int],
                  rng: random.Random) -> tuple[str, str]:
    require_two(models)
    pairs = all_pairs(models)
    fewest = min(pair_counts.get(frozenset(p), 0) for p in pairs)
    return rng.choice([p for p in pairs if pair_counts.get(frozenset(p), 0) == fewest])


def draw_active(models: Sequence[str], ratings: dict[str, Rating], rng: random.Random) -> tuple[str, str]:
    require_two(models)
    fresh = Rating()
    scored = [(match_quality(ratings.get(a, fresh), ratings.get(b, fresh)), (a, b)) for a, b in all_pairs(models)]
    best = max(quality for quality, _ in scored)
    return rng.choice([pair for quality, pair in scored if best - quality <= _QUALITY_TIE])


def place(pair: tuple[str, str], rng: random.Random) -> tuple[str, str, bool]:
    """(left, right, swapped): a fair coin decides whether the pair's second model goes left."""
    swapped = rng.random() < 0.5
    first, second = pair
    return (second, first, True) if swapped else (first, second, False)


# -- TrueSkill for two players, in closed form --------------------------------------------------
# The ``trueskill`` package runs a factor graph per game (~300 µs); for one-vs-one games the same
# update has a closed form (~3 µs), which keeps ``active`` pairing quick over 100k+ votes.
# tests/test_pairing.py checks it against the package.

@dataclass(frozen=True)
class Rating:
    mu: float = MU
    sigma: float = SIGMA


def _pdf(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _ppf(p: float) -> float:
    # Inverse normal CDF by bisection: called once per module load, so simplicity wins.
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if _cdf(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


DRAW_MARGIN = _ppf((DRAW_PROBABILITY + 1) / 2) * math.sqrt(2) * BETA


def _v_win(t: float, e: float) -> float:
    x = t - e
    denom = _cdf(x)
    return -x if denom < 2.2e-162 else _pdf(x) / denom


def _w_win(t: float, e: float) -> float:
    x = t - e
    v = _v_win(t, e)
    w = v * (v + x)
    return min(max(w, 0.0), 1.0)


def _v_draw(t: float, e: float) -> float:
    a = abs(t)
    denom = _cdf(e - a) - _cdf(-e - a)
    v = (e - a if denom < 2.2e-162 else (_pdf(-e - a) - _pdf(e - a)) / denom)
    return -v if t < 0 else v


def _w_draw(t: float, e: float) -> float:
    a = abs(t)
    denom = _cdf(e - a) - _cdf(-e - a)
    if denom < 2.2e-162:
        return 1.0
    v = _v_draw(a, e)
    return v * v + ((e - a) * _pdf(e - a) + (e + a) * _pdf(e + a)) / denom


def rate_1vs1(first: Rating, second: Rating, drawn: bool = False) -> tuple[Rating, Rating]:
    """New ratings after ``first`` beat ``second`` (or they drew)."""
    var1 = first.sigma ** 2 + TAU ** 2
    var2 = second.sigma ** 2 + TAU ** 2
    c2 = 2 * BETA ** 2 + var1 + var2
    c = math.sqrt(c2)
    t = (first.mu - second.mu) / c
    e = DRAW_MARGIN / c
    v, w = (_v_draw(t, e), _w_draw(t, e)) if drawn else (_v_win(t, e), _w_win(t, e))
    new1 = Rating(first.mu + var1 / c * v, math.sqrt(var1 * max(1 - var1 / c2 * w, 1e-12)))
    new2 = Rating(second.mu - var2 / c * v, math.sqrt(var2 * max(1 - var2 / c2 * w, 1e-12)))
    return new1, new2


def match_quality(first: Rating, second: Rating) -> float:
    """Probability-like measure that the game is a draw: high = outcome most uncertain."""
    c2 = 2 * BETA ** 2 + first.sigma ** 2 + second.sigma ** 2
    return math.sqrt(2 * BETA ** 2 / c2) * math.exp(-((first.mu - second.mu) ** 2) / (2 * c2))


class TrueSkillTable:
    """Ratings of every model seen in the votes, updated incrementally as new votes arrive.

    ``update`` takes the full, time-ordered outcome list each time and only rates the ones it
    has not seen yet, so drawing a pair after each vote stays cheap.
    """

    def __init__(self) -> None:
        self.ratings: dict[str, Rating] = {}
        self.seen = 0

    def update(self, outcomes: Sequence[tuple[str, str, str]]) -> dict[str, Rating]:
        if len(outcomes) < self.seen:  # the store shrank (another file?): start over
            self.ratings, self.seen = {}, 0
        for model_a, model_b, winner in itertools.islice(outcomes, self.seen, None):
            self.apply(model_a, model_b, winner)
        self.seen = len(outcomes)
        return self.ratings

    def apply(self, model_a: str, model_b: str, winner: str) -> None:
        ra = self.ratings.get(model_a, Rating())
        rb = self.ratings.get(model_b, Rating())
        if winner == "model_a":
            ra, rb = rate_1vs1(ra, rb)
        elif winner == "model_b":
            rb, ra = rate_1vs1(rb, ra)
        else:  # tie and both_bad: neither was better
            ra, rb = rate_1vs1(ra, rb, drawn=True)
        self.ratings[model_a], self.ratings[model_b] = ra, rb


def trueskill_ratings(outcomes: Iterable[tuple[str, str, str]]) -> dict[str, Rating]:
    table = TrueSkillTable()
    table.update(list(outcomes))
    return table.ratings


class Pairing:
    """Draws pairs by one strategy; reads what it needs from the store when it needs it."""

    def __init__(self, strategy: str, rng: random.Random):
        if strategy not in PAIRINGS:
            raise ConfigError(f"Unknown pairing {strategy!r}; use one of {', '.join(PAIRINGS)}.")
        self.strategy = strategy
        self.rng = rng
        self._table = TrueSkillTable()

    def draw(self, models: Sequence[str], store) -> tuple[str, str]:
        """An unordered pair of two distinct names from ``models``."""
        require_two(models)
        if self.strategy == "uniform":
            return draw_uniform(models, self.rng)
        if self.strategy == "balanced":
            return draw_balanced(models, store.pair_counts(), self.rng)
        return draw_active(models, self._table.update(store.voted_outcomes()), self.rng)
