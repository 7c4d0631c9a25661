"""Voter fingerprints: what each voter (human or judge) tends to choose.

Input: :class:`ShownVote` records, one per vote, as the voter saw the battle
(``left`` was shown first).  Features are per side in the order of
:data:`scoring.battles_table.STYLE_FEATURES` (length in tokens, emoji,
header, list, bold); None or NaN means unknown, and a vote with an unknown
feature is left out of what needs that feature.

A fingerprint (all rates are None, never NaN, when their ``n`` is 0):

``votes``, ``decisive``
    all votes, and those that chose a side (not tie or both_bad).
``longer_chosen``, ``more_emoji_chosen``, ``more_markdown_chosen``
    ``{k, n, rate, ci}`` over the decisive votes whose two answers differ in
    that feature (markdown = header + list + bold): n such votes, k of them
    chose the answer with more of it; ci the exact (Clopper-Pearson) 95 %
    interval of k / n.
``twin_pairs``
    ``{k, n, rate, ci}`` over the decisive votes on a model against its own
    treated twin (same base, one of them untreated, per the caller's
    ``twins`` mapping): k = the treated one won.
``position_bias``
    ``{first_shown_chosen, ci, k, n}``: the share of decisive votes that
    chose the first-shown (left) answer.  ``position_votes`` replaces the
    votes it is computed from (a judge's raw verdicts in both orders, before
    its consistency rule).
``style_coefficients``
    None below ``min_style_votes`` (30) decisive votes; then a contextual
    Bradley-Terry fit of the voter's votes (:func:`scoring.bt.fit_contextual`,
    ties as half a win, the leaderboard's penalty) with, per feature,
    ``{log_odds_per_sd, ci, odds_ratio, sd_of_ratio, constant}``, the same
    shape as the leaderboard's.  The features are the leaderboard's
    (f_left - f_right) / (f_left + f_right + 1), standardised with the mean
    and SD over *all* the votes given to :func:`fingerprints` (the room),
    so every voter's coefficients are on one scale.  A feature that does not
    vary over a voter's votes is left out of that voter's fit (``constant``,
    with None values).  The 95 % interval is the sandwich, clustered by
    battle (several voters on one battle in the pooled fingerprint).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping, Sequence

import numpy as np

from .battles_table import STYLE_FEATURES
from .bt import STYLE_REG, Z95, Rows, contextual_sandwich_cov, fit_contextual
from .stats import clopper_pearson

SHOWN_WINNERS = ("left", "right", "tie", "both_bad")
KINDS = ("human", "judge")
MIN_STYLE_VOTES = 30
_LENGTH, _EMOJI = STYLE_FEATURES.index("length"), STYLE_FEATURES.index("emoji")
_MARKDOWN = [STYLE_FEATURES.index(f) for f in ("header", "list", "bold")]


@dataclass(frozen=True)
class ShownVote:
    """One vote as shown to its voter.

    winner: ``left | right | tie | both_bad`` as the voter saw the sides.
    left_features / right_features: STYLE_FEATURES counts, None when unknown.
    """

    voter: str
    battle: Hashable
    left: str
    right: str
    winner: str
    left_features: Sequence[float] | None = None
    right_features: Sequence[float] | None = None
    kind: str = "human"


def proportion(k: int, n: int) -> dict:
    """{k, n, rate, ci} with a Clopper-Pearson 95 % interval; rate and ci None when n = 0."""
    ci = clopper_pearson(k, n)
    return {"k": int(k), "n": int(n), "rate": k / n if n else None, "ci": None if ci is None else list(ci)}


class _Columns:
    """The votes as arrays: who won (+1 left, -1 right, 0 not decisive) and the features."""

    def __init__(self, votes: Sequence[ShownVote]):
        n = len(votes)
        F = len(STYLE_FEATURES)
        self.left = [v.left for v in votes]
        self.right = [v.right for v in votes]
        self.battle = [v.battle for v in votes]
        side = {"left": 1, "right": -1, "tie": 0, "both_bad": 0}
        try:
            self.side = np.array([side[v.winner] for v in votes], dtype=np.int64)
        except KeyError:
            bad = next(v.winner for v in votes if v.winner not in side)
            raise ValueError(f"unknown winner {bad!r}; expected one of {', '.join(SHOWN_WINNERS)}") from None
        self.fl = np.full((n, F), np.nan)
        self.fr = np.full((n, F), np.nan)
        for i, v in enumerate(votes):
            if v.left_features is not None:
                self.fl[i] = v.left_features
            if v.right_features is not None:
                self.fr[i] = v.right_features

    @property
    def decisive(self) -> np.ndarray:
        return self.side != 0

    def more_chosen(self, left_value: np.ndarray, right_value: np.ndarray) -> dict:
        """Decisive votes where the sides differ: how often the side with more was chosen."""
        known = np.isfinite(left_value) & np.isfinite(right_value)
        differ = self.decisive & known & (left_value != right_value)
        more = np.sign(left_value[differ] - right_value[differ])
        return proportion(int((more == self.side[differ]).sum()), int(differ.sum()))


def _ratio(fl: np.ndarray, fr: np.ndarray) -> np.ndarray:
    return (fl - fr) / (fl + fr + 1.0)


def style_scale(votes: Sequence[ShownVote]) -> dict[str, tuple[float, float]]:
    """feature -> (mean, sd) of the leaderboard's style ratio over the votes with it known."""
    cols = _Columns(list(votes))
    out = {}
    for f, name in enumerate(STYLE_FEATURES):
        d = _ratio(cols.fl[:, f], cols.fr[:, f])
        d = d[np.isfinite(d)]
        if len(d):
            out[name] = (float(d.mean()), float(d.std()))
    return out


