"""Agreement between voters who voted the same battles.

Input: :class:`BattleVote` records, one per vote, with the winner in the
battle's own terms (``model_a`` / ``model_b`` as stored for the battle, not
the side this voter saw it on: the caller maps a voter's left/right back
before building the records).  A voter votes a battle at most once.

How the four verdicts count
    Three categories: ``model_a``, ``model_b`` and ``tie``; ``both_bad``
    counts as ``tie`` (neither answer is preferred, as in the ratings, where
    both score half a win).  Two votes agree when they fall in the same
    category, so a ``tie`` and a ``both_bad`` agree.

    "Without ties" follows MT-Bench (Zheng et al. 2023, "Judging
    LLM-as-a-judge", table 3 "w/o tie"): the pairs of votes in which either
    vote is a tie or both_bad are dropped, and agreement is the share of the
    remaining pairs that pick the same model.

Measures
    pairwise agreement: over all pairs of votes on the same battle (a battle
        with n votes gives n (n - 1) / 2 pairs), the share that agree.
    Fleiss' kappa: chance-corrected agreement over the battles with two or
        more votes, with a varying number of votes per battle (see
        :func:`fleiss_kappa`).
    Cohen's kappa (two voters): (p_o - p_e) / (1 - p_e) on the voters' paired
        votes, p_e from each voter's own category shares.

A kappa is None (never NaN) when it is undefined: all votes in one category
(chance agreement is 1), or no pairs at all.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Collection, Hashable, Iterable

import numpy as np

CATEGORIES: tuple[str, ...] = ("model_a", "model_b", "tie")
_CATEGORY = {"model_a": 0, "model_b": 1, "tie": 2, "both_bad": 2}


@dataclass(frozen=True)
class BattleVote:
    """One vote: ``winner`` in the battle's own terms (model_a | model_b | tie | both_bad)."""

    battle: Hashable
    voter: str
    winner: str


def _category(winner: str) -> int:
    try:
        return _CATEGORY[winner]
    except KeyError:
        raise ValueError(f"unknown winner {winner!r}; expected model_a, model_b, tie or both_bad") from None


def _by_battle(votes: Iterable[BattleVote]) -> dict[Hashable, dict[str, int]]:
    """battle -> {voter: category}; a second vote by one voter on one battle is an error."""
    out: dict[Hashable, dict[str, int]] = defaultdict(dict)
    for v in votes:
        seen = out[v.battle]
        if v.voter in seen:
            raise ValueError(f"voter {v.voter!r} voted battle {v.battle!r} more than once")
        seen[v.voter] = _category(v.winner)
    return out


def fleiss_kappa(counts) -> float | None:
    """Fleiss' kappa of an (items, categories) table of rating counts.

    Items may have different numbers of ratings; items with fewer than two
    are left out.  The generalisation used (Gwet, "Handbook of Inter-Rater
    Reliability", 4th ed. 2014, Fleiss' kappa with missing ratings; the R
    package irrCAC's ``fleiss.kappa.raw``):
        p_a = mean over items of sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))
        pi_k = mean over items of r_ik / r_i
        p_e = sum_k pi_k^2,  kappa = (p_a - p_e) / (1 - p_e).
    With the same number of ratings on every item it is Fleiss (1971).
    None when no item has two ratings or p_e = 1 (one category only).
    """
    r = np.asarray(counts, dtype=np.float64)
    if r.ndim != 2:
        raise ValueError("counts must be a 2-d table (items x categories)")
    n = r.sum(1)
    r, n = r[n >= 2], n[n >= 2]
    if len(n) == 0:
        return None
    p_a = float(np.mean((r * (r - 1)).sum(1) / (n * (n - 1))))
    pi = (r / n[:, None]).mean(0)
    p_e = float(pi @ pi)
    if p_e >= 1.0 - 1e-12:
        return None
    return (p_a - p_e) / (1.0 - p_e)


