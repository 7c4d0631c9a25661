"""Three processes write one database at once: two record battles and votes, one imports.
Every vote lands exactly once, and no ``database is locked`` ever reaches a user."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from battles.store.schema import MIGRATION_STEPS
from tests.helpers_reliability import (
    REPO_ROOT,
    arena_json_records,
    assert_no_traceback,
    child_env,
    cli_command,
    vote_loop_command,
    write_arena_json,
)

VOTES_PER_WRITER = 1000
IMPORT_FILES = 10  # the importer's 1,000 votes arrive as ten imports spread over the run


def importer_script(files: list[str], db: str) -> str:
    """A child that runs ``blindside import`` once per file, one after the other."""
    commands = [cli_command("import", f, "--db", db) for f in files]
    return (
        "import subprocess, sys\n"
        f"for command in {commands!r}:\n"
        "    done = subprocess.run(command, capture_output=True, text=True)\n"
        "    sys.stdout.write(done.stdout)\n"
        "    sys.stderr.write(done.stderr)\n"
        "    if done.returncode != 0:\n"
        "        sys.stderr.write(f'exit {done.returncode}\\n')\n"
        "        sys.exit(done.returncode)\n"
    )


@pytest.mark.slow
def test_two_voters_and_an_importer_write_one_database_at_once(tmp_path):
    db = tmp_path / "shared.db"  # does not exist yet: all three race to create the schema too
    files = []
    per_file = VOTES_PER_WRITER // IMPORT_FILES
    for n in range(IMPORT_FILES):
        records = arena_json_records(per_file, seed=n, id_prefix=f"imp{n}")
        files.append(str(write_arena_json(tmp_path / f"arena-{n}.json", records)))

    env = child_env()
    started = time.monotonic()
    children = {
        "voter-1": subprocess.Popen(vote_loop_command(db, count=VOTES_PER_WRITER, tag="voter-1"),
                                    cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "voter-2": subprocess.Popen(vote_loop_command(db, count=VOTES_PER_WRITER, tag="voter-2"),
                                    cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "importer": subprocess.Popen([sys.executable, "-c",
                                      importer_script(files, str(db))],
                                     cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }
    results = {}
    try:
        for name, child in children.items():
            out, err = child.communicate(timeout=240)
            results[name] = (child.returncode, out, err)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()
    elapsed = time.monotonic() - started

    for name, (code, out, err) in results.items():
        assert code == 0, f"{name} failed ({code}): {err[-2000:]}"
        assert_no_traceback(err)
        assert "locked" not in (out + err).lower(), f"{name} saw a lock error: {err[-500:]}"

    acknowledged = {name: [line for line in results[name][1].split() if line != "ready"]
                    for name in ("voter-1", "voter-2")}
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        votes = [r[0] for r in conn.execute("SELECT battle_id FROM votes")]
        assert len(votes) == len(set(votes))
        assert len(votes) == 3 * VOTES_PER_WRITER, f"{len(votes)} votes after {elapsed:.1f} s"
        for name, ids in acknowledged.items():
            assert len(ids) == VOTES_PER_WRITER == len(set(ids))
            voted = {r[0] for r in conn.execute("SELECT battle_id FROM votes WHERE voter = ?", (name,))}
            assert voted == set(ids), name
        live = conn.execute("SELECT count(*) FROM battles WHERE source = 'live'").fetchone()[0]
        imported = conn.execute("SELECT count(*) FROM battles WHERE source != 'live'").fetchone()[0]
        assert live == 2 * VOTES_PER_WRITER
        assert imported == VOTES_PER_WRITER
        migrations = conn.execute("SELECT name, count(*) FROM _sqlite_migrations GROUP BY name").fetchall()
        assert all(count == 1 for _, count in migrations), migrations
    finally:
        conn.close()


OPEN_AT = ("import sys, time\n"
           "from battles.store import Store\n"
           "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
           "Store(sys.argv[1]).close()\n")


def test_processes_opening_a_new_database_at_once_all_get_it(tmp_path):
    # Each round: six processes wait for the same instant, then open (and so create and
    # migrate) one database that does not exist yet. One migrates; the others must wait for
    # it and find nothing left to do, never fail with "database is locked".
    env = child_env()
    for round_ in range(4):
        db = tmp_path / f"new-{round_}.db"
        start = time.time() + 1.0  # after every interpreter has started
        openers = [subprocess.Popen([sys.executable, "-c", OPEN_AT, str(db), repr(start)], cwd=REPO_ROOT, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
        for opener in openers:
            out, err = opener.communicate(timeout=60)
            assert opener.returncode == 0, err[-1500:]
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(MIGRATION_STEPS)
            assert {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} >= {
                "battles", "responses", "votes"}
