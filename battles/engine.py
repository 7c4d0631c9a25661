"""The battle engine: draw two models, stream both answers at once, store them, take the vote.

``Arena`` holds the lineup, the store, the pairing and one shared ``httpx.AsyncClient``;
``Arena.start`` draws a pair and returns a ``Battle``. A battle streams a turn on both sides
concurrently (one asyncio task per side, so one side's slow first token never delays the
other), applies treatments and the response cap, saves the turn with its timings and style
features, checks the answers for identity leaks, then waits for a vote. Nothing a battle
shows before the vote names a model, its provider or its host: a failure is an anonymous
reason ("Model B failed: the server refused the API key (401)"); what to do about it
(``error_hint``) may name the provider and is shown only with the reveal.

Answer text is untrusted: every configured API key is cut out of it as it streams (a proxy may
echo the request's headers), so neither the screen nor the store ever sees a key. A whole
answer has a ``deadline`` (``timeout`` only bounds the gaps), and an empty answer is a failure.
"""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import hashlib
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from battles.config import Config, ModelConfig
from battles.errors import BlindsideError, ConfigError, VoteError
from battles.features import estimate_tokens, style_features, sum_features
from battles.leaks import LeakDetector
from battles.pairing import Pairing, place, require_two
from battles.providers import Delta, Message, ProviderError, StreamEnd, make_provider
from battles.redact import StreamRedactor, redact, secrets_from_env
from battles.store import SIDES, ResponseRecord, Store, new_battle_id

OnDelta = Callable[[str, str], None]

STOPPED = "stopped"  # the error of a side whose stream was cancelled
LENGTH_CAP = "length_cap"  # the finish reason of a side cut at ModelConfig.max_chars
UNEXPECTED = "an unexpected error happened while streaming"
EMPTY_ANSWER = "returned an empty answer"
# Reasons that read as what the model did: shown "Model B took longer ...", not "Model B failed: ..."
_MODEL_DID = ("took longer than", EMPTY_ANSWER)

# One client for every battle: keep-alive connections are reused turn after turn.
CLIENT_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=16, keepalive_expiry=30.0)
CLIENT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)  # providers pass each model's own timeout

WINNER_ALIASES = {
    "a": "model_a", "model_a": "model_a", "left": "model_a",
    "b": "model_b", "model_b": "model_b", "right": "model_b",
    "tie": "tie", "both_bad": "both_bad", "both-bad": "both_bad", "bothbad": "both_bad",
}


class BattleStateError(BlindsideError):
    """The battle cannot do that now (e.g. a follow-up after the vote)."""

    exit_code = 1


class PromptError(BlindsideError):
    """The prompt is unusable (empty)."""

    exit_code = 2


def anonymous_error(side: str, reason: str) -> str:
    """The line shown for a failed side before the vote: it names the side, never the model."""
    if reason.startswith(_MODEL_DID):
        return f"Model {side.upper()} {reason}"
    return f"Model {side.upper()} failed: {reason}"


def deadline_reason(deadline: float) -> str:
    return f"took longer than the {deadline:g} s deadline for a whole answer"


def normalize_winner(winner: str) -> str:
    """``a``/``b``/``tie``/``both_bad`` (or the stored spelling) -> the stored spelling."""
    value = WINNER_ALIASES.get(str(winner).strip().lower())
    if value is None:
        raise VoteError(f"{winner!r} is not a vote; use one of a, b, tie, both_bad.")
    return value


def default_voter(config: Config, given: str | None = None) -> str | None:
    """--voter, else the config's arena.voter, else the OS user name."""
    if given:
        return given
    if config.arena.voter:
        return config.arena.voter
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment (some containers)
        return os.environ.get("USER") or None


