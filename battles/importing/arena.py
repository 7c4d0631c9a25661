"""LMArena battle records (``clean_battle`` JSON and its JSON Lines form) → NewBattle.

Field mapping:

- ``model_a``, ``model_b``: required and non-empty. A model against itself is kept (nothing in
  a vote log is lost); ratings leave such a battle out and count it as ``self_battle``.
- ``winner``: ``model_a | model_b | tie | tie (bothbad) | both_bad``; ``tie (bothbad)`` is
  stored as ``both_bad``.
- ``tstamp`` (unix seconds): the battle's and the vote's time; without it, the import's time.
- ``judge`` (LMArena's anonymised voter) or ``voter``: the vote's voter.
- ``language``: the language column, as given (LMArena writes ``"unknown"``).
- ``anony``: ``false`` (the voter saw the names) is stored as an identity leak, so ratings
  leave the battle out by default, as LMArena's own analysis keeps only anonymous votes.
- ``category``, or ``category_tag`` when it is a plain string: the category column.
  LMArena's ``category_tag`` is a dict of classifier flags; it is kept in ``meta``.
- ``conversation_a`` / ``conversation_b`` (lists of ``{role, content}``): stored as
  responses, one per side and turn, the turn's prompt being the user message.
- ``conv_metadata``: style counts (see ``metadata_features``).
- ``battle_id`` (blindside's export, one record per vote): the record is one vote on that
  battle, which keeps that id (``question_id`` / ``id`` then only tell the votes apart);
  consecutive records of one battle become one battle with all their votes. With it,
  ``shown_swapped`` (the voter saw model_b on the left) and ``kind`` (human | judge).
- Every other field (``turn``, ``dedup_tag``, ``is_code``...) is kept in ``meta``.

Style features of a side: from the assistant texts when conversations are present
(``battles.features.style_features``, summed over turns); the token count is then
``sum_assistant_<side>_tokens`` when given (a real tokenizer's count) and the local
estimate otherwise. Without conversations they come from ``conv_metadata``:
``sum_assistant_<side>_tokens``, ``header_count_<side>``, ``list_count_<side>``,
``bold_count_<side>`` and the extension ``emoji_count_<side>``; a dict value counts as
the sum of its values (``{"h1": 1, "h2": 3}`` is 4). Whatever neither gives stays unknown
(NULL), never 0.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from datetime import datetime, timezone
from typing import Any

from battles.importing.errors import BadRecord
from battles.store import VOTE_KINDS, NewBattle, NewVote, ResponseRecord

WINNER_LABELS = {
    "model_a": "model_a",
    "model_b": "model_b",
    "tie": "tie",
    "tie (bothbad)": "both_bad",
    "both_bad": "both_bad",
}
_WINNER_HELP = "expected model_a, model_b, tie, tie (bothbad) or both_bad"
# Fields that become columns or responses; every other field is kept in meta.
_MAPPED = frozenset({"model_a", "model_b", "winner", "tstamp", "judge", "voter", "language", "anony",
                     "conversation_a", "conversation_b", "conv_metadata", "battle_id", "shown_swapped", "kind"})
# What a reader passes on, instead of the record to hash, for a record naming its battle
# (``battle_id``): its id is kept as it is, never made unique, and consecutive records of
# one battle are its votes.
BATTLE_ID_GIVEN = object()
# (feature, conv_metadata key) per side
_METADATA_KEYS = tuple(
    tuple((name, key.format(side=side)) for name, key in (
        ("tokens", "sum_assistant_{side}_tokens"), ("header", "header_count_{side}"),
        ("list", "list_count_{side}"), ("bold", "bold_count_{side}"), ("emoji", "emoji_count_{side}")))
    for side in ("a", "b")
)


_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def own_id(record: dict) -> tuple[str | None, str | None]:
    """(id, the field it came from): ``id``, else ``question_id``; (None, None) without one."""
    for key in ("id", "question_id"):
        value = record.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise BadRecord(f"{key} must be a string or a whole number, not {_kind(value)}")
        return str(value), key
    return None, None


def content_id(record: Any) -> str:
    """A stable id for a record that has none: the hash of its canonical JSON."""
    canonical = _CANONICAL_JSON.encode(record)
    return "rec-" + hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


def arena_battle(record: Any, *, source: str, default_created: str) -> NewBattle:
    """One LMArena record as a battle; BadRecord says why it cannot be one."""
    if type(record) is not dict:
        raise BadRecord(f"expected a JSON object, found {_kind(record)}")
    model_a = _model(record, "model_a")
    model_b = _model(record, "model_b")
    raw_winner = record.get("winner")
    if raw_winner is None:
        raise BadRecord("missing field 'winner'")
    winner = WINNER_LABELS.get(raw_winner) if type(raw_winner) is str else None
    if winner is None:
        raise BadRecord(f"unknown winner {raw_winner!r}; {_WINNER_HELP}")
    battle_id, id_key = own_id(record)
    created = default_created if record.get("tstamp") is None else unix_to_iso(record["tstamp"], "tstamp")
    voter = record.get("judge", record.get("voter"))
    if voter is not None and type(voter) is not str:
        if isinstance(voter, bool) or not isinstance(voter, int):
            raise BadRecord(f"judge must be a string, not {_kind(voter)}")
        voter = str(voter)
    language = _optional_str(record, "language")
    anony = record.get("anony")
    if anony is not None and type(anony) is not bool:
        raise BadRecord(f"anony must be true or false, not {_kind(anony)}")
    category = category_key = None
    for key in ("category", "category_tag"):
        if type(record.get(key)) is str:
            category, category_key = record[key], key
            break
    battle_key = record.get("battle_id")
    if battle_key is not None and (type(battle_key) is not str or not battle_key):
        raise BadRecord(f"battle_id must be a non-empty string, not {battle_key!r}")
    skip = _skipped(id_key, category_key, battle_key is not None)
    meta = {key: value for key, value in record.items() if key not in skip} or None

    metadata = record.get("conv_metadata")
    if metadata is not None and type(metadata) is not dict:
        raise BadRecord(f"conv_metadata must be an object, not {_kind(metadata)}")
    metadata = metadata or {}
    conv_a, conv_b = record.get("conversation_a"), record.get("conversation_b")
    turns: list[tuple[str, ResponseRecord, ResponseRecord]] = []
    if conv_a is None and conv_b is None:
        features_a, features_b = metadata_features(metadata)
    elif conv_a is None or conv_b is None:
        missing = "conversation_b" if conv_b is None else "conversation_a"
        raise BadRecord(f"{missing} is missing while the other side's conversation is given")
    else:
        turns, features_a, features_b = _conversation_turns(conv_a, conv_b, metadata)

    battle = NewBattle(
        id=battle_id or "",  # filled by the caller from content_id when empty
        model_a=model_a,
        model_b=model_b,
        winner=winner,
        created=created,
        source=source,
        voter=voter,
        category=category,
        language=language,
        prompt=turns[0][0] if turns else None,
        identity_leak=anony is False,
        features_a=features_a,
        features_b=features_b,
        turns=turns,
        meta=meta,
    )
    if battle_key is not None:
        battle.id = battle_key
        battle.votes = [_explicit_vote(record, winner, voter, created)]
        battle.winner = battle.voter = None
    return battle


def _explicit_vote(record: dict, winner: str, voter: str | None, created: str) -> NewVote:
    shown_swapped = record.get("shown_swapped", False)
    if type(shown_swapped) is not bool:
        raise BadRecord(f"shown_swapped must be true or false, not {_kind(shown_swapped)}")
    kind = record.get("kind", "human")
    if kind not in VOTE_KINDS:
        raise BadRecord(f"unknown kind of vote {kind!r}; expected {', '.join(VOTE_KINDS)}")
    return NewVote(winner=winner, voter=voter, created=created, shown_swapped=shown_swapped, kind=kind)


@functools.lru_cache(maxsize=None)
def _skipped(id_key: str | None, category_key: str | None, battle_given: bool) -> frozenset[str]:
    """The fields not kept in meta: the mapped ones, plus those the id and category came
    from (and a vote's own ids, when the record names its battle)."""
    return _MAPPED | {key for key in (id_key, category_key) if key} | (
        {"id", "question_id"} if battle_given else set())


def metadata_features(metadata: dict) -> tuple[dict[str, int], dict[str, int]]:
    """The style counts ``conv_metadata`` gives for each side (absent ones stay absent)."""
    get = metadata.get
    sides = ({}, {})
    for features, keys in zip(sides, _METADATA_KEYS):  # runs a million times in a big import
        for name, key in keys:
            value = get(key)
            if value is not None:
                features[name] = value if type(value) is int and value >= 0 else _count(value, key)
    return sides


def _conversation_turns(conv_a: Any, conv_b: Any, metadata: dict):
    from battles.features import style_features, sum_features

    turns_a = _turns(conv_a, "conversation_a")
    turns_b = _turns(conv_b, "conversation_b")
    turns = []
    per_side: tuple[list, list] = ([], [])
    for i in range(max(len(turns_a), len(turns_b))):
        prompt_a, text_a = turns_a[i] if i < len(turns_a) else (None, "")
        prompt_b, text_b = turns_b[i] if i < len(turns_b) else (None, "")
        records = []
        for text, collected in ((text_a, per_side[0]), (text_b, per_side[1])):
            features = style_features(text)
            collected.append(features)
            records.append(ResponseRecord(text=text, tokens=features["tokens"], features=features))
        turns.append((prompt_a if prompt_a is not None else (prompt_b or ""), records[0], records[1]))
    totals = []
    for side, collected in zip(("a", "b"), per_side):
        total = sum_features(collected)
        reported = metadata.get(f"sum_assistant_{side}_tokens")
        if reported is not None:
            total["tokens"] = _count(reported, f"sum_assistant_{side}_tokens")
        totals.append(total)
    return turns, totals[0], totals[1]


def _turns(conversation: Any, field: str) -> list[tuple[str | None, str]]:
    """[(user prompt, assistant answer)] of one side; system messages are skipped."""
    if type(conversation) is not list:
        raise BadRecord(f"{field} must be a list of messages, not {_kind(conversation)}")
    turns: list[tuple[str | None, str]] = []
    prompt: str | None = None
    answer: list[str] = []
    started = False
    for message in conversation:
        if type(message) is not dict:
            raise BadRecord(f"{field}: each message must be an object with role and content")
        role = message.get("role")
        content = _content(message.get("content"), field)
        if role == "user":
            if started:
                turns.append((prompt, "\n\n".join(answer)))
            prompt, answer, started = content, [], True
        elif role == "assistant":
            answer.append(content)
            started = True
        elif role != "system":
            raise BadRecord(f"{field}: unknown message role {role!r}")
    if started:
        turns.append((prompt, "\n\n".join(answer)))
    return turns


def _content(content: Any, field: str) -> str:
    if type(content) is str:
        return content
    if content is None:
        return ""
    if type(content) is list:  # multimodal messages: keep the text parts
        parts = []
        for part in content:
            if type(part) is str:
                parts.append(part)
            elif type(part) is dict and type(part.get("text")) is str:
                parts.append(part["text"])
        return "\n".join(parts)
    raise BadRecord(f"{field}: message content must be text, not {_kind(content)}")


def unix_to_iso(value: Any, field: str) -> str:
    """The UTC time ``datetime.fromtimestamp(value, utc).isoformat(timespec="microseconds")``
    writes, at half its cost (a large import converts a million of them): the date and hour
    come from a cache, minutes, seconds and microseconds from arithmetic, rounded the way
    datetime rounds (half to even)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRecord(f"{field} must be a number of seconds, not {_kind(value)}")
    try:
        fraction, whole = math.modf(value)
        whole, micro = int(whole), round(fraction * 1_000_000)
        if micro < 0:
            whole, micro = whole - 1, micro + 1_000_000
        elif micro >= 1_000_000:
            whole, micro = whole + 1, micro - 1_000_000
        hour, second = divmod(whole, 3600)
        minute, second = divmod(second, 60)
        return f"{_iso_hour(hour)}:{minute:02d}:{second:02d}.{micro:06d}+00:00"
    except (OverflowError, OSError, ValueError):
        raise BadRecord(f"{field} {value!r} is not a usable time") from None


@functools.lru_cache(maxsize=1024)
def _iso_hour(hour: int) -> str:
    return datetime.fromtimestamp(hour * 3600, timezone.utc).isoformat()[:13]  # 2024-07-03T09


def _model(record: dict, key: str) -> str:
    value = record.get(key)
    if value is None:
        raise BadRecord(f"missing field {key!r}")
    if type(value) is not str:
        raise BadRecord(f"{key} must be a string, not {_kind(value)}")
    value = value.strip()
    if not value:
        raise BadRecord(f"{key} is empty")
    return value


def _optional_str(record: dict, key: str) -> str | None:
    value = record.get(key)
    if value is None or type(value) is str:
        return value
    raise BadRecord(f"{key} must be a string, not {_kind(value)}")


def _count(value: Any, key: str) -> int:
    """A style count: a whole number, or a dict of them (summed)."""
    kind = type(value)
    if kind is int and value >= 0:
        return value
    if kind is dict:  # LMArena's {"h1": 0, "h2": 3, ...}
        try:
            total = sum(value.values())
        except TypeError:
            total = None
        if type(total) is int and total >= 0:
            return total
        total = 0
        for part in value.values():  # floats like 3.0, or a clear error
            total += _count(part, key)
        return total
    if kind is float and value >= 0 and math.isfinite(value) and value.is_integer():
        return int(value)
    raise BadRecord(f"conv_metadata {key} must be a count or a dict of counts, not {value!r}")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false",
            type(None): "null", int: "a number", float: "a number"}.get(type(value), type(value).__name__)
