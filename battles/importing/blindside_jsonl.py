"""blindside's own JSONL export → NewBattle, restoring everything the store held.

The export's first line is a header ``{"blindside_export": 2, ...}``; each further line is
one battle with its columns, its style features (``features_a`` / ``features_b``), its
``meta``, its ``responses`` (one per side and turn) and its ``votes`` (a list: one per
voter, each with ``winner``, ``voter``, ``created``, ``shown_swapped`` and ``kind``) and,
as before, ``vote``: the first of them or null. A version 1 file has only ``vote``. Unlike the
LMArena formats, source, status, swap and turn count are kept as exported: importing an
export into a fresh database gives back the same content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from battles.importing.errors import BadRecord, ImportFileError
from battles.importing.source import EXPORT_MARKER
from battles.store import STATUSES, VOTE_KINDS, WINNERS, NewBattle, NewVote, ResponseRecord

EXPORT_VERSION = 2  # 2: every vote of a battle, in "votes"
BATTLE_FIELDS = ("id", "created", "source", "prompt", "pack", "category", "language", "model_a", "model_b",
                 "swapped", "status", "identity_leak", "turns")
RESPONSE_FIELDS = ("side", "turn", "prompt", "text", "error", "error_hint", "ttft_ms", "duration_ms", "tokens",
                   "finish_reason", "features")


def check_header(record: dict, name: str) -> None:
    version = record.get(EXPORT_MARKER)
    if type(version) is not int:
        raise ImportFileError(f"{name}: the export header has no valid version; the file is damaged.")
    if version > EXPORT_VERSION:
        raise ImportFileError(f"{name} was exported by a newer blindside (export version {version}); "
                              "upgrade blindside to import it.")


def is_header(record: Any) -> bool:
    return type(record) is dict and EXPORT_MARKER in record


def blindside_battle(record: Any) -> NewBattle:
    if type(record) is not dict:
        raise BadRecord("expected a JSON object")
    get = _Getter(record)
    battle_id = get.text("id", required=True)
    status = get.text("status", required=True)
    if status not in STATUSES:
        raise BadRecord(f"unknown status {status!r}; expected {', '.join(STATUSES)}")
    model_a, model_b = get.text("model_a", required=True), get.text("model_b", required=True)
    votes = record.get("votes")
    if votes is None:  # a version 1 export: at most one vote
        votes = [] if record.get("vote") is None else [record["vote"]]
        field = "vote"
    elif type(votes) is not list:
        raise BadRecord("votes must be a list")
    else:
        field = "votes[]"
    meta = record.get("meta")
    if meta is not None and type(meta) is not dict:
        raise BadRecord("meta must be an object or null")
    return NewBattle(
        id=battle_id,
        model_a=model_a,
        model_b=model_b,
        winner=None,
        votes=[_vote(vote, field) for vote in votes],
        created=get.time("created"),
        source=get.text("source") or "live",
        category=get.text("category"),
        language=get.text("language"),
        prompt=get.text("prompt"),
        pack=get.text("pack"),
        identity_leak=get.flag("identity_leak"),
        features_a=_features(record.get("features_a"), "features_a"),
        features_b=_features(record.get("features_b"), "features_b"),
        turns=_turns(record.get("responses")),
        meta=meta,
        swapped=get.flag("swapped"),
        status=status,
        turn_count=get.integer("turns"),
    )


def _vote(vote: Any, field: str) -> NewVote:
    if type(vote) is not dict:
        raise BadRecord(f"{field} must be an object")
    get = _Getter(vote, f"{field}.")
    winner = get.text("winner", required=True)
    if winner not in WINNERS:
        raise BadRecord(f"unknown winner {winner!r}; expected {', '.join(WINNERS)}")
    kind = get.text("kind") or "human"
    if kind not in VOTE_KINDS:
        raise BadRecord(f"unknown kind of vote {kind!r}; expected {', '.join(VOTE_KINDS)}")
    return NewVote(winner=winner, voter=get.text("voter"), created=get.time("created"),
                   shown_swapped=get.flag("shown_swapped"), kind=kind)


def _turns(responses: Any) -> list[tuple[str, ResponseRecord, ResponseRecord]]:
    if responses is None:
        return []
    if type(responses) is not list:
        raise BadRecord("responses must be a list")
    by_turn: dict[int, dict[str, tuple[str, ResponseRecord]]] = {}
    for item in responses:
        if type(item) is not dict:
            raise BadRecord("each response must be an object")
        get = _Getter(item, "responses[].")
        side, turn = get.text("side", required=True), get.integer("turn")
        if side not in ("a", "b") or turn is None or turn < 1:
            raise BadRecord("each response needs side 'a' or 'b' and a turn number from 1")
        features = item.get("features")
        record = ResponseRecord(
            text=get.text("text") or "",
            error=get.text("error"),
            error_hint=get.text("error_hint"),
            ttft_ms=get.number("ttft_ms"),
            duration_ms=get.number("duration_ms"),
            tokens=get.integer("tokens"),
            finish_reason=get.text("finish_reason"),
            features=None if features is None else _features(features, "responses[].features"),
        )
        by_turn.setdefault(turn, {})[side] = (get.text("prompt") or "", record)
    if by_turn and sorted(by_turn) != list(range(1, len(by_turn) + 1)):
        raise BadRecord(f"response turns {sorted(by_turn)} are not numbered 1, 2, 3...")
    turns = []
    for turn in sorted(by_turn):
        sides = by_turn[turn]
        prompt = (sides.get("a") or sides.get("b"))[0]
        turns.append((prompt, sides.get("a", ("", ResponseRecord()))[1], sides.get("b", ("", ResponseRecord()))[1]))
    return turns


def _features(value: Any, field: str) -> dict[str, int | None]:
    if value is None:
        return {}
    if type(value) is not dict:
        raise BadRecord(f"{field} must be an object")
    out = {}
    for name, count in value.items():
        if count is not None and (type(count) is not int or count < 0):
            raise BadRecord(f"{field}.{name} must be a whole number or null, not {count!r}")
        out[name] = count
    return out


class _Getter:
    """Typed field reads whose errors name the field."""

    def __init__(self, record: dict, prefix: str = ""):
        self.record = record
        self.prefix = prefix

    def _bad(self, key: str, expected: str) -> BadRecord:
        return BadRecord(f"{self.prefix}{key} must be {expected}, not {self.record[key]!r}")

    def text(self, key: str, required: bool = False) -> str | None:
        value = self.record.get(key)
        if value is None:
            if required:
                raise BadRecord(f"missing field {self.prefix}{key!r}")
            return None
        if type(value) is not str:
            raise self._bad(key, "a string")
        return value

    def time(self, key: str) -> str:
        """A required ISO 8601 time, kept as written."""
        value = self.text(key, required=True)
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise self._bad(key, "an ISO 8601 time") from None
        return value

    def integer(self, key: str) -> int | None:
        value = self.record.get(key)
        if value is not None and type(value) is not int:
            raise self._bad(key, "a whole number")
        return value

    def number(self, key: str) -> float | None:
        value = self.record.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._bad(key, "a number")
        return float(value)

    def flag(self, key: str) -> bool:
        value = self.record.get(key, False)
        if value in (0, 1) and type(value) in (bool, int):
            return bool(value)
        raise self._bad(key, "true or false")
