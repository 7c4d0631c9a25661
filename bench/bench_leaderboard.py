"""`blindside leaderboard` end to end, against a reference fit of the same database.

Builds databases of generated battles (50 models with known strengths, style features on both
sides, votes), then times the command as a user runs it, in a fresh process each time:

- ``--json --ci sandwich`` on 200,000 battles, against the reference measured in the same run:
  an independent per-battle fit in a fresh process (sqlite3 reads the same rows, scipy's
  L-BFGS fits the raw and the style-controlled Bradley-Terry model, one row per battle, no
  intervals). Target: the whole command takes at most a third of the reference.
- ``--json --ci sandwich`` on 1,000,000 battles: target 3 s.
- default options (Bradley-Terry, 100 bootstrap rounds, style control) and the text sandwich
  variant on 1,000,000 battles: target 15 s.

The store keeps the counted votes in a cache file beside the database (see
``battles.store.scoring_cache``): a run after the first reads that file. Two first runs after
a write are timed too, reported, not judged: after an update of a voted battle (SQLite read
whole, the file refilled) and after one new battle and its vote (the live arena: the file
plus that vote). Each timing also gives the child's CPU seconds (user +
system), steadier than wall time on a shared machine, and the load average.

Medians of the repeats. ``--quick`` uses 20,000 / 100,000 battles (not judged);
``--battles N`` times only the reference comparison on N battles (a quick check).

    python -m bench.bench_leaderboard [--quick] [--repeats N] [--battles N]
"""

from __future__ import annotations

import argparse
import os
import resource
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
BATTLES_REFERENCE = 200_000
BATTLES_REFERENCE_QUICK = 20_000
TARGET_S = 15.0
TARGET_SANDWICH_1M_S = 3.0
TARGET_RATIO = 1 / 3
WINNERS = np.array(["model_a", "model_b", "tie", "both_bad"])

# The reference: what a careful user would write without blindside, run as a fresh process on
# the same database. Plain sqlite3 + numpy + scipy, one row per battle, no aggregation.
REFERENCE_FIT = r"""
import math, sqlite3, sys
import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

FEATURES = ("tokens", "emoji", "header", "list", "bold")
cols = ", ".join([f"b.a_{f}" for f in FEATURES] + [f"b.b_{f}" for f in FEATURES])
conn = sqlite3.connect(sys.argv[1])
rows = conn.execute(f"SELECT b.model_a, b.model_b, v.winner, {cols} FROM battles b "
                    "JOIN votes v ON v.battle_id = b.id WHERE b.status = 'complete' AND b.identity_leak = 0").fetchall()
names = sorted({r[0] for r in rows} | {r[1] for r in rows})
index = {m: i for i, m in enumerate(names)}
a = np.array([index[r[0]] for r in rows])
b = np.array([index[r[1]] for r in rows])
score = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "both_bad": 0.5}
y = np.array([score[r[2]] for r in rows])
feats = np.array([r[3:] for r in rows], dtype=float)
fa, fb = feats[:, :5], feats[:, 5:]
total = fa + fb
x = np.divide(fa - fb, total, out=np.zeros_like(total), where=total > 0)
x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
k, ln10 = len(names), math.log(10.0)

def loss(params, with_style):
    theta = params[:k]
    z = ln10 * (theta[a] - theta[b]) + (x @ params[k:] if with_style else 0.0)
    p = expit(z)
    value = -(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)).sum() + 0.25 * params @ params
    r = p - y
    grad = 0.5 * params
    grad[:k] += ln10 * (np.bincount(a, r, k) - np.bincount(b, r, k))
    if with_style:
        grad[k:] += x.T @ r
    return value, grad

for with_style, size in ((False, k), (True, k + 5)):
    minimize(loss, np.zeros(size), args=(with_style,), jac=True, method="L-BFGS-B")
"""


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


def _timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and the child's CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def time_command(db: Path, *extra: str) -> tuple[float, float]:
    return _timed([sys.executable, "-m", "tui.cli", "leaderboard", "--db", str(db), *extra])


def time_command_cold(db: Path, *extra: str) -> tuple[float, float]:
    """The first run after a write to a voted battle: SQLite is read whole (and the file refilled)."""
    from battles.store import Store

    with Store(db) as store:
        with store.conn:
            store.conn.execute("UPDATE battles SET prompt = 'edited' WHERE id = 'bench-0'")
    return time_command(db, *extra)


def time_command_after_vote(db: Path, *extra: str) -> tuple[float, float]:
    """The first run after one new battle played and voted, as in an arena (one vote per
    battle, as in the rest of the database: a second vote on a battle would add the
    voters' agreement, read apart from the cache, to the command)."""
    from battles.store import Store

    with Store(db) as store:
        battle_id = store.begin_battle(model_a="model-01", model_b="model-02", prompt="new")
        store.finish_battle(battle_id, status="complete", identity_leak=False,
                            features_a={"tokens": 300, "bold": 1}, features_b={"tokens": 500, "bold": 0})
        store.record_vote(battle_id, "model_b", None)
    return time_command(db, *extra)


def time_reference(db: Path) -> tuple[float, float]:
    return _timed([sys.executable, "-c", REFERENCE_FIT, str(db)])


def _medians(timings: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)


