"""The leaderboard's columnar scoring read (Store.scoring_columns) on real SQLite files: the
same votes, orientation, features and exclusion counts as the plain SQL, whether read from
SQLite, from the cache file, or from the cache file plus the votes added since; and no
write, by any path or any process, leaves the cache serving what the database no longer
says."""

from __future__ import annotations

import itertools
import math
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from battles.store import NewBattle, NewVote, ResponseRecord, Store
from battles.store.scoring_cache import READS, cache_path

FEATURES = ("tokens", "emoji", "header", "list", "bold")
REPO_ROOT = Path(__file__).resolve().parents[1]


def mixed_battles() -> list[NewBattle]:
    """Several voters per battle (some seeing it swapped), judges, leaks, errors,
    self-battles, unvoted battles, unknown features, two categories."""
    rng = np.random.default_rng(3)
    models = ["alpha", "bravo", "charlie", "delta"]
    battles = []
    for i in range(120):
        a, b = rng.choice(len(models), 2, replace=False)
        model_b = models[a] if i % 17 == 0 else models[b]  # a few self-battles
        features = [{f: (None if rng.random() < 0.15 else int(rng.integers(0, 500))) for f in FEATURES}
                    for _ in range(2)]
        votes = []
        for voter in ("ann", "bo", None):
            if rng.random() < 0.6:
                votes.append(NewVote(winner=str(rng.choice(["model_a", "model_b", "tie", "both_bad"])),
                                     voter=voter, created=f"2025-02-{1 + int(rng.integers(0, 27)):02d}",
                                     shown_swapped=bool(rng.random() < 0.5)))
        if rng.random() < 0.3:
            votes.append(NewVote(winner=str(rng.choice(["model_a", "model_b", "tie"])), voter="judge-x",
                                 kind="judge", shown_swapped=bool(rng.random() < 0.5)))
        battles.append(NewBattle(
            id=f"b{i}", model_a=models[a], model_b=model_b, winner=None, created=f"2025-01-{1 + i % 28:02d}",
            source="import:test", category=("coding", "writing")[i % 2], identity_leak=i % 11 == 0,
            status="error" if i % 13 == 0 else "complete", features_a=features[0], features_b=features[1],
            votes=tuple(votes)))
    return battles


def plain_read(path: Path, *, category=None, voter=None, kind="human", include_leaks=False):
    """What the columns must say, from the raw tables with plain Python: each vote oriented
    as its voter saw the battle, in time order, and the battles left out by reason."""
    conn = sqlite3.connect(path)
    feats = ", ".join([f"b.a_{f}" for f in FEATURES] + [f"b.b_{f}" for f in FEATURES])
    rows = conn.execute(
        f"SELECT b.model_a, b.model_b, b.status, b.identity_leak, b.category, b.rowid, v.winner, v.voter, "
        f"v.kind, v.shown_swapped, {feats} FROM votes v JOIN battles b ON b.id = v.battle_id "
        "ORDER BY v.created, b.rowid, v.rowid").fetchall()
    battles = conn.execute("SELECT id, model_a, model_b, status, identity_leak, category FROM battles").fetchall()
    kinds = {(bid, k) for bid, k in conn.execute("SELECT battle_id, kind FROM votes")}
    conn.close()
    flip = {"model_a": "model_b", "model_b": "model_a", "tie": "tie", "both_bad": "both_bad"}
    out = []
    for (a, b, status, leak, cat, rowid, winner, v, k, swapped, *f) in rows:
        if status != "complete" or a == b or (leak and not include_leaks) or (category and cat != category):
            continue
        if (voter and v != voter) or (kind and k != kind):
            continue
        fa, fb = f[:5], f[5:]
        out.append((b, a, flip[winner], *fb, *fa, rowid) if swapped else (a, b, winner, *fa, *fb, rowid))
    in_scope = [x for x in battles if not category or x[5] == category]
    voted = [x for x in in_scope if x[3] == "complete" and any((x[0], k) in kinds for k in (
        [kind] if kind else ["human", "judge"]))]
    excluded = {"error": sum(x[3] == "error" for x in in_scope),
                "identity_leak": 0 if include_leaks else sum(1 for x in voted if x[4] and x[1] != x[2]),
                "unvoted": sum(x[3] == "complete" for x in in_scope) - len(voted),
                "self_battle": sum(1 for x in voted if x[1] == x[2])}
    return out, excluded


