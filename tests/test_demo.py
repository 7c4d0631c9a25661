"""``blindside demo arena-2025``: LMArena's real votes in a database of their own, the
leaderboard, and the two Llama 4 Maverick variants side by side."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import re
import sqlite3
from pathlib import Path

import pytest

from battles.store import Store
from tui.cli import main
from tui.commands.demo_command import (
    ATTRIBUTION,
    DATA_FILE,
    NO_STYLE_LINE,
    RELEASED,
    SUBMITTED,
    data_file,
    demo_db_path,
    make_demo_app,
)

ROOT = Path(__file__).resolve().parents[1]
ROWS_IN_FILE = 135_634


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo run once into a fresh database: (db path, exit code, stdout, stderr)."""
    db = tmp_path_factory.mktemp("demo") / "arena.db"
    code, out, err = run_cli("demo", "arena-2025", "--db", str(db), "--no-open", "--rounds", "30")
    return db, code, out, err


def comparison(out: str) -> dict[str, dict]:
    rows = {}
    for what in ("submitted", "released"):
        m = re.search(rf"^  {what}\s+(\S+): rating (\d+) \[(\d+), (\d+)\], rank (\d+) of (\d+), ([\d,]+) battles$",
                      out, re.MULTILINE)
        assert m, f"no {what} line in:\n{out[-1500:]}"
        rows[what] = {"model": m[1], "rating": int(m[2]), "ci": (int(m[3]), int(m[4])), "rank": int(m[5]),
                      "of": int(m[6]), "battles": int(m[7].replace(",", ""))}
    return rows


@pytest.mark.slow
def test_the_demo_loads_every_usable_real_vote_into_its_own_database(demo):
    db, code, _out, err = demo
    assert code == 0, err
    assert "Loaded" in err and str(db) in err
    with Store(db) as store:
        counts = store.counts()
        sources = {r[0] for r in store.conn.execute("SELECT DISTINCT source FROM battles")}
    assert counts["battles"] == counts["votes"]
    skipped = int(re.search(r"([\d,]+) unusable rows skipped", err)[1].replace(",", ""))
    assert counts["battles"] + skipped == ROWS_IN_FILE
    assert skipped < 100
    assert sources == {"import:arena-csv"}


@pytest.mark.slow
def test_the_leaderboard_marks_both_maverick_rows_and_gives_the_gap(demo):
    _db, code, out, _err = demo
    assert code == 0
    assert out.startswith("Leaderboard: Bradley-Terry")
    marked = [line for line in out.splitlines() if "<- " in line]
    assert len(marked) == 2
    assert SUBMITTED in marked[0] and "submitted" in marked[0]
    assert RELEASED in marked[1] and "released weights" in marked[1]
    rows = comparison(out)
    sub, rel = rows["submitted"], rows["released"]
    assert (sub["model"], rel["model"]) == (SUBMITTED, RELEASED)
    assert sub["of"] == rel["of"] == 53
    assert sub["rank"] < rel["rank"] and sub["rating"] > rel["rating"]
    for row in (sub, rel):
        assert row["ci"][0] <= row["rating"] <= row["ci"][1]
        assert row["battles"] > 5_000
    gap = re.search(r"gap: ([+-]\d+) points \(95% interval ([+-]\d+) to ([+-]\d+), bootstrap of 30 rounds\)", out)
    assert gap, out[-800:]
    value, lo, hi = (int(g) for g in gap.groups())
    assert abs(value - (sub["rating"] - rel["rating"])) <= 1
    assert 0 < lo <= value <= hi  # on LMArena's own votes the submitted variant is clearly ahead


@pytest.mark.slow
def test_the_demo_shows_the_maverick_family_with_the_luck_of_the_pick(demo):
    _db, _code, out, _err = demo
    rows = {line.split()[1]: line for line in out.splitlines()
            if line.split()[:1] != [] and line.split()[0].isdigit() and line.split()[1] in (SUBMITTED, RELEASED)}
    assert "maverick: best of 2 variants" in rows[SUBMITTED]
    assert "best of" not in rows[RELEASED] and "maverick" in rows[RELEASED].split(RELEASED, 1)[1]
    section = out.split("Variant families", 1)[1].split("\n\n", 1)[0]
    assert f"maverick: {SUBMITTED} is the best of 2 variants" in section
    inflation = float(re.search(r"expected selection inflation: \+([\d.]+) points", section)[1])
    lo, hi = (int(v) for v in re.search(r"interval allowing for the pick: \[(\d+), (\d+)\]", section).groups())
    sub = comparison(out)["submitted"]
    # ~5,800 and ~5,300 votes: a few points of luck, an interval a little wider than the plain one
    assert 0.5 < inflation < 10
    assert lo < sub["ci"][0] <= sub["rating"] <= sub["ci"][1] < hi
    assert f"re-test {SUBMITTED} on fresh battles" in section
    # Meta's 27 private variants: sigma * E[max of 27] (1.96 sigma = the half-width of the plain interval)
    private = int(re.search(r"best of Meta's 27 private variants, equally strong ones would lift it by \+(\d+) points",
                            out)[1])
    half_width = (sub["ci"][1] - sub["ci"][0]) / 2
    assert private == pytest.approx(half_width / 1.96 * 2.0, abs=3)  # E[max of 27] = 1.97...
    assert private > inflation