def treatment_seed(battle_id: str, side: str, turn: int) -> int:
    """A treatment's seed: the same battle, side and turn always get the same treatment."""
    digest = hashlib.sha256(f"{battle_id}:{side}:{turn}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass
class Reveal:
    """Who was who, given once the battle is voted (or ended in an error)."""

    battle_id: str
    model_a: str  # contestant names (treatment included)
    model_b: str
    winner: str | None
    identity_leak: bool
    leaked_names: list[str]
    a: ResponseRecord  # last turn; error_hint may now be shown
    b: ResponseRecord


@dataclass
class Turn:
    prompt: str
    results: dict[str, ResponseRecord] = field(default_factory=lambda: {s: ResponseRecord() for s in SIDES})


@dataclass
class CheckResult:
    """One model's answer to ``Arena.check``: a one-token request."""

    name: str
    ok: bool
    latency_ms: float | None = None
    error: str | None = None
    hint: str | None = None


class Arena:
    """The lineup, the store, the pairing and the shared HTTP client."""

    def __init__(self, config: Config, store: Store, *, client: httpx.AsyncClient | None = None,
                 seed: int | None = None):
        self.config = config
        self.store = store
        self.lineup: dict[str, ModelConfig] = {m.contestant: m for m in config.models.values()}
        self.rng = random.Random(seed)
        self.pairing = Pairing(config.arena.pairing, self.rng)
        # Every configured key, cut out of answer text (keys read later are remembered by redact).
        self.secrets = secrets_from_env(m.api_key_env for m in config.models.values())
        self._client = client
        self._owns_client = client is None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(limits=CLIENT_LIMITS, timeout=CLIENT_TIMEOUT)
        return self._client

    async def aclose(self) -> None:
        """Close the shared client if this arena created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Arena:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def resolve(self, name: str) -> ModelConfig:
        """A lineup model by contestant name (or by its config name)."""
        model = self.lineup.get(name)
        if model is None:
            model = next((m for m in self.lineup.values() if m.name == name), None)
        if model is None:
            known = ", ".join(sorted(self.lineup)) or "none"
            raise ConfigError(f"Unknown model {name!r}. The lineup has: {known}.")
        return model

    def start(self, prompt: str, *, models: tuple[str, str] | None = None, pack: str | None = None,
              category: str | None = None) -> Battle:
        """A new battle on ``prompt`` (not streamed yet: await ``Battle.run``).

        ``models`` fixes the pair, first on the left; otherwise the configured pairing draws it
        and a fair coin puts one of them on the left. The battle row is written at once.
        """
        if not prompt or not prompt.strip():
            raise PromptError("The prompt is empty; write a question for both models.")
        if models is not None:
            left, right = self.resolve(models[0]), self.resolve(models[1])
            if left.contestant == right.contestant:
                raise ConfigError(f"Both sides name {left.contestant!r}; pick two different models.")
            swapped = False
        else:
            names = list(self.lineup)
            require_two(names)
            left_name, right_name, swapped = place(self.pairing.draw(names, self.store), self.rng)
            left, right = self.lineup[left_name], self.lineup[right_name]
        battle_id = self.store.begin_battle(model_a=left.contestant, model_b=right.contestant, prompt=prompt,
                                            swapped=swapped, pack=pack, category=category,
                                            battle_id=new_battle_id())
        return Battle(self, battle_id, left, right, prompt, swapped=swapped)

    async def check(self, names: Sequence[str] | None = None) -> list[CheckResult]:
        """Send a one-token request to each model at once; report latency or the error."""
        models = [self.resolve(n) for n in names] if names else list(self.lineup.values())
        outcomes = await asyncio.gather(*(check_model(m, self.client) for m in models), return_exceptions=True)
        # check_model catches everything; whatever still escapes is that model's failed line.
        return [outcome if isinstance(outcome, CheckResult) else _failed_check(model, outcome)
                for model, outcome in zip(models, outcomes)]


class Battle:
    """One blind battle: two anonymous sides, one or more turns, at most one vote."""

    def __init__(self, arena: Arena, battle_id: str, left: ModelConfig, right: ModelConfig, prompt: str,
                 *, swapped: bool = False):
        self.arena = arena
        self.store = arena.store
        self.id = battle_id
        self.models = {"a": left, "b": right}
        self.swapped = swapped
        self.turns: list[Turn] = [Turn(prompt)]
        self.status = "streaming"
        self.identity_leak = False
        self.leaked_names: list[str] = []
        self.voted = False
        self.winner: str | None = None
        self._pending = True  # the last turn in self.turns still has to be streamed
        self._tasks: dict[str, asyncio.Task] = {}
        self._revealed = False
        self._detector = LeakDetector([left, right])

    # -- state ------------------------------------------------------------------------------

    @property
    def turn(self) -> int:
        """1-based number of the turn being (or last) streamed."""
        return len(self.turns)

    @property
    def prompt(self) -> str:
        return self.turns[-1].prompt

    @property
    def results(self) -> dict[str, ResponseRecord]:
        """The current turn's two answers. A side's record is filled in when that side ends;
        follow the text as it arrives with ``on_delta``."""
        return self.turns[-1].results

    @property
    def streaming(self) -> bool:
        return bool(self._tasks)

    @property
    def can_vote(self) -> bool:
        return self.status == "complete" and not self.voted and not self.streaming

    def _ensure_open(self, action: str) -> None:
        if self.voted:
            raise BattleStateError(f"This battle already has a vote; start a new battle to {action}.")
        if self._revealed:
            raise BattleStateError(f"This battle was revealed; start a new battle to {action}.")
        if self.streaming:
            raise BattleStateError(f"Both answers are still streaming; wait or stop them before you {action}.")

    # -- streaming --------------------------------------------------------------------------

    async def run(self, on_delta: OnDelta | None = None) -> dict[str, ResponseRecord]:
        """Stream the pending turn on both sides at once; return when both are done.

        ``on_delta(side, piece)`` is called as text arrives (treated, within the cap). The turn,
        its features, the battle status and the leak flag are saved before this returns.
        If ``cancel()`` stops the streams, this returns normally and the unfinished sides carry
        the error ``"stopped"``. If the task awaiting ``run`` is itself cancelled, both streams
        are closed, the battle is saved as stopped, and ``asyncio.CancelledError`` propagates.
        """
        if not self._pending:
            raise BattleStateError("Nothing to stream: send a follow-up or regenerate first.")
        self._ensure_open("stream again")
        return await self._stream_turn(on_delta)

    async def follow_up(self, prompt: str, on_delta: OnDelta | None = None) -> dict[str, ResponseRecord]:
        """Ask both models a next question; each sees only its own earlier answers."""
        if not prompt or not prompt.strip():
            raise PromptError("The follow-up is empty; write a question for both models.")
        self._ensure_open("ask a follow-up")
        if self.status != "complete":
            raise BattleStateError("A follow-up needs both earlier answers; this battle ended in an error.")
        self.turns.append(Turn(prompt))
        self._pending = True
        return await self._stream_turn(on_delta)

    async def regenerate(self, on_delta: OnDelta | None = None) -> dict[str, ResponseRecord]:
        """Draw both answers of the current turn again (the old ones are replaced)."""
        self._ensure_open("regenerate")
        self.turns[-1] = Turn(self.turns[-1].prompt)
        self._pending = True
        return await self._stream_turn(on_delta)

    def cancel(self) -> None:
        """Stop both streams and close their connections; the battle can no longer be voted.

        While streaming, the awaiting ``run`` returns with the error ``"stopped"`` on each side
        that had not finished. A turn never started is marked stopped at once. A finished
        battle is left as it is (it can still be voted later).
        """
        if self._tasks:
            for task in self._tasks.values():
                task.cancel()
        elif self._pending and not self.voted:
            for record in self.results.values():
                record.error = STOPPED
            self._pending = False
            self._save_turn()

    async def _stream_turn(self, on_delta: OnDelta | None) -> dict[str, ResponseRecord]:
        turn = self.turns[-1]
        number = self.turn
        if self.status != "streaming":
            # A follow-up or a regenerate: mark the battle streaming so no other process votes mid-turn.
            self.status = "streaming"
            self.store.finish_battle(self.id, status="streaming", identity_leak=self.identity_leak,
                                     features_a=self._side_features("a"), features_b=self._side_features("b"))
        self.status = "streaming"
        self._pending = False
        self._tasks = {
            side: asyncio.create_task(self._stream_side(side, number, turn.results[side], on_delta),
                                      name=f"battle-{self.id[:8]}-{side}")
            for side in SIDES
        }
        try:
            await asyncio.wait(self._tasks.values())
        except asyncio.CancelledError:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            self._after_tasks()
            self._save_turn()
            raise
        self._after_tasks()
        self._save_turn()
        return dict(turn.results)

    def _after_tasks(self) -> None:
        for side, task in self._tasks.items():
            record = self.results[side]
            if task.cancelled():
                record.error = record.error or STOPPED
            elif task.exception() is not None:  # _stream_side catches everything; belt and braces
                record.error = record.error or UNEXPECTED
        self._tasks = {}

    async def _stream_side(self, side: str, turn: int, record: ResponseRecord, on_delta: OnDelta | None) -> None:
        model = self.models[side]
        treatment = None
        cap = model.max_chars
        pieces: list[str] = []
        length = 0
        capped = False
        server_tokens: int | None = None
        redactor = StreamRedactor(self.arena.secrets)
        said_something = False  # the model's own text had more than whitespace (before any treatment)
        started = time.perf_counter()

        def emit(text: str) -> None:
            nonlocal length, capped
            if not text or capped:
                return
            if length + len(text) > cap:
                text = text[:cap - length]
                capped = True
            if text:
                pieces.append(text)
                length += len(text)
                if on_delta is not None:
                    on_delta(side, text)

        try:
            if model.treatment:
                from battles.treatments import make_treatment  # only battles with a treatment need it

                treatment = make_treatment(model.treatment, treatment_seed(self.id, side, turn))
            provider = make_provider(model)
            async with asyncio.timeout(model.deadline):
                async with aclosing(provider.stream(self._messages(side), self.arena.client)) as events:
                    async for event in events:
                        if isinstance(event, Delta):
                            if not event.text:
                                continue
                            if record.ttft_ms is None:  # the model's first token, before any treatment
                                record.ttft_ms = _ms(time.perf_counter() - started)
                            said_something = said_something or not event.text.isspace()
                            text = redactor.feed(event.text)
                            emit(treatment.feed(text) if treatment else text)
                            if capped:
                                break  # leaving the block closes the request
                        elif isinstance(event, StreamEnd):
                            record.finish_reason = event.finish_reason
                            server_tokens = event.output_tokens
                            break
            tail = redactor.finish()
            if tail:
                emit(treatment.feed(tail) if treatment else tail)
            if treatment is not None and not capped:
                emit(treatment.finish())
            if capped:
                record.finish_reason = LENGTH_CAP
            elif not said_something or not "".join(pieces).strip():
                record.error = EMPTY_ANSWER  # a treatment's dressing around nothing is still nothing
        except TimeoutError:  # the deadline (an httpx timeout arrives as a ProviderError)
            record.error = deadline_reason(model.deadline)
            record.error_hint = (f"raise deadline (now {model.deadline:g} s) in the config of "
                                 f"{model.name!r} if its answers are this long")
        except ProviderError as exc:
            record.error = _anonymous(exc, model) or "the request failed"
            record.error_hint = redact(exc.hint) if exc.hint else None
        except asyncio.CancelledError:
            record.error = STOPPED
            raise
        except Exception as exc:  # a bug (here or in a treatment): fail this side, not the app
            record.error = UNEXPECTED
            record.error_hint = redact(f"{type(exc).__name__}: {exc}")[:300]
        finally:
            emit(redactor.finish())  # a held-back tail when the stream ended early (no key in it)
            record.text = "".join(pieces)
            record.duration_ms = _ms(time.perf_counter() - started)
            # Server usage counts what the server sent; a treated or capped text is another text.
            exact = server_tokens is not None and treatment is None and not capped
            record.tokens = server_tokens if exact else estimate_tokens(record.text)
            record.features = style_features(record.text, record.tokens)

    def _messages(self, side: str) -> list[Message]:
        """This side's own history: its system prompt, every prompt, its own earlier answers."""
        model = self.models[side]
        messages: list[Message] = []
        if model.system:
            messages.append({"role": "system", "content": model.system})
        for earlier in self.turns[:-1]:
            messages.append({"role": "user", "content": earlier.prompt})
            messages.append({"role": "assistant", "content": earlier.results[side].text})
        messages.append({"role": "user", "content": self.turns[-1].prompt})
        return messages

    # -- saving -----------------------------------------------------------------------------

    def _side_features(self, side: str) -> dict[str, int]:
        return sum_features(t.results[side].features or {} for t in self.turns)

    def _save_turn(self) -> None:
        turn = self.turns[-1]
        failed = any(r.error for r in turn.results.values())
        self.status = "error" if failed else "complete"
        answers = [r.text for t in self.turns for r in t.results.values()]
        self.leaked_names = self._detector.find(answers, [t.prompt for t in self.turns])
        self.identity_leak = bool(self.leaked_names)
        self.store.save_turn(self.id, self.turn, turn.prompt, turn.results["a"], turn.results["b"])
        self.store.finish_battle(self.id, status=self.status, identity_leak=self.identity_leak,
                                 features_a=self._side_features("a"), features_b=self._side_features("b"))

    # -- the vote ---------------------------------------------------------------------------

    def vote(self, winner: str, voter: str | None) -> Reveal:
        """Record the vote (durable on return) and reveal the models."""
        winner = normalize_winner(winner)
        if self.voted:
            raise VoteError(f"Battle {self.id} already has your vote; each voter votes once on a battle.")
        if self.streaming or self._pending:
            raise VoteError("Both answers have not finished yet; vote once they are complete.")
        if self.status != "complete":
            raise VoteError(f"Battle {self.id} ended with an error and cannot be voted on.")
        self.store.record_vote(self.id, winner, voter)
        self.voted = True
        self.winner = winner
        return self.reveal()

    def reveal(self) -> Reveal:
        """Who was who: after the vote, or once the battle has ended in an error."""
        if not self.voted and (self.status != "error" or self.streaming):
            raise BattleStateError("The models are revealed only after the vote.")
        self._revealed = True
        return Reveal(
            battle_id=self.id,
            model_a=self.models["a"].contestant,
            model_b=self.models["b"].contestant,
            winner=self.winner,
            identity_leak=self.identity_leak,
            leaked_names=list(self.leaked_names),
            a=self.results["a"],
            b=self.results["b"],
        )


# -- one answer on its own (decks) -----------------------------------------------------------------

async def generate_answer(arena: Arena, model: ModelConfig, prompt: str, *, seed_key: str) -> ResponseRecord:
    """One model's answer to ``prompt``, streamed and measured exactly as one side of a battle
    (system prompt, treatment, response cap, timings, features). A deck generates each model's
    answer to a prompt once and pairs it in several battles. ``seed_key`` seeds the treatment,
    as a battle id does. Never raises for a failed request: the record carries the error."""
    battle = Battle(arena, seed_key, model, model, prompt)
    record = ResponseRecord()
    await battle._stream_side("a", 1, record, None)
    return record


# -- battles already in the store (the ``vote`` command) ------------------------------------------

def vote_stored(store: Store, battle_id: str, winner: str, voter: str | None,
                lineup: dict[str, ModelConfig] | None = None) -> Reveal:
    """Vote on a finished battle found in the store (e.g. from an earlier ``battle`` run),
    shown in its own order (Model A on the left); each voter votes once on a battle."""
    winner = normalize_winner(winner)
    store.record_vote(battle_id, winner, voter)
    return stored_reveal(store, battle_id, lineup, voter=voter)


def stored_reveal(store: Store, battle_id: str, lineup: dict[str, ModelConfig] | None = None, *,
                  voter: str | None = None) -> Reveal:
    """The reveal of a stored battle that was voted or ended in an error; its winner is
    ``voter``'s vote when they cast one, else the first vote."""
    row = store.battle(battle_id)
    if row is None:
        raise VoteError(f"There is no battle {battle_id} in {store.path}.")
    mine = [v for v in row["votes"] if (v["voter"] or None) == (voter or None)]
    vote = mine[0] if mine else row["vote"]
    if vote is None and row["status"] != "error":
        raise VoteError(f"Battle {battle_id} has no vote yet; the models are revealed only after it.")
    lineup = lineup or {}
    models = [lineup.get(name) or ModelConfig(name=name, provider="", model=name)
              for name in (row["model_a"], row["model_b"])]
    responses = row["responses"]
    last = max((r["turn"] for r in responses), default=0)
    records = {r["side"]: _record(r) for r in responses if r["turn"] == last}
    leaked = LeakDetector(models).find([r["text"] or "" for r in responses],
                                       {r["prompt"] or "" for r in responses} | {row["prompt"] or ""})
    return Reveal(
        battle_id=battle_id,
        model_a=row["model_a"],
        model_b=row["model_b"],
        winner=vote["winner"] if vote else None,
        identity_leak=bool(row["identity_leak"]),
        leaked_names=leaked if row["identity_leak"] else [],
        a=records.get("a", ResponseRecord()),
        b=records.get("b", ResponseRecord()),
    )


def _record(row: dict[str, Any]) -> ResponseRecord:
    return ResponseRecord(text=row["text"] or "", error=row["error"], error_hint=row["error_hint"],
                          ttft_ms=row["ttft_ms"], duration_ms=row["duration_ms"], tokens=row["tokens"],
                          finish_reason=row["finish_reason"], features=row["features"])


# -- model checks ---------------------------------------------------------------------------------

CHECK_PROMPT: list[Message] = [{"role": "user", "content": "Reply with the word OK."}]


async def check_model(model: ModelConfig, client: httpx.AsyncClient) -> CheckResult:
    """A one-token request (max_tokens 1): ok with the latency of the first reply, or why not."""
    probe = dataclasses.replace(model, max_tokens=1, treatment=None)
    started = time.perf_counter()
    try:
        async with aclosing(make_provider(probe).stream(CHECK_PROMPT, client)) as events:
            async for _event in events:
                break  # any first event (text or the end) means the model answers
        return CheckResult(model.contestant, True, latency_ms=_ms(time.perf_counter() - started))
    except ProviderError as exc:
        return CheckResult(model.contestant, False, error=redact(exc.reason),
                           hint=redact(exc.hint) if exc.hint else None)
    except Exception as exc:
        return _failed_check(model, exc)


def _failed_check(model: ModelConfig, exc: BaseException) -> CheckResult:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # say what failed, not "a TaskGroup"
        exc = exc.exceptions[0]
    return CheckResult(model.contestant, False, error=UNEXPECTED, hint=redact(f"{type(exc).__name__}: {exc}")[:300])


# -- helpers --------------------------------------------------------------------------------------

def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _anonymous(exc: ProviderError, model: ModelConfig) -> str:
    """A provider's reason with the model's names, host and URL hidden in the part the server
    wrote (in case one slipped past the provider's scrub). The program's own wording around it
    is left alone: a model called "cut" must not turn "the stream was cut off" into nonsense."""
    if not exc.quoted:
        return redact(exc.reason)
    fixed = exc.reason[:len(exc.reason) - len(exc.quoted)]
    return redact(fixed) + _hide_names(redact(exc.quoted), model)


def _hide_names(text: str, model: ModelConfig) -> str:
    """``text`` with the model's whole names, host and URL replaced by "[hidden]"."""
    try:
        host = urlsplit(model.url).hostname if model.url else None
    except ValueError:  # a URL the config would refuse (a model built in code)
        host = None
    names = sorted({model.url, host, model.model, model.name, model.contestant} - {None, ""}, key=len, reverse=True)
    names = [n for n in names if len(n) >= 3]
    if names:
        pattern = "|".join(re.escape(n) for n in names)
        text = re.sub(rf"(?<![\w.-])(?:{pattern})(?![\w-])", "[hidden]", text, flags=re.IGNORECASE)
    return text