def as_rows(columns) -> list[tuple]:
    """The columns back as plain rows (NaN back to None) to compare with plain_read."""
    winners = ("model_a", "model_b", "tie", "both_bad")

    def value(x):
        return None if math.isnan(x) else int(x)

    return [(columns.models[columns.left[i]], columns.models[columns.right[i]], winners[columns.winner[i]],
             *map(value, columns.features_left[i]), *map(value, columns.features_right[i]), int(columns.cluster[i]))
            for i in range(columns.n)]


def counting_reads(store: Store) -> list[int]:
    """Count the store's SQLite scoring reads (a cache hit makes none)."""
    reads = [0]
    plain = store.scoring_rows

    def scoring_rows(**kwargs):
        reads[0] += 1
        return plain(**kwargs)

    store.scoring_rows = scoring_rows
    return reads


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "votes.db") as s:
        s.insert_battles(mixed_battles())
        yield s


FILTERS = list(itertools.product((None, "coding"), (None, "ann", "judge-x"), ("human", "judge", None), (False, True)))


@pytest.mark.parametrize("category,voter,kind,include_leaks", FILTERS)
def test_columns_say_what_the_plain_sql_says_from_sqlite_and_from_the_cache(store, category, voter, kind,
                                                                           include_leaks):
    expected_rows, expected_excluded = plain_read(store.path, category=category, voter=voter, kind=kind,
                                                  include_leaks=include_leaks)
    reads = counting_reads(store)
    for _ in range(2):  # the first read fills the cache, the second is served from it
        columns = store.scoring_columns(category=category, voter=voter, kind=kind, include_leaks=include_leaks)
        assert as_rows(columns) == expected_rows
        assert columns.excluded == expected_excluded
        assert columns.models == sorted({r[0] for r in expected_rows} | {r[1] for r in expected_rows})
    assert reads[0] == 1


def test_the_database_has_every_kind_of_battle_the_read_must_handle(store):
    rows, excluded = plain_read(store.path, kind=None, include_leaks=True)
    assert excluded["error"] and excluded["self_battle"] and excluded["unvoted"]
    assert plain_read(store.path)[1]["identity_leak"]
    swapped = store.conn.execute("SELECT count(*) FROM votes WHERE shown_swapped = 1").fetchone()[0]
    voters_per_battle = store.conn.execute("SELECT max(n) FROM (SELECT count(*) n FROM votes GROUP BY battle_id)")
    assert swapped and voters_per_battle.fetchone()[0] >= 3
    assert any(None in r[3:-1] for r in rows)


def test_a_second_request_reads_sqlite_and_the_first_is_served_again_after_it(store):
    reads = counting_reads(store)
    store.scoring_columns()
    store.scoring_columns(category="coding")
    store.scoring_columns()
    assert reads[0] == 3  # one request is kept: the last one read
    store.scoring_columns()
    assert reads[0] == 3


def live_battle(store: Store, *, category="coding") -> str:
    battle_id = store.begin_battle(model_a="alpha", model_b="echo", prompt="hi", category=category)
    store.save_turn(battle_id, 1, "hi", ResponseRecord(text="a", tokens=2), ResponseRecord(text="b", tokens=3))
    store.finish_battle(battle_id, status="complete", identity_leak=False,
                        features_a={"tokens": 2, "bold": 0}, features_b={"tokens": 3, "bold": 1})
    return battle_id


def other_process(path: Path, code: str) -> None:
    """Write with another process, as a second blindside would."""
    subprocess.run([sys.executable, "-c", f"from battles.store import *\nwith Store({str(path)!r}) as s:\n    {code}"],
                   cwd=REPO_ROOT, check=True)


