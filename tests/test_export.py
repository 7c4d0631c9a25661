"""Exporting the store: the lossless JSONL round trip, LMArena-readable JSON, flat CSV,
stdout and gzip targets, a failed export leaving the old file alone, bounded memory, and
no API key in any export of a live battle."""

from __future__ import annotations

import csv
import io
import json

import pytest

import battles.exporters as exporters
from battles.config import ArenaConfig, Config
from battles.engine import Arena
from battles.exporters import CSV_COLUMNS, export, write_export
from battles.features import style_features, sum_features
from battles.importing import import_file
from battles.store import FEATURE_COLUMNS, ResponseRecord, Store
from tui.cli import main

LMARENA_STYLE_ELEMENTS = ["sum_assistant_a_tokens", "header_count_a", "list_count_a", "bold_count_a",
                          "sum_assistant_b_tokens", "header_count_b", "list_count_b", "bold_count_b"]


def live(store: Store, turns: list[tuple[str, str, str]], *, status="complete", leak=False, swapped=False,
         category=None, vote=None, voter=None, errors=(None, None)) -> str:
    """A battle written the way the engine writes one: per-turn features, sums per side."""
    battle_id = store.begin_battle(model_a="alpha", model_b="bravo", prompt=turns[0][0], swapped=swapped,
                                   category=category, pack="demo")
    per_side = {"a": [], "b": []}
    for number, (prompt, text_a, text_b) in enumerate(turns, start=1):
        records = []
        for side, text, error in (("a", text_a, errors[0]), ("b", text_b, errors[1])):
            features = style_features(text, 7 if side == "a" else None)  # a: server-reported tokens
            per_side[side].append(features)
            records.append(ResponseRecord(text=text, error=error, error_hint="try again" if error else None,
                                          ttft_ms=12.5, duration_ms=340.25, tokens=features["tokens"],
                                          finish_reason="stop", features=features))
        store.save_turn(battle_id, number, prompt, *records)
    store.finish_battle(battle_id, status=status, identity_leak=leak,
                        features_a=sum_features(per_side["a"]), features_b=sum_features(per_side["b"]))
    if vote:
        store.record_vote(battle_id, vote, voter)
    return battle_id


MARKDOWN = "# Plan\n## Steps\n1. one\n2. two\n- **bold** and __also__\n```\n# not a header\n```\nDone! 🎉"


