"""Bulk writes: many finished battles with their votes and answers (imports, simulations).

The hot path of a million-record import: no per-row work here that a batch can do once.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from battles.store.connection import write_transaction
from battles.store.records import RESPONSE_INSERT, NewBattle, json_text, response_row
from battles.store.schema import FEATURE_COLUMNS, SIDES

BULK_CACHE_KIB = -262_144  # 256 MiB page cache during insert_battles (negative: KiB)


class BulkWrites:
    """Part of Store."""

    path: Path
    conn: sqlite3.Connection

    def insert_battles(self, battles: Iterable[NewBattle], *, batch_size: int = 20_000) -> tuple[int, int]:
        """Write finished battles (and their votes) in one transaction; existing ids are kept.

        Returns (added, already_present). All or nothing: an exception leaves the store unchanged.
        """
        added = present = 0
        # A big page cache keeps the index pages of a large import in memory instead of
        # spilling them to the WAL mid-transaction (about 1.3x faster on 140k rows).
        cache_size = self.conn.execute("PRAGMA cache_size").fetchone()[0]
        self.conn.execute(f"PRAGMA cache_size = {BULK_CACHE_KIB}")
        # Votes and responses are written only for battles this same call inserted, so the
        # per-row foreign-key lookups prove nothing here (the pragma must be set outside a
        # transaction).
        self.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            with write_transaction(self.conn, self.path) as conn:
                # Imported votes carry their own (old) times: they cannot be added after the
                # cached scoring read, which must be read again whole.
                conn.execute("UPDATE scoring_cache_state SET stale = 1 WHERE stale = 0")
                batch: list[NewBattle] = []
                for battle in battles:
                    batch.append(battle)
                    if len(batch) >= batch_size:
                        a, p = _insert_batch(conn, batch)
                        added, present, batch = added + a, present + p, []
                if batch:
                    a, p = _insert_batch(conn, batch)
                    added, present = added + a, present + p
        finally:
            self.conn.execute(f"PRAGMA cache_size = {cache_size}")
            self.conn.execute("PRAGMA foreign_keys = ON")
        return added, present


def _insert_batch(conn: sqlite3.Connection, batch: list[NewBattle]) -> tuple[int, int]:
    before = conn.total_changes
    columns, rows = _without_empty_columns([_battle_row(b) for b in batch])
    conn.executemany(_insert_battles_sql(columns), rows)
    added = conn.total_changes - before
    # Votes and responses only for battles this call created: a re-import adds nothing.
    ids = [b.id for b in batch]
    fresh = set(ids if added == len(batch) else _ids_without_vote_or_responses(conn, ids))
    # Votes and responses go in id order: their primary-key index is then filled page by
    # page instead of at random (their rowid order means nothing; battles keep file order).
    votes = [(b.id, b.winner, b.voter, b.vote_created or b.created, 0, "human")
             for b in batch if b.winner is not None and b.id in fresh]
    votes += [(b.id, v.winner, v.voter, v.created or b.created, int(v.shown_swapped), v.kind)
              for b in batch if b.votes and b.id in fresh for v in b.votes]
    votes.sort(key=_vote_key)
    conn.executemany("INSERT OR IGNORE INTO votes (battle_id, winner, voter, created, shown_swapped, kind) "
                     "VALUES (?, ?, ?, ?, ?, ?)", votes)
    rows = [row for b in batch if b.turns and b.id in fresh for row in _response_rows(b)]
    if rows:
        rows.sort(key=_response_key)
        conn.executemany("INSERT OR IGNORE " + RESPONSE_INSERT, rows)
    return added, len(batch) - added


def _ids_without_vote_or_responses(conn: sqlite3.Connection, ids: list[str]) -> list[str]:
    have: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        have.update(r[0] for r in conn.execute(f"SELECT battle_id FROM votes WHERE battle_id IN ({marks})", chunk))
        have.update(r[0] for r in conn.execute(
            f"SELECT DISTINCT battle_id FROM responses WHERE battle_id IN ({marks})", chunk))
    return [i for i in ids if i not in have]


BATTLE_COLUMNS = (
    ["id", "created", "source", "prompt", "pack", "category", "language", "model_a", "model_b",
     "swapped", "status", "identity_leak", "turns"]
    + [f"{side}_{name}" for side in SIDES for name in FEATURE_COLUMNS]
    + ["meta"]
)
# Columns whose default is not NULL: always written, so leaving one out never changes a row.
_COLUMNS_WITH_DEFAULTS = frozenset(i for i, name in enumerate(BATTLE_COLUMNS)
                                   if name in ("swapped", "identity_leak", "turns", "source"))


def _without_empty_columns(rows: list[tuple]) -> tuple[tuple[int, ...], list[tuple]]:
    """(the columns to write, the rows cut to them): columns NULL in every row are left out
    (they stay NULL). An import rarely fills them all (LMArena records without texts leave 13
    of 32 empty), and binding NULLs made up a third of its SQLite time."""
    by_column = list(zip(*rows))
    keep = tuple(i for i, values in enumerate(by_column)
                 if i in _COLUMNS_WITH_DEFAULTS or values.count(None) != len(values))
    if len(keep) == len(by_column):
        return keep, rows
    return keep, list(zip(*(by_column[i] for i in keep)))


@functools.lru_cache(maxsize=64)
def _insert_battles_sql(columns: tuple[int, ...]) -> str:
    names = ", ".join(BATTLE_COLUMNS[i] for i in columns)
    return f"INSERT OR IGNORE INTO battles ({names}) VALUES ({', '.join('?' * len(columns))})"


def _battle_row(b: NewBattle) -> tuple:
    features = [*map(b.features_a.get, FEATURE_COLUMNS), *map(b.features_b.get, FEATURE_COLUMNS)]
    meta = json_text(b.meta) if b.meta else None
    turns = len(b.turns) if b.turn_count is None else b.turn_count
    return (b.id, b.created, b.source, b.prompt, b.pack, b.category, b.language, b.model_a, b.model_b,
            int(b.swapped), b.status, int(b.identity_leak), turns, *features, meta)


def _response_rows(b: NewBattle) -> list[tuple]:
    return [row for turn, (prompt, ra, rb) in enumerate(b.turns, start=1)
            for row in (response_row(b.id, "a", turn, prompt, ra), response_row(b.id, "b", turn, prompt, rb))]


def _vote_key(row: tuple) -> str:
    return row[0]  # battle_id (a file may repeat a battle: never compare a None voter with a name)


def _response_key(row: tuple) -> tuple:
    return row[0], row[1], row[2]  # battle_id, side, turn