def _style_coefficients(cols: _Columns, scale: Mapping[str, tuple[float, float]]) -> dict:
    known = np.isfinite(cols.fl).all(1) & np.isfinite(cols.fr).all(1)
    idx = np.flatnonzero(known)
    coefs: dict[str, dict] = {}
    used, rows_x = [], []
    for f, name in enumerate(STYLE_FEATURES):
        mean, sd = scale.get(name, (0.0, 0.0))
        d = _ratio(cols.fl[idx, f], cols.fr[idx, f])
        if sd <= 0 or len(d) == 0 or np.ptp(d) == 0:
            coefs[name] = {"log_odds_per_sd": None, "ci": None, "odds_ratio": None,
                           "sd_of_ratio": float(sd), "constant": True}
            continue
        used.append(name)
        rows_x.append((d - mean) / sd)
    if not used:
        return coefs
    models = sorted(set(cols.left[i] for i in idx) | set(cols.right[i] for i in idx))
    pos = {m: i for i, m in enumerate(models)}
    a = np.array([pos[cols.left[i]] for i in idx], dtype=np.int64)
    b = np.array([pos[cols.right[i]] for i in idx], dtype=np.int64)
    y = (cols.side[idx] + 1) / 2.0  # left won 1, right won 0, tie or both_bad 0.5
    rows = Rows(len(models), a, b, y, np.array(rows_x))
    theta, _ = fit_contextual(rows, reg=STYLE_REG)
    battles = {}
    cluster = np.array([battles.setdefault(cols.battle[i], len(battles)) for i in idx], dtype=np.int64)
    cov = contextual_sandwich_cov(rows, theta, reg=STYLE_REG, cluster=cluster)
    K = len(models)
    for j, name in enumerate(used):
        beta = float(theta[K + j])
        se = math.sqrt(max(float(cov[K + j, K + j]), 0.0))
        coefs[name] = {
            "log_odds_per_sd": beta,
            "ci": [beta - Z95 * se, beta + Z95 * se],
            "odds_ratio": math.exp(beta),
            "sd_of_ratio": float(scale[name][1]),
            "constant": False,
        }
    return {name: coefs[name] for name in STYLE_FEATURES}