@pytest.fixture
def rich_store(tmp_path):
    """Every kind of battle the store can hold."""
    with Store(tmp_path / "rich.db") as store:
        live(store, [("Plan a trip", MARKDOWN, "Sure."), ("Shorter?", "OK: **Go.**", "Fine!")],
             category="travel", vote="model_a", voter="ann")
        live(store, [("q", "partial", "")], status="error", swapped=True, errors=(None, "Model B failed: 500"))
        live(store, [("still going", "a", "b")], status="streaming")
        live(store, [("unvoted", "a", "b")])
        live(store, [("leak", "I am alpha", "hi")], leak=True, vote="both_bad", voter="bo")
        arena = tmp_path / "arena.json"
        arena.write_text(json.dumps([
            {"question_id": "lm1", "model_a": "gpt-x", "model_b": "claude-y", "winner": "tie (bothbad)",
             "judge": "arena_user_1", "tstamp": 1_720_000_000.5, "language": "English", "turn": 1,
             "category_tag": {"criteria_v0.1": {"creativity": True}}, "is_code": False,
             "conv_metadata": {"sum_assistant_a_tokens": 50, "sum_assistant_b_tokens": 70,
                               "header_count_a": {"h1": 0, "h2": 2, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
                               "header_count_b": {"h1": 0, "h2": 0, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
                               "list_count_a": {"ordered": 1, "unordered": 2},
                               "list_count_b": {"ordered": 0, "unordered": 0},
                               "bold_count_a": {"**": 3, "__": 0}, "bold_count_b": {"**": 1, "__": 0}}},
        ]), encoding="utf-8")
        import_file(store, arena)
        votes_csv = tmp_path / "votes.csv"
        votes_csv.write_text("id,model_a,model_b,winner\nc1,alpha,gpt-x,model_b\n", encoding="utf-8")
        import_file(store, votes_csv)
        yield store


def dump(store: Store) -> dict[str, list[tuple]]:
    return {table: store.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
            for table in ("battles", "responses", "votes")}


def exported(store: Store, format: str) -> str:
    out = io.StringIO()
    write_export(store, out, format)
    return out.getvalue()


def features_of(store: Store, battle_id: str) -> tuple:
    columns = ", ".join(f"{s}_{n}" for s in ("a", "b") for n in FEATURE_COLUMNS)
    return store.conn.execute(f"SELECT {columns} FROM battles WHERE id = ?", (battle_id,)).fetchone()


def vote_of(store: Store, battle_id: str) -> tuple:
    return store.conn.execute(
        "SELECT b.model_a, b.model_b, v.winner, v.voter, b.identity_leak FROM battles b "
        "JOIN votes v ON v.battle_id = b.id WHERE b.id = ?", (battle_id,)).fetchone()


def voted_ids(store: Store) -> list[str]:
    return [r[0] for r in store.conn.execute(
        "SELECT b.id FROM battles b JOIN votes v ON v.battle_id = b.id WHERE b.status = 'complete' ORDER BY b.rowid")]


# -- jsonl ----------------------------------------------------------------------------------


def test_jsonl_round_trip_into_a_fresh_database_is_identical(rich_store, tmp_path):
    path = tmp_path / "export.jsonl"
    assert export(rich_store, path, "jsonl") == 7
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["blindside_export"] == 2 and len(lines) == 8
    with Store(tmp_path / "fresh.db") as fresh:
        report = import_file(fresh, path)
        assert (report.format, report.added, report.bad_rows) == ("jsonl", 7, 0)
        assert dump(fresh) == dump(rich_store)
        assert import_file(fresh, path).added == 0


def test_jsonl_lines_carry_responses_vote_and_meta(rich_store):
    records = [json.loads(line) for line in exported(rich_store, "jsonl").splitlines()[1:]]
    first = records[0]
    assert first["vote"]["winner"] == "model_a" and first["vote"]["voter"] == "ann"
    assert [(r["side"], r["turn"]) for r in first["responses"]] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert first["responses"][0]["features"] == style_features(MARKDOWN, 7)
    assert first["features_a"]["tokens"] == 14 and first["pack"] == "demo"
    errored = records[1]
    assert (errored["status"], errored["swapped"], errored["vote"]) == ("error", True, None)
    assert errored["responses"][1]["error"] == "Model B failed: 500"
    imported = next(r for r in records if r["id"] == "lm1")
    assert imported["meta"] == {"category_tag": {"criteria_v0.1": {"creativity": True}}, "is_code": False,
                                "turn": 1}


# -- arena-json -----------------------------------------------------------------------------


def test_arena_json_holds_only_voted_complete_battles_in_lmarena_shape(rich_store):
    records = json.loads(exported(rich_store, "arena-json"))
    assert [r["question_id"] for r in records] == voted_ids(rich_store)
    for r in records:
        assert r["winner"] in ("model_a", "model_b", "tie", "tie (bothbad)")
        assert isinstance(r["anony"], bool) and isinstance(r["tstamp"], float) and isinstance(r["language"], str)
        assert r["dedup_tag"]["sampled"] is True
    by_id = {r["question_id"]: r for r in records}
    leaked = next(r for r in records if r["winner"] == "tie (bothbad)" and r["model_a"] == "alpha")
    assert leaked["anony"] is False and leaked["judge"] == "bo"
    assert by_id["lm1"]["tstamp"] == 1_720_000_000.5 and by_id["lm1"]["is_code"] is False
    assert by_id["lm1"]["category_tag"] == {"criteria_v0.1": {"creativity": True}}
    assert "conv_metadata" not in by_id["c1"]  # nothing known: nothing claimed


def test_lmarena_style_control_reads_the_stored_features(rich_store):
    """The expressions FastChat's construct_style_matrices and arena-rank's example use."""
    records = json.loads(exported(rich_store, "arena-json"))
    for r in records:
        if "conv_metadata" not in r:
            continue
        metadata = r["conv_metadata"]
        fastchat = [metadata[e] if type(metadata[e]) is int else sum(metadata[e].values())
                    for e in LMARENA_STYLE_ELEMENTS]
        arena_rank = [sum(metadata[e].values()) if isinstance(metadata[e], dict) else metadata[e]
                      for e in LMARENA_STYLE_ELEMENTS]
        stored = features_of(rich_store, r["question_id"])
        columns = [f"{s}_{n}" for s in ("a", "b") for n in FEATURE_COLUMNS]
        expected = [stored[columns.index(f"{s}_{n}")] for s in ("a", "b") for n in ("tokens", "header", "list", "bold")]
        assert fastchat == arena_rank == expected, r["question_id"]


def test_arena_json_splits_counts_like_lmarena_when_the_texts_are_stored(rich_store):
    first = json.loads(exported(rich_store, "arena-json"))[0]
    metadata = first["conv_metadata"]
    assert metadata["header_count_a"] == {"h1": 1, "h2": 1, "h3": 0, "h4": 0, "h5": 0, "h6": 0}
    assert metadata["list_count_a"] == {"ordered": 2, "unordered": 1}
    assert metadata["bold_count_a"] == {"**": 2, "__": 1}
    assert metadata["sum_assistant_a_tokens"] == 14 and metadata["emoji_count_a"] == 1
    assert first["conversation_a"][:2] == [{"role": "user", "content": "Plan a trip"},
                                           {"role": "assistant", "content": MARKDOWN}]
    lm1 = next(r for r in json.loads(exported(rich_store, "arena-json")) if r["question_id"] == "lm1")
    assert lm1["conv_metadata"]["header_count_a"] == {"h1": 2, "h2": 0, "h3": 0, "h4": 0, "h5": 0, "h6": 0}


def test_arena_json_re_imports_to_the_same_votes_and_features(rich_store, tmp_path):
    path = tmp_path / "arena-export.json"
    export(rich_store, path, "arena-json")
    with Store(tmp_path / "again.db") as again:
        report = import_file(again, path)
        assert (report.format, report.added, report.bad_rows) == ("arena-json", 4, 0)
        for battle_id in voted_ids(rich_store):
            assert vote_of(again, battle_id) == vote_of(rich_store, battle_id)
            assert features_of(again, battle_id) == features_of(rich_store, battle_id)


# -- many votes per battle ------------------------------------------------------------------


@pytest.fixture
def voted_by_many(rich_store):
    """rich_store, plus two more voters (one saw the sides swapped) and a judge on its first
    battle, and a second vote on the imported LMArena battle."""
    first = voted_ids(rich_store)[0]
    rich_store.record_vote(first, "model_b", "bo", shown_swapped=True)
    rich_store.record_vote(first, "tie", None)
    rich_store.record_vote(first, "model_a", "judge-1", kind="judge")
    rich_store.record_vote("lm1", "model_a", "cy")
    return rich_store


def all_votes(store: Store) -> list[tuple]:
    return store.conn.execute("SELECT battle_id, winner, voter, created, shown_swapped, kind FROM votes "
                              "ORDER BY battle_id, ifnull(voter, '')").fetchall()


def test_every_format_keeps_every_vote_and_re_importing_it_adds_nothing(voted_by_many, tmp_path):
    votes = all_votes(voted_by_many)
    assert len(votes) == 8
    for format in ("jsonl", "arena-json", "csv"):
        path = tmp_path / f"export.{format}"
        export(voted_by_many, path, format)
        before = dump(voted_by_many)
        assert import_file(voted_by_many, path).added == 0  # into the same store: nothing new
        assert dump(voted_by_many) == before, format
        with Store(tmp_path / f"fresh-{format}.db") as fresh:
            import_file(fresh, path)
            assert all_votes(fresh) == votes, format
            before = dump(fresh)
            report = import_file(fresh, path)
            assert report.added == 0 and dump(fresh) == before, format


def test_csv_has_one_row_per_vote_with_its_voter(voted_by_many):
    rows = list(csv.DictReader(io.StringIO(exported(voted_by_many, "csv"))))
    first = voted_ids(voted_by_many)[0]
    mine = [(r["voter"], r["winner"], r["shown_swapped"], r["kind"]) for r in rows if r["battle_id"] == first]
    assert sorted(mine) == [("", "tie", "0", "human"), ("ann", "model_a", "0", "human"),
                            ("bo", "model_b", "1", "human"), ("judge-1", "model_a", "0", "judge")]
    assert len(rows) == 8


def test_arena_json_has_one_record_per_vote_with_unique_ids_and_the_battle_kept(voted_by_many):
    records = json.loads(exported(voted_by_many, "arena-json"))
    assert len(records) == 8
    ids = [r["question_id"] for r in records]
    assert len(set(ids)) == len(ids)
    first = voted_ids(voted_by_many)[0]
    of_first = [r for r in records if r["battle_id"] == first]
    assert [r["question_id"] for r in of_first] == [first, f"{first}~2", f"{first}~3", f"{first}~4"]
    assert [(r["judge"], r["winner"], r["shown_swapped"], r["kind"]) for r in of_first] == [
        ("ann", "model_a", False, "human"), ("bo", "model_b", True, "human"), (None, "tie", False, "human"),
        ("judge-1", "model_a", False, "judge")]
    assert {r["model_a"] for r in of_first} == {"alpha"}  # the battle's own order, whatever a voter saw


def test_jsonl_carries_all_votes_of_a_battle_and_still_reads_a_version_1_file(voted_by_many, tmp_path):
    records = [json.loads(line) for line in exported(voted_by_many, "jsonl").splitlines()[1:]]
    first = records[0]
    assert [v["voter"] for v in first["votes"]] == ["ann", "bo", None, "judge-1"]
    assert first["vote"] == first["votes"][0]
    first_vote = first["vote"]
    old = tmp_path / "version1.jsonl"
    lines = [json.dumps({"blindside_export": 1, "exported": "2025-01-01T00:00:00+00:00", "app": "blindside"})]
    for record in records:
        record.pop("votes")
        if record["vote"] is not None:
            record["vote"] = {k: record["vote"][k] for k in ("winner", "voter", "created")}
        lines.append(json.dumps(record))
    old.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with Store(tmp_path / "from-v1.db") as fresh:
        assert import_file(fresh, old).added == 7
        assert fresh.battle(first["id"])["votes"] == [first_vote]
        assert fresh.counts() == {"battles": 7, "votes": 4}


# -- csv ------------------------------------------------------------------------------------


def test_csv_has_one_flat_row_per_vote(rich_store):
    rows = list(csv.reader(io.StringIO(exported(rich_store, "csv"))))
    assert rows[0] == CSV_COLUMNS
    assert CSV_COLUMNS[:10] == ["battle_id", "created", "model_a", "model_b", "winner", "voter", "category",
                                "language", "status", "identity_leak"]
    assert CSV_COLUMNS[10] == "a_tokens" and CSV_COLUMNS[27] == "b_exclamations"
    assert CSV_COLUMNS[28:] == ["vote_created", "shown_swapped", "kind"] and len(CSV_COLUMNS) == 31
    body = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    assert list(body) == voted_ids(rich_store)
    first = body[voted_ids(rich_store)[0]]
    assert (first["winner"], first["voter"], first["category"], first["a_tokens"], first["a_header"]) == (
        "model_a", "ann", "travel", "14", "2")
    assert body["c1"]["a_tokens"] == "" and body["c1"]["voter"] == ""  # unknown stays empty, not 0


def test_csv_re_imports_to_the_same_votes_and_features(rich_store, tmp_path):
    path = tmp_path / "votes.csv"
    export(rich_store, path, "csv")
    with Store(tmp_path / "again.db") as again:
        assert import_file(again, path).added == 4
        for battle_id in voted_ids(rich_store):
            assert vote_of(again, battle_id) == vote_of(rich_store, battle_id)
            assert features_of(again, battle_id) == features_of(rich_store, battle_id)


FORMULAS = ["=HYPERLINK(\"http://x.test\",\"click\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)",
            "\tleading tab", "\rleading return", "'=already quoted", "=1+1"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_cells_a_spreadsheet_would_run_are_quoted_and_import_back_as_they_were(tmp_path, formula):
    from battles.store import NewBattle

    with Store(tmp_path / "hostile.db") as store:
        store.insert_battles([NewBattle(id=f"{formula}-id", model_a=formula, model_b="plain",
                                        winner="model_a", created="2025-01-01T00:00:00+00:00",
                                        source="import:test", voter=formula, category=formula,
                                        language=formula)])
        path = tmp_path / "hostile.csv"
        export(store, path, "csv")
        with open(path, encoding="utf-8", newline="") as f:
            row = dict(zip(*list(csv.reader(f))))
        for column in ("battle_id", "model_a", "voter", "category", "language"):
            assert row[column][0] == "'" and row[column][1:] == (formula if column != "battle_id" else f"{formula}-id")
        assert row["model_b"] == "plain"  # nothing to neutralise: left as it is
        with Store(tmp_path / "again.db") as again:
            assert import_file(again, path).added == 1
            text = formula.strip()  # the importer trims cells, whatever their first character
            battle = again.battle(f"{text}-id")
            assert (battle["model_a"], battle["category"], battle["language"], battle["vote"]["voter"]) == (
                text, text, text, text)


@pytest.mark.parametrize("number", ["-1", "-1.5", "+3", "-2e5", "+.5", "-0"])
def test_csv_leaves_plain_numbers_alone(number):
    assert exporters.formula_safe(number) == number
    assert exporters.formula_safe(f"{number}x") == f"'{number}x"


def test_csv_cells_that_only_look_quoted_keep_their_quote(tmp_path):
    from battles.importing.arena_csv import unquote_formula

    for text in ("'plain", "it's", "'", "''"):
        assert exporters.formula_safe(text) == text
        assert unquote_formula(text) == text


# -- targets --------------------------------------------------------------------------------


def test_dash_writes_to_stdout_and_the_count_to_stderr(rich_store, capsys):
    db = str(rich_store.path)
    rich_store.close()
    assert main(["export", "-", "--format", "arena-json", "--db", db]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 4
    assert captured.err == "Exported 4 battles to standard output (arena-json).\n"


def test_a_gz_name_writes_gzip_that_imports_back(rich_store, tmp_path):
    path = tmp_path / "export.jsonl.gz"
    export(rich_store, path, "jsonl")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    with Store(tmp_path / "fresh.db") as fresh:
        assert import_file(fresh, path).added == 7


def test_a_failed_export_leaves_the_previous_file_as_it_was(rich_store, tmp_path, monkeypatch, capsys):
    path = tmp_path / "export.jsonl"
    path.write_text("the previous export\n", encoding="utf-8")
    real = exporters.blindside_record
    calls = []

    def disk_full(battle):
        calls.append(battle["id"])
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(battle)

    monkeypatch.setattr(exporters, "blindside_record", disk_full)
    db = str(rich_store.path)
    rich_store.close()
    assert main(["export", str(path), "--db", db]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == "the previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_an_unwritable_target_exits_2_without_traceback(rich_store, tmp_path, capsys):
    db = str(rich_store.path)
    rich_store.close()
    assert main(["export", str(tmp_path / "missing-dir" / "x.csv"), "--format", "csv", "--db", db]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "Traceback" not in err


@pytest.mark.parametrize("format", ["jsonl", "arena-json", "csv"])
def test_export_writes_each_battle_as_it_is_read(rich_store, monkeypatch, format):
    """Streaming: every battle is written before the next one is read from the store, so a
    million battles never sit in memory at once."""
    read = []
    real = Store.iter_battles

    def counting(self, **options):
        for battle in real(self, **options):
            read.append(battle["id"])
            yield battle

    monkeypatch.setattr(Store, "iter_battles", counting)

    class Recorder(io.StringIO):
        def __init__(self):
            super().__init__()
            self.seen_at_write: list[int] = []

        def write(self, text):
            self.seen_at_write.append(len(read))
            return super().write(text)

    out = Recorder()
    count = write_export(rich_store, out, format)
    assert count == len(read) >= 4
    for n in range(1, count + 1):  # battle n was written before battle n+1 was read
        assert out.seen_at_write.count(n) >= 1, (n, out.seen_at_write)


# -- keys -----------------------------------------------------------------------------------


async def test_no_export_contains_the_api_key_of_a_live_battle(tmp_path, fake_model, monkeypatch):
    key = "sk-live-EXPORTSECRET0123456789abcdef"
    monkeypatch.setenv("BLINDSIDE_EXPORT_TEST_KEY", key)
    with Store(tmp_path / "keys.db") as store:
        good = {"alpha": fake_model(f"fake:tokens=4,auth={key}", name="alpha", api_key_env="BLINDSIDE_EXPORT_TEST_KEY"),
                "bravo": fake_model("fake:tokens=4,text=markdown", name="bravo")}
        async with Arena(Config(arena=ArenaConfig(), models=good), store, seed=1) as arena:
            battle = arena.start("Say hi", models=("alpha", "bravo"))
            await battle.run()
            battle.vote("a", "tester")
        # the server echoes the wrong key it got in its 401 message
        bad = {"alpha": fake_model("fake:tokens=4,auth=another-key", name="alpha",
                                   api_key_env="BLINDSIDE_EXPORT_TEST_KEY"),
               "bravo": fake_model("fake:tokens=4", name="bravo")}
        async with Arena(Config(arena=ArenaConfig(), models=bad), store, seed=2) as arena:
            failed = arena.start("Say hi", models=("alpha", "bravo"))
            await failed.run()
        assert store.battle(failed.id)["status"] == "error"
        outputs = {format: exported(store, format) for format in ("jsonl", "arena-json", "csv")}
    assert len(outputs["jsonl"].splitlines()) == 3  # header + both battles, the failed one included
    assert "401" in outputs["jsonl"]
    for format, text in outputs.items():
        assert key not in text, format
        assert "EXPORTSECRET" not in text, format