def _load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def reference_rows(n: int, repeats: int, judged: bool) -> list[dict]:
    """The sandwich JSON command against the reference fit, both on one n-battle database,
    interleaved so that a change in the machine's load hits both alike."""
    with tempfile.TemporaryDirectory(prefix="bench-leaderboard-") as tmp:
        db = Path(tmp) / "votes.db"
        build_db(db, n)
        time_command(db, "--json", "--ci", "sandwich")  # warm the page cache for both (and fill the cache file)
        ours, cold, voted, reference = [], [], [], []
        for _ in range(repeats):
            ours.append(time_command(db, "--json", "--ci", "sandwich"))
            reference.append(time_reference(db))
            cold.append(time_command_cold(db, "--json", "--ci", "sandwich"))
            voted.append(time_command_after_vote(db, "--json", "--ci", "sandwich"))
        load = _load()
    (value, cpu), (baseline, baseline_cpu), (cold_value, cold_cpu) = _medians(ours), _medians(reference), _medians(cold)
    voted_value, voted_cpu = _medians(voted)
    name = f"`blindside leaderboard --json --ci sandwich` on {n:,} battles (style control)"
    return [{"name": name, "value": round(value, 2), "unit": "s", "baseline": round(baseline, 2),
             "ratio": round(value / baseline, 3), "cpu": round(cpu, 2), "baseline_cpu": round(baseline_cpu, 2),
             "cpu_ratio": round(cpu / baseline_cpu, 3),
             "target": f"ratio <= {TARGET_RATIO:.2f}" if judged else "not judged (quick)",
             "note": "baseline: an independent per-battle L-BFGS fit of the same database (sqlite3 + "
                     f"scipy, raw and style, no intervals) in a fresh process; median of {repeats}; {load}"},
            {"name": name + ", first run after a write to a voted battle (SQLite read, cache file refilled)",
             "value": round(cold_value, 2), "unit": "s", "baseline": round(baseline, 2),
             "ratio": round(cold_value / baseline, 3), "cpu": round(cold_cpu, 2), "baseline_cpu": round(baseline_cpu, 2),
             "cpu_ratio": round(cold_cpu / baseline_cpu, 3), "target": "not judged",
             "note": f"median of {repeats}; {load}"},
            {"name": name + ", first run after one new vote (a new battle voted: cache file plus that vote)",
             "value": round(voted_value, 2), "unit": "s", "baseline": round(baseline, 2),
             "ratio": round(voted_value / baseline, 3), "cpu": round(voted_cpu, 2),
             "baseline_cpu": round(baseline_cpu, 2),
             "cpu_ratio": round(voted_cpu / baseline_cpu, 3), "target": "not judged",
             "note": f"median of {repeats}; {load}"}]


def run(quick: bool = False, repeats: int = 3) -> list[dict]:
    n = BATTLES_QUICK if quick else BATTLES_FULL
    repeats = 1 if quick else repeats
    rows = reference_rows(BATTLES_REFERENCE_QUICK if quick else BATTLES_REFERENCE, max(repeats, 3), not quick)
    with tempfile.TemporaryDirectory(prefix="bench-leaderboard-") as tmp:
        db = Path(tmp) / "votes.db"
        build_s = build_db(db, n)
        default = _medians([time_command(db) for _ in range(repeats)])
        sandwich = _medians([time_command(db, "--ci", "sandwich") for _ in range(repeats)])
        sandwich_json = _medians([time_command(db, "--json", "--ci", "sandwich") for _ in range(repeats)])
        sandwich_json_cold = _medians([time_command_cold(db, "--json", "--ci", "sandwich") for _ in range(repeats)])
        sandwich_json_voted = _medians([time_command_after_vote(db, "--json", "--ci", "sandwich")
                                        for _ in range(repeats)])
        load = _load()
    target = f"<= {TARGET_S:g}" if not quick else "not judged (quick)"
    return rows + [
        {"name": f"`blindside leaderboard --json --ci sandwich` on {n:,} battles (style control)",
         "value": round(sandwich_json[0], 2), "unit": "s", "cpu": round(sandwich_json[1], 2),
         "target": f"<= {TARGET_SANDWICH_1M_S:g}" if not quick else "not judged (quick)", "note": load},
        {"name": f"`blindside leaderboard --json --ci sandwich` on {n:,} battles, first run after a write "
                 "to a voted battle",
         "value": round(sandwich_json_cold[0], 2), "unit": "s", "cpu": round(sandwich_json_cold[1], 2),
         "target": "not judged", "note": load},
        {"name": f"`blindside leaderboard --json --ci sandwich` on {n:,} battles, first run after one new vote",
         "value": round(sandwich_json_voted[0], 2), "unit": "s", "cpu": round(sandwich_json_voted[1], 2),
         "target": "not judged", "note": load},
        {"name": f"`blindside leaderboard` on {n:,} battles (bootstrap 100, style control)",
         "value": round(default[0], 2), "unit": "s", "cpu": round(default[1], 2), "target": target},
        {"name": f"`blindside leaderboard --ci sandwich` on {n:,} battles",
         "value": round(sandwich[0], 2), "unit": "s", "cpu": round(sandwich[1], 2), "target": target},
        {"name": f"building the {n:,}-battle database (Store.insert_battles)",
         "value": round(build_s, 1), "unit": "s", "target": "none"},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--battles", type=int, metavar="N",
                        help="only the comparison with the reference fit, on N battles")
    args = parser.parse_args()
    rows = (reference_rows(args.battles, args.repeats, judged=False) if args.battles
            else run(quick=args.quick, repeats=args.repeats))
    for row in rows:
        extra = f"; baseline {row['baseline']} s, ratio {row['ratio']}" if "baseline" in row else ""
        if "cpu" in row:
            extra += f"; CPU {row['cpu']} s" + (
                f" vs {row['baseline_cpu']} s, ratio {row['cpu_ratio']}" if "baseline_cpu" in row else "")
        note = f" [{row['note']}]" if "note" in row else ""
        print(f"{row['name']}: {row['value']} {row['unit']} (target {row['target']}{extra}){note}")


if __name__ == "__main__":
    main()
