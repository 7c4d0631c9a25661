"""Opening a database: an older schema is migrated on open (data kept); a newer one, or a file
that is not a blindside database, is refused with a clear message and left byte for byte
untouched (no -wal/-shm left behind either)."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from sqlite_utils.migrations import Migrations

from battles.errors import StoreError, VoteError
from battles.store import schema
from battles.store import MIGRATION_SET, ResponseRecord, Store
from tests.helpers_reliability import assert_no_traceback, file_state, run_cli


def _vote_once(store: Store) -> str:
    battle_id = store.begin_battle(model_a="alpha", model_b="beta", prompt="hi")
    store.save_turn(battle_id, 1, "hi", ResponseRecord(text="a"), ResponseRecord(text="b"))
    store.finish_battle(battle_id, status="complete", identity_leak=False,
                        features_a={"tokens": 1}, features_b={"tokens": 1})
    store.record_vote(battle_id, "model_a", "tester")
    return battle_id


def _ship_next_release(monkeypatch, *steps) -> None:
    """The store's real migrations followed by more, as the next release would ship them
    (each step's function name is its migration name)."""
    monkeypatch.setattr(schema, "MIGRATION_STEPS", (*schema.MIGRATION_STEPS, *steps))


def _applied(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    finally:
        conn.close()


def _assert_untouched(path: Path, before) -> None:
    after = file_state(path)
    assert after == before, "the file was changed (content, mtime or -wal/-shm/-journal files)"


# -- older databases ----------------------------------------------------------------------------

def test_a_database_of_the_previous_schema_is_migrated_on_open_and_keeps_its_votes(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    with Store(db) as store:  # written by "this" release: today's migrations only
        battle_id = _vote_once(store)
    current = schema.migration_names()
    assert _applied(db) == current

    def m999_add_judge_column(database: sqlite_utils.Database) -> None:
        database["votes"].add_column("judge_note", str)

    _ship_next_release(monkeypatch, m999_add_judge_column)
    with Store(db) as store:  # "the next release" opens it
        assert "judge_note" in store.db["votes"].columns_dict
        assert store.battle(battle_id)["vote"]["winner"] == "model_a"
        rows, _ = store.scoring_rows()
        assert len(rows) == 1
        _vote_once(store)  # and it keeps working after the migration
    assert _applied(db) == [*current, "m999_add_judge_column"]

    with Store(db) as store:  # opening again migrates nothing twice
        assert store.counts() == {"battles": 2, "votes": 2}
    assert _applied(db) == [*current, "m999_add_judge_column"]


def test_a_database_missing_the_later_migrations_gets_all_of_them_in_order(tmp_path, monkeypatch):
    """Build a genuinely older file: only the first migration applied, by sqlite-utils itself."""
    db = tmp_path / "older.db"
    first = schema.MIGRATION_STEPS[0]
    older = Migrations(MIGRATION_SET)
    older(name=first.__name__)(first)
    older.apply(sqlite_utils.Database(db))
    assert _applied(db) == [first.__name__]

    order: list[str] = []

    def m900_first(database):
        order.append("m900_first")
        database.execute("CREATE TABLE notes_a (x)")

    def m901_second(database):
        order.append("m901_second")
        database.execute("INSERT INTO notes_a VALUES ((SELECT count(*) FROM battles))")

    _ship_next_release(monkeypatch, m900_first, m901_second)
    with Store(db) as store:
        assert order == ["m900_first", "m901_second"]
        assert store.conn.execute("SELECT x FROM notes_a").fetchall() == [(0,)]
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert _applied(db) == schema.migration_names()
    assert _applied(db)[-2:] == ["m900_first", "m901_second"]


def test_a_database_of_the_one_vote_schema_migrates_in_place_to_many_votes_per_battle(tmp_path):
    """A file as the release before many voters wrote it: only m001 applied, by sqlite-utils,
    with its votes table keyed by battle. Opening it keeps every vote as a human vote seen
    in the battle's order, and from then on each voter can vote once."""
    db = tmp_path / "one-vote.db"
    database = sqlite_utils.Database(db)
    older = Migrations(MIGRATION_SET)
    older(name="m001_initial")(schema.m001_initial)
    older.apply(database)
    for i, (winner, voter) in enumerate([("model_a", "ann"), ("tie", None), ("model_b", "bo")]):
        database.execute("INSERT INTO battles (id, created, model_a, model_b, status, a_tokens, b_tokens) "
                         "VALUES (?, ?, 'alpha', 'bravo', 'complete', 10, 20)", [f"b{i}", f"2025-01-0{i + 1}"])
        database.execute("INSERT INTO votes (battle_id, winner, voter, created) VALUES (?, ?, ?, ?)",
                         [f"b{i}", winner, voter, f"2025-01-0{i + 1}T12:00:00"])
    database.conn.commit()
    assert [c.name for c in database["votes"].columns] == ["battle_id", "winner", "voter", "created"]
    database.close()

    with Store(db) as store:
        assert _applied(db) == schema.migration_names()
        assert [(b["id"], b["vote"]) for b in store.iter_battles()] == [
            ("b0", {"winner": "model_a", "voter": "ann", "created": "2025-01-01T12:00:00",
                    "shown_swapped": False, "kind": "human"}),
            ("b1", {"winner": "tie", "voter": None, "created": "2025-01-02T12:00:00",
                    "shown_swapped": False, "kind": "human"}),
            ("b2", {"winner": "model_b", "voter": "bo", "created": "2025-01-03T12:00:00",
                    "shown_swapped": False, "kind": "human"})]
        rows, _ = store.scoring_rows()
        assert [r[:4] for r in rows] == [("alpha", "bravo", "model_a", 10), ("alpha", "bravo", "tie", 10),
                                         ("alpha", "bravo", "model_b", 10)]
        store.record_vote("b0", "model_b", "bo", shown_swapped=True)  # a second voter on the same battle
        with pytest.raises(VoteError, match="already has a vote from ann"):
            store.record_vote("b0", "tie", "ann")
        with pytest.raises(VoteError, match="no voter name"):
            store.record_vote("b1", "tie", None)
        assert store.counts() == {"battles": 3, "votes": 4}
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


# -- newer databases and foreign files ----------------------------------------------------------

def _newer_database(path: Path) -> None:
    with Store(path) as store:
        _vote_once(store)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES (?, 'm777_from_the_future', '2099-01-01 00:00:00+00:00')", (MIGRATION_SET,))
    conn.commit()
    conn.close()
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()


def test_a_database_from_a_newer_blindside_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "future.db"
    _newer_database(db)
    os.utime(db, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))  # a fixed, old mtime
    before = file_state(db)
    with pytest.raises(StoreError) as caught:
        Store(db)
    message = str(caught.value)
    assert "newer" in message and "Upgrade" in message and str(db) in message
    _assert_untouched(db, before)


def _random_bytes_file(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(8192))


def _another_apps_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {i}",) for i in range(50)])
    conn.commit()
    conn.close()


def _another_sqlite_utils_app(path: Path) -> None:
    """Another tool that also uses sqlite-utils migrations (its own set, no blindside tables)."""
    db = sqlite_utils.Database(path)
    theirs = Migrations("someone-else")

    @theirs()
    def m001_things(database):
        database["things"].insert({"id": 1, "name": "x"}, pk="id")

    theirs.apply(db)
    db.close()


def _another_apps_wal_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE events (t TEXT)")
    conn.execute("INSERT INTO events VALUES ('x')")
    conn.commit()
    conn.close()


def _text_file(path: Path) -> None:
    path.write_text("id,model_a,model_b,winner\n1,a,b,tie\n", encoding="utf-8")


FOREIGN_FILES = {
    "random bytes": _random_bytes_file,
    "another app's SQLite database": _another_apps_database,
    "another app's WAL database": _another_apps_wal_database,
    "another sqlite-utils app's database": _another_sqlite_utils_app,
    "a CSV file": _text_file,
}


@pytest.mark.parametrize("kind", list(FOREIGN_FILES))
def test_a_file_that_is_not_a_blindside_database_is_refused_and_left_untouched(tmp_path, kind):
    path = tmp_path / "data.db"
    FOREIGN_FILES[kind](path)
    before = file_state(path)
    assert before.companions == ()
    with pytest.raises(StoreError) as caught:
        Store(path)
    message = str(caught.value)
    assert str(path) in message
    assert "untouched" in message and "--db" in message
    _assert_untouched(path, before)


@pytest.mark.parametrize("kind", ["random bytes", "another app's SQLite database"])
def test_the_command_line_refuses_a_foreign_file_without_a_traceback(tmp_path, kind):
    path = tmp_path / "data.db"
    FOREIGN_FILES[kind](path)
    before = file_state(path)
    done = run_cli("leaderboard", "--db", str(path))
    assert done.returncode == StoreError.exit_code
    assert_no_traceback(done.stderr)
    assert done.stderr.startswith("blindside: ") and str(path) in done.stderr
    _assert_untouched(path, before)


def test_the_command_line_refuses_a_newer_database_without_a_traceback(tmp_path):
    db = tmp_path / "future.db"
    _newer_database(db)
    before = file_state(db)
    done = run_cli("leaderboard", "--db", str(db))
    assert done.returncode == StoreError.exit_code
    assert_no_traceback(done.stderr)
    assert "newer blindside" in done.stderr
    _assert_untouched(db, before)


def test_a_migration_that_fails_leaves_the_database_as_it_was_and_says_so(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    with Store(db) as store:
        battle_id = _vote_once(store)
    current = _applied(db)

    def m998_broken(database: sqlite_utils.Database) -> None:
        database.execute("ALTER TABLE votes ADD COLUMN note TEXT")
        database.execute("ALTER TABLE no_such_table ADD COLUMN x TEXT")  # fails half-way

    _ship_next_release(monkeypatch, m998_broken)
    with pytest.raises(StoreError) as caught:
        Store(db)
    assert str(db) in str(caught.value)
    assert _applied(db) == current  # not recorded as applied...
    conn = sqlite3.connect(db)
    try:  # ...and its first half rolled back
        assert "note" not in [r[1] for r in conn.execute("PRAGMA table_info(votes)")]
        assert conn.execute("SELECT count(*) FROM votes WHERE battle_id = ?", (battle_id,)).fetchone() == (1,)
    finally:
        conn.close()


def test_a_first_run_killed_before_the_schema_was_written_opens_next_time(tmp_path):
    """sqlite-utils commits its bookkeeping table before the first migration's transaction: a
    crash in between leaves a file holding only that (empty) table. It is still ours to set up."""
    db = tmp_path / "votes.db"
    database = sqlite_utils.Database(db)
    Migrations(MIGRATION_SET).ensure_migrations_table(database)
    database.close()
    with Store(db) as store:
        _vote_once(store)
        assert store.counts() == {"battles": 1, "votes": 1}
