"""The vote store on real SQLite files: durability settings, schema bookkeeping, votes taken
once and only on finished battles, refusal of files that are not ours (left byte for byte
untouched), bulk writes that are all or nothing, and what ratings count."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

import battles.store as store_module
from battles.store import connection, schema
from battles.errors import StoreError, VoteError
from battles.store import NewBattle, ResponseRecord, Store


def live_battle(store: Store, *, model_a="alpha", model_b="bravo", status="complete", leak=False,
                category=None, prompt="hi") -> str:
    """A battle written the way the engine writes one."""
    battle_id = store.begin_battle(model_a=model_a, model_b=model_b, prompt=prompt, category=category)
    store.save_turn(battle_id, 1, prompt, ResponseRecord(text="answer a", tokens=2),
                    ResponseRecord(text="answer b", tokens=2))
    store.finish_battle(battle_id, status=status, identity_leak=leak,
                        features_a={"tokens": 2, "bold": 0}, features_b={"tokens": 2, "bold": 1})
    return battle_id


def fingerprint(path: Path) -> tuple[str, list[str]]:
    companions = sorted(p.name for p in path.parent.iterdir() if p.name != path.name)
    return hashlib.sha256(path.read_bytes()).hexdigest(), companions


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "votes.db") as s:
        yield s


# -- opening --------------------------------------------------------------------------------


def test_wal_mode_fsync_and_busy_timeout_are_set(store):
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] == int(store_module.BUSY_TIMEOUT_S * 1000)
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrations_are_recorded_once(tmp_path):
    path = tmp_path / "votes.db"
    Store(path).close()
    Store(path).close()  # reopening applies nothing twice
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT migration_set, name FROM _sqlite_migrations ORDER BY rowid").fetchall()
    conn.close()
    expected = [(store_module.MIGRATION_SET, name) for name in schema.migration_names()]
    assert rows == expected and rows


def test_reopening_keeps_battles_and_votes(tmp_path):
    path = tmp_path / "votes.db"
    with Store(path) as first:
        battle_id = live_battle(first)
        first.record_vote(battle_id, "tie", "ann")
    with Store(path) as again:
        battle = again.battle(battle_id)
    assert battle["vote"]["winner"] == "tie" and battle["vote"]["voter"] == "ann"
    assert [r["text"] for r in battle["responses"]] == ["answer a", "answer b"]
    assert (battle["a_tokens"], battle["b_bold"]) == (2, 1)


def test_an_acknowledged_vote_is_seen_by_another_connection_after_close(tmp_path):
    path = tmp_path / "votes.db"
    store = Store(path)
    battle_id = live_battle(store)
    store.record_vote(battle_id, "model_b", "bo")
    store.close()
    conn = sqlite3.connect(path)  # not through Store: what is on disk
    try:
        assert conn.execute("SELECT winner, voter FROM votes WHERE battle_id = ?",
                            (battle_id,)).fetchone() == ("model_b", "bo")
    finally:
        conn.close()


# -- votes ----------------------------------------------------------------------------------


def test_a_second_vote_by_the_same_voter_is_refused_and_the_first_kept(store):
    battle_id = live_battle(store)
    store.record_vote(battle_id, "model_a", "ann")
    with pytest.raises(VoteError, match="already has a vote from ann; each voter votes once"):
        store.record_vote(battle_id, "model_b", "ann")
    assert store.battle(battle_id)["vote"]["winner"] == "model_a"
    assert store.counts()["votes"] == 1


def test_votes_without_a_name_are_one_anonymous_voter(store):
    battle_id = live_battle(store)
    store.record_vote(battle_id, "tie", None)
    for nameless in (None, ""):
        with pytest.raises(VoteError, match="already has a vote with no voter name"):
            store.record_vote(battle_id, "model_a", nameless)
    store.record_vote(battle_id, "model_b", "ann")  # a named voter still votes
    assert [(v["voter"], v["winner"]) for v in store.battle(battle_id)["votes"]] == [(None, "tie"), ("ann", "model_b")]


def test_many_voters_vote_on_one_battle_each_with_the_side_order_they_saw(store):
    battle_id = live_battle(store)
    store.record_vote(battle_id, "model_a", "ann")
    store.record_vote(battle_id, "model_a", "bo", shown_swapped=True)
    store.record_vote(battle_id, "tie", "gpt-judge", kind="judge")
    battle = store.battle(battle_id)
    assert [(v["voter"], v["winner"], v["shown_swapped"], v["kind"]) for v in battle["votes"]] == [
        ("ann", "model_a", False, "human"), ("bo", "model_a", True, "human"), ("gpt-judge", "tie", False, "judge")]
    assert battle["vote"] == battle["votes"][0]
    assert store.counts() == {"battles": 1, "votes": 3}
    with pytest.raises(VoteError, match="not a kind of vote"):
        store.record_vote(battle_id, "tie", "cy", kind="robot")
    [recent] = store.recent_battles(viewer="bo")
    assert (recent["winner"], recent["voter"], recent["votes"], recent["judge_votes"]) == ("model_a", "ann", 2, 1)
    assert recent["mine"] == "model_a"
    assert store.recent_battles(viewer="cy")[0]["mine"] is None  # others voted, cy did not
    assert store.recent_battles(viewer="gpt-judge")[0]["mine"] is None  # a judge's vote is never "mine"
    assert store.recent_battles()[0]["mine"] is None  # no unnamed vote
    assert [b["votes"] for b in store.iter_battles()] == [battle["votes"]]
    assert store.voted_outcomes() == [("alpha", "bravo", "model_a")] * 2  # human votes only


def test_scoring_rows_give_each_vote_as_its_voter_saw_it_with_the_battle_as_cluster(store):
    first = live_battle(store)  # a: tokens 2, bold 0; b: tokens 2, bold 1
    second = live_battle(store, model_a="charlie", model_b="delta")
    store.record_vote(first, "model_a", "ann")  # alpha on the left, alpha won
    store.record_vote(first, "model_a", "bo", shown_swapped=True)  # bravo on the left; alpha (right) won
    store.record_vote(first, "model_b", "judge-1", kind="judge")
    store.record_vote(second, "both_bad", "ann", shown_swapped=True)
    rowids = dict(store.conn.execute("SELECT id, rowid FROM battles"))
    rows, excluded = store.scoring_rows(features=("tokens", "bold"))
    assert rows == [
        ("alpha", "bravo", "model_a", 2, 0, 2, 1, rowids[first]),
        ("bravo", "alpha", "model_b", 2, 1, 2, 0, rowids[first]),
        ("delta", "charlie", "both_bad", 2, 1, 2, 0, rowids[second]),
    ]
    assert excluded == {"error": 0, "identity_leak": 0, "unvoted": 0, "self_battle": 0}
    assert [r[:3] for r in store.scoring_rows(voter="bo")[0]] == [("bravo", "alpha", "model_b")]
    judged, _ = store.scoring_rows(kind="judge")
    assert [r[:3] for r in judged] == [("alpha", "bravo", "model_b")]
    assert len(store.scoring_rows(kind=None)[0]) == 4
    _, only_judges = store.scoring_rows(kind="judge")
    assert only_judges["unvoted"] == 1  # the second battle has no judge's vote


def test_votes_with_features_orient_winner_models_and_features_by_position(store):
    battle_id = live_battle(store)
    store.record_vote(battle_id, "model_a", "ann")
    store.record_vote(battle_id, "model_a", "bo", shown_swapped=True)
    store.record_vote(battle_id, "tie", "judge-1", kind="judge")
    ann, bo, judge = store.votes_with_features()
    assert (ann.voter, ann.winner, ann.model_left, ann.model_right, ann.shown_swapped) == (
        "ann", "left", "alpha", "bravo", False)
    assert (ann.features_left["bold"], ann.features_right["bold"]) == (0, 1)
    assert (bo.voter, bo.winner, bo.model_left, bo.model_right, bo.shown_swapped) == (
        "bo", "right", "bravo", "alpha", True)
    assert (bo.features_left["bold"], bo.features_right["bold"]) == (1, 0)
    assert set(bo.features_left) == set(store_module.FEATURE_COLUMNS)
    assert (judge.kind, judge.winner, judge.battle_id) == ("judge", "tie", battle_id)
    assert [v.voter for v in store.votes_with_features(kind="human")] == ["ann", "bo"]
    assert [v.voter for v in store.votes_with_features(voter="bo")] == ["bo"]


@pytest.mark.parametrize(("status", "message"), [("streaming", "not finished streaming"),
                                                 ("error", "ended with an error")])
def test_a_vote_on_an_unfinished_or_errored_battle_is_refused(store, status, message):
    battle_id = live_battle(store, status=status)
    with pytest.raises(VoteError, match=message):
        store.record_vote(battle_id, "model_a", None)
    assert store.counts()["votes"] == 0


def test_a_vote_on_an_unknown_battle_or_with_an_unknown_winner_is_refused(store):
    with pytest.raises(VoteError, match="no battle"):
        store.record_vote("nope", "model_a", None)
    battle_id = live_battle(store)
    with pytest.raises(VoteError, match="not a vote"):
        store.record_vote(battle_id, "left", None)
    assert store.counts()["votes"] == 0


# -- files that are not ours ----------------------------------------------------------------


def _foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    conn.execute("INSERT INTO invoices (total) VALUES (9.5)")
    conn.commit()
    conn.close()


def _newer_blindside(path: Path) -> None:
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
                 (store_module.MIGRATION_SET, "m999_from_the_future", "2099-01-01 00:00:00"))
    conn.commit()
    conn.execute("PRAGMA journal_mode = DELETE")  # fold the WAL in: one self-contained file
    conn.close()


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b"name,total\nwidget,3\n" * 50), "not a SQLite database|cannot be opened"),
    (_foreign_sqlite, "not a blindside one"),
    (_newer_blindside, "newer blindside"),
], ids=["text-file", "foreign-sqlite", "newer-schema"])
def test_files_that_are_not_ours_are_refused_and_left_untouched(tmp_path, make, message):
    folder = tmp_path / "db"
    folder.mkdir()
    path = folder / "data.db"
    make(path)
    before = fingerprint(path)
    with pytest.raises(StoreError, match=message) as refused:
        Store(path)
    assert str(path) in str(refused.value) and "untouched" in str(refused.value)
    assert fingerprint(path) == before


# -- bulk writes ----------------------------------------------------------------------------


def _imported(i: int, **fields) -> NewBattle:
    return NewBattle(id=f"imp-{i}", model_a="alpha", model_b="bravo", winner="model_a",
                     created=f"2025-01-01T00:00:{i % 60:02d}+00:00", source="import:test", **fields)


def test_a_database_in_a_read_only_place_gets_a_clear_error():
    # Tests run as root here, which no file permission stops, so SQLite's answer is played
    # by a stand-in connection.
    class ReadOnly:
        def execute(self, sql):
            raise sqlite3.OperationalError("attempt to write a readonly database")

    with pytest.raises(StoreError, match="read-only.*-wal and -shm.*writable folder"):
        connection.once_unlocked(ReadOnly(), "PRAGMA journal_mode = WAL", Path("/shared/votes.db"))


def _read_only(path) -> sqlite3.Connection:
    """SQLite's own read-only connection: what a file without write permission gives a user
    (tests run as root, which no file permission stops)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@pytest.fixture
