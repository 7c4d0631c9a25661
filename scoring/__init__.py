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
    leaderboard        compute_leaderboard(): one JSON-able result
    simulate           simulate_arena(): known truth, style-biased voters, the
                       chatty-twin story; compare_to_truth()
"""

from .battles_table import STYLE_FEATURES, BattleTable
from .leaderboard import compute_leaderboard, describe_style_coefficient
from .simulate import SimulatedArena, compare_to_truth, simulate_arena
from .stats import pairwise_matrices, position_bias
from .trueskill_ratings import match_quality, trueskill_ratings

__all__ = [
    "STYLE_FEATURES",
    "BattleTable",
    "SimulatedArena",
    "compare_to_truth",
    "compute_leaderboard",
    "describe_style_coefficient",
    "match_quality",
    "pairwise_matrices",
    "position_bias",
    "simulate_arena",
    "trueskill_ratings",
]