def _twin_battle(left: str, right: str, twins: Mapping[str, tuple[str, str | None]]) -> int:
    """+1 if left is the treated twin of right, -1 if right is left's, 0 if not a twin battle."""
    if left not in twins or right not in twins:
        return 0
    (base_l, treat_l), (base_r, treat_r) = twins[left], twins[right]
    if base_l != base_r or bool(treat_l) == bool(treat_r):
        return 0
    return 1 if treat_l else -1


def voter_fingerprint(
    votes: Sequence[ShownVote],
    twins: Mapping[str, tuple[str, str | None]] | None = None,
    *,
    voter: str | None = None,
    kind: str | None = None,
    position_votes: Sequence[ShownVote] | None = None,
    scale: Mapping[str, tuple[float, float]] | None = None,
    min_style_votes: int = MIN_STYLE_VOTES,
) -> dict:
    """The fingerprint of these votes (see the module docstring).

    voter / kind: the labels (default: taken from the votes, which must then
    agree).  twins: model -> (base, treatment or None).  scale: feature ->
    (mean, sd) for the style fit (default: these votes' own, see
    :func:`style_scale`).
    """
    votes = list(votes)
    if voter is None:
        names = {v.voter for v in votes}
        if len(names) > 1:
            raise ValueError("votes of several voters: give voter= for a pooled fingerprint")
        voter = names.pop() if names else ""
    if kind is None:
        kinds = {v.kind for v in votes}
        kind = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "human")
    cols = _Columns(votes)
    decisive = int(cols.decisive.sum())
    pos_cols = cols if position_votes is None else _Columns(list(position_votes))
    pos_dec = pos_cols.decisive
    first = proportion(int((pos_cols.side[pos_dec] == 1).sum()), int(pos_dec.sum()))
    twin = np.array([_twin_battle(l, r, twins or {}) for l, r in zip(cols.left, cols.right)], dtype=np.int64)
    on_twins = cols.decisive & (twin != 0)
    style = None
    if decisive >= min_style_votes:
        style = _style_coefficients(cols, style_scale(votes) if scale is None else scale)
    return {
        "voter": voter,
        "kind": kind,
        "votes": len(votes),
        "decisive": decisive,
        "longer_chosen": cols.more_chosen(cols.fl[:, _LENGTH], cols.fr[:, _LENGTH]),
        "more_emoji_chosen": cols.more_chosen(cols.fl[:, _EMOJI], cols.fr[:, _EMOJI]),
        "more_markdown_chosen": cols.more_chosen(cols.fl[:, _MARKDOWN].sum(1), cols.fr[:, _MARKDOWN].sum(1)),
        "twin_pairs": proportion(int((twin[on_twins] == cols.side[on_twins]).sum()), int(on_twins.sum())),
        "position_bias": {
            "first_shown_chosen": first["rate"], "ci": first["ci"], "k": first["k"], "n": first["n"]
        },
        "style_coefficients": style,
    }


def fingerprints(
    votes: Iterable[ShownVote],
    twins: Mapping[str, tuple[str, str | None]] | None = None,
    *,
    position_votes: Iterable[ShownVote] | None = None,
    min_style_votes: int = MIN_STYLE_VOTES,
) -> list[dict]:
    """One fingerprint per voter, sorted by voter name; style fits on the room's scale.

    position_votes: for the voters that have any, their position bias comes
    from these records instead of their votes (judges' raw verdicts).
    """
    votes = list(votes)
    scale = style_scale(votes)
    by_voter: dict[str, list[ShownVote]] = defaultdict(list)
    for v in votes:
        by_voter[v.voter].append(v)
    by_position: dict[str, list[ShownVote]] = defaultdict(list)
    for v in position_votes or ():
        by_position[v.voter].append(v)
    out = []
    for name in sorted(by_voter):
        kinds = {v.kind for v in by_voter[name]}
        if len(kinds) > 1:
            raise ValueError(f"voter {name!r} has votes of more than one kind: {', '.join(sorted(kinds))}")
        out.append(
            voter_fingerprint(
                by_voter[name], twins, voter=name, position_votes=by_position.get(name),
                scale=scale, min_style_votes=min_style_votes,
            )
        )
    return out


