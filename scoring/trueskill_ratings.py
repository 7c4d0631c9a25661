"""TrueSkill ratings from plain lists, on top of the ``trueskill`` package.

* Battles are replayed in time order; ``tie`` and ``both_bad`` are draws.
* The environment is the package's ``trueskill.TrueSkill`` with its defaults
  (mu 25, sigma 25/3, beta 25/6, tau 25/300) and, unless given, a draw
  probability equal to the share of draws in the data (clipped to
  [0.001, 0.9]); the package's default of 0.10 is far below an arena's
  25-30 % ties.
* Each head-to-head update uses the package's own v/w truncation functions and
  draw margin (``env.v_win``, ``env.w_draw``, ``calc_draw_margin``) in the
  closed form that the package's factor graph reduces to for two single-player
  teams.  That is ~30x faster than calling ``env.rate_1vs1`` per battle (a
  factor graph per call, ~300 us) and agrees with it to ~1e-12 (tested);
  ``engine="package"`` calls ``rate_1vs1`` instead.
* When the package would raise FloatingPointError (an extreme upset with tiny
  sigmas), the fast engine clamps w into (0, 1) instead.

``match_quality(r1, r2)`` is the package's ``quality_1vs1`` (draw probability
of an evenly matched game, in (0, 1]) in closed form, and ``TrueSkillTable``
rates a growing, time-ordered outcome list incrementally (only the outcomes it
has not seen yet), with the same closed-form update as the replay.  Together
they back battles' ``active`` pairing strategy.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import trueskill

from .battles_table import BOTH_BAD, TIE, WIN_A, WIN_B, winner_codes

_EPS = 1e-12
_DEFAULT_BETA2 = float(trueskill.BETA) ** 2
DEFAULT_RATING: tuple[float, float] = (float(trueskill.MU), float(trueskill.SIGMA))
"""(mu, sigma) of a model with no games yet, in the package's default environment."""


def make_env(draw_probability: float | None = None, **kwargs) -> trueskill.TrueSkill:
    """A TrueSkill environment with the package defaults (and our draw share)."""
    if draw_probability is None:
        draw_probability = trueskill.DRAW_PROBABILITY
    return trueskill.TrueSkill(draw_probability=float(draw_probability), **kwargs)


def empirical_draw_probability(codes: np.ndarray) -> float:
    codes = np.asarray(codes)
    if codes.size == 0:
        return trueskill.DRAW_PROBABILITY
    share = float(np.isin(codes, (TIE, BOTH_BAD)).mean())
    return min(max(share, 0.001), 0.9)


def _as_rating(r) -> tuple[float, float]:
    if isinstance(r, trueskill.Rating):
        return float(r.mu), float(r.sigma)
    mu, sigma = r
    return float(mu), float(sigma)


def match_quality(r1, r2, env: trueskill.TrueSkill | None = None) -> float:
    """Match quality of a 1-vs-1 game (TrueSkill's draw-probability measure).

    r1, r2: (mu, sigma) tuples or ``trueskill.Rating``.  Depends only on beta:
    sqrt(2 beta^2 / c^2) * exp(-(mu1 - mu2)^2 / (2 c^2)),
    c^2 = 2 beta^2 + sigma1^2 + sigma2^2.

    The package's ``quality_1vs1`` builds matrices (~200 us a call); this is the same number
    (tested) in ~1 us, which matters when pairing scores every pair before each battle.
    """
    beta2 = float(env.beta) ** 2 if env is not None else _DEFAULT_BETA2
    mu1, s1 = _as_rating(r1)
    mu2, s2 = _as_rating(r2)
    c2 = 2.0 * beta2 + s1 * s1 + s2 * s2
    return math.sqrt(2.0 * beta2 / c2) * math.exp(-((mu1 - mu2) ** 2) / (2.0 * c2))


def _replay_into(mu, var, a, b, codes, env) -> None:
    """Closed-form 1-vs-1 updates of ``mu`` / ``var`` (lists indexed by model), in place.

    The one copy of the update math: ``_replay_fast`` and ``TrueSkillTable`` both call it.
    """
    beta2 = float(env.beta) ** 2
    tau2 = float(env.tau) ** 2
    margin = trueskill.calc_draw_margin(env.draw_probability, 2, env=env)
    v_win, w_win, v_draw, w_draw = env.v_win, env.w_win, env.v_draw, env.w_draw
    sqrt = math.sqrt
    for i, j, code in zip(a, b, codes):
        if i == j:
            continue
        if code == WIN_B:
            i, j = j, i  # i is the winner from here on
        vi = var[i] + tau2
        vj = var[j] + tau2
        c = sqrt(2.0 * beta2 + vi + vj)
        t = (mu[i] - mu[j]) / c
        e = margin / c
        if code == WIN_A or code == WIN_B:
            v = v_win(t, e)
            try:
                w = w_win(t, e)
            except FloatingPointError:
                x = t - e
                w = min(max(v * (v + x), _EPS), 1.0 - _EPS)
        else:
            v = v_draw(t, e)
            try:
                w = w_draw(t, e)
            except FloatingPointError:
                w = 1.0 - _EPS
            w = min(max(w, _EPS), 1.0 - _EPS)
        mu[i] += vi / c * v
        mu[j] -= vj / c * v
        var[i] = vi * (1.0 - vi / (c * c) * w)
        var[j] = vj * (1.0 - vj / (c * c) * w)


