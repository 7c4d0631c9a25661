"""CSV vote logs → NewBattle: LMArena's released votes (``id, model_a, model_b, winner``)
and blindside's own CSV export.

Required columns: ``model_a``, ``model_b``, ``winner`` (same labels as arena-json; a model
against itself is kept, as there). Read
when present: the id (``id``, ``battle_id`` or ``question_id``), ``voter`` or ``judge``,
``category``, ``language``, ``created`` (ISO 8601) or ``tstamp`` (unix seconds),
``identity_leak`` (0/1) and the style columns ``a_tokens`` … ``b_exclamations`` (an empty
cell is unknown). Other columns are ignored.

blindside's own CSV export (recognised by its ``battle_id`` column) has one row per vote:
rows with the same ``battle_id`` one after another are one battle and its votes (read with
``shown_swapped``, ``kind`` and ``vote_created`` when present). It puts a ``'`` before a
text cell a spreadsheet would run as a formula; that quote is taken off again here.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

from battles.importing.arena import BATTLE_ID_GIVEN, WINNER_LABELS, unix_to_iso
from battles.importing.errors import BadRecord, ImportFileError
from battles.store import FEATURE_COLUMNS, VOTE_KINDS, NewBattle, NewVote

ID_COLUMNS = ("id", "battle_id", "question_id")
VOTER_COLUMNS = ("voter", "judge")
MAX_FIELD_CHARS = 64 << 20  # a prompt or answer cell may be long; the csv default is 128 KB
_QUOTED_FORMULA = re.compile(r"'+[=+\-@\t\r]")  # what battles.exporters.formula_safe quoted


def unquote_formula(cell: str) -> str:
    """The text ``battles.exporters.formula_safe`` quoted, as it was."""
    return cell[1:] if cell[:1] == "'" and _QUOTED_FORMULA.match(cell) else cell


def read_arena_csv(stream: TextIO, *, name: str, source: str,
                   default_created: str) -> Iterator[tuple[int, NewBattle | BadRecord, dict | None]]:
    """Yields (line, battle or BadRecord, the row's fields for an id hash when it has no id)."""
    csv.field_size_limit(MAX_FIELD_CHARS)
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(f"{name} is empty; there is nothing to import.") from None
    except csv.Error as exc:
        raise ImportFileError(f"{name}: not a readable CSV ({exc}).") from None
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        columns.setdefault(title.strip().lower(), index)
    missing = [c for c in ("model_a", "model_b", "winner") if c not in columns]
    if missing:
        raise ImportFileError(f"{name}: the CSV has no {', '.join(missing)} column; expected a header "
                              "with model_a, model_b and winner (and usually id).")
    i_a, i_b, i_winner = columns["model_a"], columns["model_b"], columns["winner"]
    i_id = _first(columns, ID_COLUMNS)
    i_voter = _first(columns, VOTER_COLUMNS)
    i_category, i_language = columns.get("category"), columns.get("language")
    i_created, i_tstamp, i_leak = columns.get("created"), columns.get("tstamp"), columns.get("identity_leak")
    feature_columns = [(side, name, columns[f"{side}_{name}"]) for side in ("a", "b")
                       for name in FEATURE_COLUMNS if f"{side}_{name}" in columns]
    width = max(i_a, i_b, i_winner) + 1  # a shorter row lacks a required field
    optional = [i for i in (i_voter, i_category, i_language, i_created, i_tstamp, i_leak) if i is not None]
    extras = bool(optional or feature_columns)  # LMArena's own file has none: skip the work
    width_all = max([width - 1, *optional, *(i for _, _, i in feature_columns), i_id or 0]) + 1
    labels = WINNER_LABELS
    # blindside's own export: one row per vote, formulas quoted. LMArena's file (no
    # battle_id) pays nothing for either.
    ours = i_id is not None and i_id == columns.get("battle_id")
    quoted = "battle_id" in columns
    text_columns = [i for i in (i_id, i_a, i_b, i_voter, i_category, i_language) if i is not None]
    vote_columns = (columns.get("shown_swapped"), columns.get("kind"), columns.get("vote_created"))
    if ours:
        width_all = max([width_all, *(i + 1 for i in vote_columns if i is not None)])

    for line, row in _rows(reader, name):
        if quoted:
            row = _unquoted(row, text_columns)
        if len(row) < width_all:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) < width:
                yield line, BadRecord(f"has {len(row)} fields, the header has {len(header)}"), None
                continue
            row = row + [""] * (width_all - len(row))
        model_a = row[i_a].strip()
        model_b = row[i_b].strip()
        winner = labels.get(row[i_winner].strip())
        try:
            if not model_a or not model_b:
                raise BadRecord(f"missing {'model_a' if not model_a else 'model_b'}")
            if winner is None:
                raise BadRecord(f"unknown winner {row[i_winner]!r}; expected model_a, model_b, tie, "
                                "tie (bothbad) or both_bad")
            battle = NewBattle(id=row[i_id].strip() if i_id is not None else "", model_a=model_a,
                               model_b=model_b, winner=winner, created=default_created, source=source)
            if extras:
                _optional_fields(battle, row, i_voter, i_category, i_language, i_created, i_tstamp, i_leak,
                                 feature_columns)
            if ours and battle.id:
                _as_listed_vote(battle, row, *vote_columns)
                yield line, battle, BATTLE_ID_GIVEN
                continue
        except BadRecord as bad:
            yield line, bad, None
            continue
        yield line, battle, (None if battle.id else dict(zip(header, row)))


