"""A synthetic arena with known truth: the Llama 4 "experimental" story.

Twelve models with known strengths (400/log10 scale, mean 1000).  One of them,
the *chatty twin* ``sim-maverick-experimental``, has exactly the strength of
its base model ``sim-maverick-instruct`` but writes long, emoji-laden, heavily
formatted answers.  Voters judge on strength *and* on style: they reward a
longer answer, more emoji and more markdown.  So a plain Bradley-Terry board
puts the twin well above its base (the chat-tuned Llama 4 Maverick reached #2
on LMArena in April 2025), while the style-controlled board puts them level.

Voter model, per battle (a = left, b = right):

    d_f   = (f_a - f_b) / (f_a + f_b + 1)            for each style feature f
    logit = ln(10) (R_a - R_b) / 400 + sum_f w_f d_f + left_bias
    p     = 1 / (1 + exp(-logit))
    ties  : with probability t = 2 * tie_rate * min(p, 1 - p) the vote is a
            tie (60 %) or both_bad (40 %); otherwise a wins with probability
            (p - t/2) / (1 - t).  So E[score of a] = p exactly, and the
            half-win Bradley-Terry fit is consistent for the true strengths.

The true style coefficient in the fitted units (log-odds per SD of the
z-scored d_f) is w_f * sd(d_f) over the simulated battles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .battles_table import STYLE_FEATURES, BattleTable
from .results import Leaderboard

# name, strength (before centring), tokens, emoji, header, list, bold (mean counts)
_ROSTER: tuple[tuple[str, float, float, float, float, float, float], ...] = (
    ("sim-atlas-pro", 1180.0, 650, 0.1, 2.0, 6.0, 4.0),
    ("sim-orca-large", 1150.0, 520, 0.2, 1.5, 4.0, 3.0),
    ("sim-kestrel-72b", 1120.0, 800, 0.5, 3.0, 8.0, 6.0),
    ("sim-maverick-instruct", 1060.0, 420, 0.3, 1.0, 3.0, 2.0),
    ("sim-maverick-experimental", 1060.0, 1300, 7.0, 5.0, 12.0, 10.0),
    ("sim-heron-mini", 1060.0, 300, 0.1, 0.5, 2.0, 1.0),
    ("sim-lynx-34b", 1040.0, 900, 2.0, 2.5, 7.0, 5.0),
    ("sim-puffin-8b", 1000.0, 380, 1.0, 0.8, 3.0, 2.0),
    ("sim-wren-v2", 970.0, 250, 0.0, 0.2, 1.0, 0.5),
    ("sim-marten-13b", 940.0, 600, 3.0, 2.0, 5.0, 4.0),
    ("sim-otter-7b", 900.0, 330, 0.5, 0.5, 2.0, 1.0),
    ("sim-gecko-3b", 850.0, 200, 0.2, 0.1, 1.0, 0.5),
)
TWIN = "sim-maverick-experimental"
BASE = "sim-maverick-instruct"

# voter's log-odds per unit of the ratio d_f (d in [-1, 1])
DEFAULT_STYLE_WEIGHTS: dict[str, float] = {
    "length": 0.75,
    "emoji": 0.4,
    "header": 0.1,
    "list": 0.15,
    "bold": 0.15,
}
RECORD_KEYS: tuple[str, ...] = ("tokens", "emoji", "header", "list", "bold")  # column order = STYLE_FEATURES


@dataclass
class SimulatedArena:
    models: list[str]
    true_ratings: dict[str, float]
    twin: str
    base: str
    style_weights: dict[str, float]
    true_style_log_odds_per_sd: dict[str, float]
    left_bias: float
    model_a: list[str]
    model_b: list[str]
    winner: list[str]
    features_a: np.ndarray  # (n, 5) integer counts as float, columns STYLE_FEATURES
    features_b: np.ndarray
    seed: int = 0
    _table: BattleTable | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.winner)

    def table(self) -> BattleTable:
        if self._table is None:
            self._table = BattleTable.from_records(
                self.model_a, self.model_b, self.winner, self.features_a, self.features_b
            )
        return self._table

    def records(self) -> list[dict]:
        """Flat per-battle dicts: model_a, model_b, winner, tokens_a, emoji_a,
        header_a, list_a, bold_a, tokens_b, ... (ints), in battle order."""
        fa = self.features_a.astype(np.int64).tolist()
        fb = self.features_b.astype(np.int64).tolist()
        out = []
        for i in range(self.n):
            rec = {"model_a": self.model_a[i], "model_b": self.model_b[i], "winner": self.winner[i]}
            for k, key in enumerate(RECORD_KEYS):
                rec[f"{key}_a"] = fa[i][k]
                rec[f"{key}_b"] = fb[i][k]
            out.append(rec)
        return out


def _responses(rng, means: np.ndarray) -> np.ndarray:
    """(n, 5) plausible counts for answers of models with the given mean profile."""
    n = means.shape[0]
    out = np.empty((n, 5))
    out[:, 0] = np.maximum(1, np.rint(means[:, 0] * rng.lognormal(-0.125, 0.5, n)))
    # over-dispersed counts: Poisson with a gamma-distributed rate (mean kept)
    for k in range(1, 5):
        out[:, k] = rng.poisson(means[:, k] * rng.gamma(2.0, 0.5, n))
    return out


def simulate_arena(
    n_battles: int,
    seed: int,
    style_weights: dict[str, float] | None = None,
    left_bias: float = 0.0,
    tie_rate: float = 0.3,
) -> SimulatedArena:
    """Simulate ``n_battles`` votes; reproducible for a given seed."""
    rng = np.random.default_rng(seed)
    weights = dict(DEFAULT_STYLE_WEIGHTS if style_weights is None else style_weights)
    w = np.array([weights.get(f, 0.0) for f in STYLE_FEATURES])
    names = [r[0] for r in _ROSTER]
    strength = np.array([r[1] for r in _ROSTER])
    strength = strength - strength.mean() + 1000.0
    profile = np.array([r[2:] for r in _ROSTER], dtype=np.float64)
    K = len(names)

    a = rng.integers(0, K, n_battles)
    b = (a + rng.integers(1, K, n_battles)) % K  # uniform over the other models
    fa = _responses(rng, profile[a])
    fb = _responses(rng, profile[b])
    d = (fa - fb) / (fa + fb + 1.0)
    logit = math.log(10.0) * (strength[a] - strength[b]) / 400.0 + d @ w + left_bias
    p = 1.0 / (1.0 + np.exp(-logit))
    t = 2.0 * tie_rate * np.minimum(p, 1.0 - p)
    q = (p - t / 2.0) / (1.0 - t)
    u = rng.random(n_battles)
    draw = u < t
    a_wins = ~draw & (rng.random(n_battles) < q)
    both_bad = draw & (rng.random(n_battles) < 0.4)
    winner = np.where(draw, np.where(both_bad, "both_bad", "tie"), np.where(a_wins, "model_a", "model_b"))

    sd = d.std(axis=0) if n_battles else np.zeros(5)
    return SimulatedArena(
        models=names,
        true_ratings={m: float(s) for m, s in zip(names, strength)},
        twin=TWIN,
        base=BASE,
        style_weights=weights,
        true_style_log_odds_per_sd={f: float(w[k] * sd[k]) for k, f in enumerate(STYLE_FEATURES)},
        left_bias=float(left_bias),
        model_a=[names[i] for i in a.tolist()],
        model_b=[names[i] for i in b.tolist()],
        winner=winner.tolist(),
        features_a=fa,
        features_b=fb,
        seed=seed,
    )


def compare_to_truth(
    result: Leaderboard | dict,
    true_ratings: dict[str, float],
    twin: str | None = TWIN,
    base: str | None = BASE,
) -> dict:
    """How a leaderboard (from ``compute_leaderboard``) matches the truth.

    Returns Spearman correlations of the raw and style-controlled ratings with
    the true ratings, a per-model table (truth, raw, style), and the twin's
    gap over its base on each board with the intervals of both.
    """
    from scipy.stats import spearmanr

    # read through the JSON form (a Leaderboard's, or one given as such): this comparison
    # is printed by ``blindside simulate --json`` in that shape
    data = result.to_json() if isinstance(result, Leaderboard) else result
    rows = {r["model"]: r for r in data["models"]}
    common = [m for m in true_ratings if m in rows]
    truth = np.array([true_ratings[m] for m in common])
    raw = np.array([rows[m]["rating"] for m in common])
    has_style = all(rows[m]["style_controlled"] is not None for m in common) and bool(common)
    style = np.array([rows[m]["style_controlled"]["rating"] for m in common]) if has_style else None

    def rho(x):
        if x is None or len(common) < 3:
            return None
        return float(spearmanr(truth, x).statistic)

    table = [
        {
            "model": m,
            "truth": float(true_ratings[m]),
            "raw": float(rows[m]["rating"]),
            "raw_ci": rows[m]["ci"],
            "raw_rank": rows[m]["rank"],
            "style": None if style is None else float(style[k]),
            "style_ci": None if style is None else rows[m]["style_controlled"]["ci"],
            "style_rank": None if style is None else rows[m]["style_controlled"]["rank"],
        }
        for k, m in enumerate(common)
    ]
    table.sort(key=lambda r: -r["truth"])
    out = {
        "spearman_raw": rho(raw),
        "spearman_style": rho(style),
        "models": table,
        "twin": None,
    }
    if twin in rows and base in rows and twin in true_ratings and base in true_ratings:
        gap = {
            "twin": twin,
            "base": base,
            "truth": float(true_ratings[twin] - true_ratings[base]),
            "raw": float(rows[twin]["rating"] - rows[base]["rating"]),
            "raw_twin_ci": rows[twin]["ci"],
            "raw_base_ci": rows[base]["ci"],
            "style": None,
            "style_twin_ci": None,
            "style_base_ci": None,
        }
        if has_style:
            st, sb = rows[twin]["style_controlled"], rows[base]["style_controlled"]
            gap.update(style=float(st["rating"] - sb["rating"]), style_twin_ci=st["ci"], style_base_ci=sb["ci"])
        out["twin"] = gap
    return out


# --------------------------------------------------------------------------
# Pieces of the arena for other simulations (scoring.selection)
# --------------------------------------------------------------------------


def roster() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Names, true strengths (points, mean 1000) and mean style profiles (K, 5) of the models."""
    names = [r[0] for r in _ROSTER]
    strength = np.array([r[1] for r in _ROSTER])
    return names, strength - strength.mean() + 1000.0, np.array([r[2:] for r in _ROSTER], dtype=np.float64)


def style_offsets(rng, profile_a: np.ndarray, profile_b: np.ndarray, style_weights: dict[str, float] | None = None):
    """The voters' style log-odds sum_f w_f d_f for answers drawn from two (n, 5) mean profiles."""
    weights = DEFAULT_STYLE_WEIGHTS if style_weights is None else style_weights
    w = np.array([weights.get(f, 0.0) for f in STYLE_FEATURES])
    fa = _responses(rng, profile_a)
    fb = _responses(rng, profile_b)
    return ((fa - fb) / (fa + fb + 1.0)) @ w


def draw_scores(rng, p: np.ndarray, tie_rate: float = 0.3) -> np.ndarray:
    """Scores of side a (0, 0.5 or 1) under the voter model of :func:`simulate_arena`.

    One uniform per battle: a win with probability p - t/2, a tie or both_bad
    (half a win either way) with probability t = 2 tie_rate min(p, 1 - p), so
    E[score] = p, as in ``simulate_arena``.
    """
    t = 2.0 * tie_rate * np.minimum(p, 1.0 - p)
    u = rng.random(p.shape)
    return np.where(u < p - t / 2.0, 1.0, np.where(u < p + t / 2.0, 0.5, 0.0))
