"""Which two models fight next, and which one sits on the left.

Strategies (``[arena] pairing`` in the config):

- ``uniform``: any two distinct models, all pairs equally likely.
- ``balanced``: the pair with the fewest battles so far (errored battles not counted), ties
  broken at random, so every pair gets about as many battles.
- ``active``: the pair whose outcome is most uncertain, by TrueSkill's match quality over the
  votes so far (``scoring.trueskill_ratings``: closed-form, updated incrementally per new
  vote); ties (e.g. before any vote) broken at random.

The drawn pair is unordered; ``place`` then flips a fair coin for left/right, recorded as
``swapped`` so a position bias can be measured later.
"""

from __future__ import annotations

import importlib
import itertools
import random
from collections.abc import Mapping, Sequence

from battles.config import PAIRINGS
from battles.errors import ConfigError

_QUALITY_TIE = 1e-12  # qualities this close count as equal (then the draw is random)


def _trueskill():
    """``scoring.trueskill_ratings``, imported on first use: the ``scoring`` package loads numpy
    and scipy (~0.7 s), which only the ``active`` strategy needs.  (By path: ``scoring``
    re-exports a function of the same name.)"""
    return importlib.import_module("scoring.trueskill_ratings")


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


def draw_active(models: Sequence[str], ratings: Mapping[str, tuple[float, float]],
                rng: random.Random) -> tuple[str, str]:
    """``ratings``: {model: (mu, sigma)}; a model not in it has the default rating."""
    require_two(models)
    ts = _trueskill()
    fresh, match_quality = ts.DEFAULT_RATING, ts.match_quality
    scored = [(match_quality(ratings.get(a, fresh), ratings.get(b, fresh)), (a, b)) for a, b in all_pairs(models)]
    best = max(quality for quality, _ in scored)
    return rng.choice([pair for quality, pair in scored if best - quality <= _QUALITY_TIE])


def place(pair: tuple[str, str], rng: random.Random) -> tuple[str, str, bool]:
    """(left, right, swapped): a fair coin decides whether the pair's second model goes left."""
    swapped = rng.random() < 0.5
    first, second = pair
    return (second, first, True) if swapped else (first, second, False)


class Pairing:
    """Draws pairs by one strategy; reads what it needs from the store when it needs it."""

    def __init__(self, strategy: str, rng: random.Random):
        if strategy not in PAIRINGS:
            raise ConfigError(f"Unknown pairing {strategy!r}; use one of {', '.join(PAIRINGS)}.")
        self.strategy = strategy
        self.rng = rng
        # TrueSkill with the package's default draw probability (0.10), not the data's draw
        # share: a fixed environment keeps the update incremental, and match quality (which
        # picks the pair) depends only on beta; the draw margin merely nudges the ratings.
        self._table = _trueskill().TrueSkillTable() if strategy == "active" else None

    def draw(self, models: Sequence[str], store) -> tuple[str, str]:
        """An unordered pair of two distinct names from ``models``."""
        require_two(models)
        if self.strategy == "uniform":
            return draw_uniform(models, self.rng)
        if self.strategy == "balanced":
            return draw_balanced(models, store.pair_counts(), self.rng)
        return draw_active(models, self._table.update(store.voted_outcomes()), self.rng)
