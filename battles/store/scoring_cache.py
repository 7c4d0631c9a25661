"""The counted votes as columns, for the rating math, kept in a file beside the database.

Reading 200,000 votes out of SQLite row by row costs most of a leaderboard's time; loading
the same columns from a ``.npz`` file costs a few milliseconds. The file is only served
while the database says nothing that scoring reads has changed since it was written:

- ``scoring_cache_state`` (schema m006) holds ``stale`` and a random ``token``. Triggers on
  ``battles`` and ``votes`` set ``stale`` on any insert, update or delete, in the writer's
  own transaction, whichever process or tool writes.
- A reader that finds the state stale (or another token in the file) reads SQLite, then in
  the same read transaction sets a new token and clears ``stale``. SQLite refuses that
  write if anyone committed since the read began, so a token is only ever set for the
  snapshot that was read. The file, named with that token, is written after the commit.
- Anything unusual (a read-only file, a busy writer, a missing trigger, an unreadable
  file) means: read SQLite, serve that, cache nothing.

One request's columns are kept (the last one read); another request reads SQLite.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# model_a / model_b / tie / both_bad, as in scoring.battles_table
WINNER_CODES = {"model_a": 0, "model_b": 1, "tie": 2, "both_bad": 3}
CACHE_FORMAT = 1
STALE_TRIGGERS = 6  # insert, update and delete on battles and on votes


@dataclass(frozen=True)
class ScoringColumns:
    """``Store.scoring_rows`` as arrays, one entry per counted vote in the same order.

    ``left``/``right`` index ``models`` (sorted names); ``winner`` is 0 model_a (the left
    one), 1 model_b, 2 tie, 3 both_bad; ``features_left``/``features_right`` are
    (n, len(features)) floats, NaN where unknown; ``cluster`` is the battle's rowid."""

    models: list[str]
    left: np.ndarray
    right: np.ndarray
    winner: np.ndarray
    features_left: np.ndarray
    features_right: np.ndarray
    cluster: np.ndarray
    excluded: dict[str, int]

    @property
    def n(self) -> int:
        return int(self.left.shape[0])


def columns_from_rows(rows: list[tuple], excluded: dict[str, int], k: int) -> ScoringColumns:
    """``scoring_rows``' answer as columns."""
    n = len(rows)
    if not n:
        empty = np.zeros(0, dtype=np.int32)
        return ScoringColumns([], empty, empty, np.zeros(0, dtype=np.int8), np.zeros((0, k)),
                              np.zeros((0, k)), np.zeros(0, dtype=np.int64), excluded)
    # One 2-D object array is cheaper than transposing the rows tuple by tuple.
    table = np.array(rows, dtype=object)
    left, right = table[:, 0].tolist(), table[:, 1].tolist()
    models = sorted(set(left).union(right))
    index = {name: i for i, name in enumerate(models)}.__getitem__
    # numpy turns None into NaN for a float array: unknown stays unknown, never 0.
    features = table[:, 3:3 + 2 * k].astype(np.float64)
    return ScoringColumns(
        models=models,
        left=np.fromiter(map(index, left), dtype=np.int32, count=n),
        right=np.fromiter(map(index, right), dtype=np.int32, count=n),
        winner=np.fromiter(map(WINNER_CODES.__getitem__, table[:, 2].tolist()), dtype=np.int8, count=n),
        features_left=np.ascontiguousarray(features[:, :k]),
        features_right=np.ascontiguousarray(features[:, k:]),
        cluster=table[:, 3 + 2 * k].astype(np.int64),
        excluded=excluded)


def cache_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".scoring-cache.npz")


def cached_columns(conn: sqlite3.Connection, db_path: Path, request: dict, read) -> ScoringColumns:
    """The columns for ``request`` (the arguments of ``scoring_rows``, JSON-able): from the
    cache file when it is current, else ``read()`` (which reads SQLite), keeping its
    answer for next time when that can be done safely."""
    key = json.dumps(request, sort_keys=True)
    if conn.in_transaction:  # a caller's open transaction: its view may differ from the file's
        return read()
    conn.execute("BEGIN")
    try:
        token = _current_token(conn)
        if token is not None:
            served = _load(cache_path(db_path), token, key)
            if served is not None:
                return served
        columns = read()
        new_token = _claim(conn)
    finally:
        if conn.in_transaction:
            conn.rollback()
    if new_token is not None:
        _save(cache_path(db_path), new_token, key, columns)
    return columns


def _current_token(conn: sqlite3.Connection) -> int | None:
    """The token when the state is current and its triggers are all there, else None."""
    try:
        triggers = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                                "AND name LIKE 'scoring_stale_after_%'").fetchone()[0]
        row = conn.execute("SELECT stale, token FROM scoring_cache_state WHERE id = 0").fetchone()
    except sqlite3.DatabaseError:
        return None
    if triggers != STALE_TRIGGERS or row is None or row[0]:
        return None
    return row[1]


def _claim(conn: sqlite3.Connection) -> int | None:
    """Within the read transaction: mark what was read current under a new token and commit.
    None when SQLite refuses (someone wrote since the read began, a writer holds the lock,
    the file is read-only): then nothing is cached."""
    token = secrets.randbits(62)
    busy_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout = 0")  # never make a reader wait on a writer for this
    try:
        if conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                        "AND name LIKE 'scoring_stale_after_%'").fetchone()[0] != STALE_TRIGGERS:
            return None
        conn.execute("UPDATE scoring_cache_state SET stale = 0, token = ? WHERE id = 0", (token,))
        conn.commit()
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    return token


def _load(path: Path, token: int, key: str) -> ScoringColumns | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != CACHE_FORMAT or meta.get("token") != token or meta.get("request") != key:
                return None
            return ScoringColumns(
                models=list(meta["models"]), left=data["left"], right=data["right"], winner=data["winner"],
                features_left=data["features_left"].astype(np.float64),
                features_right=data["features_right"].astype(np.float64),
                cluster=data["cluster"].astype(np.int64), excluded=meta["excluded"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _compact(features: np.ndarray) -> np.ndarray:
    """float32 when that keeps every value exactly (counts below 2**24), else float64."""
    small = features.astype(np.float32)
    return small if np.array_equal(small.astype(np.float64), features, equal_nan=True) else features


def _save(path: Path, token: int, key: str, columns: ScoringColumns) -> None:
    """Write the file whole under a temporary name, then move it into place: a reader never
    sees half a file. A folder that cannot be written only means no cache."""
    meta = {"format": CACHE_FORMAT, "token": token, "request": key, "models": columns.models,
            "excluded": columns.excluded}
    cluster = columns.cluster
    if cluster.size and cluster.max() < 2**31:
        cluster = cluster.astype(np.int32)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta)), left=columns.left, right=columns.right,
                     winner=columns.winner, features_left=_compact(columns.features_left),
                     features_right=_compact(columns.features_right), cluster=cluster)
        os.replace(temporary, path)
    except OSError:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
