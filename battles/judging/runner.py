"""Judging finished battles with an LLM judge: both orders, every answer kept, one vote.

Each finished battle is shown to the judge twice: as stored (``ab``) and with the sides
swapped (``ba``). Every answer is saved as it arrives (``schema.save_judgment``), so an
interrupted run keeps what is done and a rerun asks only what is missing or failed. When both
answers carry a verdict, MT-Bench's rule decides (``verdict.decide``) and the decision is
recorded as an ordinary vote by ``judge:NAME`` of kind ``judge``, in the battle's own
model_a / model_b terms. Judge votes are never shown to a human before that human's own vote.

A local judge (provider ``llama-cpp``) whose answer carries no marker is asked for a forced
choice: the conversation goes on with its answer and ``[[``, and its most likely of A, B, C is
the verdict (the bundled SmolLM2-135M never writes a marker). The answer is kept as it was,
the judgment's ``verdict_source`` says ``forced``, and the summary counts those.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx

from battles.config import ModelConfig
from battles.errors import ConfigError, VoteError
from battles.features import estimate_tokens
from battles.judging.schema import Judgment, load_judgments, save_judgment
from battles.judging.template import JudgeTemplate, Turn
from battles.judging.verdict import decide, parse_verdict
from battles.providers import Delta, ProviderError, StreamEnd, make_provider
from battles.redact import redact, secrets_from_env
from battles.store import Store

JUDGE_PREFIX = "judge:"
JUDGE_MAX_TOKENS = 2048  # MT-Bench's; a judge whose config sets max_tokens keeps its own
DEFAULT_DEADLINE_S = 300.0  # one judgment, first byte to verdict
DEFAULT_CONCURRENCY = 4
SELECTIONS = ("unjudged", "all")

OnProgress = Callable[[int, int], None]  # (battles done, battles to do)


def judge_voter(name: str) -> str:
    """The voter name a judge's votes are recorded under."""
    return f"{JUDGE_PREFIX}{name}"


def find_judge(lineup: dict[str, ModelConfig], name: str) -> ModelConfig:
    """The lineup model named ``name`` (contestant or config name), or a one-line ConfigError."""
    model = lineup.get(name) or next((m for m in lineup.values() if name in (m.name, m.contestant)), None)
    if model is None:
        known = ", ".join(sorted(m.name for m in lineup.values())) or "none"
        raise ConfigError(f"The judge {name!r} is not in the lineup; the lineup has: {known}.")
    return model


def judge_config(model: ModelConfig) -> ModelConfig:
    """The judge as asked: no treatment (it would rewrite the verdict), no system prompt of its
    own (the template brings one), temperature 0 as in MT-Bench."""
    return dataclasses.replace(model, treatment=None, system=None, temperature=0.0,
                               max_tokens=model.max_tokens or JUDGE_MAX_TOKENS)


