"""A vote, once acknowledged, survives a crash: kill -9 at random moments never loses an
acknowledged vote, never corrupts the file, and never counts a half-written battle."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from battles.store import Store
from tests.helpers_reliability import REPO_ROOT, child_env, vote_loop_command

KILLS = 24
SEED = 20250607


def check_database(db: Path, acknowledged: set[str]) -> dict[str, int]:
    """Assert the promises on ``db`` after a crash; return what it holds."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        votes = [r[0] for r in conn.execute("SELECT battle_id FROM votes")]
        assert len(votes) == len(set(votes)), "a battle has two votes"
        missing = acknowledged - set(votes)
        assert not missing, f"{len(missing)} acknowledged votes were lost, e.g. {sorted(missing)[:3]}"
        # A vote only ever sits on a complete battle whose two answers are both stored.
        bad = conn.execute(
            "SELECT v.battle_id, b.status, "
            "(SELECT count(*) FROM responses r WHERE r.battle_id = v.battle_id AND r.turn = 1) "
            "FROM votes v JOIN battles b ON b.id = v.battle_id "
            "WHERE b.status != 'complete' OR "
            "(SELECT count(*) FROM responses r WHERE r.battle_id = v.battle_id AND r.turn = 1) != 2"
        ).fetchall()
        assert bad == [], f"half-written battles carry votes: {bad[:3]}"
        half_complete = conn.execute(
            "SELECT id FROM battles b WHERE status = 'complete' AND "
            "(SELECT count(*) FROM responses r WHERE r.battle_id = b.id) != 2").fetchall()
        assert half_complete == [], "a battle is marked complete without both answers"
        statuses = dict(conn.execute("SELECT status, count(*) FROM battles GROUP BY status").fetchall())
        complete_unvoted = conn.execute(
            "SELECT count(*) FROM battles b WHERE status = 'complete' AND "
            "NOT EXISTS (SELECT 1 FROM votes v WHERE v.battle_id = b.id)").fetchone()[0]
    finally:
        conn.close()

    with Store(db) as store:
        rows, excluded = store.scoring_rows()
    # Counted = complete and voted, each once; a battle cut mid-write is never counted.
    assert len(rows) == len(votes)
    assert excluded["unvoted"] == complete_unvoted
    assert set(statuses) <= {"streaming", "complete"}
    return {"votes": len(votes), "streaming": statuses.get("streaming", 0), "complete_unvoted": complete_unvoted}


@pytest.mark.slow
def test_acknowledged_votes_survive_kill_9_at_random_moments(tmp_path):
    db = tmp_path / "votes.db"
    rng = random.Random(SEED)
    acknowledged: set[str] = set()
    state = {"streaming": 0, "complete_unvoted": 0}
    for round_no in range(KILLS):
        child = subprocess.Popen(vote_loop_command(db, tag=f"kill{round_no}"), cwd=REPO_ROOT, env=child_env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            if round_no % 6 == 0:
                # Sometimes kill during start-up: while the file is created or migrated.
                time.sleep(rng.uniform(0.05, 0.6))
            else:
                ready = child.stdout.readline()
                assert ready == b"ready\n", child.stderr.read().decode(errors="replace")
                time.sleep(rng.uniform(0.0, 0.25))
            child.send_signal(signal.SIGKILL)
            out, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        assert child.returncode == -signal.SIGKILL, err.decode(errors="replace")
        acknowledged.update(line for line in out.decode().split() if line != "ready")
        if db.exists():
            state = check_database(db, acknowledged)
    assert len(acknowledged) > KILLS, "the child barely recorded anything: the test proved nothing"
    # Some kills landed mid-battle (left it streaming or unvoted): the crash path was exercised.
    assert state["streaming"] + state["complete_unvoted"] > 0
    # Finally a clean reopen sees everything, and the store still takes new votes.
    with Store(db) as store:
        assert store.counts()["votes"] >= len(acknowledged)


def test_a_vote_is_on_disk_when_record_vote_returns(tmp_path):
    """Without any close or checkpoint, another connection sees the vote at once."""
    db = tmp_path / "votes.db"
    child = subprocess.run(vote_loop_command(db, count=3, tag="once"), cwd=REPO_ROOT, env=child_env(),
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    ids = [line for line in child.stdout.split() if line != "ready"]
    assert len(ids) == 3
    check_database(db, set(ids))
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    with Store(db) as store:
        assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsync each commit


def _children(pid: int) -> set[int]:
    try:
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_an_import_killed_midway_adds_nothing_and_leaves_no_process_behind(tmp_path):
    """All or nothing: killed mid-transaction, the import of the 135k real votes leaves none of
    them, the file intact, and no helper process running."""
    from tests.helpers_reliability import cli_command

    votes_file = REPO_ROOT / "battles" / "data" / "arena-human-preference-140k-votes.csv.gz"

    db = tmp_path / "votes.db"
    with Store(db) as store:  # something already there that must survive
        _vote_before = store.begin_battle(model_a="a", model_b="b", prompt="kept")
    child = subprocess.Popen(cli_command("import", str(votes_file), "--db", str(db)), cwd=REPO_ROOT,
                             env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    helpers: set[int] = set()
    try:
        # Kill it while it writes: once its transaction has put a MB into the -wal.
        wal = Path(f"{db}-wal")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            helpers |= _children(child.pid)
            if wal.exists() and wal.stat().st_size > (1 << 20):
                break
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, f"the import ended before the kill: {err.decode()[-500:]}"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    leftovers = set(helpers)
    deadline = time.monotonic() + 15
    while leftovers and time.monotonic() < deadline:
        leftovers = {pid for pid in leftovers if _alive(pid)}
        time.sleep(0.1)
    for pid in leftovers:  # do not leave them running whatever the verdict
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not leftovers, f"the import left helper processes running: {sorted(leftovers)}"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        imported = conn.execute("SELECT count(*) FROM battles WHERE source != 'live'").fetchone()[0]
        assert imported == 0, f"a killed import left {imported} battles: half an import"
        assert conn.execute("SELECT count(*) FROM battles WHERE prompt = 'kept'").fetchone()[0] == 1
    finally:
        conn.close()