def read_only_db(tmp_path, monkeypatch):
    """A database holding one finished, unvoted battle, then opened read-only."""
    path = tmp_path / "votes.db"
    with Store(path) as store:
        battle_id = live_battle(store)
    monkeypatch.setattr(store_module, "connect", _read_only)
    return path, battle_id


def test_every_write_to_a_read_only_database_file_is_a_store_error_that_says_what_to_do(read_only_db):
    path, battle_id = read_only_db
    with Store(path) as store:
        before = (store.counts(), store.battle(battle_id))
        writes = {
            "begin_battle": lambda: store.begin_battle(model_a="alpha", model_b="bravo", prompt="p"),
            "save_turn": lambda: store.save_turn(battle_id, 2, "p", ResponseRecord(text="x"), ResponseRecord()),
            "finish_battle": lambda: store.finish_battle(battle_id, status="error", identity_leak=True,
                                                         features_a=None, features_b=None),
            "record_vote": lambda: store.record_vote(battle_id, "tie", "ann"),
            "insert_battles": lambda: store.insert_battles([_imported(1)]),
        }
        for name, write in writes.items():
            with pytest.raises(StoreError) as refused:
                write()
            message = str(refused.value)
            assert str(path) in message and "read-only" in message, name
            assert "Nothing was written" in message and "writable folder" in message, name
        assert (store.counts(), store.battle(battle_id)) == before