def _replay_fast(a, b, codes, n_models, env):
    mu = [float(env.mu)] * n_models
    var = [float(env.sigma) ** 2] * n_models
    _replay_into(mu, var, a, b, codes, env)
    return np.array(mu), np.sqrt(np.array(var))


def _replay_package(a, b, codes, n_models, env):
    ratings = [env.create_rating() for _ in range(n_models)]
    for i, j, code in zip(a, b, codes):
        if i == j:
            continue
        if code == WIN_B:
            i, j = j, i
        drawn = code in (TIE, BOTH_BAD)
        ratings[i], ratings[j] = trueskill.rate_1vs1(ratings[i], ratings[j], drawn=drawn, env=env)
    return np.array([r.mu for r in ratings]), np.array([r.sigma for r in ratings])


def trueskill_fit(
    a: np.ndarray,
    b: np.ndarray,
    winner_code: np.ndarray,
    n_models: int,
    order: np.ndarray | None = None,
    env: trueskill.TrueSkill | None = None,
    engine: str = "fast",
) -> tuple[np.ndarray, np.ndarray, trueskill.TrueSkill]:
    """Index-based replay; returns (mu, sigma, env)."""
    a = np.asarray(a)
    b = np.asarray(b)
    winner_code = np.asarray(winner_code)
    if order is not None:
        a, b, winner_code = a[order], b[order], winner_code[order]
    if env is None:
        env = make_env(empirical_draw_probability(winner_code))
    replay = {"fast": _replay_fast, "package": _replay_package}[engine]
    mu, sigma = replay(a.tolist(), b.tolist(), winner_code.tolist(), int(n_models), env)
    return mu, sigma, env


def trueskill_ratings(
    model_a: Sequence[str],
    model_b: Sequence[str],
    winner: Sequence[str],
    env: trueskill.TrueSkill | None = None,
    engine: str = "fast",
) -> dict[str, tuple[float, float]]:
    """{model: (mu, sigma)} after replaying the battles in the given order.

    ``winner`` labels: model_a | model_b | tie | both_bad.
    """
    codes = winner_codes(winner)
    names = sorted(set(model_a).union(model_b))
    index = {m: i for i, m in enumerate(names)}
    a = np.array([index[m] for m in model_a], dtype=np.int64)
    b = np.array([index[m] for m in model_b], dtype=np.int64)
    mu, sigma, _ = trueskill_fit(a, b, codes, len(names), env=env, engine=engine)
    return {m: (float(mu[k]), float(sigma[k])) for k, m in enumerate(names)}


class TrueSkillTable:
    """Ratings of every model seen so far, updated incrementally as outcomes arrive.

    ``update`` takes the full, time-ordered list of (model_a, model_b, winner) each time and
    rates only the outcomes it has not seen yet, so re-rating after each new vote stays cheap
    even over 100k+ votes.  The environment defaults to ``make_env()`` (the package's default
    draw probability, 0.10): a fixed environment is what makes the update incremental.
    """

    def __init__(self, env: trueskill.TrueSkill | None = None) -> None:
        self.env = env or make_env()
        self._reset()

    def _reset(self) -> None:
        self.seen = 0
        self._index: dict[str, int] = {}
        self._mu: list[float] = []
        self._var: list[float] = []

    def update(self, outcomes: Sequence[tuple[str, str, str]]) -> dict[str, tuple[float, float]]:
        """Rate ``outcomes[self.seen:]``; returns ``ratings``."""
        if len(outcomes) < self.seen:  # the list shrank (another store?): start over
            self._reset()
        new = outcomes[self.seen:]
        if new:
            slot = self._slot
            a = [slot(row[0]) for row in new]
            b = [slot(row[1]) for row in new]
            codes = winner_codes([row[2] for row in new]).tolist()
            _replay_into(self._mu, self._var, a, b, codes, self.env)
        self.seen = len(outcomes)
        return self.ratings

    def _slot(self, name: str) -> int:
        k = self._index.get(name)
        if k is None:
            k = self._index[name] = len(self._mu)
            self._mu.append(float(self.env.mu))
            self._var.append(float(self.env.sigma) ** 2)
        return k

    @property
    def ratings(self) -> dict[str, tuple[float, float]]:
        """{model: (mu, sigma)} of every model seen so far."""
        return {m: (self._mu[k], math.sqrt(self._var[k])) for m, k in self._index.items()}
