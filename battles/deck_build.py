"""``deck build``: generate a deck's answers once, pair them into battles, store them.

The plan: for each prompt, every pair of the deck's models (or ``pairs`` of them, dealt round
robin so each pair gets the same share of prompts). Each model answers each prompt it needs
once, through the engine's own streaming (``battles.engine.generate_answer``: system prompt,
treatment, cap, timings and features as in a live battle); that answer then appears in every
battle of that prompt the model is in. Battles are written as ordinary complete battles
(source ``deck``) with the engine's identity-leak check; a leaking battle is kept out of play.

Running the build again generates only the answers still missing and writes only the battles
still missing: a failed generation is retried, nothing else is redone. Ids and order are
derived from (deck, prompt, pair) and the deck's seed, so two builds of one deck at once agree
on every battle and, with ``INSERT OR IGNORE``, never duplicate one.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from battles import decks
from battles.config import Config, ModelConfig
from battles.errors import ConfigError
from battles.store import NewBattle, ResponseRecord, Store, now_iso
from prompts import Prompt

# Local models share the machine's cores (each generation takes half of them): more than two
# at once only makes each slower. Hosted models answer in parallel.
LOCAL_CONCURRENCY = 2
REMOTE_CONCURRENCY = 8

Progress = Callable[[int, int, int], None]  # (answers done, answers to generate, failed)


@dataclass(frozen=True)
class PlannedBattle:
    id: str
    prompt_id: str
    model_a: str  # as stored: model_a is the battle's left side in its own terms
    model_b: str
    swapped: bool
    position: int


@dataclass
class Failure:
    """A generation that failed: which model on which prompt, the reason and what to do."""

    prompt_id: str
    model: str
    error: str
    hint: str | None = None


@dataclass
class BuildReport:
    deck: str
    prompt_count: int
    planned: int
    playable: int = 0  # battles of the deck a voter plays, after this build
    leaks: int = 0  # battles left out for an identity leak, after this build
    new_battles: int = 0
    answers_generated: int = 0
    answers_reused: int = 0
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def missing(self) -> int:
        return self.planned - self.playable - self.leaks

    def failure_lines(self, most: int = 10) -> list[str]:
        """One line per model and reason (a model that is down fails every prompt alike)."""
        groups: dict[tuple[str, str, str | None], list[str]] = {}
        for f in self.failures:
            groups.setdefault((f.model, f.error, f.hint), []).append(f.prompt_id)
        lines = []
        for (model, error, hint), prompt_ids in list(groups.items())[:most]:
            where = f"prompt {prompt_ids[0]}" if len(prompt_ids) == 1 else (
                f"{len(prompt_ids)} prompts ({', '.join(prompt_ids[:3])}{', …' if len(prompt_ids) > 3 else ''})")
            lines.append(f"{model} on {where}: {error}" + (f" ({hint})" if hint else ""))
        if len(groups) > most:
            lines.append(f"… and {len(groups) - most} more")
        return lines

    def summary(self) -> str:
        lines = [f"Deck {self.deck}: {self.playable} battles ready to vote on "
                 f"({self.prompt_count} prompts, {self.planned} battles planned)."]
        if self.answers_generated or self.answers_reused or self.new_battles or self.failures:
            lines.append(f"Answers: {self.answers_generated} generated in {self.seconds:.1f} s, "
                         f"{self.answers_reused} already stored; {self.new_battles} new battles.")
        else:
            lines.append("Nothing was missing: no model was called.")
        if self.leaks:
            lines.append(f"Left out: {self.leaks} battle{'s' if self.leaks != 1 else ''} whose answers name a "
                         "model (identity leak).")
        if self.failures:
            lines.append(f"{len(self.failures)} generation{'s' if len(self.failures) != 1 else ''} failed "
                         f"({self.missing} battles missing); run the same command again to fill them in:")
            lines += [f"  {line}" for line in self.failure_lines()]
        elif self.missing:
            lines.append(f"{self.missing} battles are still missing (another build may be running); "
                         "run the same command again to fill them in.")
        return "\n".join(lines)


# -- the plan -------------------------------------------------------------------------------------

def battle_id(deck: str, prompt_id: str, pair: tuple[str, str]) -> str:
    """The same id for (deck, prompt, pair) in every build, whichever side is stored left."""
    first, second = sorted(pair)
    return hashlib.sha256(f"deck\0{deck}\0{prompt_id}\0{first}\0{second}".encode()).hexdigest()[:32]


def _unit(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def plan_deck(deck: str, prompt_ids: list[str], models: list[str], pairs: int | None, seed: int) -> list[PlannedBattle]:
    """Every battle of the deck, in playing order. Which side is stored left and the order are
    drawn per battle from the seed and its id: adding prompts moves no battle already planned."""
    all_pairs = list(itertools.combinations(sorted(models), 2))
    random.Random(seed).shuffle(all_pairs)
    per_prompt = len(all_pairs) if pairs is None else pairs
    planned = []
    for index, prompt_id in enumerate(prompt_ids):
        for j in range(per_prompt):  # round robin: each pair gets an equal share of the prompts
            first, second = all_pairs[(index * per_prompt + j) % len(all_pairs)]
            bid = battle_id(deck, prompt_id, (first, second))
            swapped = _unit(seed, "side:" + bid) < 0.5
            a, b = (second, first) if swapped else (first, second)
            planned.append((_unit(seed, "order:" + bid), bid, prompt_id, a, b, swapped))
    planned.sort()
    return [PlannedBattle(id=bid, prompt_id=pid, model_a=a, model_b=b, swapped=swapped, position=position)
            for position, (_key, bid, pid, a, b, swapped) in enumerate(planned)]


def default_concurrency(models: list[ModelConfig]) -> int:
    return LOCAL_CONCURRENCY if any(m.provider == "llama-cpp" for m in models) else REMOTE_CONCURRENCY


# -- settling the deck's settings ------------------------------------------------------------------

def resolve_models(config: Config, names: list[str]) -> list[ModelConfig]:
    """Lineup models by contestant (or config) name; ConfigError (exit 2) for one not in it."""
    lineup = {m.contestant: m for m in config.models.values()}
    known = ", ".join(sorted(lineup)) or "none"
    out: list[ModelConfig] = []
    for name in names:
        model = lineup.get(name) or next((m for m in lineup.values() if m.name == name), None)
        if model is None:
            raise ConfigError(f"Model {name!r} is not in the lineup (the lineup has: {known}).")
        if model in out:
            raise ConfigError(f"--models names {model.contestant!r} twice; a deck needs distinct models.")
        out.append(model)
    if len(out) < 2:
        raise ConfigError("--models needs at least two models, separated by commas (e.g. --models a,b).")
    return out


def settle_deck(store: Store, name: str, prompts: str | None, models: list[str] | None, pairs: int | None,
                seed: int | None) -> tuple[decks.Deck | None, str, list[str], int | None, int]:
    """(the stored deck or None, prompt source, model names, pairs, seed) for this build.

    A deck that exists keeps its settings: options left out are taken from it, and options
    that differ are refused (ConfigError) rather than mixing two plans in one deck."""
    name = decks.check_name(name)
    existing = decks.get_deck(store, name)
    if prompts is not None and os.path.isfile(prompts):  # a file: found again from any folder
        prompts = os.path.abspath(prompts)
    if existing is None:
        if prompts is None or models is None:
            raise ConfigError(f"Deck {name!r} does not exist yet: give --prompts PACK|FILE and --models A,B[,C...].")
        return None, prompts, models, pairs, seed if seed is not None else random.SystemRandom().randrange(2**31)
    differs = []
    if prompts is not None and prompts != existing.prompts:
        differs.append(f"--prompts {existing.prompts}")
    if models is not None and sorted(models) != sorted(existing.models):
        differs.append(f"--models {','.join(existing.models)}")
    if pairs is not None and pairs != existing.pairs:
        differs.append(f"--pairs {existing.pairs}" if existing.pairs else "all pairs")
    if seed is not None and seed != existing.seed:
        differs.append(f"--seed {existing.seed}")
    if differs:
        raise ConfigError(f"Deck {name!r} was built with {' '.join(differs)}; run `blindside deck build {name}` "
                          "to fill it in, or choose another name for a new deck.")
    return existing, existing.prompts, list(existing.models), existing.pairs, existing.seed


# -- the build ------------------------------------------------------------------------------------

async def build_deck(store: Store, config: Config, name: str, *, prompts: str | None = None,
                     models: list[str] | None = None, pairs: int | None = None, seed: int | None = None,
                     concurrency: int | None = None, progress: Progress | None = None,
                     client=None) -> BuildReport:
    """Build deck ``name`` (or fill in what it misses). Bad settings raise ConfigError or
    PromptPackError before any model is called."""
    from prompts import load_pack

    existing, source, model_names, pairs, seed = settle_deck(store, name, prompts, models, pairs, seed)
    name = decks.check_name(name)
    pack = load_pack(source)
    if existing is None:
        lineup = resolve_models(config, model_names)
        model_names = [m.contestant for m in lineup]
    else:
        lineup = _stored_lineup(config, model_names)
    all_pairs = len(model_names) * (len(model_names) - 1) // 2
    if pairs is not None and not 1 <= pairs <= all_pairs:
        raise ConfigError(f"--pairs must be between 1 and {all_pairs} (the pairs of {len(model_names)} models).")
    if concurrency is not None and concurrency < 1:
        raise ConfigError("--concurrency must be at least 1.")
    plan = plan_deck(name, [p.id for p in pack], model_names, pairs, seed)
    if existing is None:
        stored = decks.create_deck(store, decks.Deck(
            name=name, created=now_iso(), prompts=source, pack=pack[0].pack, models=tuple(model_names),
            pairs=pairs, seed=seed, prompt_count=len(pack), planned=len(plan)))
        if stored.seed != seed:  # another build created the deck a moment ago: follow its plan
            settle_deck(store, name, source, model_names, pairs, None)
            seed = stored.seed
            plan = plan_deck(name, [p.id for p in pack], model_names, pairs, seed)
    elif (existing.prompt_count, existing.planned) != (len(pack), len(plan)):
        decks.update_plan_size(store, name, len(pack), len(plan))
    build = _Build(store, name, {p.id: p for p in pack}, {m.contestant: m for m in lineup},
                   BuildReport(deck=name, prompt_count=len(pack), planned=len(plan)))
    await build.run(plan, config, concurrency or default_concurrency(lineup), progress, client)
    status = decks.deck_status(store, name)
    build.report.playable, build.report.leaks = status.battles, status.leaks
    return build.report


def _stored_lineup(config: Config, names: list[str]) -> list[ModelConfig]:
    """The deck's models as the config knows them now; those it no longer has are left out
    (their answers are stored, and only a missing answer needs the model)."""
    lineup = {m.contestant: m for m in config.models.values()}
    return [lineup[n] for n in names if n in lineup]


@dataclass
class _Build:
    """One run of the build: what is missing, generated, and written as it comes in."""

    store: Store
    name: str
    prompts: dict[str, Prompt]
    models: dict[str, ModelConfig]  # the deck's models the lineup still has
    report: BuildReport
    answers: dict[tuple[str, str], ResponseRecord] = field(default_factory=dict)
    waiting: dict[tuple[str, str], list[PlannedBattle]] = field(default_factory=dict)  # answer -> its battles

    async def run(self, plan: list[PlannedBattle], config: Config, concurrency: int, progress: Progress | None,
                  client) -> None:
        started = time.perf_counter()
        built = decks.built_battles(self.store, self.name)
        todo = [b for b in plan if b.id not in built]
        self.answers = decks.stored_answers(self.store, self.name)
        for battle in todo:
            for model in (battle.model_a, battle.model_b):
                self.waiting.setdefault((battle.prompt_id, model), []).append(battle)
        # In playing order, so an interrupted build leaves the first battles playable.
        first: dict[str, int] = {}
        for battle in reversed(plan):
            first[battle.prompt_id] = battle.position
        needed = sorted(set(self.waiting) - set(self.answers), key=lambda k: (first[k[0]], k[1]))
        self.report.answers_reused = len(self.waiting) - len(needed)
        gone = sorted({model for _, model in needed} - set(self.models))
        if gone:
            raise ConfigError(f"Deck {self.name!r} still needs answers from {', '.join(gone)}, which the lineup "
                              "no longer has; restore them in the config to finish the deck (it plays as it is).")
        self._write(todo)  # those whose answers an earlier, interrupted build had stored
        if needed:
            await self._generate(needed, config, concurrency, progress, client)
        self.report.seconds = time.perf_counter() - started

    async def _generate(self, needed, config, concurrency, progress, client) -> None:
        from battles.engine import Arena, generate_answer

        gate = asyncio.Semaphore(concurrency)
        done = failed = 0
        if progress:
            progress(0, len(needed), 0)

        async def one(prompt_id: str, model: str) -> None:
            nonlocal done, failed
            prompt = self.prompts[prompt_id]
            async with gate:
                record = await generate_answer(arena, self.models[model], prompt.text,
                                               seed_key=f"deck:{self.name}:{prompt_id}:{model}")
            if record.error:
                failed += 1
                self.report.failures.append(Failure(prompt_id, model, record.error, record.error_hint))
            else:
                self.report.answers_generated += 1
                decks.save_answer(self.store, self.name, prompt_id, model, prompt.text, record)
                # Read it back: when two builds race, the answer stored first is the deck's answer.
                self.answers[(prompt_id, model)] = decks.stored_answer(self.store, self.name, prompt_id, model)
                self._write(self.waiting[(prompt_id, model)])
            done += 1
            if progress:
                progress(done, len(needed), failed)

        async with Arena(config, self.store, client=client) as arena:
            await asyncio.gather(*(one(prompt_id, model) for prompt_id, model in needed))

    def _write(self, battles: list[PlannedBattle]) -> None:
        """Store those of ``battles`` whose two answers are in, and add them to the deck."""
        from battles.features import sum_features
        from battles.leaks import LeakDetector

        ready = [b for b in battles
                 if (b.prompt_id, b.model_a) in self.answers and (b.prompt_id, b.model_b) in self.answers]
        if not ready:
            return
        rows = []
        for battle in ready:
            prompt = self.prompts[battle.prompt_id]
            a, b = self.answers[(battle.prompt_id, battle.model_a)], self.answers[(battle.prompt_id, battle.model_b)]
            # The engine's check: the answers, minus names the prompt itself holds.
            leak = bool(LeakDetector(self._configs(battle)).find([a.text, b.text], [prompt.text]))
            rows.append(NewBattle(
                id=battle.id, model_a=battle.model_a, model_b=battle.model_b, winner=None, created=now_iso(),
                source=decks.DECK_SOURCE, category=prompt.category, prompt=prompt.text, pack=prompt.pack,
                identity_leak=leak, features_a=sum_features([a.features or {}]),
                features_b=sum_features([b.features or {}]), turns=[(prompt.text, _copy(a), _copy(b))],
                meta={"deck": self.name, "prompt_id": battle.prompt_id}, swapped=battle.swapped, status="complete"))
        added, _present = self.store.insert_battles(rows)
        decks.add_to_deck(self.store, self.name, [(b.id, b.position) for b in ready])
        self.report.new_battles += added

    def _configs(self, battle: PlannedBattle) -> list[ModelConfig]:
        # A model no longer in the config is checked by its name alone.
        return [self.models.get(n) or ModelConfig(name=n, provider="", model=n) for n in (battle.model_a, battle.model_b)]


def _copy(record: ResponseRecord) -> ResponseRecord:
    return ResponseRecord(text=record.text, ttft_ms=record.ttft_ms, duration_ms=record.duration_ms,
                          tokens=record.tokens, finish_reason=record.finish_reason,
                          features=dict(record.features) if record.features is not None else None)