def test_the_vote_command_on_a_read_only_database_prints_one_clear_line(read_only_db, capsys):
    from tui.cli import main

    path, battle_id = read_only_db
    assert main(["vote", battle_id, "a", "--voter", "ann", "--db", str(path)]) == StoreError.exit_code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "OperationalError" not in err
    assert err.startswith("blindside: ") and "read-only" in err and "--db" in err
    assert len(err.strip().splitlines()) == 1


def test_the_battle_command_on_a_read_only_database_prints_one_clear_line(read_only_db, capsys,
                                                                           fake_provider, monkeypatch):
    from tests.test_cli_battle import write_config
    from tui.cli import main

    path, _ = read_only_db
    monkeypatch.setenv("BLINDSIDE_CLI_KEY", "sk-test-readonly")
    config = write_config(path.parent, fake_provider, {"alpha": ("openai", "fake:tokens=3"),
                                                       "bravo": ("ollama", "fake:tokens=4")})
    code = main(["battle", "--config", str(config), "--db", str(path), "--prompt", "Hi", "--models", "alpha,bravo"])
    out, err = capsys.readouterr()
    assert code == StoreError.exit_code
    assert "Traceback" not in out + err and "OperationalError" not in err
    assert err.startswith("blindside: ") and "read-only" in err and "writable folder" in err


