"""Rating math for blindside: pure functions over plain arrays and records.

This package must never import ``battles``, ``tui`` or ``textual`` (an
import-linter contract in pyproject.toml enforces it).

Modules
    battles_table      BattleTable (columnar battles), STYLE_FEATURES, winner codes
    bt                 Bradley-Terry: plain (aggregated pairs, batched bootstrap,
                       sandwich) and contextual (style control)
    elo                online Elo (LMArena's compute_online_elo) and its bootstrap
    trueskill_ratings  TrueSkill from plain lists; match_quality for pairing
    stats              counts, win-rate matrices, position bias, Wilson and
                       Clopper-Pearson intervals
    agreement          agreement between voters of the same battles (pairwise,
                       Fleiss' and Cohen's kappa)
    fingerprints       per-voter tendencies: longer / emoji / markdown chosen,
                       twin pairs, position bias, style coefficients
    selection          best-of-N selection bias: the simulation of a lab's variants
    results            the typed results (Leaderboard, ModelRating, ...), numpy-free
    leaderboard        compute_leaderboard(): a results.Leaderboard
    simulate           simulate_arena(): known truth, style-biased voters, the
                       chatty-twin story; compare_to_truth()
"""

import importlib

# Loaded on first use, so ``import scoring.results`` (the typed results, no numpy) costs
# nothing: the app and the CLI import numpy and scipy only when they compute.
_LAZY = {
    "STYLE_FEATURES": "battles_table",
    "BattleTable": "battles_table",
    "compute_leaderboard": "leaderboard",
    "describe_style_coefficient": "leaderboard",
    "SimulatedArena": "simulate",
    "compare_to_truth": "simulate",
    "simulate_arena": "simulate",
    "pairwise_matrices": "stats",
    "position_bias": "stats",
    "match_quality": "trueskill_ratings",
}
# (the function trueskill_ratings is not listed: its name is its module's, so
# ``scoring.trueskill_ratings`` would mean one or the other by import order)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY)