@pytest.mark.slow
def test_the_demo_says_there_is_no_style_control_here_and_credits_lmarena(demo):
    _db, _code, out, _err = demo
    assert NO_STYLE_LINE in out and "blindside simulate" in NO_STYLE_LINE
    assert out.rstrip().endswith(ATTRIBUTION)
    assert "Style-ctrl" not in out  # no style-controlled columns for votes without features


@pytest.mark.slow
def test_a_second_run_skips_the_import_and_without_a_terminal_prints_text(demo, capsys):
    db, _code, _out, _err = demo
    with Store(db) as store:
        before = store.counts()
    assert main(["demo", "arena-2025", "--db", str(db), "--rounds", "10"]) == 0  # no --no-open
    captured = capsys.readouterr()
    assert "already in" in captured.err and "Loaded" not in captured.err
    with Store(db) as store:
        assert store.counts() == before
    # stdout is not a terminal here: the text leaderboard, not the app
    assert captured.out.startswith("Leaderboard:") and RELEASED in captured.out


@pytest.mark.slow
async def test_the_app_opens_on_the_leaderboard_with_the_maverick_comparison(demo):
    from textual.widgets import DataTable

    from tui.screens.leaderboard import LeaderboardScreen

    db, _code, _out, _err = demo
    with Store(db) as store:
        app = make_demo_app(store, rounds=10)
        async with app.run_test(size=(160, 50)) as pilot:
            table = None
            for _ in range(300):
                await pilot.pause(0.1)
                if isinstance(app.screen, LeaderboardScreen):
                    table = app.screen.query_one(DataTable)
                    if table.row_count and app._notifications:
                        break
            assert isinstance(app.screen, LeaderboardScreen)
            names = [str(table.get_row_at(i)[1]).split(" ★ ")[0] for i in range(table.row_count)]
            assert SUBMITTED in names and RELEASED in names
            assert names.index(SUBMITTED) < names.index(RELEASED)
            cells = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]
            assert [c for c in cells if "best of" in c] == [f"{SUBMITTED} ★ best of 2 variants"]
            messages = [n.message for n in app._notifications]
            assert any("gap:" in m and SUBMITTED in m for m in messages)


def test_the_default_database_sits_beside_the_users_and_is_never_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BLINDSIDE_DB", str(tmp_path / "votes.db"))
    assert demo_db_path(None) == tmp_path / "arena-2025.db"
    assert demo_db_path(str(tmp_path / "mine.db")) == tmp_path / "mine.db"  # --db says so
    monkeypatch.setenv("BLINDSIDE_DB", str(tmp_path / "arena-2025.db"))  # a user who named theirs so
    assert demo_db_path(None) != tmp_path / "arena-2025.db"


def test_a_database_that_is_not_blindsides_is_left_untouched(tmp_path):
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('keep me')")
    before = hashlib.sha256(foreign.read_bytes()).hexdigest()
    code, out, err = run_cli("demo", "arena-2025", "--db", str(foreign), "--no-open")
    assert code == 2 and out == ""
    assert "not a blindside" in err and "Traceback" not in err
    assert hashlib.sha256(foreign.read_bytes()).hexdigest() == before


def test_an_unknown_dataset_is_refused_by_name(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["demo", "arena-1999"])
    assert caught.value.code == 2
    assert "arena-2025" in capsys.readouterr().err


def test_the_votes_ship_as_package_data_with_their_notice():
    with data_file() as path:
        shipped = Path(path)
        assert shipped.name == DATA_FILE and shipped.is_relative_to(ROOT / "battles")
        with gzip.open(shipped, "rt", encoding="utf-8") as lines:
            header = next(lines).strip()
            rows = sum(1 for line in lines if line.strip())
        assert header == "id,model_a,model_b,winner" and rows == ROWS_IN_FILE
    notice = (ROOT / "battles" / "data" / "README.md").read_text(encoding="utf-8")
    assert ATTRIBUTION in notice and "CC BY 4.0" in notice and "lmarena-ai/arena-human-preference-140k" in notice