@dataclass
class JudgeSummary:
    judge: str  # the voter name, judge:NAME
    template: str
    selected: int = 0  # battles this run set out to judge
    already_judged: int = 0  # finished battles left alone (--battles unjudged)
    judged: int = 0  # battles with both answers in hand after this run
    votes_recorded: int = 0
    consistent: int = 0
    inconsistent: int = 0  # verdicts disagreed across the orders: recorded as a tie
    unparseable: list[dict[str, str]] = field(default_factory=list)  # {battle_id, order}
    failures: list[dict[str, str]] = field(default_factory=list)  # {battle_id, order, error}
    verdicts: Counter = field(default_factory=Counter)  # raw A / B / C of the battles judged
    forced: int = 0  # of those verdicts, forced choices of a local judge (no marker in its text)
    interrupted: bool = False

    @property
    def failed_battles(self) -> int:
        return len({f["battle_id"] for f in self.failures})

    @property
    def unparseable_battles(self) -> int:
        return len({u["battle_id"] for u in self.unparseable})

    @property
    def first_position_rate(self) -> float | None:
        """Share of raw verdicts that chose a side and chose the one shown first (ties left out)."""
        sided = self.verdicts["A"] + self.verdicts["B"]
        return round(self.verdicts["A"] / sided, 4) if sided else None

    def to_json(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "template": self.template,
            "battles_selected": self.selected,
            "already_judged": self.already_judged,
            "battles_judged": self.judged,
            "votes_recorded": self.votes_recorded,
            "consistent": self.consistent,
            "inconsistent": self.inconsistent,
            "unparseable": self.unparseable_battles,
            "unparseable_judgments": list(self.unparseable),
            "failed": self.failed_battles,
            "failures": list(self.failures),
            "verdicts": {v: self.verdicts[v] for v in ("A", "B", "C")},
            "forced_verdicts": self.forced,
            "first_position_rate": self.first_position_rate,
            "interrupted": self.interrupted,
        }

    def text(self) -> str:
        rate = self.first_position_rate
        sided = self.verdicts["A"] + self.verdicts["B"]
        lines = [
            f"Judge {self.judge} (template {self.template})",
            f"Battles judged: {self.judged} of {self.selected} (both orders each)"
            + (f"; {self.already_judged} already judged, left as they were" if self.already_judged else ""),
            f"Votes recorded: {self.votes_recorded} (consistent: {self.consistent}, "
            f"inconsistent, counted as a tie: {self.inconsistent})",
            f"Unparseable: {self.unparseable_battles} battle(s), {len(self.unparseable)} judgment(s) "
            "with no [[A]]/[[B]]/[[C]] (kept with their text, not counted)",
            f"Failed: {self.failed_battles} battle(s)" + (" (run again to retry them)" if self.failures else ""),
            "First-position rate: " + (f"{rate:.2f} of {sided} verdicts that chose a side" if rate is not None
                                       else "no verdict chose a side"),
        ]
        if self.forced:
            lines.append(f"Forced verdicts: {self.forced} of the {sum(self.verdicts.values())} verdicts had no "
                         "marker in the judge's text; the local judge was asked to continue after '[[' with one "
                         "of A, B, C (verdict_source 'forced' in the judgments)")
        if self.interrupted:
            lines.append("Interrupted: what was judged is kept; run the same command again to continue.")
        for item in self.unparseable:
            lines.append(f"  unparseable: battle {item['battle_id']} order {item['order']}")
        for item in self.failures:
            lines.append(f"  failed: battle {item['battle_id']} order {item['order']}: {item['error']}")
        return "\n".join(lines)


