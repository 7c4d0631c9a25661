"""The vote store: one SQLite file, schema managed by sqlite-utils ``Migrations``.

Tables (open the file with Datasette or sqlite3 to explore):
- ``battles``: one row per battle. ``model_a`` is always the model shown on the left;
  ``swapped`` records the coin flip that put the drawn pair's second model there.
  ``status`` is streaming / complete / error. Style features of each side, summed over
  turns, sit in ``a_*`` / ``b_*`` columns (NULL = unknown, never 0 for unknown).
- ``responses``: one row per side and turn: the user's prompt, the answer, its error,
  timings, tokens, finish reason and that turn's features (JSON).
- ``votes``: at most one per battle: winner (model_a | model_b | tie | both_bad), voter, time.

Writes take the write lock up front (``BEGIN IMMEDIATE``) and wait on a busy timeout, so
concurrent voters never see ``database is locked``; commits are fsynced (synchronous=FULL),
so a vote is durable once ``record_vote`` returns. Ratings only count battles that are
``complete`` and voted, so a half-written battle never counts.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msgspec
import platformdirs
import sqlite_utils
from sqlite_utils.migrations import Migrations

from battles.config import APP_NAME
from battles.errors import StoreError, VoteError

WINNERS = ("model_a", "model_b", "tie", "both_bad")
STATUSES = ("streaming", "complete", "error")
SIDES = ("a", "b")
FEATURE_COLUMNS = ("tokens", "chars", "words", "emoji", "header", "list", "bold", "code_blocks", "exclamations")
MIGRATION_SET = "blindside"
BUSY_TIMEOUT_S = 30.0
BULK_CACHE_KIB = -262_144  # 256 MiB page cache during insert_battles (negative: KiB)

migrations = Migrations(MIGRATION_SET)


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    side_features = {f"{side}_{name}": int for side in SIDES for name in FEATURE_COLUMNS}
    db["battles"].create(
        {
            "id": str,
            "created": str,
            "source": str,
            "prompt": str,
            "pack": str,
            "category": str,
            "language": str,
            "model_a": str,
            "model_b": str,
            "swapped": int,
            "status": str,
            "identity_leak": int,
            "turns": int,
            **side_features,
            "meta": str,
        },
        pk="id",
        not_null={"created", "model_a", "model_b", "status"},
        defaults={"swapped": 0, "identity_leak": 0, "turns": 0, "source": "live"},
    )
    db["responses"].create(
        {
            "battle_id": str,
            "side": str,
            "turn": int,
            "prompt": str,
            "text": str,
            "error": str,
            "error_hint": str,
            "ttft_ms": float,
            "duration_ms": float,
            "tokens": int,
            "finish_reason": str,
            "features": str,
        },
        pk=("battle_id", "side", "turn"),
        foreign_keys=[("battle_id", "battles", "id")],
    )
    db["votes"].create(
        {"battle_id": str, "winner": str, "voter": str, "created": str},
        pk="battle_id",
        foreign_keys=[("battle_id", "battles", "id")],
        not_null={"winner", "created"},
    )
    # Only the index the history list needs: ratings read every counted battle anyway, and
    # each further index slows the bulk imports the leaderboard's users depend on.
    db["battles"].create_index(["created"])


@migrations()
def m002_temp_votes_per_voter(db: sqlite_utils.Database) -> None:
    # TEMP (dropped at merge): one vote per (battle, voter), with the voter's kind and whether
    # that voter saw model_b on the left; the team-arena store work brings the real migration.
    db["votes"].add_column("shown_swapped", int, not_null_default=0)
    db["votes"].add_column("kind", str, not_null_default="human")
    db["votes"].transform(pk=("battle_id", "voter"))


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / "blindside.db"


def resolve_db_path(cli_path: str | os.PathLike | None = None) -> Path:
    """``--db PATH``, else ``$BLINDSIDE_DB``, else the user data dir."""
    if cli_path:
        return Path(cli_path).expanduser()
    env = os.environ.get("BLINDSIDE_DB")
    if env:
        return Path(env).expanduser()
    return default_db_path()


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
class NewBattle:
    """A battle to write in one go (imports, simulations)."""

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


class Store:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.conn = _connect(self.path)
        self.db = sqlite_utils.Database(self.conn, execute_plugins=False)
        self._check_and_migrate()

    # -- opening ---------------------------------------------------------------------------

    def _check_and_migrate(self) -> None:
        try:
            tables = set(self.db.table_names())
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"{self.path} is not a SQLite database ({exc}); it was left untouched. "
                             "Pass --db with another path.") from None
        known = {m.name for m in migrations._migrations}
        if tables and "_sqlite_migrations" not in tables:
            self.conn.close()
            raise StoreError(f"{self.path} is a SQLite database but not a blindside one "
                             f"(it has tables {', '.join(sorted(tables)[:5])}); it was left untouched. "
                             "Pass --db with another path.")
        if tables:
            try:
                applied = {m.name for m in migrations.applied(self.db)}
            except sqlite3.DatabaseError:  # a _sqlite_migrations table of another shape
                applied = set()
            # sqlite-utils commits its own (empty) table before the first migration: a first run
            # stopped in between left only that. Such a file is still ours to set up.
            unstarted = tables == {"_sqlite_migrations"} and not self.db["_sqlite_migrations"].count
            if not applied and not unstarted:
                self.conn.close()
                raise StoreError(f"{self.path} is not a blindside database; it was left untouched. "
                                 "Pass --db with another path.")
            newer = applied - known
            if newer:
                self.conn.close()
                raise StoreError(f"{self.path} was written by a newer blindside (schema {sorted(newer)[-1]}); "
                                 "it was left untouched. Upgrade blindside to open it.")
        _make_durable(self.conn, self.path)
        if migrations.pending(self.db):
            # The whole run holds the write lock (sqlite-utils nests each migration in it as a
            # savepoint), so of several first openers one migrates and the others, waiting
            # for the lock, then find nothing pending. Without it, a migration's read-then-write
            # transaction could not wait and failed with "database is locked".
            try:
                with self._write():
                    migrations.apply(self.db)
            except (sqlite3.DatabaseError, StoreError) as exc:
                self.conn.close()
                raise StoreError(f"{self.path}: could not update the database schema ({exc}); "
                                 "it was left as it was. Check that the disk is not full and the "
                                 "file is writable, then try again.") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the write lock from its start; commits with fsync."""
        _once_unlocked(self.conn, "BEGIN IMMEDIATE", self.path)
        try:
            yield self.conn
        except BaseException:
            self.conn.rollback()
            raise
        else:
            self.conn.commit()

    # -- live battles -----------------------------------------------------------------------

    def begin_battle(self, *, model_a: str, model_b: str, prompt: str, swapped: bool = False,
                     pack: str | None = None, category: str | None = None,
                     battle_id: str | None = None) -> str:
        battle_id = battle_id or new_battle_id()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO battles (id, created, source, prompt, pack, category, model_a, model_b, "
                "swapped, status, identity_leak, turns) VALUES (?, ?, 'live', ?, ?, ?, ?, ?, ?, 'streaming', 0, 0)",
                (battle_id, now_iso(), prompt, pack, category, model_a, model_b, int(swapped)),
            )
        return battle_id

    def save_turn(self, battle_id: str, turn: int, prompt: str, a: ResponseRecord, b: ResponseRecord) -> None:
        """Write (or, after a regenerate, replace) both sides of one turn."""
        with self._write() as conn:
            for side, record in (("a", a), ("b", b)):
                conn.execute(
                    "INSERT OR REPLACE INTO responses (battle_id, side, turn, prompt, text, error, error_hint, "
                    "ttft_ms, duration_ms, tokens, finish_reason, features) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    _response_row(battle_id, side, turn, prompt, record),
                )
            conn.execute("UPDATE battles SET turns = max(turns, ?) WHERE id = ?", (turn, battle_id))

    def finish_battle(self, battle_id: str, *, status: str, identity_leak: bool,
                      features_a: dict[str, int | None] | None, features_b: dict[str, int | None] | None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        columns = {"status": status, "identity_leak": int(identity_leak)}
        columns.update(_side_feature_columns("a", features_a or {}))
        columns.update(_side_feature_columns("b", features_b or {}))
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with self._write() as conn:
            conn.execute(f"UPDATE battles SET {assignments} WHERE id = ?", (*columns.values(), battle_id))

    def drop_turn(self, battle_id: str, turn: int) -> None:
        """Forget a turn that was cancelled before it finished."""
        with self._write() as conn:
            conn.execute("DELETE FROM responses WHERE battle_id = ? AND turn = ?", (battle_id, turn))

    def record_vote(self, battle_id: str, winner: str, voter: str | None, *, shown_swapped: bool = False,
                    kind: str = "human") -> None:
        """Record the vote; durable on return. Refuses unknown, unfinished, errored battles and a
        second vote by the same voter on one battle."""
        if winner not in WINNERS:
            raise VoteError(f"{winner!r} is not a vote; use one of a, b, tie, both_bad.")
        if kind not in ("human", "judge"):
            raise ValueError(f"unknown voter kind {kind!r}")
        with self._write() as conn:
            row = conn.execute("SELECT status FROM battles WHERE id = ?", (battle_id,)).fetchone()
            if row is None:
                raise VoteError(f"There is no battle {battle_id} in {self.path}.")
            if row[0] == "error":
                raise VoteError(f"Battle {battle_id} ended with an error and cannot be voted on.")
            if row[0] != "complete":
                raise VoteError(f"Battle {battle_id} has not finished streaming; it cannot be voted on yet.")
            if conn.execute("SELECT 1 FROM votes WHERE battle_id = ? AND voter IS ?", (battle_id, voter)).fetchone():
                raise VoteError(f"Battle {battle_id} already has a vote by {voter}; each voter votes once.")
            conn.execute("INSERT INTO votes (battle_id, winner, voter, created, shown_swapped, kind) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (battle_id, winner, voter, now_iso(), int(shown_swapped), kind))

    def votes_with_features(self) -> Iterator[dict[str, Any]]:
        """TEMP: every vote on a counted battle as its voter saw it: battle_id, voter, kind,
        winner_shown (left | right | tie | both_bad), left, right, left_features, right_features
        ({tokens, emoji, header, list, bold}, None = unknown), shown_swapped. In vote order."""
        names = ("tokens", "emoji", "header", "list", "bold")
        columns = ", ".join([f"b.a_{n}" for n in names] + [f"b.b_{n}" for n in names])
        sql = (f"SELECT v.battle_id, v.voter, v.kind, v.winner, v.shown_swapped, b.model_a, b.model_b, {columns} "
               "FROM votes v JOIN battles b ON b.id = v.battle_id "
               "WHERE b.status = 'complete' AND b.identity_leak = 0")
        shown = {"model_a": "left", "model_b": "right"}
        flipped = {"model_a": "right", "model_b": "left"}
        for row in self.conn.execute(sql + " ORDER BY v.created, v.rowid"):
            battle_id, voter, kind, winner, swapped, model_a, model_b = row[:7]
            fa, fb = dict(zip(names, row[7:12])), dict(zip(names, row[12:17]))
            swapped = bool(swapped)
            yield {
                "battle_id": battle_id, "voter": voter, "kind": kind or "human",
                "winner_shown": (flipped if swapped else shown).get(winner, winner),
                "left": model_b if swapped else model_a, "right": model_a if swapped else model_b,
                "left_features": fb if swapped else fa, "right_features": fa if swapped else fb,
                "shown_swapped": swapped,
            }

    # -- bulk writes (import, simulate) ------------------------------------------------------

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
            with self._write() as conn:
                batch: list[NewBattle] = []
                for battle in battles:
                    batch.append(battle)
                    if len(batch) >= batch_size:
                        a, p = self._insert_batch(conn, batch)
                        added, present, batch = added + a, present + p, []
                if batch:
                    a, p = self._insert_batch(conn, batch)
                    added, present = added + a, present + p
        finally:
            self.conn.execute(f"PRAGMA cache_size = {cache_size}")
            self.conn.execute("PRAGMA foreign_keys = ON")
        return added, present

    def _insert_batch(self, conn: sqlite3.Connection, batch: list[NewBattle]) -> tuple[int, int]:
        before = conn.total_changes
        columns, rows = _without_empty_columns([_battle_row(b) for b in batch])
        conn.executemany(_insert_battles_sql(columns), rows)
        added = conn.total_changes - before
        # Votes and responses only for battles this call created: a re-import adds nothing.
        ids = [b.id for b in batch]
        fresh = set(ids if added == len(batch) else self._ids_without_vote_or_responses(conn, ids))
        # Votes and responses go in id order: their primary-key index is then filled page by
        # page instead of at random (their rowid order means nothing; battles keep file order).
        conn.executemany(
            "INSERT OR IGNORE INTO votes (battle_id, winner, voter, created) VALUES (?, ?, ?, ?)",
            sorted(((b.id, b.winner, b.voter, b.vote_created or b.created)
                    for b in batch if b.winner is not None and b.id in fresh), key=_vote_key),
        )
        rows = [row for b in batch if b.turns and b.id in fresh for row in _response_rows(b)]
        if rows:
            rows.sort(key=_response_key)
            conn.executemany(
                "INSERT OR IGNORE INTO responses (battle_id, side, turn, prompt, text, error, error_hint, "
                "ttft_ms, duration_ms, tokens, finish_reason, features) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
        return added, len(batch) - added

    def _ids_without_vote_or_responses(self, conn: sqlite3.Connection, ids: list[str]) -> list[str]:
        have: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            have.update(r[0] for r in conn.execute(f"SELECT battle_id FROM votes WHERE battle_id IN ({marks})", chunk))
            have.update(r[0] for r in conn.execute(
                f"SELECT DISTINCT battle_id FROM responses WHERE battle_id IN ({marks})", chunk))
        return [i for i in ids if i not in have]

    # -- reads ---------------------------------------------------------------------------------

    def battle(self, battle_id: str) -> dict[str, Any] | None:
        """One battle with its responses (by turn) and its vote, or None."""
        self.conn.row_factory = sqlite3.Row
        try:
            row = self.conn.execute("SELECT * FROM battles WHERE id = ?", (battle_id,)).fetchone()
            if row is None:
                return None
            battle = dict(row)
            battle["responses"] = [
                {**dict(r), "features": json.loads(r["features"]) if r["features"] else None}
                for r in self.conn.execute(
                    "SELECT * FROM responses WHERE battle_id = ? ORDER BY turn, side", (battle_id,))
            ]
            vote = self.conn.execute("SELECT winner, voter, created FROM votes WHERE battle_id = ?",
                                     (battle_id,)).fetchone()
            battle["vote"] = dict(vote) if vote else None
            return battle
        finally:
            self.conn.row_factory = None

    def recent_battles(self, *, search: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first: id, created, prompt, models, winner, status, leak flag, category."""
        sql = ("SELECT b.id, b.created, b.prompt, b.category, b.model_a, b.model_b, b.status, "
               "b.identity_leak, v.winner, v.voter FROM battles b LEFT JOIN votes v ON v.battle_id = b.id")
        params: list[Any] = []
        if search:
            like = f"%{search}%"
            sql += " WHERE b.prompt LIKE ? OR b.model_a LIKE ? OR b.model_b LIKE ? OR b.category LIKE ?"
            params += [like] * 4
        sql += " ORDER BY b.created DESC, b.rowid DESC LIMIT ?"
        params.append(limit)
        self.conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in self.conn.execute(sql, params)]
        finally:
            self.conn.row_factory = None

    def pair_counts(self) -> dict[frozenset[str], int]:
        """Battles per unordered pair (errored ones excluded), for the balanced pairing."""
        counts: dict[frozenset[str], int] = {}
        for a, b, n in self.conn.execute(
                "SELECT model_a, model_b, count(*) FROM battles WHERE status != 'error' GROUP BY model_a, model_b"):
            key = frozenset((a, b))
            counts[key] = counts.get(key, 0) + n
        return counts

    def voted_outcomes(self) -> list[tuple[str, str, str]]:
        """(model_a, model_b, winner) of counted battles in time order, for TrueSkill pairing."""
        return self.conn.execute(
            "SELECT b.model_a, b.model_b, v.winner FROM battles b JOIN votes v ON v.battle_id = b.id "
            "WHERE b.status = 'complete' AND b.identity_leak = 0 ORDER BY v.created, b.rowid").fetchall()

    def scoring_rows(self, *, category: str | None = None, voter: str | None = None,
                     include_leaks: bool = False,
                     features: tuple[str, ...] = ("tokens", "emoji", "header", "list", "bold")) -> tuple[list[tuple], dict[str, int]]:
        """Rows (model_a, model_b, winner, a_<features>..., b_<features>...) of the battles a
        rating counts, in time order, and how many were excluded and why."""
        where = ["1=1"]
        params: list[Any] = []
        if category:
            where.append("b.category = ?")
            params.append(category)
        if voter:
            where.append("v.voter = ?")
            params.append(voter)
        filters = " AND ".join(where)
        feature_cols = ", ".join([f"b.a_{f}" for f in features] + [f"b.b_{f}" for f in features])
        counted = "b.status = 'complete'" + ("" if include_leaks else " AND b.identity_leak = 0")
        rows = self.conn.execute(
            f"SELECT b.model_a, b.model_b, v.winner, {feature_cols} FROM battles b "
            f"JOIN votes v ON v.battle_id = b.id WHERE {filters} AND {counted} ORDER BY v.created, b.rowid",
            params).fetchall()
        excluded = {"error": 0, "identity_leak": 0, "unvoted": 0}
        base_filters = filters.replace("v.voter = ?", "1=1") if voter else filters
        base_params = [p for p, w in zip(params, where[1:]) if not w.startswith("v.")]
        row = self.conn.execute(
            "SELECT "
            "sum(b.status = 'error'), "
            "sum(b.status = 'complete' AND b.identity_leak = 1 AND v.battle_id IS NOT NULL), "
            "sum(b.status = 'complete' AND v.battle_id IS NULL) "
            f"FROM battles b LEFT JOIN votes v ON v.battle_id = b.id WHERE {base_filters}",
            base_params).fetchone()
        excluded["error"] = row[0] or 0
        excluded["identity_leak"] = 0 if include_leaks else (row[1] or 0)
        excluded["unvoted"] = row[2] or 0
        return rows, excluded

    def iter_battles(self, *, batch_size: int = 5_000, voted_only: bool = False,
                     with_responses: bool = True) -> Iterator[dict[str, Any]]:
        """Every battle with its responses and vote, in insertion order (for export).

        ``voted_only`` keeps complete battles that have a vote; ``with_responses=False``
        skips reading the texts (``responses`` is then an empty list)."""
        last_rowid = 0
        voted = (" AND status = 'complete' AND EXISTS (SELECT 1 FROM votes WHERE votes.battle_id = battles.id)"
                 if voted_only else "")
        self.conn.row_factory = sqlite3.Row
        try:
            while True:
                rows = [dict(r) for r in self.conn.execute(
                    f"SELECT rowid AS _rowid, * FROM battles WHERE rowid > ?{voted} ORDER BY rowid LIMIT ?",
                    (last_rowid, batch_size))]
                if not rows:
                    return
                last_rowid = rows[-1]["_rowid"]
                ids = [r["id"] for r in rows]
                marks = ",".join("?" * len(ids))
                votes = {r["battle_id"]: dict(r) for r in self.conn.execute(
                    f"SELECT * FROM votes WHERE battle_id IN ({marks})", ids)}
                responses: dict[str, list[dict]] = {}
                for r in (self.conn.execute(
                        f"SELECT * FROM responses WHERE battle_id IN ({marks}) ORDER BY turn, side", ids)
                        if with_responses else ()):
                    item = dict(r)
                    item["features"] = json.loads(item["features"]) if item["features"] else None
                    responses.setdefault(item["battle_id"], []).append(item)
                for row in rows:
                    row.pop("_rowid")
                    vote = votes.get(row["id"])
                    row["vote"] = {k: vote[k] for k in ("winner", "voter", "created")} if vote else None
                    row["responses"] = responses.get(row["id"], [])
                    yield row
        finally:
            self.conn.row_factory = None

    def categories(self) -> list[str]:
        """The prompt categories battles were fought in, for filters."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT category FROM battles WHERE category IS NOT NULL AND category != '' ORDER BY 1")]

    def voters(self) -> list[str]:
        """The names votes were recorded under, for filters."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT voter FROM votes WHERE voter IS NOT NULL AND voter != '' ORDER BY 1")]

    def counts(self) -> dict[str, int]:
        battles = self.conn.execute("SELECT count(*) FROM battles").fetchone()[0]
        votes = self.conn.execute("SELECT count(*) FROM votes").fetchone()[0]
        return {"battles": battles, "votes": votes}


def open_store(cli_path: str | os.PathLike | None = None) -> Store:
    path = resolve_db_path(cli_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder for the database {path}: {exc}") from None
    return Store(path)


def _connect(path: Path) -> sqlite3.Connection:
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file. Pass --db with a file path.")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} cannot be opened as a database ({exc}); it was left untouched. "
                         "Pass --db with another path.") from None
    return conn


def _make_durable(conn: sqlite3.Connection, path: Path) -> None:
    """WAL + fsync on commit. Only called once the file is known to be ours: switching a
    foreign database to WAL would rewrite its header."""
    # In a read-only location WAL may not stick; reads still work, writes say why they fail.
    _once_unlocked(conn, "PRAGMA journal_mode = WAL", path)
    conn.execute("PRAGMA synchronous = FULL")


def _once_unlocked(conn: sqlite3.Connection, sql: str, path: Path) -> None:
    """Run ``sql``, waiting up to BUSY_TIMEOUT_S for another writer, then a StoreError that
    says so. SQLite's busy timeout covers ``BEGIN IMMEDIATE`` but not switching to WAL, which
    fails at once while another process opening the same new database switches it."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute(sql)
            return
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc):
                raise StoreError(f"{path} cannot be written here ({exc}): the file or its folder is read-only, "
                                 "and SQLite also writes its -wal and -shm files beside it. Copy the database "
                                 "to a writable folder, or pass --db with another path.") from None
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StoreError(f"{path}: cannot write: {exc}") from None
            if time.monotonic() > deadline:
                raise StoreError(f"{path} stayed locked by another writer for {BUSY_TIMEOUT_S:.0f} s; "
                                 "try again.") from None
            time.sleep(0.01)


def _side_feature_columns(side: str, features: dict[str, int | None]) -> dict[str, int | None]:
    return {f"{side}_{name}": features.get(name) for name in FEATURE_COLUMNS}


_BATTLE_COLUMNS = (
    ["id", "created", "source", "prompt", "pack", "category", "language", "model_a", "model_b",
     "swapped", "status", "identity_leak", "turns"]
    + [f"{side}_{name}" for side in SIDES for name in FEATURE_COLUMNS]
    + ["meta"]
)
# Columns whose default is not NULL: always written, so leaving one out never changes a row.
_COLUMNS_WITH_DEFAULTS = frozenset(i for i, name in enumerate(_BATTLE_COLUMNS)
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
    names = ", ".join(_BATTLE_COLUMNS[i] for i in columns)
    return f"INSERT OR IGNORE INTO battles ({names}) VALUES ({', '.join('?' * len(columns))})"


# msgspec writes JSON about eight times faster than the standard library, a cost a bulk
# import pays a million times. Keys sorted, UTF-8 kept as is; NaN and infinities become
# null, as SQLite's JSON functions (and Datasette) accept only standard JSON.
_encode_json = msgspec.json.Encoder(order="sorted").encode


def _json_text(value: Any) -> str:
    return _encode_json(value).decode("utf-8")


def _response_rows(b: NewBattle) -> list[tuple]:
    return [row for turn, (prompt, ra, rb) in enumerate(b.turns, start=1)
            for row in (_response_row(b.id, "a", turn, prompt, ra), _response_row(b.id, "b", turn, prompt, rb))]


def _battle_row(b: NewBattle) -> tuple:
    features = [*map(b.features_a.get, FEATURE_COLUMNS), *map(b.features_b.get, FEATURE_COLUMNS)]
    meta = _json_text(b.meta) if b.meta else None
    turns = len(b.turns) if b.turn_count is None else b.turn_count
    return (b.id, b.created, b.source, b.prompt, b.pack, b.category, b.language, b.model_a, b.model_b,
            int(b.swapped), b.status, int(b.identity_leak), turns, *features, meta)


def _vote_key(row: tuple) -> str:
    return row[0]  # battle_id (a file may repeat a battle: never compare a None voter with a name)


def _response_key(row: tuple) -> tuple:
    return row[0], row[1], row[2]  # battle_id, side, turn


def _response_row(battle_id: str, side: str, turn: int, prompt: str, r: ResponseRecord) -> tuple:
    features = _json_text(r.features) if r.features is not None else None
    return (battle_id, side, turn, prompt, r.text, r.error, r.error_hint, r.ttft_ms, r.duration_ms,
            r.tokens, r.finish_reason, features)
