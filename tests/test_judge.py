"""LLM judges: both orders, MT-Bench's consistency rule, every answer kept, resumable runs.

The judge is a model on the loopback fake provider (real HTTP), the store a real SQLite file.
Many tests use an echoing judge (``fake:text=echo``): it answers with the user message it was
sent, so its last ``[[X]]`` comes from the answer shown second. Answers carrying markers
then make it decide as the test needs, through the real prompt and both real orders.
"""

from __future__ import annotations

import json

import pytest

from battles.judging.runner import JudgeRun, find_judge, judge_voter
from battles.judging.schema import battle_judgments, iter_judgments, judges, load_judgments
from battles.judging.template import TemplateError, load_template, parse_template
from battles.judging.verdict import decide, parse_verdict
from battles.store import NewBattle, ResponseRecord, Store, now_iso

ECHO = "fake:text=echo"


def add_battle(store: Store, battle_id: str, a: str | list[str], b: str | list[str], *,
               prompts: list[str] | None = None, model_a: str = "alpha", model_b: str = "bravo",
               status: str = "complete") -> str:
    """A finished battle with these answers (one per turn) written straight to the store."""
    a_turns = [a] if isinstance(a, str) else a
    b_turns = [b] if isinstance(b, str) else b
    prompts = prompts or [f"Question {i + 1} of {battle_id}?" for i in range(len(a_turns))]
    turns = [(p, ResponseRecord(text=ta), ResponseRecord(text=tb)) for p, ta, tb in zip(prompts, a_turns, b_turns)]
    store.insert_battles([NewBattle(id=battle_id, model_a=model_a, model_b=model_b, winner=None,
                                    created=now_iso(), source="live", prompt=prompts[0], turns=turns,
                                    status=status)])
    return battle_id


def votes(store: Store, voter: str) -> dict[str, str]:
    return dict(store.conn.execute("SELECT battle_id, winner FROM votes WHERE voter = ?", (voter,)))


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "votes.db") as s:
        yield s


async def judge_all(store, model, *, battles="unjudged", limit=None, **options):
    run = JudgeRun(store, model, load_template(), **options)
    return await run.run(run.select(battles, limit))


# -- the parts -----------------------------------------------------------------------------------

def test_the_last_verdict_marker_counts_and_prose_has_none():
    assert parse_verdict('Format: "[[A]]" if A is better. A rambles, B is exact. [[B]]') == "B"
    assert parse_verdict("Both are fine.\n[[C]]") == "C"
    assert parse_verdict("Assistant A is better, clearly.") is None
    assert parse_verdict("[[D]] [A] [[ a ]]") is None


def test_mt_bench_rule_in_the_battles_own_terms():
    assert decide("A", "B") == ("model_a", True)  # A first, then A second: model A both times
    assert decide("B", "A") == ("model_b", True)
    assert decide("C", "C") == ("tie", True)
    assert decide("A", "A") == ("tie", False)  # always the first shown: inconsistent
    assert decide("A", "C") == ("tie", False)


def test_the_default_template_is_mt_bench_pair_v2():
    template = load_template()
    system, user = template.messages([("What is 2+2?", "four", "4")])
    assert system["role"] == "system" and system["content"].startswith("Please act as an impartial judge")
    assert '"[[C]]" for a tie' in system["content"]
    assert user["content"] == ("[User Question]\nWhat is 2+2?\n\n[The Start of Assistant A's Answer]\nfour\n"
                               "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n4\n"
                               "[The End of Assistant B's Answer]")


def test_placeholders_are_filled_once_so_an_answer_cannot_inject_another():
    _, user = load_template().messages([("q", "see {answer_b}", "secret")])
    assert "see {answer_b}" in user["content"] and user["content"].count("secret") == 1


@pytest.mark.parametrize("user, missing", [
    ("[User Question]\n{question}\n{answer_a}\n{answer_b}", "[The Start of Assistant A's Answer]"),
    ("[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n"
     "[The Start of Assistant B's Answer]\n{answer_b}\n", "[The End of Assistant B's Answer]"),
])
def test_a_template_without_the_four_markers_is_refused(user, missing):
    text = f'[single_turn]\nsystem = "judge"\nuser = {json.dumps(user)}\n'
    with pytest.raises(TemplateError) as error:
        parse_template(text, "mine.toml")
    message = str(error.value)
    assert missing in message and "mine.toml" in message and "\n" not in message
    assert error.value.exit_code == 2


