"""The bundled SmolLM2-135M as a judge: it never writes [[A]]/[[B]]/[[C]], so its verdict is a
forced choice after its own answer and "[[". Real model, real SQLite file; few tokens, so quick."""

from __future__ import annotations

import pytest

from battles.config import ModelConfig
from battles.judging.runner import JudgeRun
from battles.judging.schema import load_judgments
from battles.judging.template import load_template
from battles.store import Store
from tests.test_judge import add_battle

pytestmark = pytest.mark.local_model


def smol_judge(**fields) -> ModelConfig:
    fields.setdefault("max_tokens", 12)
    return ModelConfig(name="smol", provider="llama-cpp", model="SmolLM2-135M-Instruct", **fields)


async def test_the_bundled_judge_gets_a_forced_verdict_kept_with_its_raw_text(tmp_path):
    with Store(tmp_path / "votes.db") as store:
        add_battle(store, "b", "Paris is the capital of France.", "I think it is Lyon, maybe.",
                   prompts=["What is the capital of France?"])
        run = JudgeRun(store, smol_judge(), load_template(), concurrency=2)
        summary = await run.run(run.select())
        judgments = {j.order: j for j in load_judgments(store, "b", "smol")}
        assert set(judgments) == {"ab", "ba"}
        for j in judgments.values():
            assert j.error is None and j.text.strip()  # its own words, kept as they were
            assert "[[" not in j.text  # no marker of its own ...
            assert j.verdict in ("A", "B", "C") and j.verdict_source == "forced"  # ... so a forced choice
        assert summary.forced == 2 and summary.votes_recorded == 1 and summary.unparseable == []
        assert summary.to_json()["forced_verdicts"] == 2 and "Forced verdicts: 2 of the 2" in summary.text()
        vote = store.conn.execute("SELECT winner, kind FROM votes WHERE voter = 'judge:smol'").fetchone()
        assert vote[1] == "judge" and vote[0] in ("model_a", "model_b", "tie")


async def test_a_forced_choice_is_one_letter_and_the_same_every_time():
    # Temperature 0 and a grammar: the model's most likely of A, B, C, so asking again gives
    # the same letter (a 135M model's choice says little about the answers: the record says
    # it was forced, and the summary counts it).
    from battles.providers import make_provider

    provider = make_provider(smol_judge())
    messages = load_template().messages([("What is 2+2?", "4", "5")])
    answer = "Assistant A is correct, Assistant B is not."
    first = await provider.forced_verdict(messages, answer)
    assert first in ("A", "B", "C") and await provider.forced_verdict(messages, answer) == first