def _as_listed_vote(battle: NewBattle, row: list[str], i_shown, i_kind, i_vote_created) -> None:
    """The row's vote moved to ``battle.votes``, with what blindside's export says of it."""
    shown = row[i_shown].strip().lower() if i_shown is not None else ""
    if shown not in ("", "0", "1", "true", "false"):
        raise BadRecord(f"shown_swapped {row[i_shown]!r} is not 0 or 1")
    kind = (row[i_kind].strip() if i_kind is not None else "") or "human"
    if kind not in VOTE_KINDS:
        raise BadRecord(f"unknown kind of vote {kind!r}; expected {', '.join(VOTE_KINDS)}")
    created = row[i_vote_created].strip() if i_vote_created is not None else ""
    battle.votes = [NewVote(winner=battle.winner, voter=battle.voter, created=_iso(created) if created else None,
                            shown_swapped=shown in ("1", "true"), kind=kind)]
    battle.winner = battle.voter = None


def _unquoted(row: list[str], text_columns: list[int]) -> list[str]:
    for i in text_columns:
        if i < len(row) and row[i][:1] == "'":
            row[i] = unquote_formula(row[i])
    return row


def _rows(reader, name: str) -> Iterator[tuple[int, list[str]]]:
    """(first line of the row, row); a quoted cell may span several lines."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFileError(f"{name}, line {reader.line_num}: the CSV is malformed ({exc}); nothing "
                                  "was imported.") from None
        yield start, row


def _optional_fields(battle: NewBattle, row: list[str], i_voter, i_category, i_language, i_created, i_tstamp,
                     i_leak, feature_columns) -> None:
    if i_voter is not None:
        battle.voter = row[i_voter].strip() or None
    if i_category is not None:
        battle.category = row[i_category].strip() or None
    if i_language is not None:
        battle.language = row[i_language].strip() or None
    if i_created is not None and row[i_created].strip():
        battle.created = _iso(row[i_created].strip())
    elif i_tstamp is not None and row[i_tstamp].strip():
        try:
            seconds = float(row[i_tstamp])
        except ValueError:
            raise BadRecord(f"tstamp {row[i_tstamp]!r} is not a number of seconds") from None
        battle.created = unix_to_iso(seconds, "tstamp")
    if i_leak is not None:
        flag = row[i_leak].strip().lower()
        if flag not in ("", "0", "1", "true", "false"):
            raise BadRecord(f"identity_leak {row[i_leak]!r} is not 0 or 1")
        battle.identity_leak = flag in ("1", "true")
    for side, name, index in feature_columns:
        cell = row[index].strip()
        if cell:
            if not cell.isdigit():
                raise BadRecord(f"{side}_{name} {cell!r} is not a whole number")
            (battle.features_a if side == "a" else battle.features_b)[name] = int(cell)


def _iso(text: str) -> str:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise BadRecord(f"created {text!r} is not an ISO 8601 time") from None
    return text


def _first(columns: dict[str, int], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in columns:
            return columns[name]
    return None
