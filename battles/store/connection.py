"""Where the database lives, and the connection settings that make a vote durable.

Writes take the write lock up front (``BEGIN IMMEDIATE``) and wait on a busy timeout, so
concurrent voters never see ``database is locked``; commits are fsynced (synchronous=FULL),
so a vote is durable once its transaction commits.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

from battles.config import APP_NAME
from battles.errors import StoreError

BUSY_TIMEOUT_S = 30.0


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


def connect(path: Path) -> sqlite3.Connection:
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a database file. Pass --db with a file path.")
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise open_error(path, exc) or StoreError(f"{path} cannot be opened as a database ({exc}); it was "
                                                  "left untouched. Pass --db with another path.") from None
    return conn


def make_durable(conn: sqlite3.Connection, path: Path) -> None:
    """WAL + fsync on commit. Only called once the file is known to be ours: switching a
    foreign database to WAL would rewrite its header."""
    # In a read-only location WAL may not stick; reads still work, writes say why they fail.
    once_unlocked(conn, "PRAGMA journal_mode = WAL", path)
    conn.execute("PRAGMA synchronous = FULL")


@contextmanager
def write_transaction(conn: sqlite3.Connection, path: Path) -> Iterator[sqlite3.Connection]:
    """One write transaction holding the write lock from its start; commits with fsync.
    SQLite refusing the write (a read-only file, a full disk) is a StoreError saying what
    to do, and nothing of the transaction is kept."""
    once_unlocked(conn, "BEGIN IMMEDIATE", path)
    try:
        yield conn
        conn.commit()
    except sqlite3.DatabaseError as exc:
        _rollback(conn)
        raise write_error(path, exc) from None
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        conn.rollback()
    except sqlite3.Error:
        pass  # the transaction is gone either way; the first error is the one to report


def write_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """What went wrong with a write, and what to do about it."""
    if "readonly" in str(exc):
        return StoreError(f"{path} cannot be written here ({exc}): the file or its folder is read-only, "
                          "and SQLite also writes its -wal and -shm files beside it. Nothing was written. "
                          "Make both writable, or copy the database to a writable folder and pass --db "
                          "with the copy.")
    return StoreError(f"{path}: cannot write ({exc}); nothing was written. Check that the disk is not full "
                      "and the file is writable, then try again.")


def open_error(path: Path, exc: sqlite3.Error) -> StoreError | None:
    """The StoreError for a database SQLite cannot open because of where it sits, or None
    when ``exc`` says something else. A database in WAL mode needs to create its -wal and
    -shm files beside it even to be read, which a read-only folder forbids; SQLite then
    says only "unable to open database file"."""
    text = str(exc)
    if "unable to open" not in text and "readonly" not in text:
        return None
    if not path.exists():
        folder = "is not writable" if path.parent.is_dir() else "does not exist"
        return StoreError(f"{path} cannot be created ({text}): its folder {path.parent} {folder}. "
                          "Pass --db with a path in a writable folder.")
    return StoreError(f"{path} cannot be opened ({text}): its folder {path.parent} is not writable, and "
                      "the database (in WAL mode) needs to create its -wal and -shm files there, even to "
                      "be read. The file was left untouched. Make the folder writable, or copy the "
                      "database to a writable folder and pass --db with the copy.")


def once_unlocked(conn: sqlite3.Connection, sql: str, path: Path) -> None:
    """Run ``sql``, waiting up to BUSY_TIMEOUT_S for another writer, then a StoreError that
    says so. SQLite's busy timeout covers ``BEGIN IMMEDIATE`` but not switching to WAL, which
    fails at once while another process opening the same new database switches it."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute(sql)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise write_error(path, exc) from None
            if time.monotonic() > deadline:
                raise StoreError(f"{path} stayed locked by another writer for {BUSY_TIMEOUT_S:.0f} s; "
                                 "try again.") from None
            time.sleep(0.01)