class JudgeRun:
    """One ``blindside judge`` run: pick the battles, ask the judge, record, summarise."""

    def __init__(self, store: Store, model: ModelConfig, template: JudgeTemplate, *,
                 client: httpx.AsyncClient | None = None, concurrency: int = DEFAULT_CONCURRENCY,
                 deadline_s: float = DEFAULT_DEADLINE_S, on_progress: OnProgress | None = None):
        if concurrency < 1:
            raise ConfigError("--concurrency takes a whole number of 1 or more.")
        self.store = store
        self.name = model.name
        self.voter = judge_voter(model.name)
        self.model = judge_config(model)
        self.template = template
        self.client = client
        self.concurrency = concurrency
        self.deadline_s = deadline_s
        self.on_progress = on_progress
        self.summary = JudgeSummary(self.voter, template.source)
        self._secrets = secrets_from_env([model.api_key_env])
        self._keep_answered = True  # reuse answered judgments (select("all") asks everything again)

    # -- which battles ------------------------------------------------------------------------

    def select(self, battles: str = "unjudged", limit: int | None = None) -> list[str]:
        """Finished battles with texts, oldest first. ``unjudged`` leaves out those whose two
        judgments are answered and settled (voted, or kept as unparseable)."""
        if battles not in SELECTIONS:
            raise ConfigError(f"--battles takes {' or '.join(SELECTIONS)}, not {battles!r}.")
        finished = ("b.status = 'complete' AND EXISTS (SELECT 1 FROM responses r WHERE r.battle_id = b.id)")
        settled = (
            "(SELECT count(*) FROM judgments j WHERE j.battle_id = b.id AND j.judge = :judge "
            "AND j.error IS NULL) = 2 AND (EXISTS (SELECT 1 FROM votes v WHERE v.battle_id = b.id "
            "AND v.voter = :voter) OR EXISTS (SELECT 1 FROM judgments j WHERE j.battle_id = b.id "
            "AND j.judge = :judge AND j.verdict IS NULL))")
        where = finished if battles == "all" else f"{finished} AND NOT ({settled})"
        params = {"judge": self.name, "voter": self.voter, "limit": -1 if limit is None else limit}
        ids = [r[0] for r in self.store.conn.execute(
            f"SELECT b.id FROM battles b WHERE {where} ORDER BY b.created, b.rowid LIMIT :limit", params)]
        total = self.store.conn.execute(f"SELECT count(*) FROM battles b WHERE {finished}").fetchone()[0]
        eligible = self.store.conn.execute(f"SELECT count(*) FROM battles b WHERE {where}", params).fetchone()[0]
        self.summary.already_judged = total - eligible
        self.summary.selected = len(ids)
        self._keep_answered = battles == "unjudged"
        return ids

    # -- the run ------------------------------------------------------------------------------

    async def run(self, battle_ids: list[str]) -> JudgeSummary:
        """Judge ``battle_ids``; each answer is committed as it arrives. Cancelling (ctrl+c)
        stops at once and keeps everything already saved."""
        owns_client = self.client is None
        if owns_client:
            from battles.engine import CLIENT_LIMITS, CLIENT_TIMEOUT

            self.client = httpx.AsyncClient(limits=CLIENT_LIMITS, timeout=CLIENT_TIMEOUT)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for battle_id in battle_ids:
            queue.put_nowait(battle_id)
        requests = asyncio.Semaphore(self.concurrency)
        done = 0
        if self.on_progress:
            self.on_progress(0, len(battle_ids))

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                battle_id = queue.get_nowait()
                await self._judge_battle(battle_id, requests)
                done += 1
                if self.on_progress:
                    self.on_progress(done, len(battle_ids))

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(battle_ids)))))
        except asyncio.CancelledError:
            self.summary.interrupted = True
            raise
        finally:
            if owns_client:
                await self.client.aclose()
                self.client = None
        return self.summary

    async def _judge_battle(self, battle_id: str, requests: asyncio.Semaphore) -> None:
        battle = self.store.battle(battle_id)
        turns = _turns(battle)
        kept = ({j.order: j for j in load_judgments(self.store, battle_id, self.name) if j.answered}
                if self._keep_answered else {})

        async def judgment(order: str) -> Judgment:
            if order in kept:
                return kept[order]
            async with requests:
                result = await self._ask(battle_id, order, turns)
            save_judgment(self.store, result)
            return result

        ab, ba = await asyncio.gather(judgment("ab"), judgment("ba"))
        summary = self.summary
        for j in (ab, ba):
            if not j.answered:
                summary.failures.append({"battle_id": battle_id, "order": j.order, "error": j.error})
            elif j.verdict is None:
                summary.unparseable.append({"battle_id": battle_id, "order": j.order})
            else:
                summary.verdicts[j.verdict] += 1
                summary.forced += j.verdict_source == "forced"
        if ab.answered and ba.answered:
            summary.judged += 1
        winner = None
        if ab.verdict and ba.verdict:
            winner, consistent = decide(ab.verdict, ba.verdict)
            summary.votes_recorded += 1
            if consistent:
                summary.consistent += 1
            else:
                summary.inconsistent += 1
        if ab.answered and ba.answered:  # settled: the judge's vote follows these two answers
            try:
                self._set_vote(battle_id, winner)
            except VoteError as exc:  # e.g. the battle was reopened for a follow-up meanwhile
                summary.failures.append({"battle_id": battle_id, "order": "vote", "error": str(exc)})

    def _set_vote(self, battle_id: str, winner: str | None) -> None:
        """The judge's vote on the battle, replacing one from an earlier run (--battles all)."""
        earlier = self.store.conn.execute("SELECT winner FROM votes WHERE battle_id = ? AND voter = ?",
                                          (battle_id, self.voter)).fetchone()
        if earlier is not None and earlier[0] == winner:
            return
        if earlier is not None:
            self.store.withdraw_vote(battle_id, self.voter, kind="judge")
        if winner is not None:
            self.store.record_vote(battle_id, winner, self.voter, shown_swapped=False, kind="judge")

    async def _force_verdict(self, result: Judgment, messages: list[dict[str, str]], answer: str) -> None:
        """A local judge's answer without a marker: its forced choice among A, B, C (see the
        module doc). Other providers' answers stay unparseable."""
        provider = make_provider(self.model)
        if hasattr(provider, "forced_verdict"):
            await _force_verdict_with(provider, result, messages, answer)

    async def _ask(self, battle_id: str, order: str, turns: list[Turn]) -> Judgment:
        """One request to the judge. Never raises for the judge's own failures: they land in
        ``error``, anonymous and without keys, like a battle's."""
        shown = turns if order == "ab" else [(prompt, b, a) for prompt, a, b in turns]
        result = Judgment(battle_id, self.name, order)
        pieces: list[str] = []
        length = 0
        server_tokens = None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.deadline_s):
                provider = make_provider(self.model)
                async with aclosing(provider.stream(self.template.messages(shown), self.client)) as events:
                    async for event in events:
                        if isinstance(event, Delta) and event.text:
                            if result.ttft_ms is None:
                                result.ttft_ms = _ms(time.perf_counter() - started)
                            pieces.append(event.text)
                            length += len(event.text)
                            if length >= self.model.max_chars:
                                break  # a runaway judge: what arrived is judged as it is
                        elif isinstance(event, StreamEnd):
                            server_tokens = event.output_tokens
                            break
        except ProviderError as exc:
            result.error = exc.reason + (f" ({exc.hint})" if exc.hint else "")
        except TimeoutError:
            result.error = f"no answer within the {self.deadline_s:g} s deadline"
        except Exception as exc:  # a bug must cost one judgment, not the run
            result.error = f"an unexpected error happened while judging ({type(exc).__name__}: {exc})"[:300]
        result.text = redact("".join(pieces), self._secrets)
        if result.error is not None:
            result.error = redact(result.error, self._secrets)
        else:
            result.verdict = parse_verdict(result.text)
            result.verdict_source = "text" if result.verdict else None
            if result.verdict is None:
                await self._force_verdict(result, self.template.messages(shown), "".join(pieces))
        result.duration_ms = _ms(time.perf_counter() - started)
        result.tokens = server_tokens if server_tokens is not None else estimate_tokens(result.text)
        return result


async def _force_verdict_with(provider: Any, result: Judgment, messages: list[dict[str, str]], answer: str) -> None:
    try:
        verdict = await provider.forced_verdict(messages, answer)
    except ProviderError:
        return  # no forced choice to be had (e.g. past the context window): stays unparseable
    if verdict is not None:
        result.verdict, result.verdict_source = verdict, "forced"


def _turns(battle: dict[str, Any]) -> list[Turn]:
    """(prompt, model A's answer, model B's answer) per turn of a stored battle."""
    by_turn: dict[int, dict[str, Any]] = {}
    for response in battle["responses"]:
        by_turn.setdefault(response["turn"], {})[response["side"]] = response
    turns = []
    for number in sorted(by_turn):
        sides = by_turn[number]
        a, b = sides.get("a", {}), sides.get("b", {})
        prompt = a.get("prompt") or b.get("prompt") or (battle["prompt"] if number == 1 else "") or ""
        turns.append((prompt, a.get("text") or "", b.get("text") or ""))
    return turns


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
