"""`blindside leaderboard` end to end on a 1M-battle database (target <= 15 s).

Builds a database of generated battles once (50 models with known strengths, style
features on both sides, votes), then times the command as a user runs it, in a fresh
process each time: default options (Bradley-Terry, 100 bootstrap rounds, style control)
and the sandwich variant. Medians of the repeats. ``--quick`` uses 100k battles.

    python -m bench.bench_leaderboard [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

BATTLES_FULL = 1_000_000
BATTLES_QUICK = 100_000
TARGET_S = 15.0
WINNERS = np.array(["model_a", "model_b", "tie", "both_bad"])


def generated_battles(n: int, seed: int = 5):
    from battles.store import NewBattle

    rng = np.random.default_rng(seed)
    models = [f"model-{i:02d}" for i in range(50)]
    strength = rng.normal(0, 1, len(models))
    a = rng.integers(0, len(models), n)
    b = (a + rng.integers(1, len(models), n)) % len(models)
    p = 1 / (1 + np.exp(-(strength[a] - strength[b])))
    draw = rng.random(n) < 0.25
    code = np.where(draw, 2 + (rng.random(n) < 0.3), np.where(rng.random(n) < p, 0, 1))
    features = rng.poisson([400, 1, 2, 4, 3], size=(2, n, 5)).tolist()
    keys = ("tokens", "emoji", "header", "list", "bold")
    for i in range(n):
        yield NewBattle(
            id=f"bench-{i}", model_a=models[a[i]], model_b=models[b[i]], winner=str(WINNERS[code[i]]),
            created="2025-06-01T00:00:00+00:00", source="bench",
            features_a=dict(zip(keys, features[0][i])), features_b=dict(zip(keys, features[1][i])))


def build_db(path: Path, n: int) -> float:
    from battles.store import Store

    started = time.perf_counter()
    with Store(path) as store:
        store.insert_battles(generated_battles(n))
    return time.perf_counter() - started


def time_command(db: Path, *extra: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui.cli", "leaderboard", "--db", str(db), *extra],
                   cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(quick: bool = False, repeats: int = 3) -> list[dict]:
    n = BATTLES_QUICK if quick else BATTLES_FULL
    repeats = 1 if quick else repeats
    with tempfile.TemporaryDirectory(prefix="bench-leaderboard-") as tmp:
        db = Path(tmp) / "votes.db"
        build_s = build_db(db, n)
        default = statistics.median(time_command(db) for _ in range(repeats))
        sandwich = statistics.median(time_command(db, "--ci", "sandwich") for _ in range(repeats))
    target = f"<= {TARGET_S:g}" if not quick else "not judged (quick)"
    return [
        {"name": f"`blindside leaderboard` on {n:,} battles (bootstrap 100, style control)",
         "value": round(default, 2), "unit": "s", "target": target},
        {"name": f"`blindside leaderboard --ci sandwich` on {n:,} battles",
         "value": round(sandwich, 2), "unit": "s", "target": target},
        {"name": f"building the {n:,}-battle database (Store.insert_battles)",
         "value": round(build_s, 1), "unit": "s", "target": "none"},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for row in run(quick=args.quick, repeats=args.repeats):
        print(f"{row['name']}: {row['value']} {row['unit']} (target {row['target']})")


if __name__ == "__main__":
    main()
