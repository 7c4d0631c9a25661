"""The counted votes as columns, for the rating math, kept in a file beside the database.

Reading 200,000 votes out of SQLite row by row costs most of a leaderboard's time; loading
the same columns from a ``.npz`` file costs a few milliseconds. The file is only served
while the database says nothing that scoring reads has changed since it was written, or
only that votes were added:

- ``scoring_cache_state`` (schema m006) holds ``stale``, ``appended`` and a random
  ``token``. Triggers on ``battles`` and ``votes``, in the writer's own transaction,
  whichever process or tool writes (``schema.create_stale_triggers``): a new vote, a new
  battle or a change to a battle nobody voted on sets ``appended`` (no counted row
  changed; rows may have been added, the exclusion counts may differ); any other insert,
  update or delete sets ``stale``.
- A reader that finds the state stale (or another token in the file) reads SQLite, then in
  the same read transaction sets a new token and clears ``stale`` and ``appended``. SQLite
  refuses that write if anyone committed since the read began, so a token is only ever set
  for the snapshot that was read. The file, named with that token, is written after the
  commit.
- A reader that finds ``appended`` loads the file, reads only the votes above its largest
  vote rowid and counts the exclusions again, in that same transaction, then claims a
  token as above. It falls
  back to the full read when the votes table does not hold exactly the file's votes plus
  those (a replaced or low rowid), or when a new vote sorts before the file's last one
  (an older ``created``): the full read's order is time order.
- Anything unusual (a read-only file, a busy writer, a missing trigger, an unreadable
  file) means: read SQLite, serve that, cache nothing.

One request's columns are kept (the last one read); another request reads SQLite.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# model_a / model_b / tie / both_bad, as in scoring.battles_table
WINNER_CODES = {"model_a": 0, "model_b": 1, "tie": 2, "both_bad": 3}
CACHE_FORMAT = 2
STALE_TRIGGERS = 6  # insert, update and delete on battles and on votes
_TRIGGERS = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'scoring_cache_on_%'"
# How each scoring read was answered since the process started: "file", "appended"
# (the file plus the new votes) or "sqlite" (a full read). For tests and benchmarks.
READS: Counter[str] = Counter()


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


@dataclass(frozen=True)
class Mark:
    """Where the cached columns end, to add the votes inserted after them."""

    votes_max_rowid: int  # the largest vote rowid when read (every vote, counted or not)
    votes_count: int  # how many votes there were
    last: tuple[str, int, int] | None  # (created, battle rowid, vote rowid) of the last row
    voted: int | None  # distinct battles among the rows (None with a voter filter)


@dataclass(frozen=True)
class ScoringSource:
    """One request's SQLite reads (``Store.scoring_columns`` makes it):

    - ``read()``: every row as columns, the last row's (created, battle rowid, vote rowid)
      and how many distinct battles the rows hold (None when not known);
    - ``read_since(rowid)``: the rows of the votes above that rowid, in order, each with
      (created, vote rowid) after the battle rowid;
    - ``exclusions(voted)``: the exclusion counts, given the distinct battles counted."""

    read: Callable[[], tuple[ScoringColumns, tuple | None, int | None]]
    read_since: Callable[[int], list[tuple]]
    exclusions: Callable[[int | None], dict[str, int]]


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


def cached_columns(conn: sqlite3.Connection, db_path: Path, request: dict, source: ScoringSource) -> ScoringColumns:
    """The columns for ``request`` (the arguments of ``scoring_rows``, JSON-able): from the
    cache file when it is current (plus the votes added since), else a full SQLite read,
    keeping the answer for next time when that can be done safely."""
    key = json.dumps(request, sort_keys=True)
    if conn.in_transaction:  # a caller's open transaction: its view may differ from the file's
        READS["sqlite"] += 1
        return source.read()[0]
    conn.execute("BEGIN")
    try:
        state = _current_state(conn)
        answer = None
        if state is not None:
            token, appended = state
            loaded = _load(cache_path(db_path), token, key)
            if loaded is not None and not appended:
                READS["file"] += 1
                return loaded[0]
            if loaded is not None:
                answer = _with_new_votes(conn, *loaded, source)
        if answer is None:
            answer = _full_read(conn, source)
        READS["appended" if answer[2] else "sqlite"] += 1
        columns, mark, _ = answer
        new_token = _claim(conn)
    finally:
        if conn.in_transaction:
            conn.rollback()
    if new_token is not None:
        _save(cache_path(db_path), new_token, key, columns, mark)
    return columns


def _votes_extent(conn: sqlite3.Connection) -> tuple[int, int]:
    """(largest rowid, count) of the votes table."""
    largest, count = conn.execute("SELECT max(rowid), count(*) FROM votes").fetchone()
    return largest or 0, count


def _full_read(conn: sqlite3.Connection, source: ScoringSource) -> tuple[ScoringColumns, Mark, bool]:
    columns, last, voted = source.read()
    largest, count = _votes_extent(conn)
    return columns, Mark(largest, count, last, voted), False


def _with_new_votes(conn: sqlite3.Connection, cached: ScoringColumns, mark: Mark,
                    source: ScoringSource) -> tuple[ScoringColumns, Mark, bool] | None:
    """The cached columns with the votes inserted since, or None when they cannot be added
    exactly as the full read would have them."""
    largest, count = _votes_extent(conn)
    above = conn.execute("SELECT count(*) FROM votes WHERE rowid > ?", (mark.votes_max_rowid,)).fetchone()[0]
    if count != mark.votes_count + above:  # a vote replaced, or written below the file's rowids
        return None
    last = mark.last
    if cached.n and (last is None or not isinstance(last[0], str)):
        return None  # the file's last row has no time to compare with
    rows = source.read_since(mark.votes_max_rowid)
    if rows:
        first = (rows[0][-2], rows[0][-3], rows[0][-1])
        if not all(isinstance(row[-2], str) for row in rows) or (last is not None and first <= tuple(last)):
            return None  # sorts before what the file holds: only a full read orders it
        last = (rows[-1][-2], rows[-1][-3], rows[-1][-1])
    k = cached.features_left.shape[1]
    new = columns_from_rows(rows, {}, k)
    voted = mark.voted
    if voted is not None and new.n:
        fresh = np.unique(new.cluster)
        # A few new battles: a pass over the cached ones each is cheaper than isin's sort.
        seen = (sum(bool((cached.cluster == c).any()) for c in fresh) if fresh.size <= 32
                else int(np.isin(fresh, cached.cluster).sum()))
        voted += int(fresh.size) - seen
    columns = _concatenate(cached, new, source.exclusions(voted))
    return columns, Mark(max(largest, mark.votes_max_rowid), count, last, voted), True


def _concatenate(old: ScoringColumns, new: ScoringColumns, excluded: dict[str, int]) -> ScoringColumns:
    """``old`` then ``new``, their model indexes moved onto the names of both."""
    models = sorted(set(old.models).union(new.models))
    position = {name: i for i, name in enumerate(models)}
    old_index = np.array([position[m] for m in old.models], dtype=np.int32)
    new_index = np.array([position[m] for m in new.models], dtype=np.int32)

    def sides(old_side: np.ndarray, new_side: np.ndarray) -> np.ndarray:
        moved = old_side if models == old.models else old_index[old_side]
        return np.concatenate([moved, new_index[new_side] if new.n else new_side]).astype(np.int32)

    return ScoringColumns(
        models=models, left=sides(old.left, new.left), right=sides(old.right, new.right),
        winner=np.concatenate([old.winner, new.winner]).astype(np.int8),
        features_left=np.concatenate([old.features_left, new.features_left]),
        features_right=np.concatenate([old.features_right, new.features_right]),
        cluster=np.concatenate([old.cluster, new.cluster]).astype(np.int64), excluded=excluded)


def _current_state(conn: sqlite3.Connection) -> tuple[int, bool] | None:
    """(token, appended) when the state is not stale and its triggers are all there, else None."""
    try:
        triggers = conn.execute(_TRIGGERS).fetchone()[0]
        row = conn.execute("SELECT stale, token, appended FROM scoring_cache_state WHERE id = 0").fetchone()
    except sqlite3.DatabaseError:
        return None
    if triggers != STALE_TRIGGERS or row is None or row[0]:
        return None
    return row[1], bool(row[2])


def _claim(conn: sqlite3.Connection) -> int | None:
    """Within the read transaction: mark what was read current under a new token and commit.
    None when SQLite refuses (someone wrote since the read began, a writer holds the lock,
    the file is read-only): then nothing is cached."""
    token = secrets.randbits(62)
    busy_ms = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute("PRAGMA busy_timeout = 0")  # never make a reader wait on a writer for this
    try:
        if conn.execute(_TRIGGERS).fetchone()[0] != STALE_TRIGGERS:
            return None
        conn.execute("UPDATE scoring_cache_state SET stale = 0, appended = 0, token = ? WHERE id = 0", (token,))
        conn.commit()
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    return token


def _load(path: Path, token: int, key: str) -> tuple[ScoringColumns, Mark] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != CACHE_FORMAT or meta.get("token") != token or meta.get("request") != key:
                return None
            columns = ScoringColumns(
                models=list(meta["models"]), left=data["left"], right=data["right"], winner=data["winner"],
                features_left=data["features_left"].astype(np.float64),
                features_right=data["features_right"].astype(np.float64),
                cluster=data["cluster"].astype(np.int64), excluded=meta["excluded"])
            last = meta["last"]
            return columns, Mark(int(meta["votes_max_rowid"]), int(meta["votes_count"]),
                                 None if last is None else (last[0], int(last[1]), int(last[2])), meta["voted"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _compact(features: np.ndarray) -> np.ndarray:
    """float32 when that keeps every value exactly (counts below 2**24), else float64."""
    small = features.astype(np.float32)
    return small if np.array_equal(small.astype(np.float64), features, equal_nan=True) else features


def _save(path: Path, token: int, key: str, columns: ScoringColumns, mark: Mark) -> None:
    """Write the file whole under a temporary name, then move it into place: a reader never
    sees half a file. A folder that cannot be written only means no cache."""
    meta = {"format": CACHE_FORMAT, "token": token, "request": key, "models": columns.models,
            "excluded": columns.excluded, "votes_max_rowid": mark.votes_max_rowid,
            "votes_count": mark.votes_count, "last": mark.last, "voted": mark.voted}
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