def raw_sql(path: Path, sql: str, params: tuple = ()) -> None:
    """Write with plain sqlite3, as another tool would."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(sql, params)
    conn.close()


def new_voted_battle(store: Store, battle_id: str) -> None:
    """A live battle between models the cache has never seen, then its vote."""
    new = store.begin_battle(model_a="hotel", model_b="alpha", prompt="x", category="coding")
    store.save_turn(new, 1, "x", ResponseRecord(text="a"), ResponseRecord(text="b"))
    store.finish_battle(new, status="complete", identity_leak=False, features_a={"tokens": 5}, features_b=None)
    store.record_vote(new, "model_a", "ann", shown_swapped=True)


# Each write, and how the next read must be answered: "appended" (the file plus the new
# votes, exclusions counted again) or "sqlite" (read again whole).
WRITES = {
    "record_vote": ("appended", lambda s, b: s.record_vote(b, "model_b", "zoe")),
    "second_voter_swapped": ("appended", lambda s, b: s.record_vote(b, "tie", "bo", shown_swapped=True)),
    "judge_vote": ("appended", lambda s, b: s.record_vote(b, "model_b", "judge-y", kind="judge")),
    "new_battle_voted": ("appended", new_voted_battle),
    "begin_battle": ("appended", lambda s, b: s.begin_battle(model_a="alpha", model_b="golf", prompt="x",
                                                             category="coding")),
    "unvoted_battle_finished": ("appended", lambda s, b: live_battle(s)),
    "unvoted_battle_errored": ("appended", lambda s, b: s.finish_battle(
        s.begin_battle(model_a="alpha", model_b="golf", prompt="x", category="coding"),
        status="error", identity_leak=False, features_a=None, features_b=None)),
    "another_process_vote": ("appended", lambda s, b: other_process(s.path, f"s.record_vote({b!r}, 'tie', 'yan')")),
    "withdraw_vote": ("sqlite", lambda s, b: s.withdraw_vote(b, "ann", kind="human")),
    "finish_battle": ("sqlite", lambda s, b: s.finish_battle(b, status="complete", identity_leak=True,
                                                             features_a={"tokens": 9}, features_b={"tokens": 1})),
    "finish_battle_features": ("sqlite", lambda s, b: s.finish_battle(
        b, status="complete", identity_leak=False, features_a={"tokens": 99}, features_b={"tokens": 1})),
    "save_turn_follow_up": ("sqlite", lambda s, b: s.save_turn(b, 2, "and?", ResponseRecord(text="c"),
                                                              ResponseRecord(text="d"))),
    "insert_battles": ("sqlite", lambda s, b: s.insert_battles([NewBattle(
        id="new", model_a="alpha", model_b="foxtrot", winner="model_a", created="2029-03-01", source="import:t",
        category="coding")])),
    "another_process_finish": ("sqlite", lambda s, b: other_process(
        s.path, f"s.finish_battle({b!r}, status='error', identity_leak=False, features_a=None, features_b=None)")),
    # Raw SQL, as another tool would write: a vote older than the cached ones sorts before
    # them; replaced votes delete without delete triggers.
    "older_vote_raw_sql": ("sqlite", lambda s, b: raw_sql(
        s.path, "INSERT INTO votes (battle_id, winner, voter, created) VALUES ('b2', 'model_b', 'old', '2025-01-01')")),
    "vote_replaced_on_voter_raw_sql": ("sqlite", lambda s, b: raw_sql(
        s.path, "INSERT OR REPLACE INTO votes (battle_id, winner, voter, created) VALUES (?, 'tie', 'ann', ?)",
        (b, "2030-01-01"))),
    "vote_replaced_on_rowid_raw_sql": ("sqlite", lambda s, b: raw_sql(
        s.path, "INSERT OR REPLACE INTO votes (rowid, battle_id, winner, voter, created) "
                "SELECT rowid, battle_id, 'both_bad', voter, created FROM votes WHERE battle_id = ?", (b,))),
    "vote_below_the_cached_rowids_raw_sql": ("sqlite", lambda s, b: raw_sql(
        s.path, "INSERT INTO votes (rowid, battle_id, winner, voter, created) "
                "VALUES ((SELECT min(rowid) FROM votes) - 1, ?, 'model_b', 'low', '2030-01-01')", (b,))),
    "voted_battle_replaced_raw_sql": ("sqlite", lambda s, b: raw_sql(
        s.path, "INSERT OR REPLACE INTO battles (id, created, model_a, model_b, status, category) "
                "VALUES (?, '2025-01-01', 'bravo', 'charlie', 'complete', 'coding')", (b,))),
}

# These touch battles without changing what is counted.
CHANGE_NOTHING_COUNTED = {"begin_battle", "save_turn_follow_up"}


def read_and_how(store: Store, **request):
    """The columns, and how the read was answered."""
    before = READS.copy()
    columns = store.scoring_columns(**request)
    return columns, list((READS - before).elements())


@pytest.mark.parametrize("write", sorted(WRITES))
def test_every_write_makes_the_next_read_current(store, write):
    battle_id = live_battle(store)
    store.record_vote(battle_id, "model_a", "ann")
    request = {"category": "coding", "kind": None, "include_leaks": False}
    before = store.scoring_columns(**request)
    again, how = read_and_how(store, **request)
    assert as_rows(again) == as_rows(before) and how == ["file"]
    expected_how, write_it = WRITES[write]
    write_it(store, battle_id)
    after, how = read_and_how(store, **request)
    assert how == [expected_how]
    expected_rows, expected_excluded = plain_read(store.path, category="coding", kind=None)
    assert as_rows(after) == expected_rows and after.excluded == expected_excluded
    assert after.models == sorted({r[0] for r in expected_rows} | {r[1] for r in expected_rows})
    if write not in CHANGE_NOTHING_COUNTED:
        assert (as_rows(after), after.excluded) != (as_rows(before), before.excluded)
    # What was read is the file now.
    served, how = read_and_how(store, **request)
    assert how == ["file"] and as_rows(served) == expected_rows and served.excluded == expected_excluded


@pytest.mark.parametrize("category,voter,kind,include_leaks", FILTERS)
def test_votes_added_to_the_cache_say_what_the_plain_sql_says_for_every_filter(store, category, voter, kind,
                                                                              include_leaks):
    request = {"category": category, "voter": voter, "kind": kind, "include_leaks": include_leaks}
    store.scoring_columns(**request)
    leaked = store.begin_battle(model_a="bravo", model_b="india", prompt="x", category="writing")
    store.finish_battle(leaked, status="complete", identity_leak=True, features_a=None, features_b={"bold": 2})
    votes = (("b1", "judge-x", "judge"), ("b2", "ann", "human"), (leaked, "ann", "human"), ("b4", "zed", "human"))
    for i, (battle_id, voter_name, kind_name) in enumerate(votes):
        new = store.conn.execute("SELECT 1 FROM votes WHERE battle_id = ? AND voter = ?",
                                 (battle_id, voter_name)).fetchone() is None
        if new:
            store.record_vote(battle_id, "model_b", voter_name, kind=kind_name, shown_swapped=True)
        columns, how = read_and_how(store, **request)
        expected_rows, expected_excluded = plain_read(store.path, **request)
        assert how == ["appended" if new or i == 0 else "file"]
        assert as_rows(columns) == expected_rows and columns.excluded == expected_excluded
        assert columns.models == sorted({r[0] for r in expected_rows} | {r[1] for r in expected_rows})


def test_a_live_arena_reads_only_new_votes_battle_after_battle(store):
    """Battles played and voted one after the other, the leaderboard read after each."""
    store.scoring_columns()
    for i in range(5):
        battle_id = live_battle(store, category=None)
        store.record_vote(battle_id, ("model_a", "model_b", "tie")[i % 3], f"voter-{i % 2}", shown_swapped=i % 2 == 1)
        columns, how = read_and_how(store)
        expected_rows, expected_excluded = plain_read(store.path)
        assert how == ["appended"]
        assert as_rows(columns) == expected_rows and columns.excluded == expected_excluded


def test_a_write_during_the_read_keeps_that_read_out_of_the_cache(store):
    """The read's snapshot is older than a vote committed meanwhile: its token is refused."""
    battle_id = live_battle(store)
    plain = store.scoring_rows

    def scoring_rows(**kwargs):
        answer = plain(**kwargs)
        with Store(store.path) as writer:
            writer.record_vote(battle_id, "model_a", "ann")
        return answer

    store.scoring_rows = scoring_rows
    stale = store.scoring_columns()
    store.scoring_rows = plain
    assert len(as_rows(stale)) == len(plain_read(store.path)[0]) - 1  # what the read saw
    fresh = store.scoring_columns()
    assert as_rows(fresh) == plain_read(store.path)[0]


