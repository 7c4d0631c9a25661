"""`blindside simulate --variants 27` end to end (target <= 30 s).

Times the command as a user runs it, in a fresh process each time, with the defaults
(2,500 votes per variant, spread 10 points, 200 trials): median of the repeats.

Baseline, same run: the straightforward way to get the same numbers, a full leaderboard
fit per simulated lab (``compute_leaderboard`` with style control and sandwich intervals)
on a 20,000-battle arena plus the 27 variants' votes. It is measured on
``BASELINE_TRIALS`` labs and extrapolated to 200 (the fits dominate; simulating the votes
is left out of it, which favours the baseline).

    python -m bench.bench_selection [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TARGET_S = 30.0
VARIANTS = 27
TRIALS = 200
VOTES = 2500
BASELINE_TRIALS = 2


def time_command(*extra: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui.cli", "simulate", "--variants", str(VARIANTS), *extra],
                   cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _variant_table(rng, arena, variants: int, votes: int):
    """The arena's battles plus each variant's votes against random field models, as one table."""
    from scoring.battles_table import BattleTable
    from scoring.simulate import _responses, draw_scores, roster

    names, truth, profile = roster()
    K = len(names)
    n = variants * votes
    variant = np.repeat(np.arange(variants), votes)
    opponent = rng.integers(0, K, n)
    fa = _responses(rng, profile[rng.integers(0, K, n)])
    fb = _responses(rng, profile[opponent])
    w = np.array(list(arena.style_weights.values()))
    d = (fa - fb) / (fa + fb + 1.0)
    strength = truth[names.index("sim-maverick-instruct")] + 10.0 * rng.standard_normal(variants)
    p = 1.0 / (1.0 + np.exp(-(np.log(10.0) * (strength[variant] - truth[opponent]) / 400.0 + d @ w)))
    y = draw_scores(rng, p)
    winner = np.where(y == 1.0, "model_a", np.where(y == 0.0, "model_b", "tie"))
    return BattleTable.from_records(
        arena.model_a + [f"variant-{v}" for v in variant.tolist()],
        arena.model_b + [names[o] for o in opponent.tolist()],
        arena.winner + winner.tolist(),
        np.vstack([arena.features_a, fa]),
        np.vstack([arena.features_b, fb]),
    )


def baseline_per_lab(trials: int = BASELINE_TRIALS) -> float:
    """Seconds per simulated lab with a full leaderboard fit (mean of ``trials``)."""
    from scoring.leaderboard import compute_leaderboard
    from scoring.simulate import simulate_arena

    arena = simulate_arena(20_000, seed=7)
    rng = np.random.default_rng(7)
    spent = 0.0
    for _ in range(trials):
        table = _variant_table(rng, arena, VARIANTS, VOTES)
        started = time.perf_counter()
        compute_leaderboard(table, ci="sandwich")
        spent += time.perf_counter() - started
    return spent / trials


def run(quick: bool = False, repeats: int = 3) -> list[dict]:
    repeats = 1 if quick else repeats
    extra = ("--trials", "20") if quick else ()
    trials = 20 if quick else TRIALS
    median = statistics.median(time_command(*extra) for _ in range(repeats))
    baseline = baseline_per_lab() * trials
    target = f"<= {TARGET_S:g}" if not quick else "not judged (quick)"
    return [
        {"name": f"`blindside simulate --variants {VARIANTS}` ({trials} trials, {VOTES:,} votes per variant)",
         "value": round(median, 2), "unit": "s", "target": target,
         "baseline": round(baseline, 1), "ratio": round(median / baseline, 4),
         "note": f"baseline: a full leaderboard fit per lab ({BASELINE_TRIALS} measured, extrapolated)"},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for row in run(quick=args.quick, repeats=args.repeats):
        print(f"{row['name']}: {row['value']} {row['unit']} (target {row['target']}); "
              f"baseline {row['baseline']} s, ratio {row['ratio']}")


if __name__ == "__main__":
    main()
