"""Importing vote logs into a real SQLite store: each format, gzip, detection, stable ids,
bad rows, --strict, style features, and LMArena's real 140k votes."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import sqlite3
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from battles.features import style_features, sum_features
from battles.importing import ImportFileError, StrictImportError, detect_format, import_file, jsonstream
from battles.importing import records as records_module
from battles.importing.arena import unix_to_iso
from battles.importing.errors import BadRecord
from battles.store import FEATURE_COLUMNS, Store
from tui.cli import main

ARENA_VOTES_CSV = Path(__file__).resolve().parents[1] / "battles" / "data" / "arena-human-preference-140k-votes.csv.gz"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "votes.db") as s:
        yield s


def record(i: int, **fields) -> dict:
    base = {"question_id": f"q{i}", "model_a": "alpha", "model_b": "bravo", "winner": "model_a"}
    base.update(fields)
    return base


def write_json(path: Path, records, *, lines: bool = False, gzipped: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in records) if lines else json.dumps(records, indent=2)
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def write_csv(path: Path, rows: list[list], header=("id", "model_a", "model_b", "winner")) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def table_dump(store: Store) -> dict[str, list[tuple]]:
    return {table: store.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("battles", "responses", "votes")}


def features(store: Store, battle_id: str, side: str) -> dict[str, int | None]:
    columns = ", ".join(f"{side}_{name}" for name in FEATURE_COLUMNS)
    row = store.conn.execute(f"SELECT {columns} FROM battles WHERE id = ?", (battle_id,)).fetchone()
    return dict(zip(FEATURE_COLUMNS, row))


# -- formats --------------------------------------------------------------------------------


def test_arena_csv_rows_become_complete_voted_battles(store, tmp_path):
    path = write_csv(tmp_path / "votes.csv", [["x1", "alpha", "bravo", "model_b"],
                                               ["x2", "bravo", "charlie", "tie (bothbad)"],
                                               ["x3", "alpha", "charlie", "tie"]])
    report = import_file(store, path)
    assert (report.format, report.added, report.already_present, report.bad_rows) == ("arena-csv", 3, 0, 0)
    battle = store.battle("x2")
    assert (battle["model_a"], battle["model_b"], battle["status"], battle["source"]) == (
        "bravo", "charlie", "complete", "import:arena-csv")
    assert battle["vote"]["winner"] == "both_bad" and battle["vote"]["voter"] is None
    assert set(features(store, "x2", "a").values()) == {None}  # a CSV says nothing about style
    rows, excluded = store.scoring_rows()
    assert [r[2] for r in rows] == ["model_b", "both_bad", "tie"]  # file order
    assert excluded == {"error": 0, "identity_leak": 0, "unvoted": 0, "self_battle": 0}


def test_arena_json_array_and_json_lines_import_the_same_battles(tmp_path):
    records = [record(1, tstamp=1_700_000_000.25, judge="arena_user_7", language="German",
                      winner="tie (bothbad)"),
               record(2, model_a="charlie", winner="model_b", anony=False, tstamp=1_700_000_100)]
    dumps = []
    for name, lines in (("array.json", False), ("lines.jsonl", True)):
        with Store(tmp_path / f"{name}.db") as store:
            report = import_file(store, write_json(tmp_path / name, records, lines=lines))
            assert (report.format, report.added) == ("arena-json", 2)
            battle = store.battle("q1")
            assert battle["created"] == "2023-11-14T22:13:20.250000+00:00"
            assert battle["vote"] == {"winner": "both_bad", "voter": "arena_user_7",
                                      "created": "2023-11-14T22:13:20.250000+00:00",
                                      "shown_swapped": False, "kind": "human"}
            assert battle["votes"] == [battle["vote"]]
            assert (battle["language"], battle["source"], battle["identity_leak"]) == (
                "German", "import:arena-json", 0)
            # anony false: the voter knew the names, so ratings leave it out like a leak
            assert store.battle("q2")["identity_leak"] == 1
            dumps.append(table_dump(store))
    assert dumps[0] == dumps[1]


def test_category_and_unmapped_fields_are_kept(store, tmp_path):
    tags = {"criteria_v0.1": {"creativity": True}, "math_v0.1": {"math": False}}
    path = write_json(tmp_path / "r.json", [record(1, category_tag=tags, dedup_tag={"sampled": True}, turn=1),
                                            record(2, category="coding")])
    import_file(store, path)
    first, second = store.battle("q1"), store.battle("q2")
    assert first["category"] is None  # a dict of classifier flags is not one category
    assert json.loads(first["meta"]) == {"category_tag": tags, "dedup_tag": {"sampled": True}, "turn": 1}
    assert second["category"] == "coding" and second["meta"] is None


@pytest.mark.parametrize("kind", ["csv", "array", "lines"])
def test_gzip_is_recognised_by_its_magic_bytes_not_its_name(store, tmp_path, kind):
    plain = tmp_path / "plain"
    if kind == "csv":
        write_csv(plain, [["g1", "alpha", "bravo", "model_a"]])
    else:
        write_json(plain, [record(1)], lines=kind == "lines")
    disguised = tmp_path / "votes.data"  # gzip inside, no .gz in the name
    disguised.write_bytes(gzip.compress(plain.read_bytes()))
    lying = tmp_path / "votes.gz"  # plain text behind a .gz name
    lying.write_bytes(plain.read_bytes())
    assert import_file(store, disguised).added == 1
    assert import_file(store, lying).already_present == 1


def test_auto_detection_from_content(store, tmp_path):
    export_line = json.dumps({"blindside_export": 1}) + "\n"
    cases = {
        "export.jsonl": (export_line.encode(), "jsonl"),
        "arena.json": (json.dumps([record(1)], indent=2).encode(), "arena-json"),
        "arena.jsonl": ((json.dumps(record(1)) + "\n").encode(), "arena-json"),
        "votes.csv": (b"\xef\xbb\xbfid,model_a,model_b,winner\n", "arena-csv"),  # with a BOM
        "votes.txt.gz": (gzip.compress(b"  \n[\n]"), "arena-json"),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert detect_format(path) == expected, name


# -- stable ids -----------------------------------------------------------------------------


def test_importing_the_same_file_twice_adds_nothing(store, tmp_path):
    path = write_json(tmp_path / "r.json", [record(i) for i in range(5)], lines=True, gzipped=True)
    first = import_file(store, path)
    before = table_dump(store)
    again = import_file(store, path)
    assert (first.added, first.already_present) == (5, 0)
    assert (again.added, again.already_present) == (0, 5)
    assert table_dump(store) == before


def test_identical_records_without_ids_are_distinct_votes_and_stay_stable(store, tmp_path):
    same = {"model_a": "alpha", "model_b": "bravo", "winner": "tie"}
    other = {"model_a": "bravo", "model_b": "alpha", "winner": "model_a"}
    assert import_file(store, write_json(tmp_path / "a.json", [same, other, same])).added == 3
    # the same votes in another order: still the same battles
    again = import_file(store, write_json(tmp_path / "b.jsonl", [same, same, other], lines=True))
    assert (again.added, again.already_present) == (0, 3)
    assert store.counts() == {"battles": 3, "votes": 3}


# -- bad rows -------------------------------------------------------------------------------


BAD_LINES = [
    json.dumps(record(1)),
    "{not json",
    json.dumps({"question_id": "q3", "model_a": "alpha", "winner": "tie"}),
    json.dumps(record(4, winner="model_c")),
    json.dumps(record(5, model_b=7)),
    json.dumps(record(6, model_a=" ")),
    json.dumps(record(7, tstamp="yesterday")),
    json.dumps(record(8, conv_metadata={"header_count_a": {"h1": "two"}})),
    "[1, 2]",
    "",
    json.dumps(record(11)),
]


def test_bad_rows_are_skipped_and_reported_with_their_line_numbers(store, tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(BAD_LINES) + "\n", encoding="utf-8")
    report = import_file(store, path)
    assert (report.added, report.bad_rows) == (2, 8)
    assert [(row.line, row.reason.split(" ")[0]) for row in report.first_bad_rows] == [
        (2, "invalid"), (3, "missing"), (4, "unknown"), (5, "model_b"), (6, "model_a"), (7, "tstamp"),
        (8, "conv_metadata"), (9, "expected")]
    assert "model_c" in report.first_bad_rows[2].reason
    assert {b["id"] for b in store.recent_battles()} == {"q1", "q11"}


def test_only_the_first_ten_bad_rows_are_listed_but_all_are_counted(store, tmp_path):
    rows = [[f"id{i}", "alpha", "" if i % 2 else "bravo", "model_a"] for i in range(40)]
    report = import_file(store, write_csv(tmp_path / "v.csv", rows))
    assert (report.added, report.bad_rows, len(report.first_bad_rows)) == (20, 20, 10)
    assert report.first_bad_rows[0].line == 3  # header is line 1, id0 line 2, id1 line 3


def test_strict_refuses_the_whole_file_and_changes_nothing(store, tmp_path):
    import_file(store, write_json(tmp_path / "earlier.json", [record(100)]))
    before = table_dump(store)
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(BAD_LINES) + "\n", encoding="utf-8")
    with pytest.raises(StrictImportError) as refused:
        import_file(store, path, strict=True)
    assert "line 2:" in str(refused.value) and "line 9:" in str(refused.value)
    assert table_dump(store) == before


def test_strict_through_the_command_line_exits_1_and_lists_the_rows(tmp_path, capsys):
    db = tmp_path / "votes.db"
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(BAD_LINES) + "\n", encoding="utf-8")
    assert main(["import", str(path), "--strict", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "8 bad row(s)" in err and "line 4: unknown winner 'model_c'" in err and "Traceback" not in err
    with Store(db) as store:
        assert store.counts() == {"battles": 0, "votes": 0}


def test_the_command_line_reports_what_it_did(tmp_path, capsys):
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(BAD_LINES) + "\n", encoding="utf-8")
    assert main(["import", str(path), "--db", str(tmp_path / "v.db")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Imported 2 battles from {path} (0 already present, 8 bad rows skipped).\n")
    assert "  line 3: missing field 'model_b'" in out


@pytest.mark.parametrize("gzipped", [False, True])
def test_progress_counts_records_and_the_share_of_the_file_read(store, tmp_path, monkeypatch, gzipped):
    monkeypatch.setattr(records_module, "PROGRESS_EVERY", 300)
    monkeypatch.setattr(jsonstream, "CHUNK_CHARS", 4096)  # read the file in many small steps
    rng = random.Random(5)  # notes that do not compress: gzip reads its file 128 KiB at a time
    rows = [record(i, note=rng.randbytes(150).hex()) for i in range(3000)]
    path = write_json(tmp_path / "many.json", rows, gzipped=gzipped)
    calls = []
    report = import_file(store, path, progress=lambda records, share: calls.append((records, share)))
    assert report.added == 3000
    assert [records for records, _ in calls] == list(range(300, 3001, 300))
    shares = [share for _, share in calls]
    assert shares == sorted(shares) and 0 < shares[0] < 0.5 and shares[-1] == pytest.approx(1.0, abs=0.1)


def test_the_command_line_shows_progress_on_a_terminal_and_erases_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(records_module, "PROGRESS_EVERY", 100)
    path = write_json(tmp_path / "many.json", [record(i) for i in range(250)])
    assert main(["import", str(path), "--db", str(tmp_path / "v.db")]) == 0
    assert capsys.readouterr().err == ""  # not a terminal: nothing but the summary
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    path = write_json(tmp_path / "more.json", [record(i + 1000) for i in range(250)])
    assert main(["import", str(path), "--db", str(tmp_path / "v.db")]) == 0
    captured = capsys.readouterr()
    assert f"\rImporting {path}: 200 records read (" in captured.err
    assert captured.err.endswith("\r\033[K")
    assert captured.out.startswith("Imported 250 battles")


def test_a_broken_json_array_is_refused_as_a_whole(store, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n{"model_a": "alpha", "model_b": "bravo", "winner": "tie"},\n{"model_a": oops}\n]',
                    encoding="utf-8")
    with pytest.raises(ImportFileError, match="line 3: invalid JSON"):
        import_file(store, path)
    assert store.counts()["battles"] == 0


def test_a_truncated_gzip_file_is_refused_and_nothing_is_imported(store, tmp_path):
    data = "".join(json.dumps(record(i)) + "\n" for i in range(3000)).encode()
    path = tmp_path / "cut.jsonl.gz"
    compressed = gzip.compress(data)
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ImportFileError, match="truncated or corrupt"):
        import_file(store, path)
    assert store.counts()["battles"] == 0


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a format blindside can import"),
    (b"name,score\nann,3\n", "not a format blindside can import"),
    (b'{"a": 1,\n "b": 2}\n', "first line is not a complete JSON object"),
    (b"model_a,model_b,winner\nalpha,bravo,tie\n\xff\xfe\n", "not UTF-8"),
])
def test_unusable_files_exit_2_with_a_clear_message(tmp_path, capsys, content, message):
    path = tmp_path / "input.dat"
    if content is not None:
        path.write_bytes(content)
    assert main(["import", str(path), "--db", str(tmp_path / "v.db")]) == 2
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "Traceback" not in err
    with Store(tmp_path / "v.db") as store:
        assert store.counts()["battles"] == 0


def test_a_missing_file_with_an_explicit_format_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert main(["import", str(missing), "--format", "arena-csv", "--db", str(tmp_path / "v.db")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and str(missing) in err and "Traceback" not in err


def test_a_format_that_does_not_match_the_file_says_which_to_use(store, tmp_path):
    arena = write_json(tmp_path / "arena.jsonl", [record(1)], lines=True)
    with pytest.raises(ImportFileError, match="--format arena-json"):
        import_file(store, arena, format="jsonl")
    export = tmp_path / "export.jsonl"
    export.write_text(json.dumps({"blindside_export": 1}) + "\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="--format jsonl"):
        import_file(store, export, format="arena-json")
    with pytest.raises(ImportFileError, match="no model_a, model_b, winner column"):
        import_file(store, arena, format="arena-csv")


def test_bad_lines_of_a_blindside_export_are_skipped_with_reasons(store, tmp_path):
    good = {"id": "b1", "created": "2025-01-01T00:00:00+00:00", "model_a": "alpha", "model_b": "bravo",
            "status": "complete", "vote": {"winner": "tie", "voter": None, "created": "2025-01-01T00:01:00+00:00"}}
    lines = [{"blindside_export": 1}, good, {**good, "id": "b2", "created": "yesterday"},
             {**good, "id": "b3", "status": "done"}, {**good, "id": "b4", "vote": {"winner": "left"}},
             {**good, "id": "b5", "responses": [{"side": "c", "turn": 1}]}, {**good, "id": "b6", "swapped": "yes"}]
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = import_file(store, path)
    assert (report.format, report.added, report.bad_rows) == ("jsonl", 1, 5)
    reasons = [row.reason for row in report.first_bad_rows]
    assert "created must be an ISO 8601 time" in reasons[0] and "unknown status 'done'" in reasons[1]
    assert "unknown winner 'left'" in reasons[2] and "side 'a' or 'b'" in reasons[3] and "swapped" in reasons[4]


def test_an_export_from_a_newer_blindside_is_refused(store, tmp_path):
    path = tmp_path / "future.jsonl"
    path.write_text(json.dumps({"blindside_export": 99}) + "\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="newer blindside"):
        import_file(store, path)


# -- style features -------------------------------------------------------------------------


def test_conv_metadata_counts_and_dict_sums(store, tmp_path):
    metadata = {"sum_assistant_a_tokens": 120, "sum_assistant_b_tokens": 80,
                "header_count_a": {"h1": 1, "h2": 3, "h3": 0, "h4": 0, "h5": 0, "h6": 0}, "header_count_b": 2,
                "list_count_a": {"ordered": 2, "unordered": 5}, "list_count_b": {"ordered": 0, "unordered": 0},
                "bold_count_a": {"**": 4, "__": 1}, "bold_count_b": {"**": 0, "__": 0},
                "emoji_count_a": 3}
    import_file(store, write_json(tmp_path / "m.json", [record(1, conv_metadata=metadata)]))
    assert features(store, "q1", "a") == {"tokens": 120, "chars": None, "words": None, "emoji": 3, "header": 4,
                                          "list": 7, "bold": 5, "code_blocks": None, "exclamations": None}
    assert features(store, "q1", "b") == {"tokens": 80, "chars": None, "words": None, "emoji": None,
                                          "header": 2, "list": 0, "bold": 0, "code_blocks": None,
                                          "exclamations": None}
    assert store.battle("q1")["responses"] == []


def test_features_come_from_conversations_when_present(store, tmp_path):
    a1, a2 = "# Title\n\n- one\n- **two** 🎉!", "Plain answer."
    b1, b2 = "```python\nprint('hi')\n```", "Sure!"
    conversation_a = [{"role": "system", "content": "be brief"},
                      {"role": "user", "content": "first question"}, {"role": "assistant", "content": a1},
                      {"role": "user", "content": "second question"}, {"role": "assistant", "content": a2}]
    conversation_b = [{"role": "user", "content": "first question"},
                      {"role": "assistant", "content": [{"type": "text", "text": b1}]},
                      {"role": "user", "content": "second question"}, {"role": "assistant", "content": b2}]
    metadata = {"sum_assistant_b_tokens": 999, "header_count_a": 42}  # header comes from the text instead
    import_file(store, write_json(tmp_path / "c.json", [record(1, conversation_a=conversation_a,
                                                               conversation_b=conversation_b,
                                                               conv_metadata=metadata)]))
    expected_a = sum_features([style_features(a1), style_features(a2)])
    expected_b = sum_features([style_features(b1), style_features(b2)]) | {"tokens": 999}
    assert features(store, "q1", "a") == expected_a
    assert features(store, "q1", "b") == expected_b
    assert expected_a["header"] == 1 and expected_a["emoji"] == 1 and expected_b["code_blocks"] == 1
    battle = store.battle("q1")
    assert battle["prompt"] == "first question" and battle["turns"] == 2
    assert [(r["side"], r["turn"], r["prompt"], r["text"]) for r in battle["responses"]] == [
        ("a", 1, "first question", a1), ("b", 1, "first question", b1),
        ("a", 2, "second question", a2), ("b", 2, "second question", b2)]
    assert battle["responses"][0]["features"] == style_features(a1)


def test_features_neither_source_gives_stay_unknown_not_zero(store, tmp_path):
    import_file(store, write_json(tmp_path / "n.json", [record(1)]))
    assert set(features(store, "q1", "a").values()) == {None}
    assert set(features(store, "q1", "b").values()) == {None}
    rows, _ = store.scoring_rows()
    assert rows[0][3:-1] == (None,) * 10


def test_csv_with_blindside_export_columns_keeps_voter_category_and_features(store, tmp_path):
    header = ("battle_id", "created", "model_a", "model_b", "winner", "voter", "category", "identity_leak",
              "a_tokens", "b_tokens", "b_bold")
    path = write_csv(tmp_path / "e.csv", [["b1", "2025-02-03T04:05:06+00:00", "alpha", "bravo", "tie", "ann",
                                           "coding", "1", "10", "", "3"]], header=header)
    import_file(store, path)
    battle = store.battle("b1")
    assert (battle["created"], battle["category"], battle["identity_leak"]) == (
        "2025-02-03T04:05:06+00:00", "coding", 1)
    assert battle["vote"]["voter"] == "ann"
    assert (features(store, "b1", "a")["tokens"], features(store, "b1", "b")["tokens"],
            features(store, "b1", "b")["bold"]) == (10, None, 3)


# -- the real data --------------------------------------------------------------------------


def test_lmarena_140k_votes_import_keeps_every_row_and_exports_them_all(tmp_path):
    """135,634 real votes; ten of them pit gemini-2.5-flash-preview-04-17 against itself.
    Those say nothing about any model, so ratings leave them out, but the vote log keeps
    them: importing then exporting loses no row."""
    with gzip.open(ARENA_VOTES_CSV, "rt", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 135_634
    self_battles = [r for r in rows if r["model_a"] == r["model_b"]]
    assert len(self_battles) == 10
    with Store(tmp_path / "arena.db") as store:
        report = import_file(store, ARENA_VOTES_CSV)
        assert (report.format, report.added, report.already_present, report.bad_rows) == (
            "arena-csv", 135_634, 0, 0)
        winners = Counter(w for (w,) in store.conn.execute("SELECT winner FROM votes"))
        assert winners == Counter(r["winner"] for r in rows)
        sample = rows[12_345]
        assert store.battle(sample["id"])["model_b"] == sample["model_b"]
        kept = store.battle(self_battles[0]["id"])
        assert kept["model_a"] == kept["model_b"] == "gemini-2.5-flash-preview-04-17"
        assert kept["vote"]["winner"] == self_battles[0]["winner"]
        scored, excluded = store.scoring_rows()
        assert excluded["self_battle"] == 10
        assert len(scored) == 135_634 - 10
        assert all(row[0] != row[1] for row in scored)
    assert main(["export", str(tmp_path / "out.csv"), "--format", "csv", "--db", str(tmp_path / "arena.db")]) == 0
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        exported = list(csv.DictReader(f))
    assert len(exported) == 135_634
    assert Counter((r["battle_id"], r["model_a"], r["model_b"], r["winner"]) for r in exported) == Counter(
        (r["id"], r["model_a"], r["model_b"], {"tie (bothbad)": "both_bad"}.get(r["winner"], r["winner"]))
        for r in rows)
    conn = sqlite3.connect(tmp_path / "arena.db")
    try:
        assert conn.execute("SELECT count(DISTINCT model_a) FROM battles").fetchone()[0] >= 50
    finally:
        conn.close()


@given(st.one_of(st.floats(-7e10, 3e11), st.integers(-7 * 10**10, 3 * 10**11), st.floats(0, 1e-3),
                 st.integers(0, 2**31).map(lambda n: n + 0.0000005), st.floats(allow_nan=True, allow_infinity=True)))
def test_tstamps_become_the_times_datetime_writes(seconds):
    try:
        expected = datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds")
    except (OverflowError, OSError, ValueError):
        with pytest.raises(BadRecord, match="is not a usable time"):
            unix_to_iso(seconds, "tstamp")
    else:
        assert unix_to_iso(seconds, "tstamp") == expected