def test_a_vote_during_the_reading_of_new_votes_keeps_that_read_out_of_the_cache(store):
    """The same refusal when the read only adds new votes: the next read sees both votes."""
    battle_id = live_battle(store)
    store.scoring_columns()
    store.record_vote(battle_id, "model_a", "ann")
    plain = store.scoring_rows_since

    def scoring_rows_since(*args, **kwargs):
        answer = plain(*args, **kwargs)
        with Store(store.path) as writer:
            writer.record_vote(battle_id, "model_b", "bo")
        return answer

    store.scoring_rows_since = scoring_rows_since
    seen, how = read_and_how(store)
    store.scoring_rows_since = plain
    assert how == ["appended"] and len(as_rows(seen)) == len(plain_read(store.path)[0]) - 1
    fresh, how = read_and_how(store)
    assert how == ["appended"] and as_rows(fresh) == plain_read(store.path)[0]


def test_a_writer_without_the_triggers_turns_the_cache_off(store):
    store.scoring_columns()
    store.conn.execute("DROP TRIGGER scoring_cache_on_insert_votes")
    store.conn.commit()
    other_process(store.path, "s.record_vote('b1', 'tie', 'yan')")
    assert as_rows(store.scoring_columns()) == plain_read(store.path)[0]
    reads = counting_reads(store)
    store.scoring_columns()
    assert reads[0] == 1  # never served from the cache without its triggers