def room_fingerprint(
    votes: Iterable[ShownVote],
    twins: Mapping[str, tuple[str, str | None]] | None = None,
    *,
    name: str = "room",
    scale: Mapping[str, tuple[float, float]] | None = None,
    min_style_votes: int = MIN_STYLE_VOTES,
) -> dict:
    """Every vote pooled as one voter ``name`` (kind: the voters' common kind, else "mixed").

    The style interval is clustered by battle, so many voters on one battle
    count as one battle's worth of evidence where they agree.  ``scale``:
    to set the pooled humans beside a judge, pass ``style_scale`` of all the
    votes that :func:`fingerprints` saw, so the coefficients share its scale.
    """
    votes = list(votes)
    return voter_fingerprint(votes, twins, voter=name, scale=scale, min_style_votes=min_style_votes)


def _estimate(coef: Mapping | None) -> dict | None:
    if not coef or coef.get("log_odds_per_sd") is None:
        return None
    return {"log_odds_per_sd": coef["log_odds_per_sd"], "ci": list(coef["ci"])}


def length_bias_difference(judge: Mapping | None, humans: Mapping | None) -> dict | None:
    """Is the judge's preference for the longer answer larger than the humans'?

    ``judge`` / ``humans``: the ``length`` entries of two fingerprints' style
    coefficients on one scale.  "Larger" is the signed coefficient: a judge
    whose length coefficient exceeds the humans' favours the longer answer
    more.  The difference's 95 % interval treats the two fits as independent
    (their standard errors read back from their intervals); judge and humans
    voting the same battles are positively correlated, which only narrows the
    true interval, so this one errs wide.  ``larger``: ``judge``, ``humans``,
    or ``cannot tell`` when the interval holds 0.  None without both fits.
    """
    j, h = _estimate(judge), _estimate(humans)
    if j is None or h is None:
        return None
    se = [(c["ci"][1] - c["ci"][0]) / (2 * Z95) for c in (j, h)]
    diff = j["log_odds_per_sd"] - h["log_odds_per_sd"]
    half = Z95 * math.sqrt(se[0] ** 2 + se[1] ** 2)
    lo, hi = diff - half, diff + half
    larger = "judge" if lo > 0 else "humans" if hi < 0 else "cannot tell"
    return {"difference": diff, "ci": [lo, hi], "larger": larger}


def style_comparison(humans: Mapping | None, judges: Sequence[Mapping]) -> dict:
    """The pooled humans' and each judge's style coefficients side by side, on one scale.

    ``{"unit": "log_odds_per_sd", "features": [...], "coefficients": {"humans": {feature:
    {log_odds_per_sd, ci} | None} | None, "judge:X": ...}, "length_bias": {"judge:X":
    length_bias_difference(...)}}``; a voter's entry is None below the style fit's
    minimum of decisive votes, a feature's None when it did not vary.
    """
    def row(fp: Mapping | None) -> dict | None:
        coefs = (fp or {}).get("style_coefficients")
        return None if coefs is None else {f: _estimate(coefs.get(f)) for f in STYLE_FEATURES}

    humans_row = row(humans)
    out = {"unit": "log_odds_per_sd", "features": list(STYLE_FEATURES),
           "coefficients": {"humans": humans_row}, "length_bias": {}}
    for fp in judges:
        mine = row(fp)
        out["coefficients"][fp["voter"]] = mine
        out["length_bias"][fp["voter"]] = length_bias_difference(
            (mine or {}).get("length"), (humans_row or {}).get("length"))
    return out


__all__ = [
    "KINDS",
    "MIN_STYLE_VOTES",
    "SHOWN_WINNERS",
    "ShownVote",
    "fingerprints",
    "length_bias_difference",
    "proportion",
    "room_fingerprint",
    "style_comparison",
    "style_scale",
    "voter_fingerprint",
]
