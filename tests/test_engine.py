"""The battle engine against the fake provider server: real HTTP on loopback, real SQLite."""

from __future__ import annotations

import asyncio
import time

import pytest

from battles.config import ArenaConfig, Config, ModelConfig
from battles.engine import (
    LENGTH_CAP,
    STOPPED,
    Arena,
    BattleStateError,
    PromptError,
    anonymous_error,
    normalize_winner,
    treatment_seed,
)
from battles.errors import ConfigError, VoteError
from battles.features import estimate_tokens, style_features, sum_features
from battles.store import Store
from tests.fake_provider import expected_text, expected_tokens

PROMPT = "Explain recursion in two sentences."


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "votes.db") as s:
        yield s


@pytest.fixture
async def make_arena(store, fake_model):
    """``make_arena(a=ModelConfig or model id, b=...)``: an arena with those two models, A then B."""
    arenas: list[Arena] = []

    def make(a, b, **arena_options) -> Arena:
        models = {}
        for name, spec in (("alpha", a), ("bravo", b)):
            model = spec if isinstance(spec, ModelConfig) else fake_model(spec, name=name)
            models[model.name] = model
        arena = Arena(Config(arena=ArenaConfig(**arena_options), models=models), store, seed=0)
        arenas.append(arena)
        return arena

    yield make
    for arena in arenas:
        await arena.aclose()


async def start_run(arena: Arena, prompt: str = PROMPT, on_delta=None):
    names = list(arena.lineup)
    battle = arena.start(prompt, models=(names[0], names[1]))
    results = await asyncio.wait_for(battle.run(on_delta), 20)  # a hang fails instead of blocking CI
    return battle, results


