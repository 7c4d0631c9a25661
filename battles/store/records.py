"""What callers hand the store to write: a side's answer, a whole battle; and their rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def new_battle_id() -> str:
    return uuid.uuid4().hex


@dataclass
class ResponseRecord:
    """One side's answer to one turn, as the engine measured it."""

    text: str = ""
    error: str | None = None  # anonymous reason, safe to show before the vote
    error_hint: str | None = None  # what to do; may name the provider, so shown only after
    ttft_ms: float | None = None
    duration_ms: float | None = None
    tokens: int | None = None
    finish_reason: str | None = None
    features: dict[str, int] | None = None


@dataclass
class NewVote:
    """One voter's vote on a battle, in the battle's own terms (see Store.record_vote)."""

    winner: str
    voter: str | None = None
    created: str | None = None  # None: the battle's time
    shown_swapped: bool = False
    kind: str = "human"


@dataclass
class NewBattle:
    """A battle to write in one go (imports, simulations).

    Its votes: the one in ``winner`` / ``voter`` / ``vote_created`` when ``winner`` is set
    (a human vote seen in the battle's order: the fast path of large imports), then those
    in ``votes``."""

    id: str
    model_a: str
    model_b: str
    winner: str | None
    created: str
    source: str
    voter: str | None = None
    category: str | None = None
    language: str | None = None
    prompt: str | None = None
    pack: str | None = None
    identity_leak: bool = False
    features_a: dict[str, int | None] = field(default_factory=dict)
    features_b: dict[str, int | None] = field(default_factory=dict)
    turns: list[tuple[str, ResponseRecord, ResponseRecord]] = field(default_factory=list)
    meta: dict[str, Any] | None = None
    vote_created: str | None = None
    # A lossless re-import (blindside's own export) restores these as they were.
    swapped: bool = False
    status: str = "complete"
    turn_count: int | None = None  # battles.turns; None: len(turns)
    votes: Sequence[NewVote] = ()  # a tuple, not a new list per battle: a large import makes a million


# msgspec writes JSON about eight times faster than the standard library, a cost a bulk
# import pays a million times. Keys sorted, UTF-8 kept as is; NaN and infinities become
# null, as SQLite's JSON functions (and Datasette) accept only standard JSON.
_encode_json = msgspec.json.Encoder(order="sorted").encode


def json_text(value: Any) -> str:
    return _encode_json(value).decode("utf-8")


RESPONSE_INSERT = (
    "INTO responses (battle_id, side, turn, prompt, text, error, error_hint, ttft_ms, duration_ms, "
    "tokens, finish_reason, features) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")


def response_row(battle_id: str, side: str, turn: int, prompt: str, r: ResponseRecord) -> tuple:
    features = json_text(r.features) if r.features is not None else None
    return (battle_id, side, turn, prompt, r.text, r.error, r.error_hint, r.ttft_ms, r.duration_ms,
            r.tokens, r.finish_reason, features)
