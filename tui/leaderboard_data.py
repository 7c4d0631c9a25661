"""Glue between the vote store and the rating math: rows out of SQLite, a leaderboard out of scoring.

``scoring.leaderboard`` (numpy, scipy) is imported on the first computation, not with this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from battles.store import Store
from scoring.results import Leaderboard, LeaderboardRequest

if TYPE_CHECKING:
    from scoring.battles_table import BattleTable

__all__ = ["Leaderboard", "LeaderboardRequest", "load_leaderboard", "load_table"]

# scoring calls the answer length "length"; the store counts it in tokens.
STORE_COLUMN_FOR_FEATURE = {"length": "tokens"}


def load_table(store: Store, request: LeaderboardRequest) -> tuple[BattleTable, dict[str, int]]:
    """The counted battles as a BattleTable (NaN = unknown feature) and the exclusion counts."""
    from scoring.battles_table import CODE_TO_OUTCOME, STYLE_FEATURES, BattleTable

    columns = store.scoring_columns(
        category=request.category, voter=request.voter, kind=request.vote_kinds,
        include_leaks=request.include_leaks,
        features=tuple(STORE_COLUMN_FOR_FEATURE.get(name, name) for name in STYLE_FEATURES))
    if not columns.n:
        return BattleTable.from_records([], [], []), columns.excluded
    # The store's winner codes are scoring's (model_a = the left one); the cluster is the
    # battle each vote belongs to: intervals resample whole battles.
    table = BattleTable(models=columns.models, a=columns.left, b=columns.right,
                        outcome=CODE_TO_OUTCOME[columns.winner], winner_code=columns.winner,
                        features_a=columns.features_left, features_b=columns.features_right,
                        cluster=columns.cluster)
    return table, columns.excluded


def load_leaderboard(store: Store, request: LeaderboardRequest) -> Leaderboard:
    from scoring.leaderboard import compute_leaderboard

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
        matrices=request.matrices,
        style_convention=request.style_convention,
        families=request.families,
        family_globs=request.family_globs,
    )


def rate_in_thread(node, db_path, request: LeaderboardRequest, deliver, *, group: str, exclusive: bool = False):
    """The one leaderboard worker of the app and its screens: compute ``request`` in a thread
    worker of ``node`` (a Textual DOM node), never on the event loop, with a database
    connection of the thread's own (sqlite connections are not shared across threads here).

    ``deliver(request, board, error)`` then runs on the event loop, unless the worker was
    cancelled meanwhile (by an ``exclusive`` newer one, or ``node`` going away); ``error`` is
    ``(type name, message)`` when the computation failed, and ``board`` None.
    Returns the Worker.
    """

    def compute() -> None:
        from textual.worker import get_current_worker

        try:
            with Store(db_path) as store:
                board, error = load_leaderboard(store, request), None
        except Exception as exc:  # the caller shows why; a rating failure never takes the app down
            board, error = None, (type(exc).__name__, str(exc))
        if not get_current_worker().is_cancelled:
            node.app.call_from_thread(deliver, request, board, error)

    return node.run_worker(compute, thread=True, group=group, exclusive=exclusive,
                           name=f"rate {request.method}")
