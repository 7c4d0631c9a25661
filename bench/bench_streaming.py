"""Concurrent streaming: a battle costs the slower side's time, and the engine adds ~nothing
to the time to first token.

The fake provider server runs as a child process on loopback (so its pacing threads do not
share this process's interpreter lock) and streams 2,000 tokens at 1,000 tokens/s per request.

- wall time of a whole battle (both sides at once, store writes included) against one stream
  read alone with bare ``httpx``: target ratio <= 1.1;
- time to first token: from ``Battle.run`` to the first ``on_delta`` of each side, against
  bare ``httpx`` streaming reads of the same streams (two at once, as in a battle) up to their
  first content line; target: the engine adds <= 5 ms.

Medians over several runs, all measured in the same run on the same warm connections.

    python -m bench.bench_streaming [--quick]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

MODEL = "fake:tokens=2000,rate=1000"
PROMPT = "Write a long answer."
WALL_RATIO_TARGET = 1.1
TTFT_OVERHEAD_TARGET_MS = 5.0


async def bare_read(url: str, client) -> tuple[float, float]:
    """A bare httpx streaming read of the whole stream: (ms to the first content line, total s)."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True}
    first = None
    started = time.perf_counter()
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if first is None and line.startswith("data: ") and '"content"' in line:
                data = json.loads(line[6:])
                if data["choices"] and data["choices"][0]["delta"].get("content"):
                    first = (time.perf_counter() - started) * 1000
    if first is None:
        raise RuntimeError("the stream ended without content")
    return first, time.perf_counter() - started


async def battle_once(arena) -> tuple[float, list[float]]:
    """(wall seconds of run(), first-delta ms of each side) for one battle."""
    battle = arena.start(PROMPT, models=("a", "b"))
    first: dict[str, float] = {}
    started = time.perf_counter()

    def on_delta(side: str, _text: str) -> None:
        first.setdefault(side, (time.perf_counter() - started) * 1000)

    results = await battle.run(on_delta)
    wall = time.perf_counter() - started
    if battle.status != "complete" or any(len(r.text) == 0 for r in results.values()):
        raise RuntimeError(f"the battle failed: {[r.error for r in results.values()]}")
    return wall, [first["a"], first["b"]]


async def measure(url: str, runs: int, db: Path) -> dict[str, list[float]]:
    import httpx

    from battles.config import Config, ModelConfig
    from battles.engine import CLIENT_LIMITS, Arena
    from battles.store import Store

    models = {name: ModelConfig(name=name, provider="openai", model=MODEL, base_url=f"{url}/v1")
              for name in ("a", "b")}
    out: dict[str, list[float]] = {"single": [], "single_ttft": [], "wall": [], "ttft": [], "bare": []}
    async with httpx.AsyncClient(limits=CLIENT_LIMITS, trust_env=False, timeout=30) as client:
        with Store(db) as store:
            arena = Arena(Config(models=models), store, client=client, seed=1)
            await battle_once(arena)  # warm-up: connections, imports, the schema
            await asyncio.gather(bare_read(url, client), bare_read(url, client))
            for _ in range(runs):  # interleaved, so drift hits all of them alike
                ttft, total = await bare_read(url, client)
                out["single"].append(total)
                out["single_ttft"].append(ttft)
                pair = await asyncio.gather(bare_read(url, client), bare_read(url, client))
                out["bare"].extend(ttft for ttft, _ in pair)
                wall, ttfts = await battle_once(arena)
                out["wall"].append(wall)
                out["ttft"].extend(ttfts)
    return out


def run(quick: bool = False) -> list[dict]:
    runs = 3 if quick else 7
    from tests.fake_provider import fake_provider_process

    with fake_provider_process() as url, tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        samples = asyncio.run(measure(url, runs, Path(tmp) / "bench.db"))
    single = statistics.median(samples["single"])
    wall = statistics.median(samples["wall"])
    ttft = statistics.median(samples["ttft"])
    bare = statistics.median(samples["bare"])
    return [
        {"name": "battle wall time, 2 x 2,000 tokens at 1,000 tok/s", "value": round(wall, 3), "unit": "s",
         "target": f"ratio <= {WALL_RATIO_TARGET}", "baseline": round(single, 3),
         "ratio": round(wall / single, 3),
         "note": f"baseline: one stream alone; median of {runs} runs"},
        {"name": "time to first token through the engine", "value": round(ttft, 2), "unit": "ms",
         "target": f"<= bare + {TTFT_OVERHEAD_TARGET_MS:g} ms", "baseline": round(bare, 2),
         "ratio": round(ttft / bare, 3) if bare else None,
         "note": "baseline: bare httpx reads of two streams at once (the same load); one stream alone: "
                 f"{statistics.median(samples['single_ttft']):.2f} ms; medians of {len(samples['ttft'])} samples"},
        {"name": "time to first token added by the engine", "value": round(ttft - bare, 2), "unit": "ms",
         "target": f"<= {TTFT_OVERHEAD_TARGET_MS:g}", "baseline": round(bare, 2),
         "note": "engine median minus bare httpx median"},
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.report import module_main

    return module_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