class _FolderNotWritable:
    """SQLite's answer when a WAL database sits in a read-only folder: it cannot create the
    -shm file it needs, so every statement that reads the file fails with "unable to open
    database file" (settings, which read nothing, still work). Played by a stand-in, as
    root writes into any folder."""

    def __init__(self, real: sqlite3.Connection):
        self.real = real

    def execute(self, sql, *args):
        if sql.lstrip().upper().startswith("PRAGMA") and "journal_mode" not in sql:
            return self.real.execute(sql, *args)
        raise sqlite3.OperationalError("unable to open database file")

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_database_in_a_read_only_folder_is_not_called_a_foreign_file(tmp_path, monkeypatch):
    path = tmp_path / "votes.db"
    with Store(path) as store:
        live_battle(store)
    before = fingerprint(path)
    real_connect = store_module.connect
    monkeypatch.setattr(store_module, "connect", lambda p: _FolderNotWritable(real_connect(p)))
    with pytest.raises(StoreError) as refused:
        Store(path)
    message = str(refused.value)
    assert "not a SQLite database" not in message and "not a blindside" not in message
    assert f"its folder {tmp_path} is not writable" in message
    assert "-wal and -shm" in message and "Make the folder writable" in message and "--db" in message
    assert fingerprint(path) == before


def test_a_database_in_a_missing_folder_says_so(tmp_path):
    path = tmp_path / "no-such-folder" / "votes.db"
    with pytest.raises(StoreError, match=f"{path} cannot be created .*its folder {path.parent} does not exist"):
        Store(path)


def test_insert_battles_is_all_or_nothing(store):
    live_battle(store)
    before = store.counts()

    def battles_then_failure():
        for i in range(30):
            yield _imported(i)
        raise RuntimeError("the file broke half-way")

    with pytest.raises(RuntimeError):
        store.insert_battles(battles_then_failure(), batch_size=7)  # some batches already executed
    assert store.counts() == before