def test_a_template_with_a_placeholder_outside_its_markers_is_refused():
    user = ("{answer_a}[The Start of Assistant A's Answer]\n[The End of Assistant A's Answer]\n"
            "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]")
    with pytest.raises(TemplateError, match=r"\{answer_a\} between"):
        parse_template(f"[single_turn]\nuser = {json.dumps(user)}\n")


def test_a_judge_not_in_the_lineup_is_named_with_the_lineup(fake_model):
    lineup = {"alpha": fake_model(name="alpha"), "bravo": fake_model(name="bravo")}
    assert find_judge(lineup, "bravo").name == "bravo"
    with pytest.raises(Exception) as error:
        find_judge(lineup, "gpt-9")
    assert "'gpt-9' is not in the lineup" in str(error.value) and "alpha, bravo" in str(error.value)
    assert error.value.exit_code == 2


# -- judging over HTTP ---------------------------------------------------------------------------

async def test_both_orders_are_sent_with_the_right_answers_in_each_slot(store, fake_provider, fake_model):
    add_battle(store, "b1", "ALPHA says hello", "BRAVO says hi")
    summary = await judge_all(store, fake_model(ECHO, name="judge"))
    sent = [r.body["messages"] for r in fake_provider.requests_for(ECHO)]
    assert len(sent) == 2
    users = sorted(m[-1]["content"] for m in sent)
    first_alpha = ("[The Start of Assistant A's Answer]\nALPHA says hello\n[The End of Assistant A's Answer]\n\n"
                   "[The Start of Assistant B's Answer]\nBRAVO says hi\n[The End of Assistant B's Answer]")
    first_bravo = ("[The Start of Assistant A's Answer]\nBRAVO says hi\n[The End of Assistant A's Answer]\n\n"
                   "[The Start of Assistant B's Answer]\nALPHA says hello\n[The End of Assistant B's Answer]")
    assert sorted([first_alpha in u for u in users]) == [False, True]
    assert sorted([first_bravo in u for u in users]) == [False, True]
    assert all(m[0]["role"] == "system" and "impartial judge" in m[0]["content"] for m in sent)
    # both raw answers kept, each in its order
    kept = {j.order: j for j in load_judgments(store, "b1", "judge")}
    assert first_alpha in kept["ab"].text and first_bravo in kept["ba"].text
    assert kept["ab"].verdict is None and kept["ab"].duration_ms > 0 and kept["ab"].tokens > 0
    assert summary.unparseable_battles == 1 and summary.votes_recorded == 0


async def test_consistent_verdicts_win_inconsistent_ones_tie_and_prose_is_not_counted(store, fake_provider, fake_model):
    # The echoing judge's verdict is the marker in the answer shown second.
    add_battle(store, "a_wins", "[[B]]", "[[A]]")  # ab: A (model_a); ba: B (model_a)
    add_battle(store, "b_wins", "[[A]]", "[[B]]")  # ab: B (model_b); ba: A (model_b)
    add_battle(store, "flip", "[[A]]", "[[A]]")  # ab: A (model_a); ba: A (model_b) -> tie
    add_battle(store, "tie", "[[C]]", "[[C]]")
    add_battle(store, "prose", "a fine answer", "another answer")
    summary = await judge_all(store, fake_model(ECHO, name="echo"))
    assert votes(store, "judge:echo") == {"a_wins": "model_a", "b_wins": "model_b", "flip": "tie", "tie": "tie"}
    kinds = {r[0] for r in store.conn.execute("SELECT kind FROM votes")}
    assert kinds == {"judge"}
    assert (summary.judged, summary.votes_recorded, summary.consistent, summary.inconsistent) == (5, 4, 3, 1)
    assert summary.unparseable == [{"battle_id": "prose", "order": "ab"}, {"battle_id": "prose", "order": "ba"}]
    assert dict(summary.verdicts) == {"A": 4, "B": 2, "C": 2}
    assert summary.first_position_rate == round(4 / 6, 4)
    prose = load_judgments(store, "prose", "echo")
    assert [j.verdict for j in prose] == [None, None] and all("a fine answer" in j.text for j in prose)