def test_a_damaged_or_foreign_cache_file_is_read_around(store):
    first = as_rows(store.scoring_columns())
    path = cache_path(store.path)
    path.write_bytes(b"not a cache")
    reads = counting_reads(store)
    assert as_rows(store.scoring_columns()) == first and reads[0] == 1
    assert as_rows(store.scoring_columns()) == first and reads[0] == 1  # rewritten, served again


def test_a_read_only_database_is_read_without_a_cache(store, tmp_path):
    store.scoring_columns()
    cache_path(store.path).unlink()
    store.conn.execute("UPDATE battles SET category = category")  # stale again
    store.conn.commit()
    with Store(store.path) as reader:
        reader.conn.execute("PRAGMA query_only = 1")
        assert as_rows(reader.scoring_columns()) == plain_read(store.path)[0]
    assert not cache_path(store.path).exists()
    assert store.conn.execute("SELECT stale FROM scoring_cache_state").fetchone()[0] == 1


def test_opening_an_up_to_date_database_does_not_load_sqlite_utils(store):
    code = (f"import sys\nfrom battles.store import Store\nwith Store({str(store.path)!r}) as s:\n"
            "    s.scoring_columns()\nprint('sqlite_utils' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    assert result.stdout.strip() == "False"


def test_importing_the_store_loads_neither_sqlite_utils_nor_numpy():
    code = "import sys, battles.store\nprint(sorted({'sqlite_utils', 'numpy'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    assert result.stdout.strip() == "[]"