def test_insert_battles_adds_each_id_once_and_restores_exported_fields(store):
    turn = ("q", ResponseRecord(text="x", ttft_ms=1.5), ResponseRecord(text="y", error="it failed"))
    first = [_imported(1, voter="v"), _imported(2, swapped=True, status="error", turn_count=3, turns=[turn])]
    first[1].winner = None
    assert store.insert_battles(first) == (2, 0)
    assert store.insert_battles([_imported(1), _imported(3)]) == (1, 1)
    restored = store.battle("imp-2")
    assert (restored["swapped"], restored["status"], restored["turns"]) == (1, "error", 3)
    assert restored["vote"] is None
    assert [(r["side"], r["turn"], r["text"], r["error"]) for r in restored["responses"]] == [
        ("a", 1, "x", None), ("b", 1, "y", "it failed")]
    assert store.battle("imp-1")["vote"]["voter"] == "v"


def test_bulk_rows_keep_every_value_whichever_columns_a_batch_leaves_empty(store):
    # Batches of two: the first leaves every feature and the category empty, the second
    # fills some of them in one row only, the third fills all.
    full = {name: 7 for name in store_module.FEATURE_COLUMNS}
    battles = [_imported(1), _imported(2, meta={"k": [1, "é", None]}),
               _imported(3, features_a={"bold": 0}), _imported(4, category="code", language="de"),
               _imported(5, features_a=full, features_b=full, category="x", prompt="p", pack="w",
                         voter="v", swapped=True, identity_leak=True),
               _imported(6, features_b={"tokens": 12, "emoji": 1})]
    assert store.insert_battles(battles, batch_size=2) == (6, 0)
    columns = ["category", "language", "prompt", "pack", "swapped", "identity_leak", "turns", "meta"] + [
        f"{side}_{name}" for side in ("a", "b") for name in store_module.FEATURE_COLUMNS]
    rows = {row[0]: dict(zip(columns, row[1:])) for row in store.conn.execute(
        f"SELECT id, {', '.join(columns)} FROM battles WHERE id LIKE 'imp-%'")}
    expected = {}
    for battle in battles:
        expected[battle.id] = {
            "category": battle.category, "language": battle.language, "prompt": battle.prompt,
            "pack": battle.pack, "swapped": int(battle.swapped), "identity_leak": int(battle.identity_leak),
            "turns": 0, "meta": '{"k":[1,"é",null]}' if battle.meta else None,
            **{f"a_{name}": battle.features_a.get(name) for name in store_module.FEATURE_COLUMNS},
            **{f"b_{name}": battle.features_b.get(name) for name in store_module.FEATURE_COLUMNS}}
    assert rows == expected


def test_iter_battles_can_skip_unvoted_battles_and_texts(store):
    voted = live_battle(store)
    store.record_vote(voted, "model_a", None)
    live_battle(store)  # complete, no vote
    live_battle(store, status="error")
    everything = list(store.iter_battles(batch_size=2))
    assert len(everything) == 3 and everything[0]["responses"]
    only_voted = list(store.iter_battles(voted_only=True, with_responses=False))
    assert [b["id"] for b in only_voted] == [voted]
    assert only_voted[0]["responses"] == [] and only_voted[0]["vote"]["winner"] == "model_a"


# -- what ratings count ---------------------------------------------------------------------


@pytest.fixture
def mixed_store(store):
    """Two counted votes (ann: coding, bo: writing), plus one of each excluded kind."""
    for voter, category, winner in (("ann", "coding", "model_a"), ("bo", "writing", "model_b")):
        battle_id = live_battle(store, category=category)
        store.record_vote(battle_id, winner, voter)
    leaked = live_battle(store, leak=True, category="coding")
    store.record_vote(leaked, "model_a", "ann")
    live_battle(store, status="error", category="coding")
    live_battle(store, category="coding")  # never voted
    return store