async def wait_until(condition, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


# -- streaming --------------------------------------------------------------------------------


async def test_both_answers_are_streamed_timed_and_stored(make_arena, store):
    arena = make_arena("fake:tokens=12,seed=1", "fake:text=markdown,tokens=40")
    pieces = {"a": [], "b": []}
    battle, results = await start_run(arena, on_delta=lambda side, text: pieces[side].append(text))
    await arena.aclose()
    assert battle.status == "complete" and battle.can_vote and not battle.identity_leak
    for side, model in (("a", "fake:tokens=12,seed=1"), ("b", "fake:text=markdown,tokens=40")):
        record = results[side]
        assert record.error is None
        assert record.text == expected_text(model, PROMPT) == "".join(pieces[side])
        assert record.finish_reason == "stop"
        assert record.tokens == len(expected_tokens(model, PROMPT))  # the server's usage count
        assert record.features == style_features(record.text, record.tokens)
        assert 0 < record.ttft_ms <= record.duration_ms
    assert results["b"].features["header"] >= 1 and results["b"].features["list"] >= 1
    row = store.battle(battle.id)
    assert row["status"] == "complete" and row["turns"] == 1 and row["model_a"] == "alpha"
    assert row["a_tokens"] == 12 and row["b_header"] == results["b"].features["header"]
    assert [r["text"] for r in row["responses"]] == [results["a"].text, results["b"].text]


async def test_sides_stream_concurrently(make_arena):
    # each side takes ~0.6 s; one after the other would be ~1.2 s
    arena = make_arena("fake:tokens=30,rate=50", "fake:tokens=30,rate=50,seed=3")
    started = time.perf_counter()
    battle, results = await start_run(arena)
    wall = time.perf_counter() - started
    await arena.aclose()
    durations = sorted(r.duration_ms / 1000 for r in results.values())
    assert durations[0] >= 0.55
    # the battle takes the slower side's time (plus saving), not the sum of both
    assert wall < durations[1] + 0.3 and wall < 0.8 * sum(durations), (wall, durations)


async def test_a_slow_first_token_does_not_delay_the_other_side(make_arena):
    arena = make_arena("fake:ttft=1.5,tokens=5", "fake:tokens=5,seed=2")
    first: dict[str, float] = {}
    started = time.perf_counter()
    battle, results = await start_run(
        arena, on_delta=lambda side, _text: first.setdefault(side, time.perf_counter() - started))
    await arena.aclose()
    # b is done long before a's first token: it never waited for a
    assert first["b"] < 1.0 < 1.5 <= first["a"]
    assert results["b"].duration_ms < 1000 and results["a"].ttft_ms >= 1500


async def test_system_prompt_and_options_reach_the_server(make_arena, fake_model, fake_provider):
    a = fake_model("fake:tokens=3,id=sys", name="alpha", system="Answer briefly.", temperature=0.2)
    arena = make_arena(a, "fake:tokens=3")
    await start_run(arena)
    await arena.aclose()
    body = fake_provider.requests_for("fake:tokens=3,id=sys")[0].body
    assert body["messages"] == [{"role": "system", "content": "Answer briefly."},
                                {"role": "user", "content": PROMPT}]
    assert body["temperature"] == 0.2


async def test_response_cap_stops_the_side_and_closes_its_request(make_arena, fake_model, fake_provider):
    a = fake_model("fake:infinite,rate=2000", name="alpha", max_chars=300)
    b = fake_model("fake:infinite,rate=2000,id=b", name="bravo", provider="ollama", max_chars=120)
    arena = make_arena(a, b)
    pieces = {"a": [], "b": []}
    battle, results = await start_run(arena, on_delta=lambda side, text: pieces[side].append(text))
    assert [len(results[s].text) for s in "ab"] == [300, 120]
    assert all(results[s].finish_reason == LENGTH_CAP and results[s].error is None for s in "ab")
    assert "".join(pieces["a"]) == results["a"].text
    assert results["a"].tokens == estimate_tokens(results["a"].text)  # capped: not the server's count
    assert battle.status == "complete"
    # The client is still open, so only a closed request explains the server losing the connection.
    assert await wait_until(lambda: fake_provider.open_connections == 0)
    await arena.aclose()


# -- failures ---------------------------------------------------------------------------------

FAULTS = [
    "fault=401", "fault=404", "fault=500", "fault=503", "quota", "fault=429,retry_after=0",
    "drop", "cut@3", "eof@3", "malformed@3", "error@3", "html", "empty", "badutf8@3", "bigline",
    "stall@3",
]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("provider", ["openai", "ollama", "anthropic"])
async def test_a_failing_side_gets_an_anonymous_error_while_the_other_finishes(
        fault, provider, make_arena, fake_model, fake_provider, store):
    good = fake_model("fake:tokens=8,rate=100,id=good", name="alpha", provider=provider)
    bad_id = f"fake:tokens=8,{fault}"
    bad = fake_model(bad_id, name="bravo", provider=provider, timeout=0.6)
    arena = make_arena(good, bad)
    battle, results = await start_run(arena)
    await arena.aclose()
    assert results["a"].error is None and results["a"].text == expected_text(good.model, PROMPT)
    error = results["b"].error
    assert error and battle.status == "error" and not battle.can_vote
    for secret in (bad_id, "bravo", "127.0.0.1", str(fake_provider.port), provider, "fake"):
        assert secret not in error, (secret, error)
    assert anonymous_error("b", error).startswith("Model B failed: ")
    assert store.battle(battle.id)["status"] == "error"
    with pytest.raises(VoteError, match="error"):
        battle.vote("a", "tester")
    with pytest.raises(VoteError):
        store.record_vote(battle.id, "model_a", "tester")
    reveal = battle.reveal()  # allowed once the battle ended in an error
    assert reveal.model_b == "bravo" and reveal.b.error == error


async def test_an_errored_battle_never_counts_in_ratings(make_arena, store):
    arena = make_arena("fake:tokens=3", "fake:fault=500")
    await start_run(arena)
    ok_arena = make_arena("fake:tokens=3,id=ok", "fake:tokens=4")
    battle, _ = await start_run(ok_arena)
    battle.vote("b", "tester")
    await arena.aclose()
    await ok_arena.aclose()
    rows, excluded = store.scoring_rows()
    assert len(rows) == 1 and excluded["error"] == 1


async def test_api_keys_never_reach_the_store_or_errors(make_arena, fake_model, monkeypatch, store, tmp_path):
    key = "sk-test-SECRETKEY0123456789abcdef"
    monkeypatch.setenv("BLINDSIDE_TEST_KEY", key)
    # The server echoes the key it got in its 401 message ("Incorrect API key provided: ...").
    bad = fake_model("fake:tokens=3,auth=other-key", name="bravo", api_key_env="BLINDSIDE_TEST_KEY")
    arena = make_arena("fake:tokens=3", bad)
    battle, results = await start_run(arena)
    await arena.aclose()
    assert "401" in results["b"].error
    assert key not in results["b"].error and key not in (results["b"].error_hint or "")
    store.close()
    for path in tmp_path.glob("votes.db*"):
        assert key.encode() not in path.read_bytes()


# -- cancel -----------------------------------------------------------------------------------


async def test_cancel_stops_both_streams_and_closes_their_connections(make_arena, fake_provider, store):
    arena = make_arena("fake:tokens=400,rate=40", "fake:tokens=400,rate=40,seed=5")
    battle = arena.start(PROMPT, models=("alpha", "bravo"))
    seen: dict[str, int] = {"a": 0, "b": 0}
    task = asyncio.create_task(battle.run(lambda side, _t: seen.__setitem__(side, seen[side] + 1)))
    assert await wait_until(lambda: seen["a"] > 2 and seen["b"] > 2)
    assert fake_provider.open_connections == 2
    battle.cancel()
    results = await asyncio.wait_for(task, 2)  # run returns, it does not raise
    assert results["a"].error == results["b"].error == STOPPED
    assert results["a"].text and len(results["a"].text) < len(expected_text("fake:tokens=400,rate=40", PROMPT))
    assert battle.status == "error" and not battle.can_vote
    assert store.battle(battle.id)["status"] == "error"
    with pytest.raises(VoteError):
        battle.vote("tie", None)
    assert await wait_until(lambda: fake_provider.open_connections == 0)  # client still open
    await arena.aclose()


async def test_cancelling_the_awaiting_task_closes_the_streams_and_raises(make_arena, fake_provider, store):
    arena = make_arena("fake:tokens=400,rate=40", "fake:stall@2")
    battle = arena.start(PROMPT, models=("alpha", "bravo"))
    task = asyncio.create_task(battle.run())
    assert await wait_until(lambda: fake_provider.open_connections == 2)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.battle(battle.id)["status"] == "error"
    assert battle.results["a"].error == STOPPED
    assert await wait_until(lambda: fake_provider.open_connections == 0)
    await arena.aclose()


async def test_cancel_before_streaming_marks_the_battle_stopped(make_arena, store):
    arena = make_arena("fake:tokens=3", "fake:tokens=3,id=2")
    battle = arena.start(PROMPT)
    battle.cancel()
    assert battle.status == "error" and store.battle(battle.id)["status"] == "error"
    with pytest.raises(BattleStateError):
        await battle.run()
    await arena.aclose()


# -- identity leaks ---------------------------------------------------------------------------


async def test_an_answer_naming_its_model_flags_an_identity_leak(make_arena, fake_model, store):
    a = fake_model("fake:tokens=5,mention=Zorblax", name="alpha", aliases=("Zorblax",))
    arena = make_arena(a, "fake:tokens=5")
    battle, _ = await start_run(arena)
    await arena.aclose()
    assert battle.identity_leak and battle.can_vote
    assert store.battle(battle.id)["identity_leak"] == 1
    reveal = battle.vote("a", "tester")
    assert reveal.identity_leak and reveal.leaked_names == ["Zorblax"]
    rows, excluded = store.scoring_rows()
    assert rows == [] and excluded["identity_leak"] == 1
    assert len(store.scoring_rows(include_leaks=True)[0]) == 1


async def test_a_name_from_the_prompt_is_not_a_leak(make_arena, fake_model):
    a = fake_model("fake:text=echo", name="alpha", aliases=("Zorblax",))
    arena = make_arena(a, "fake:tokens=5")
    battle, results = await start_run(arena, prompt="Say hello to Zorblax.")
    await arena.aclose()
    assert "Zorblax" in results["a"].text and not battle.identity_leak


# -- multi-turn, regenerate ---------------------------------------------------------------------


async def test_follow_up_keeps_a_separate_history_per_model(make_arena, fake_provider, store):
    a_id, b_id = "fake:tokens=6,seed=11", "fake:tokens=7,seed=12"
    arena = make_arena(a_id, b_id)
    battle, first = await start_run(arena)
    second = await battle.follow_up("And in one word?")
    await arena.aclose()
    assert battle.turn == 2 and battle.status == "complete"
    for model, side in ((a_id, "a"), (b_id, "b")):
        messages = fake_provider.requests_for(model)[-1].body["messages"]
        assert messages == [
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": first[side].text},  # its own answer, not the other's
            {"role": "user", "content": "And in one word?"},
        ]
    row = store.battle(battle.id)
    assert row["turns"] == 2 and len(row["responses"]) == 4
    summed = sum_features([first["a"].features, second["a"].features])
    assert row["a_tokens"] == summed["tokens"] == 12 and row["a_chars"] == summed["chars"]
    reveal = battle.vote("tie", "tester")
    assert reveal.a.text == second["a"].text
    with pytest.raises(BattleStateError):
        await battle.follow_up("one more?")


async def test_regenerate_replaces_the_current_turn(make_arena, fake_provider, store):
    # bravo fails its first request only: regenerate recovers the battle
    arena = make_arena("fake:tokens=5", "fake:tokens=5,fault=500:1,id=flaky")
    battle, results = await start_run(arena)
    assert battle.status == "error" and results["b"].error
    again = await battle.regenerate()
    await arena.aclose()
    assert battle.status == "complete" and battle.turn == 1 and again["b"].error is None
    row = store.battle(battle.id)
    assert row["status"] == "complete" and len(row["responses"]) == 2
    assert [r["error"] for r in row["responses"]] == [None, None]
    assert len(fake_provider.requests_for("fake:tokens=5")) == 2
    battle.vote("a", None)


async def test_follow_up_after_an_error_is_refused(make_arena):
    arena = make_arena("fake:tokens=3", "fake:fault=500")
    battle, _ = await start_run(arena)
    await arena.aclose()
    with pytest.raises(BattleStateError):
        await battle.follow_up("more?")


# -- treatments -------------------------------------------------------------------------------


async def test_a_treatment_changes_the_text_deterministically(make_arena, fake_model, store):
    from battles.treatments import make_treatment

    model_id = "fake:tokens=30,seed=4"
    a = fake_model(model_id, name="alpha", treatment="chatty")
    arena = make_arena(a, "fake:tokens=30,seed=4,id=raw")
    battle, results = await start_run(arena)
    await arena.aclose()
    treatment = make_treatment("chatty", treatment_seed(battle.id, "a", 1))
    expected = "".join(treatment.feed(t) for t in expected_tokens(model_id, PROMPT)) + treatment.finish()
    assert results["a"].text == expected != results["b"].text
    assert results["b"].text == expected_text(model_id, PROMPT)
    assert battle.models["a"].contestant == "alpha+chatty"
    assert store.battle(battle.id)["model_a"] == "alpha+chatty"
    assert results["a"].tokens == estimate_tokens(results["a"].text)


# -- starting and voting ------------------------------------------------------------------------


async def test_start_refuses_unknown_or_duplicate_models_and_empty_prompts(make_arena):
    arena = make_arena("fake:tokens=3", "fake:tokens=3,id=2")
    with pytest.raises(ConfigError, match="alpha, bravo"):
        arena.start(PROMPT, models=("alpha", "nope"))
    with pytest.raises(ConfigError, match="two different"):
        arena.start(PROMPT, models=("alpha", "alpha"))
    with pytest.raises(PromptError):
        arena.start("   ")


async def test_vote_is_durable_and_taken_once(make_arena, store):
    arena = make_arena("fake:tokens=3", "fake:tokens=3,id=2")
    battle = arena.start(PROMPT, models=("bravo", "alpha"))
    with pytest.raises(VoteError):
        battle.vote("a", "tester")  # not streamed yet
    with pytest.raises(BattleStateError):
        battle.reveal()
    await battle.run()
    await arena.aclose()
    reveal = battle.vote("b", "tester")
    assert (reveal.model_a, reveal.model_b, reveal.winner) == ("bravo", "alpha", "model_b")
    with Store(store.path) as other:  # another connection sees it: committed
        assert other.battle(battle.id)["vote"]["winner"] == "model_b"
    with pytest.raises(VoteError, match="already"):
        battle.vote("a", "tester")
    assert not battle.can_vote


def test_winner_spellings():
    assert [normalize_winner(w) for w in ("a", "B", "tie", "both_bad", "model_a")] == [
        "model_a", "model_b", "tie", "both_bad", "model_a"]
    with pytest.raises(VoteError, match="a, b, tie, both_bad"):
        normalize_winner("c")


def test_anonymous_error_names_only_the_side():
    assert anonymous_error("b", "the server refused the API key (401)") == \
        "Model B failed: the server refused the API key (401)"


# -- model checks -------------------------------------------------------------------------------


async def test_check_sends_one_token_requests_and_reports_errors(make_arena, fake_model, fake_provider, monkeypatch):
    key = "sk-test-CHECKKEY0123456789abcdef"
    monkeypatch.setenv("BLINDSIDE_CHECK_KEY", key)
    bad = fake_model("fake:tokens=3,auth=nope", name="bravo", api_key_env="BLINDSIDE_CHECK_KEY")
    arena = make_arena("fake:tokens=30", bad)
    results = {c.name: c for c in await arena.check()}
    await arena.aclose()
    assert results["alpha"].ok and results["alpha"].latency_ms > 0
    assert not results["bravo"].ok and "401" in results["bravo"].error
    assert key not in repr(results)
    assert fake_provider.requests_for("fake:tokens=30")[0].body["max_tokens"] == 1


# -- hiding names in anonymous reasons ----------------------------------------------------------


@pytest.mark.parametrize("name, fault, reason", [
    ("cut", "cut@3", "the stream was cut off before it finished"),
    ("html", "html", "the server answered with an HTML page, not a stream"),
    ("server", "500", "the server failed (500)"),
    ("answer", "empty", "the server sent an empty answer"),
])
async def test_a_model_name_that_is_an_ordinary_word_never_garbles_a_fixed_reason(
        name, fault, reason, make_arena, fake_model):
    arena = make_arena("fake:tokens=3", fake_model(f"fake:tokens=8,{fault}", name=name))
    _, results = await start_run(arena)
    await arena.aclose()
    assert results["b"].error == reason


async def test_a_model_name_in_the_servers_own_words_is_still_hidden(make_arena, fake_model):
    bad = fake_model("fake:tokens=8,error@2,message=bravo-house%20is%20overloaded%20on%20bravo-house",
                     name="bravo-house")
    arena = make_arena("fake:tokens=3", bad)
    _, results = await start_run(arena)
    await arena.aclose()
    error = results["b"].error
    assert error.startswith("the server reported an error: ") and "overloaded" in error
    assert "bravo-house" not in error


# -- a whole-answer deadline and empty answers ------------------------------------------------


async def test_an_answer_that_trickles_past_its_deadline_ends_and_keeps_its_text(make_arena, fake_model, store):
    # A token every 0.2 s: each gap is well within the timeout, the whole answer is not.
    slow = fake_model("fake:tokens=100,rate=5", name="bravo", timeout=2, deadline=1.0)
    arena = make_arena("fake:tokens=3", slow)
    started = time.monotonic()
    battle, results = await start_run(arena)
    elapsed = time.monotonic() - started
    await arena.aclose()
    b = results["b"]
    assert elapsed < 4, "the deadline did not end the answer"
    assert b.error and "longer than" in b.error and "bravo" not in b.error
    assert anonymous_error("b", b.error) == "Model B took longer than the 1 s deadline for a whole answer"
    assert b.text and expected_text(slow.model, PROMPT).startswith(b.text)  # what arrived is kept
    assert battle.status == "error" and not battle.can_vote
    stored = store.battle(battle.id)["responses"]
    assert next(r for r in stored if r["side"] == "b")["text"] == b.text


@pytest.mark.parametrize("provider, spec", [
    ("openai", "fake:tokens=0"),  # only [DONE]
    ("ollama", "fake:tokens=0"),
    ("anthropic", "fake:tokens=0"),
    ("openai", "fake:say=%20%0A%09%20"),  # only whitespace
])
async def test_an_empty_answer_is_a_failed_side(provider, spec, make_arena, fake_model, store):
    arena = make_arena("fake:tokens=3", fake_model(spec, provider=provider, name="bravo"))
    battle, results = await start_run(arena)
    await arena.aclose()
    assert results["a"].error is None
    assert results["b"].error == "returned an empty answer"
    assert anonymous_error("b", results["b"].error) == "Model B returned an empty answer"
    assert battle.status == "error" and not battle.can_vote
    with pytest.raises(VoteError):
        battle.vote("a", "tester")
    assert store.battle(battle.id)["status"] == "error"


async def test_an_empty_answer_dressed_by_a_treatment_is_still_empty(make_arena, fake_model):
    dressed = fake_model("fake:say=%20%0A%20", name="bravo", treatment="chatty")
    arena = make_arena("fake:tokens=3", dressed)
    battle, results = await start_run(arena)
    await arena.aclose()
    assert results["b"].error == "returned an empty answer" and not battle.can_vote
