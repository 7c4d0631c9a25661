"""Speed and memory of the scoring package on 1,000,000 battles.

Run:  python -m bench.bench_scoring [--quick] [--repeats N]
  or  python bench/bench_scoring.py

Data: 1M synthetic battles between 50 models with 5 style features per side
(counts drawn per model profile, votes from a style-biased Bradley-Terry voter
with ties), fixed seed.  ``--quick``: 100k battles.

Figures (medians over ``repeats`` runs of the full ``compute_leaderboard``
call, wall clock; CPU seconds are printed beside them because a shared
machine's load inflates wall time):

  bt_bootstrap100      plain BT, 100 bootstrap rounds            target 3 s
  style_sandwich       plain BT + style control, sandwich CIs    target 5 s
  style_bootstrap100   plain BT + style control, 100 rounds each target 60 s
  from_records_1m      BattleTable.from_records on 1M string rows (no target)
  peak_rss             process peak RSS after our runs           target 2 GB

Baseline, same run: the straightforward approach of LMArena's public code
(FastChat ``rating_systems.py``): one row per battle, scipy L-BFGS-B with
``maxiter=100, gtol=1e-6`` and gradients accumulated with ``np.add.at``;
style control as ``fit_contextual_bt`` (penalty 0.25 ||theta||^2); sandwich
assembled with ``np.add.at`` as in lmarena/arena-rank.  A bootstrap baseline
is extrapolated as (rounds + 1) x one measured fit (FastChat spreads its
rounds over a process pool; here everything is serial).

``run(quick)`` returns rows for ``python -m bench`` (bench/report.py): ``name``,
``value`` (seconds or MB), ``unit``, ``target`` ("<= 3"), ``met``,
``baseline``, ``ratio`` = value / baseline (below 1 = faster than the
baseline), ``note``; plus ``median_s``, ``cpu_s``, ``target_s``, ``baseline_s``,
``speedup`` = baseline / value and ``peak_mb``.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from scoring.battles_table import CODE_TO_OUTCOME, STYLE_FEATURES, BattleTable
from scoring.bt import style_design
from scoring.leaderboard import compute_leaderboard

TARGETS = {"bt_bootstrap100": 3.0, "style_sandwich": 5.0, "style_bootstrap100": 60.0}
PEAK_TARGET_MB = 2048.0
ROUNDS = 100


# --------------------------------------------------------------------- data


def make_battles(n: int, n_models: int = 50, seed: int = 0) -> BattleTable:
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 120.0, n_models)
    profile = np.column_stack(
        [
            rng.uniform(200, 1200, n_models),  # tokens
            rng.gamma(0.7, 1.5, n_models),  # emoji
            rng.uniform(0, 4, n_models),  # headers
            rng.uniform(0, 10, n_models),  # list items
            rng.uniform(0, 8, n_models),  # bold
        ]
    )
    a = rng.integers(0, n_models, n)
    b = (a + rng.integers(1, n_models, n)) % n_models

    def answers(idx):
        m = profile[idx]
        out = np.empty((len(idx), 5))
        out[:, 0] = np.maximum(1, np.rint(m[:, 0] * rng.lognormal(-0.125, 0.5, len(idx))))
        for k in range(1, 5):
            out[:, k] = rng.poisson(m[:, k])
        return out

    fa, fb = answers(a), answers(b)
    d = (fa - fb) / (fa + fb + 1.0)
    logit = math.log(10) * (strength[a] - strength[b]) / 400 + d @ np.array([0.6, 0.3, 0.1, 0.1, 0.1])
    p = expit(logit)
    t = 0.6 * np.minimum(p, 1 - p)
    q = (p - t / 2) / (1 - t)
    draw = rng.random(n) < t
    a_wins = ~draw & (rng.random(n) < q)
    code = np.where(draw, np.where(rng.random(n) < 0.4, 3, 2), np.where(a_wins, 0, 1)).astype(np.int8)
    return BattleTable(
        models=[f"model-{i:02d}" for i in range(n_models)],
        a=a,
        b=b,
        outcome=CODE_TO_OUTCOME[code],
        winner_code=code,
        features_a=fa,
        features_b=fb,
    )


# ---------------------------------------------------------------- baselines
# The straightforward per-battle approach (FastChat rating_systems.py style).

_DIFF = np.array([1.0, -1.0])


def _baseline_bt_loss(ratings, matchups, outcomes, alpha):
    r = ratings[matchups]
    probs = expit(alpha * (r[:, 0] - r[:, 1]))
    loss = -(np.log(probs) * outcomes + np.log(1.0 - probs) * (1.0 - outcomes)).sum()
    g = -alpha * (outcomes - probs)
    grad = np.zeros_like(ratings)
    np.add.at(grad, matchups, g[:, None] * _DIFF)
    return loss, grad


def baseline_bt_fit(matchups, outcomes, n_models):
    res = minimize(
        _baseline_bt_loss,
        np.zeros(n_models),
        args=(matchups, outcomes, math.log(10)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 100, "gtol": 1e-6},
    )
    return res.x


def _baseline_ctx_loss(params, k, matchups, features, outcomes, alpha):
    ratings, coefs = params[:k], params[k:]
    r = ratings[matchups]
    probs = expit(alpha * (r[:, 0] - r[:, 1]) + features @ coefs)
    loss = -(np.log(probs) * outcomes + np.log(1.0 - probs) * (1.0 - outcomes)).sum() + 0.25 * params @ params
    err = outcomes - probs
    grad = 0.5 * params
    np.add.at(grad[:k], matchups, (-alpha * err)[:, None] * _DIFF)
    grad[k:] -= features.T @ err
    return loss, grad


def baseline_style_fit(matchups, features, outcomes, n_models):
    res = minimize(
        _baseline_ctx_loss,
        np.zeros(n_models + features.shape[1]),
        args=(n_models, matchups, features, outcomes, math.log(10)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 100, "gtol": 1e-6},
    )
    return res.x


def baseline_sandwich(params, matchups, features, outcomes, n_models):
    """H^-1 G H^-1 with np.add.at assembly (arena-rank's approach)."""
    k, f = n_models, features.shape[1]
    alpha = math.log(10)
    r = params[:k]
    probs = expit(alpha * (r[matchups[:, 0]] - r[matchups[:, 1]]) + features @ params[k:])
    ia, ib = matchups[:, 0], matchups[:, 1]

    def assemble(v):
        m = np.zeros((k + f, k + f))
        rr = np.zeros((k, k))
        vv = alpha * alpha * v
        np.add.at(rr, (ia, ia), vv)
        np.add.at(rr, (ib, ib), vv)
        np.add.at(rr, (ia, ib), -vv)
        np.add.at(rr, (ib, ia), -vv)
        m[:k, :k] = rr
        cross = np.zeros((k, f))
        wf = alpha * v[:, None] * features
        np.add.at(cross, ia, wf)
        np.add.at(cross, ib, -wf)
        m[:k, k:] = cross
        m[k:, :k] = cross.T
        m[k:, k:] = features.T @ (v[:, None] * features)
        return m

    h = assemble(probs * (1 - probs)) + 0.5 * np.eye(k + f)
    g = assemble((outcomes - probs) ** 2)
    hinv = np.linalg.inv(h)
    return hinv @ g @ hinv


# ------------------------------------------------------------------- timing


def _time(fn, repeats):
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def _traced_peak_mb(fn):
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def _rss_peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _row(name, value, unit, target, n, repeats, **extra) -> dict:
    row = {
        "name": name,
        "value": value,
        "unit": unit,
        "target": "-" if target is None else f"<= {target:g}",
        "met": None if target is None or value is None else bool(value <= target),
        "baseline": None,
        "ratio": None,
        "note": f"{n:,} battles, median of {repeats}",
        "median_s": value if unit == "s" else None,
        "target_s": target if unit == "s" else None,
        "baseline_s": None,
        "speedup": None,
        "n_battles": n,
        "repeats": repeats,
    }
    row.update(extra)
    if row["met"] is None:
        del row["met"]
    return row


def run(quick: bool = False, repeats: int | None = None, baseline: bool = True, verbose: bool = False) -> list[dict]:
    """Run the benchmark; returns one dict per figure (see the module docstring)."""
    n = 100_000 if quick else 1_000_000
    repeats = repeats or (2 if quick else 3)
    log = print if verbose else (lambda *a, **k: None)
    log(f"generating {n:,} battles (50 models, 5 style features)...")
    table = make_battles(n)
    cases = {
        "bt_bootstrap100": dict(ci="bootstrap", rounds=ROUNDS, style_control=False),
        "style_sandwich": dict(ci="sandwich", style_control=True),
        "style_bootstrap100": dict(ci="bootstrap", rounds=ROUNDS, style_control=True),
    }
    figures: list[dict] = []
    for name, kw in cases.items():
        log(f"  {name} x{repeats} ...")
        wall, cpu = _time(lambda: compute_leaderboard(table, seed=0, **kw), repeats)
        peak = _traced_peak_mb(lambda: compute_leaderboard(table, seed=0, **kw)) if name != "style_bootstrap100" else None
        figures.append(
            _row(name, wall, "s", None if quick else TARGETS[name], n, repeats, cpu_s=cpu, peak_mb=peak)
        )
    # peak memory of the bootstrap case, traced once (tracemalloc slows it)
    log("  tracing memory of style_bootstrap100 (10 rounds: the rounds reuse their buffers) ...")
    figures[2]["peak_mb"] = _traced_peak_mb(
        lambda: compute_leaderboard(table, seed=0, ci="bootstrap", rounds=10, style_control=True)
    )

    # from_records on strings
    names = np.array(table.models, dtype=object)
    ma, mb = names[table.a].tolist(), names[table.b].tolist()
    labels = np.array(["model_a", "model_b", "tie", "both_bad"], dtype=object)[table.winner_code].tolist()
    log("  from_records ...")
    wall, cpu = _time(lambda: BattleTable.from_records(ma, mb, labels), repeats)
    figures.append(
        _row("from_records_1m" if not quick else "from_records", wall, "s", None, n, repeats, cpu_s=cpu, peak_mb=None)
    )
    del ma, mb, labels
    rss = _rss_peak_mb()
    figures.append(
        _row("peak_rss", rss, "MB", PEAK_TARGET_MB, n, 1, cpu_s=None, peak_mb=rss, target_mb=PEAK_TARGET_MB,
             note=f"{n:,} battles, process peak RSS after our runs (before the baseline)")
    )

    if baseline:
        log("  baseline: per-battle L-BFGS fits (FastChat style) ...")
        matchups = np.column_stack([table.a, table.b])
        y = table.outcome
        K = len(table.models)
        design = style_design(table.features_a, table.features_b, STYLE_FEATURES)
        X = np.ascontiguousarray(design.X)
        t0 = time.perf_counter()
        baseline_bt_fit(matchups, y, K)
        t_bt = time.perf_counter() - t0
        t0 = time.perf_counter()
        params = baseline_style_fit(matchups, X, y, K)
        t_style = time.perf_counter() - t0
        t0 = time.perf_counter()
        baseline_sandwich(params, matchups, X, y, K)
        t_sand = time.perf_counter() - t0
        # one resample, to price the resampling itself
        t0 = time.perf_counter()
        idx = np.random.default_rng(0).integers(0, n, n)
        _ = (matchups[idx], y[idx], X[idx])
        t_resample = time.perf_counter() - t0
        base = {
            "bt_bootstrap100": (ROUNDS + 1) * t_bt + ROUNDS * t_resample,
            # LMArena's sandwich ran on the plain fit too: fit + sandwich for both
            "style_sandwich": t_bt + t_style + 2 * t_sand,
            "style_bootstrap100": (ROUNDS + 1) * (t_bt + t_style) + 2 * ROUNDS * t_resample,
        }
        note = f"measured fits: plain {t_bt:.1f}s, style {t_style:.1f}s, sandwich {t_sand:.1f}s; bootstraps extrapolated"
        for f in figures:
            if f["name"] in base:
                f["baseline"] = f["baseline_s"] = base[f["name"]]
                f["ratio"] = f["median_s"] / base[f["name"]]
                f["speedup"] = base[f["name"]] / f["median_s"]
                f["baseline_note"] = note
                f["note"] += f"; baseline: {note}"
    return figures


def _fmt(x, spec):
    width = int("".join(ch for ch in spec.split(".")[0] if ch.isdigit()) or 0)
    return "-".rjust(width) if x is None else format(x, spec)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100k battles instead of 1M")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-baseline", action="store_true", help="skip the (slow) per-battle baseline")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"scoring benchmark ({os.cpu_count()} CPUs, load average {load:.1f})")
    figures = run(quick=args.quick, repeats=args.repeats, baseline=not args.no_baseline, verbose=True)
    print()
    print(f"{'figure':22s} {'median s':>9s} {'cpu s':>7s} {'target s':>9s} {'ok':>3s} {'baseline s':>11s} {'speedup':>8s} {'peak MB':>8s}")
    ok_all = True
    for f in figures:
        ok = {True: "yes", False: "NO"}.get(f.get("met"), "")
        ok_all &= ok != "NO"
        print(
            f"{f['name']:22s} {_fmt(f['median_s'], '9.3f')} {_fmt(f['cpu_s'], '7.3f')} {_fmt(f['target_s'], '9.1f')} "
            f"{ok:>3s} {_fmt(f['baseline_s'], '11.1f')} {_fmt(f['speedup'], '8.1f')} {_fmt(f['peak_mb'], '8.0f')}"
        )
    notes = {f.get("baseline_note") for f in figures if f.get("baseline_note")}
    for note in notes:
        print(f"baseline: {note}")
    print("speedup = baseline_s / median_s (the report's ratio is the inverse); "
          "peak MB = tracemalloc peak of one call (peak_rss: whole process)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end: {load:.1f}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