def agreement_summary(votes: Iterable[BattleVote]) -> dict:
    """How much the voters of the same battles agree, over all voters pooled.

    {battles_with_multiple_votes, vote_pairs, pairwise_agreement,
    pairwise_agreement_without_ties, fleiss_kappa}; the rates are None when
    no battle has two votes (``pairwise_agreement_without_ties`` also when
    every pair holds a tie).
    """
    table = np.array(
        [np.bincount(list(cats.values()), minlength=3) for cats in _by_battle(votes).values()],
        dtype=np.int64,
    ).reshape(-1, 3)
    table = table[table.sum(1) >= 2]
    pairs = lambda x: x * (x - 1) // 2  # noqa: E731
    n_pairs = int(pairs(table.sum(1)).sum())
    agree = int(pairs(table).sum())
    decisive = table[:, 0] + table[:, 1]
    n_decisive = int(pairs(decisive).sum())
    agree_decisive = int(pairs(table[:, :2]).sum())
    return {
        "battles_with_multiple_votes": int(len(table)),
        "vote_pairs": n_pairs,
        "pairwise_agreement": agree / n_pairs if n_pairs else None,
        "pairwise_agreement_without_ties": agree_decisive / n_decisive if n_decisive else None,
        "fleiss_kappa": fleiss_kappa(table),
    }


def _pair_stats(a: str, b: str, battles: int, pairs: list[tuple[int, int]]) -> dict:
    """{a, b, battles, pairs, agreement, agreement_without_ties, cohen_kappa} of paired categories."""
    m = np.zeros((3, 3))
    for x, y in pairs:
        m[x, y] += 1
    n = m.sum()
    agreement = float(np.trace(m) / n) if n else None
    decisive = m[:2, :2]
    n_dec = decisive.sum()
    kappa = None
    if n:
        p_e = float(m.sum(1) @ m.sum(0)) / (n * n)
        if p_e < 1.0 - 1e-12:
            kappa = (agreement - p_e) / (1.0 - p_e)
    return {
        "a": a,
        "b": b,
        "battles": int(battles),
        "pairs": int(n),
        "agreement": agreement,
        "agreement_without_ties": float(np.trace(decisive) / n_dec) if n_dec else None,
        "cohen_kappa": kappa,
    }


def voter_pair_agreement(votes: Iterable[BattleVote]) -> list[dict]:
    """One entry per pair of voters with at least one battle in common.

    {a, b, battles, pairs, agreement, agreement_without_ties, cohen_kappa},
    a < b by name, sorted by (a, b).  ``battles`` (= ``pairs`` here) counts
    the battles both voted; the rates are over those battles.
    """
    paired: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for cats in _by_battle(votes).values():
        for a, b in combinations(sorted(cats), 2):
            paired[(a, b)].append((cats[a], cats[b]))
    return [_pair_stats(a, b, len(p), p) for (a, b), p in sorted(paired.items())]


def group_agreement(
    votes: Iterable[BattleVote], voter: str, group: Collection[str], name: str = "humans"
) -> dict:
    """One voter (a judge, say) against a group of voters pooled under ``name``.

    Every vote of ``voter`` is paired with every group member's vote on the
    same battle (MT-Bench's judge-human agreement counts the same pairs), so
    ``pairs`` can exceed ``battles`` (battles the voter and at least one
    member voted).  The voter itself is never part of its own group.
    Returns the same shape as :func:`voter_pair_agreement` with b = ``name``.
    """
    members = set(group) - {voter}
    pairs: list[tuple[int, int]] = []
    battles = 0
    for cats in _by_battle(votes).values():
        if voter not in cats:
            continue
        theirs = [cats[m] for m in cats if m in members]
        if theirs:
            battles += 1
            pairs.extend((cats[voter], c) for c in theirs)
    return _pair_stats(voter, name, battles, pairs)


__all__ = [
    "CATEGORIES",
    "BattleVote",
    "agreement_summary",
    "fleiss_kappa",
    "group_agreement",
    "voter_pair_agreement",
]
