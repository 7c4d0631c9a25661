"""Import speed: LMArena's real 140k votes (CSV, gzip) and generated LMArena battle records
with conv_metadata (a JSON array, LMArena's clean_battle shape), each into a fresh database.

Figures are wall-clock medians (CPU seconds in the note: a shared machine's load inflates
wall time). Each has a baseline measured in the same run: only reading the same file (the
gzip CSV through ``csv.reader``; every JSON record through the standard library's
``json.loads``, what a first importer would parse with). The note also gives blindside's own
JSON reader alone (msgspec), the floor under the JSON import. Targets on a 2-core machine:
140k CSV <= 5 s, 1M records <= 45 s.
``--quick`` imports 100k generated records (target scaled to 4.5 s) and runs once.

    python -m bench.bench_import [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

ARENA_VOTES_CSV = REPO_ROOT / "battles" / "data" / "arena-human-preference-140k-votes.csv.gz"
CSV_TARGET_S = 5.0
RECORDS_FULL = 1_000_000
RECORDS_QUICK = 100_000
JSON_TARGET_S_PER_MILLION = 45.0


def generated_records(n: int, seed: int = 11):
    """LMArena-like battle records: ids, judge, language, tstamp and conv_metadata with the
    dict-valued counts LMArena writes (no conversations: features come from the metadata)."""
    rng = random.Random(seed)
    models = [f"model-{i:02d}" for i in range(50)]
    languages = ["English", "Chinese", "Russian", "German", "unknown"]
    winners = ["model_a", "model_b", "tie", "tie (bothbad)"]
    for i in range(n):
        a, b = rng.sample(models, 2)
        metadata = {"sum_user_tokens": rng.randrange(5, 400), "turns": 1}
        for side in ("a", "b"):
            metadata[f"sum_assistant_{side}_tokens"] = rng.randrange(10, 2000)
            metadata[f"context_{side}_tokens"] = rng.randrange(5, 400)
            metadata[f"header_count_{side}"] = {f"h{k}": rng.randrange(3) if k < 4 else 0 for k in range(1, 7)}
            metadata[f"list_count_{side}"] = {"ordered": rng.randrange(8), "unordered": rng.randrange(12)}
            metadata[f"bold_count_{side}"] = {"**": rng.randrange(10), "__": 0}
        yield {
            "question_id": f"{rng.getrandbits(128):032x}",
            "model_a": a,
            "model_b": b,
            "winner": rng.choice(winners),
            "judge": f"arena_user_{rng.randrange(60_000)}",
            "turn": 1,
            "anony": True,
            "language": rng.choice(languages),
            "tstamp": 1_720_000_000 + i * 1.37,
            "conv_metadata": metadata,
            "dedup_tag": {"high_freq": False, "sampled": True},
        }


def write_records(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write("[")
        for i, record in enumerate(generated_records(n)):
            out.write(",\n" if i else "\n")
            out.write(json.dumps(record))
        out.write("\n]\n")


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def import_once(source: Path, folder: Path) -> tuple[float, float, int]:
    from battles.importing import import_file
    from battles.store import Store

    db = folder / f"bench-{time.monotonic_ns()}.db"
    with Store(db) as store:
        wall, cpu, report = timed(lambda: import_file(store, source))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return wall, cpu, report.added


def read_csv_only(source: Path) -> int:
    with gzip.open(source, "rt", encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.reader(f))


def parse_json_records_with_stdlib(source: Path) -> int:
    """``json.loads`` of every record (``write_records`` puts one per line)."""
    loads = json.loads
    with open(source, encoding="utf-8") as f:
        return sum(1 for line in f if line[0] == "{" and loads(line.rstrip().rstrip(",")))


def read_json_with_blindside_reader(source: Path) -> int:
    from battles.importing.jsonstream import iter_json_array

    with open(source, encoding="utf-8") as f:
        return sum(1 for _ in iter_json_array(f))


def measure(source: Path, folder: Path, repeats: int, baseline, also=None) -> dict:
    """Medians of the import, of the baseline and of ``also``, interleaved so a burst of load
    hits all of them."""
    runs, base, extra = [], [], []
    for _ in range(repeats):
        runs.append(import_once(source, folder))
        base.append(timed(lambda: baseline(source)))
        if also:
            extra.append(timed(lambda: also(source))[0])
    return {"wall": statistics.median(r[0] for r in runs), "cpu": statistics.median(r[1] for r in runs),
            "added": runs[0][2], "baseline": statistics.median(b[0] for b in base),
            "baseline_cpu": statistics.median(b[1] for b in base),
            "also": statistics.median(extra) if extra else None}


def run(quick: bool = False, repeats: int | None = None) -> list[dict]:
    repeats = repeats or (1 if quick else 3)
    n = RECORDS_QUICK if quick else RECORDS_FULL
    json_target = JSON_TARGET_S_PER_MILLION * n / RECORDS_FULL
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        folder = Path(tmp)
        arena_csv = measure(ARENA_VOTES_CSV, folder, repeats, read_csv_only)
        records = folder / "records.json"
        write_records(records, n)
        arena_json = measure(records, folder, repeats, parse_json_records_with_stdlib,
                             also=read_json_with_blindside_reader)
    rows = []
    for label, figures, target, floor in (
            ("LMArena 140k votes (CSV, gzip)", arena_csv, CSV_TARGET_S, "csv.reader over the gzip file alone"),
            (f"{n:,} LMArena records with conv_metadata (JSON array)", arena_json, json_target,
             "json.loads of every record alone (standard library)")):
        also = (f"; blindside's JSON reader alone {figures['also']:.1f} s" if figures["also"] is not None else "")
        rows.append({"name": f"import {label}", "value": round(figures["wall"], 2), "unit": "s",
                     "target": f"<= {target:g}", "baseline": round(figures["baseline"], 2),
                     "ratio": round(figures["wall"] / figures["baseline"], 2),
                     "note": f"{figures['added']:,} battles, {figures['added'] / figures['wall']:,.0f}/s; cpu "
                             f"{figures['cpu']:.1f} s (baseline cpu {figures['baseline_cpu']:.1f} s); baseline: "
                             f"{floor}{also}; median of {repeats}"})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{RECORDS_QUICK:,} generated records, one run")
    parser.add_argument("--repeats", type=int, help="runs per figure (default: 3, quick: 1)")
    args = parser.parse_args(argv)
    print(f"import benchmark ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    rows = run(quick=args.quick, repeats=args.repeats)
    ok_all = True
    for row in rows:
        verdict = ""
        if row["target"].startswith("<="):
            ok = row["value"] <= float(row["target"].split()[-1])
            ok_all &= ok
            verdict = ", met" if ok else ", MISSED"
        print(f"{row['name']}: {row['value']} {row['unit']} (target {row['target']}{verdict}); "
              f"baseline {row['baseline']} s, ratio {row['ratio']}")
        print(f"    {row['note']}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0 if ok_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