def test_scoring_rows_leave_out_errored_leaked_and_unvoted_battles_and_count_them(mixed_store):
    rows, excluded = mixed_store.scoring_rows()
    assert [(r[0], r[1], r[2]) for r in rows] == [("alpha", "bravo", "model_a"), ("alpha", "bravo", "model_b")]
    assert rows[0][3:-1] == (2, None, None, None, 0, 2, None, None, None, 1)  # a_tokens.. then b_..
    assert excluded == {"error": 1, "identity_leak": 1, "unvoted": 1, "self_battle": 0}
    rows, excluded = mixed_store.scoring_rows(include_leaks=True)
    assert len(rows) == 3 and excluded["identity_leak"] == 0


def test_scoring_rows_filter_by_category_and_voter(mixed_store):
    rows, excluded = mixed_store.scoring_rows(category="coding")
    assert [r[2] for r in rows] == ["model_a"]
    assert excluded == {"error": 1, "identity_leak": 1, "unvoted": 1, "self_battle": 0}
    rows, _ = mixed_store.scoring_rows(voter="bo")
    assert [r[2] for r in rows] == ["model_b"]
    rows, _ = mixed_store.scoring_rows(category="writing", voter="ann")
    assert rows == []


def test_a_model_against_itself_is_kept_with_its_vote_but_never_rated(store):
    store.insert_battles([
        NewBattle(id="self", model_a="alpha", model_b="alpha", winner="model_b", created="2025-01-01",
                  source="import:test", voter="ann"),
        NewBattle(id="leaky-self", model_a="bravo", model_b="bravo", winner="tie", created="2025-01-02",
                  source="import:test", identity_leak=True),
        NewBattle(id="real", model_a="alpha", model_b="bravo", winner="model_a", created="2025-01-03",
                  source="import:test"),
    ])
    assert store.battle("self")["vote"] == {"winner": "model_b", "voter": "ann", "created": "2025-01-01",
                                            "shown_swapped": False, "kind": "human"}
    for include_leaks in (False, True):
        rows, excluded = store.scoring_rows(include_leaks=include_leaks)
        assert [(r[0], r[1]) for r in rows] == [("alpha", "bravo")]
        assert excluded == {"error": 0, "identity_leak": 0, "unvoted": 0, "self_battle": 2}
    assert store.voted_outcomes() == [("alpha", "bravo", "model_a")]
    assert store.counts() == {"battles": 3, "votes": 3}


def test_exclusion_counts_agree_whether_or_not_the_rows_can_tell_them(mixed_store):
    """Without a voter filter the counts reuse what the rows show; with one they are looked
    up battle by battle. Both ways must give the same answer."""
    store = mixed_store
    store.insert_battles([NewBattle(id="self", model_a="alpha", model_b="alpha", winner="tie", created="2025",
                                    source="t", category="coding")])
    judged = live_battle(store, category="coding")
    store.record_vote(judged, "model_a", "judge-1", kind="judge")
    leaked_unvoted = live_battle(store, leak=True)
    assert leaked_unvoted
    for category in (None, "coding"):
        for kind in ("human", "judge", None):
            for include_leaks in (False, True):
                options = {"category": category, "kind": kind, "include_leaks": include_leaks}
                _, fast = store.scoring_rows(**options)
                _, looked_up = store.scoring_rows(voter="nobody", **options)
                assert fast == looked_up, options
    _, excluded = store.scoring_rows()
    # unvoted by a human: the never-voted battle, the judged one and the unvoted leak
    assert excluded == {"error": 1, "identity_leak": 1, "unvoted": 3, "self_battle": 1}


def test_categories_and_voters_list_what_the_filters_can_choose(tmp_path):
    from battles.store import NewBattle, Store

    with Store(tmp_path / "v.db") as store:
        store.insert_battles([
            NewBattle(id="1", model_a="x", model_b="y", winner="tie", created="2025", source="t",
                      category="coding", voter="bob"),
            NewBattle(id="2", model_a="x", model_b="y", winner="tie", created="2025", source="t",
                      category="advice", voter="alice"),
            NewBattle(id="3", model_a="x", model_b="y", winner="tie", created="2025", source="t"),
        ])
        assert store.categories() == ["advice", "coding"]
        assert store.voters() == ["alice", "bob"]
