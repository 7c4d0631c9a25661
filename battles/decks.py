"""Decks: battles generated once, then voted by many (a workshop room, a team).

A deck's battles are ordinary battles (``battles``/``responses``, status complete, source
``deck``) that every voter votes on, each voter once per battle. Three tables hold the deck:

- ``decks``: one row per deck: name, when it was made, the prompt pack it was built from,
  its models (JSON list), options (JSON: ``pairs``, ``seed``), and the plan's size
  (``prompt_count``, ``planned`` battles).
- ``deck_answers``: each model's answer to each prompt, generated once and paired in several
  battles; a build that stopped keeps what it had and the next one reuses it.
- ``deck_battles``: (deck, battle_id, position): the battles built, in playing order. A battle
  flagged for an identity leak is kept here (so a rebuild does not redo it) but never played.

Battle ids are derived from (deck, prompt, pair) and every write is ``INSERT OR IGNORE``: two
builds of one deck at once never duplicate a battle. The build itself is in
``battles.deck_build``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


from battles.errors import ConfigError
from battles.store import ResponseRecord, Store, now_iso

DECK_SOURCE = "deck"  # battles.source of a deck's battles
NAME_MAX = 80
# A voter's choice as shown on screen -> the choice in the battle's own model_a / model_b terms.
SHOWN_CHOICES = ("left", "right", "tie", "both_bad")


@dataclass(frozen=True)
class Deck:
    """A deck's settings as stored by its first build."""

    name: str
    created: str
    prompts: str  # the pack name or the pack file's absolute path
    pack: str | None
    models: tuple[str, ...]
    pairs: int | None  # pairs per prompt; None: all pairs
    seed: int
    prompt_count: int
    planned: int


@dataclass
class DeckStatus:
    """What ``deck list`` and ``deck show`` say about a deck."""

    deck: Deck
    battles: int  # playable: built, complete, no identity leak
    leaks: int  # built but left out for an identity leak
    missing: int  # planned but not built: a generation failed, or a build is still running
    answers: int
    votes: int
    voters: dict[str, int] = field(default_factory=dict)  # name -> human votes on this deck

    def as_json(self) -> dict[str, Any]:
        d = self.deck
        return {"name": d.name, "created": d.created, "prompts": d.prompts, "pack": d.pack,
                "models": list(d.models), "pairs": d.pairs, "seed": d.seed, "prompt_count": d.prompt_count,
                "planned": d.planned, "battles": self.battles, "identity_leaks_left_out": self.leaks,
                "missing": self.missing, "answers": self.answers, "votes": self.votes,
                "voters": self.voters}


def check_name(name: str) -> str:
    """The deck name, stripped; ConfigError (exit 2) for an empty or unprintable one."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise ConfigError(f"A deck name must be 1 to {NAME_MAX} printable characters, got {name!r}.")
    return name


# -- reading ------------------------------------------------------------------------------------

def get_deck(store: Store, name: str) -> Deck | None:
    row = store.conn.execute(
        "SELECT name, created, prompts, pack, models, options, prompt_count, planned FROM decks WHERE name = ?",
        (name,)).fetchone()
    if row is None:
        return None
    options = json.loads(row[5] or "{}")
    return Deck(name=row[0], created=row[1], prompts=row[2], pack=row[3], models=tuple(json.loads(row[4])),
                pairs=options.get("pairs"), seed=int(options.get("seed", 0)), prompt_count=row[6] or 0,
                planned=row[7] or 0)


def require_deck(store: Store, name: str) -> Deck:
    """The deck, or a ConfigError (exit 2) in one line that names the decks there are."""
    deck = get_deck(store, name)
    if deck is None:
        names = [r[0] for r in store.conn.execute("SELECT name FROM decks ORDER BY name")]
        known = f"decks here: {', '.join(names)}" if names else "there are no decks yet"
        raise ConfigError(f"There is no deck {name!r} in {store.path} ({known}); "
                          f"build it with: blindside deck build {name} --prompts PACK --models A,B")
    return deck


def deck_names(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute("SELECT name FROM decks ORDER BY created, name")]


def deck_status(store: Store, name: str) -> DeckStatus:
    deck = require_deck(store, name)
    conn = store.conn
    built = conn.execute(
        "SELECT count(*), coalesce(sum(b.identity_leak = 0 AND b.status = 'complete'), 0), "
        "coalesce(sum(b.identity_leak = 1), 0) "
        "FROM deck_battles d JOIN battles b ON b.id = d.battle_id WHERE d.deck = ?", (name,)).fetchone()
    answers = conn.execute("SELECT count(*) FROM deck_answers WHERE deck = ?", (name,)).fetchone()[0]
    voters = dict(conn.execute(
        "SELECT coalesce(v.voter, ''), count(*) FROM votes v JOIN deck_battles d ON d.battle_id = v.battle_id "
        f"JOIN battles b ON b.id = v.battle_id WHERE d.deck = ? AND {_PLAYABLE} AND v.kind = 'human' "
        "GROUP BY 1 ORDER BY 2 DESC, 1", (name,)).fetchall())  # the room's people; judges are in `voters`
    return DeckStatus(deck=deck, battles=built[1], leaks=built[2], missing=max(0, deck.planned - built[0]),
                      answers=answers, votes=sum(voters.values()), voters=voters)


_PLAYABLE = "b.status = 'complete' AND b.identity_leak = 0"


def playable_battles(store: Store, name: str) -> list[str]:
    """The deck's battle ids in playing order: complete and without an identity leak."""
    return [r[0] for r in store.conn.execute(
        "SELECT d.battle_id FROM deck_battles d JOIN battles b ON b.id = d.battle_id "
        f"WHERE d.deck = ? AND {_PLAYABLE} ORDER BY d.position, d.battle_id", (name,))]