async def test_a_judge_that_always_answers_a_gives_only_ties(store, fake_provider, fake_model):
    for i in range(4):
        add_battle(store, f"b{i}", f"answer {i} one", f"answer {i} two")
    summary = await judge_all(store, fake_model("fake:say=Assistant%20A.%20[[A]]", name="first"), concurrency=3)
    assert set(votes(store, "judge:first").values()) == {"tie"} and len(votes(store, "judge:first")) == 4
    assert (summary.consistent, summary.inconsistent) == (0, 4)
    assert summary.first_position_rate == 1.0


async def test_multi_turn_battles_are_judged_on_the_whole_conversation(store, fake_provider, fake_model):
    add_battle(store, "mt", ["A one", "A two"], ["B one", "B two"], prompts=["First?", "Second?"])
    await judge_all(store, fake_model(ECHO, name="echo"))
    users = [r.body["messages"][-1]["content"] for r in fake_provider.requests_for(ECHO)]
    ab = next(u for u in users if u.index("A one") < u.index("B one"))
    assert ab.startswith("<|The Start of Assistant A's Conversation with User|>\n\n### User:\nFirst?\n\n"
                         "### Assistant A:\nA one\n\n### User:\nSecond?\n\n### Assistant A:\nA two\n\n"
                         "<|The End of Assistant A's Conversation with User|>")
    assert "### Assistant B:\nB two" in ab


async def test_errored_and_unfinished_battles_are_not_judged(store, fake_provider, fake_model):
    add_battle(store, "ok", "one", "two")
    add_battle(store, "broken", "one", "", status="error")
    add_battle(store, "streaming", "one", "two", status="streaming")
    summary = await judge_all(store, fake_model("fake:say=[[B]]", name="j"))
    assert summary.selected == 1 and set(votes(store, "judge:j")) == {"ok"}


async def test_a_failing_judge_is_reported_per_battle_and_a_rerun_asks_only_what_failed(store, fake_provider, fake_model):
    add_battle(store, "first", "one", "two")
    add_battle(store, "second", "three", "four")
    model = fake_model("fake:say=[[A]],fault=500:1", name="flaky")
    summary = await judge_all(store, model, concurrency=1)
    assert len(summary.failures) == 1 and summary.failures[0]["battle_id"] == "first"
    assert "500" in summary.failures[0]["error"] and "Traceback" not in summary.text()
    assert summary.failed_battles == 1 and summary.votes_recorded == 1
    assert set(votes(store, "judge:flaky")) == {"second"}
    failed = next(j for j in load_judgments(store, "first", "flaky") if j.error)
    assert failed.verdict is None

    before = len(fake_provider.requests)  # (clear() would reset the fault counter too)
    again = await judge_all(store, model)
    assert len(fake_provider.requests) - before == 1  # the failed order only
    assert again.selected == 1 and again.already_judged == 1 and again.failures == []
    assert set(votes(store, "judge:flaky")) == {"first", "second"}


async def test_a_judge_past_its_deadline_fails_that_battle_only(store, fake_provider, fake_model):
    add_battle(store, "slow", "one", "two")
    summary = await judge_all(store, fake_model("fake:say=[[A]],stall@0", name="stuck"), deadline_s=0.5)
    assert {f["order"] for f in summary.failures} == {"ab", "ba"}
    assert all("deadline" in f["error"] for f in summary.failures)
    assert votes(store, "judge:stuck") == {}


async def test_a_partial_run_continues_where_it_stopped(store, fake_provider, fake_model):
    for i in range(5):
        add_battle(store, f"b{i}", f"x{i}", f"y{i}")
    model = fake_model("fake:say=[[B]]", name="j")
    first = await judge_all(store, model, limit=2)
    assert first.selected == 2 and len(votes(store, "judge:j")) == 2
    rest = await judge_all(store, model)
    assert rest.selected == 3 and rest.already_judged == 2
    assert len(fake_provider.requests) == 10 and len(votes(store, "judge:j")) == 5
    nothing = await judge_all(store, model)
    assert nothing.selected == 0 and len(fake_provider.requests) == 10


async def test_battles_all_judges_again_and_replaces_the_judges_vote(store, fake_provider, fake_model):
    add_battle(store, "b", "one", "two")
    store.record_vote("b", "model_b", "carol")
    await judge_all(store, fake_model("fake:say=[[A]]", name="j"))
    assert votes(store, "judge:j") == {"b": "tie"}
    consistent = fake_model("fake:say=[[C]]", name="j")
    summary = await judge_all(store, consistent, battles="all")
    assert summary.selected == 1 and summary.consistent == 1
    assert votes(store, "judge:j") == {"b": "tie"} and votes(store, "carol") == {"b": "model_b"}
    assert {j.verdict for j in load_judgments(store, "b", "j")} == {"C"}


