"""The vote store: one SQLite file, schema managed by sqlite-utils ``Migrations``.

One module per job:
- ``schema``: the tables, their migrations and the checks made on opening a file;
- ``connection``: where the file lives, durability (WAL, fsync) and the write lock;
- ``records``: what callers hand the store (``NewBattle``, ``ResponseRecord``);
- ``live``: a battle as the engine plays it, then its vote;
- ``bulk``: many finished battles at once (imports, simulations);
- ``queries``: reads for the app, ratings, pairing and exports;
- ``scoring_cache``: the counted votes as columns, kept in a file beside the database
  while nothing they depend on has changed (the leaderboard's fast read).

A vote is durable once ``record_vote`` returns. Ratings only count battles that are
``complete`` and voted, so a half-written battle never counts.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

from battles.errors import StoreError
from battles.store.bulk import BulkWrites
from battles.store.connection import BUSY_TIMEOUT_S, connect, default_db_path, resolve_db_path, write_transaction
from battles.store.live import LiveWrites
from battles.store.queries import Queries, ShownVote
from battles.store.records import NewBattle, NewVote, ResponseRecord, new_battle_id, now_iso
from battles.store.schema import FEATURE_COLUMNS, MIGRATION_SET, SIDES, STATUSES, VOTE_KINDS, WINNERS, open_schema

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["BUSY_TIMEOUT_S", "FEATURE_COLUMNS", "MIGRATION_SET", "SIDES", "STATUSES", "VOTE_KINDS", "WINNERS",
           "NewBattle", "NewVote", "ResponseRecord", "ShownVote", "Store", "default_db_path", "new_battle_id", "now_iso", "open_store",
           "resolve_db_path"]


class Store(LiveWrites, BulkWrites, Queries):
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists() or self.path.stat().st_size == 0:
            # A new file: load sqlite-utils before creating it, so that creating and migrating
            # the file follow each other at once and a crash rarely leaves it empty.
            import sqlite_utils  # noqa: F401
        self.conn = connect(self.path)
        open_schema(self.conn, self.path)

    @functools.cached_property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils' view of the file, loaded on first use: it imports numpy, which
        reading ratings does not need this early."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn, execute_plugins=False)

    def write(self):
        """One durable write transaction for the store's neighbours (decks, judgments):
        takes the write lock up front, commits with fsync, rolls back on error."""
        return write_transaction(self.conn, self.path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_store(cli_path: str | os.PathLike | None = None) -> Store:
    path = resolve_db_path(cli_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder for the database {path}: {exc}") from None
    return Store(path)
