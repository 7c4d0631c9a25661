"""Glue between the vote store and the rating math: rows out of SQLite, a leaderboard out of scoring."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from battles.store import Store
from scoring.battles_table import STYLE_FEATURES, BattleTable
from scoring.leaderboard import compute_leaderboard

# scoring calls the answer length "length"; the store counts it in tokens.
STORE_COLUMN_FOR_FEATURE = {"length": "tokens"}


@dataclass(frozen=True)
class LeaderboardRequest:
    method: str = "bt"
    ci: str = "bootstrap"
    rounds: int = 100
    style_control: bool = True
    anchor: tuple[str, float] | None = None
    category: str | None = None
    voter: str | None = None
    include_leaks: bool = False
    seed: int = 42


def load_table(store: Store, request: LeaderboardRequest) -> tuple[BattleTable, dict[str, int]]:
    """The counted battles as a BattleTable (NaN = unknown feature) and the exclusion counts."""
    columns = tuple(STORE_COLUMN_FOR_FEATURE.get(name, name) for name in STYLE_FEATURES)
    rows, excluded = store.scoring_rows(category=request.category, voter=request.voter,
                                        include_leaks=request.include_leaks, features=columns)
    k = len(columns)
    if not rows:
        return BattleTable.from_records([], [], []), excluded
    cols = list(zip(*rows))
    # numpy turns None into NaN for a float array: unknown stays unknown, never 0.
    features_a = np.array(cols[3:3 + k], dtype=float).T
    features_b = np.array(cols[3 + k:3 + 2 * k], dtype=float).T
    table = BattleTable.from_records(cols[0], cols[1], cols[2], features_a=features_a, features_b=features_b)
    # The last column is the battle each vote belongs to: intervals resample whole battles.
    if "cluster" in BattleTable.__dataclass_fields__:
        table = dataclasses.replace(table, cluster=np.asarray(cols[3 + 2 * k], dtype=np.int64))
    return table, excluded


def load_leaderboard(store: Store, request: LeaderboardRequest) -> dict:
    table, excluded = load_table(store, request)
    return compute_leaderboard(
        table,
        method=request.method,
        ci=request.ci,
        rounds=request.rounds,
        seed=request.seed,
        anchor=request.anchor,
        style_control=request.style_control,
        excluded=excluded,
    )