async def test_keys_are_redacted_from_the_stored_judgment(store, fake_provider, fake_model, monkeypatch):
    key = "judge-secret-value-0123456789"
    monkeypatch.setenv("JUDGE_TEST_KEY", key)
    add_battle(store, "b", "one", "two")
    model = fake_model(f"fake:auth={key},say=My%20key%20is%20{key}%20[[A]]", name="keyed",
                       api_key_env="JUDGE_TEST_KEY")
    await judge_all(store, model)
    stored = store.conn.execute("SELECT group_concat(text, ' ') FROM judgments").fetchone()[0]
    assert "[redacted]" in stored and key not in stored
    assert key not in json.dumps(battle_judgments(store, "b"))
    assert votes(store, "judge:keyed") == {"b": "tie"}


async def test_a_judge_naming_a_model_is_kept_as_it_said_it(store, fake_provider, fake_model):
    add_battle(store, "b", "one", "two")
    await judge_all(store, fake_model("fake:say=Assistant%20A%20sounds%20like%20bravo.%20[[B]]", name="j"))
    assert all("sounds like bravo" in j.text for j in load_judgments(store, "b", "j"))
    assert store.battle("b")["identity_leak"] == 0  # the battle itself is as it was


async def test_the_jsonl_export_carries_both_raw_judgments(store, fake_provider, fake_model):
    from battles.exporters import write_export
    import io

    add_battle(store, "b", "one", "two")
    add_battle(store, "unjudged", "one", "two")
    await judge_all(store, fake_model("fake:say=[[A]]", name="j"), limit=1)
    out = io.StringIO()
    write_export(store, out, "jsonl")
    records = {r["id"]: r for r in map(json.loads, out.getvalue().splitlines()[1:])}
    judged = records["b"]["judgments"]
    assert [(j["judge"], j["order"], j["verdict"], j["text"]) for j in judged] == [
        ("j", "ab", "A", "[[A]]"), ("j", "ba", "A", "[[A]]")]
    assert set(judged[0]) == {"judge", "order", "text", "verdict", "error", "ttft_ms", "duration_ms", "tokens",
                              "created", "verdict_source"}  # verdict_source: m005, on purpose
    assert {j["verdict_source"] for j in judged} == {"text"}
    assert records["unjudged"]["judgments"] == []


def test_the_judge_voter_name():
    assert judge_voter("mini") == "judge:mini"


async def test_keys_are_redacted_from_a_failed_judgments_error(store, fake_provider, fake_model, monkeypatch):
    key = "judge-secret-value-9876543210"
    monkeypatch.setenv("JUDGE_TEST_KEY", key)
    add_battle(store, "b", "one", "two")
    # error@1: an in-stream error whose message names the model id, which holds the key here
    model = fake_model(f"fake:auth={key},say=[[A]]%20and%20more,error@1", name="leaky", api_key_env="JUDGE_TEST_KEY")
    summary = await judge_all(store, model)
    assert len(summary.failures) == 2
    stored = json.dumps(battle_judgments(store, "b")) + summary.text() + json.dumps(summary.to_json())
    assert key not in stored and all(j.error for j in load_judgments(store, "b", "leaky"))


async def test_raw_verdicts_of_every_judge_can_be_read_back(store, fake_provider, fake_model):
    add_battle(store, "one", "x", "y")
    add_battle(store, "two", "x", "y")
    await judge_all(store, fake_model("fake:say=[[A]]", name="first"))
    await judge_all(store, fake_model("fake:say=[[B]]", name="second"), limit=1)
    assert judges(store) == ["first", "second"]
    assert [(j.battle_id, j.order, j.verdict) for j in iter_judgments(store, "first")] == [
        ("one", "ab", "A"), ("one", "ba", "A"), ("two", "ab", "A"), ("two", "ba", "A")]
    assert [(j.judge, j.verdict) for j in iter_judgments(store) if j.battle_id == "one"] == [
        ("first", "A"), ("first", "A"), ("second", "B"), ("second", "B")]