def votes_of(store: Store, name: str, voter: str) -> dict[str, str]:
    """battle id -> winner (model_a | model_b | tie | both_bad) of ``voter``'s votes on the deck."""
    return dict(store.conn.execute(
        "SELECT v.battle_id, v.winner FROM votes v JOIN deck_battles d ON d.battle_id = v.battle_id "
        "WHERE d.deck = ? AND v.voter = ?", (name, voter)).fetchall())


@dataclass(frozen=True)
class DeckBattle:
    """One stored deck battle as a voter sees it: its prompt and both finished answers."""

    id: str
    prompt: str
    model_a: str
    model_b: str
    a: ResponseRecord
    b: ResponseRecord


def load_battle(store: Store, battle_id: str) -> DeckBattle:
    row = store.battle(battle_id)
    if row is None:
        raise ConfigError(f"Deck battle {battle_id} is no longer in {store.path}.")
    records = {r["side"]: _record(r) for r in row["responses"] if r["turn"] == 1}
    return DeckBattle(id=battle_id, prompt=row["prompt"] or "", model_a=row["model_a"], model_b=row["model_b"],
                      a=records.get("a", ResponseRecord()), b=records.get("b", ResponseRecord()))


def _record(row: dict[str, Any]) -> ResponseRecord:
    return ResponseRecord(text=row["text"] or "", error=row["error"], error_hint=row["error_hint"],
                          ttft_ms=row["ttft_ms"], duration_ms=row["duration_ms"], tokens=row["tokens"],
                          finish_reason=row["finish_reason"], features=row["features"])


# -- playing ------------------------------------------------------------------------------------

def shown_swapped(voter: str, battle_id: str) -> bool:
    """Whether ``voter`` sees the battle's model_b on the left. A fair coin per (voter, battle),
    the same every time, so a returning voter sees each battle as before."""
    return hashlib.sha256(f"{voter}\0{battle_id}".encode()).digest()[0] & 1 == 1


def stored_winner(shown: str, swapped: bool) -> str:
    """A choice as shown (left / right / tie / both_bad) in the battle's own terms."""
    if shown not in SHOWN_CHOICES:
        raise ValueError(f"unknown choice {shown!r}")
    if shown == "left":
        return "model_b" if swapped else "model_a"
    if shown == "right":
        return "model_a" if swapped else "model_b"
    return shown


# -- writing (the build) ------------------------------------------------------------------------

def create_deck(store: Store, deck: Deck) -> Deck:
    """Record a new deck; if another build created it first, the stored one is returned."""
    options = json.dumps({"pairs": deck.pairs, "seed": deck.seed}, sort_keys=True)
    with store.write() as conn:  # the store's write transaction: waits for the lock, fsyncs
        conn.execute(
            "INSERT OR IGNORE INTO decks (name, created, prompts, pack, models, options, prompt_count, planned) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (deck.name, deck.created or now_iso(), deck.prompts, deck.pack, json.dumps(list(deck.models)),
             options, deck.prompt_count, deck.planned))
    return get_deck(store, deck.name)


def update_plan_size(store: Store, name: str, prompt_count: int, planned: int) -> None:
    """A pack file that gained prompts makes a bigger plan."""
    with store.write() as conn:
        conn.execute("UPDATE decks SET prompt_count = ?, planned = ? WHERE name = ?", (prompt_count, planned, name))


_ANSWER_COLUMNS = "prompt_id, model, text, ttft_ms, duration_ms, tokens, finish_reason, features"


def stored_answers(store: Store, name: str) -> dict[tuple[str, str], ResponseRecord]:
    """(prompt id, model) -> the answer generated for the deck."""
    return {(row[0], row[1]): _answer(row) for row in store.conn.execute(
        f"SELECT {_ANSWER_COLUMNS} FROM deck_answers WHERE deck = ?", (name,))}


def stored_answer(store: Store, name: str, prompt_id: str, model: str) -> ResponseRecord | None:
    row = store.conn.execute(f"SELECT {_ANSWER_COLUMNS} FROM deck_answers WHERE deck = ? AND prompt_id = ? "
                             "AND model = ?", (name, prompt_id, model)).fetchone()
    return None if row is None else _answer(row)


def _answer(row: tuple) -> ResponseRecord:
    return ResponseRecord(text=row[2] or "", ttft_ms=row[3], duration_ms=row[4], tokens=row[5],
                          finish_reason=row[6], features=json.loads(row[7]) if row[7] else None)


def save_answer(store: Store, name: str, prompt_id: str, model: str, prompt: str, record: ResponseRecord) -> None:
    """Keep a generated answer (the first one stored wins when two builds race)."""
    features = json.dumps(record.features, sort_keys=True) if record.features is not None else None
    with store.write() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO deck_answers (deck, prompt_id, model, prompt, text, ttft_ms, duration_ms, tokens, "
            "finish_reason, features, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, prompt_id, model, prompt, record.text, record.ttft_ms, record.duration_ms, record.tokens,
             record.finish_reason, features, now_iso()))


def built_battles(store: Store, name: str) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT battle_id FROM deck_battles WHERE deck = ?", (name,))}


def add_to_deck(store: Store, name: str, placed: list[tuple[str, int]]) -> None:
    """(battle id, position) rows; the battles themselves must already be stored."""
    with store.write() as conn:
        conn.executemany("INSERT OR IGNORE INTO deck_battles (deck, battle_id, position) VALUES (?, ?, ?)",
                         [(name, battle_id, position) for battle_id, position in placed])
