"""The leaderboard and simulate commands, end to end over a real SQLite file."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from battles.store import NewBattle, ResponseRecord, Store
from tui.cli import main


REAL_VOTES = Path(__file__).resolve().parents[1] / "battles" / "data" / "arena-human-preference-140k-votes.csv.gz"


@pytest.fixture(scope="module")
def real_votes_rows() -> list[dict]:
    with gzip.open(REAL_VOTES, "rt", newline="") as handle:
        return list(csv.DictReader(handle))


def _json_output(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def simulated_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("sim") / "sim.db"
    assert main(["simulate", "--db", str(db), "--battles", "6000", "--seed", "3", "--rounds", "20"]) == 0
    return db


def test_simulate_shows_the_twin_winning_raw_and_level_under_style_control(tmp_path, capsys):
    # the workshop's own run: default battles and seed
    db = tmp_path / "sim.db"
    out = _json_output(capsys, ["simulate", "--db", str(db), "--rounds", "50", "--json"])
    twin = out["comparison"]["twin"]
    assert twin["truth"] == 0
    assert twin["raw"] > 60, "style-biased voters should lift the chatty twin well above its base"
    # level = the twin's and the base's style-controlled intervals overlap; raw ones do not
    assert twin["style_twin_ci"][0] <= twin["style_base_ci"][1]
    assert twin["style_base_ci"][0] <= twin["style_twin_ci"][1]
    assert twin["raw_twin_ci"][0] > twin["raw_base_ci"][1]
    assert abs(twin["style"]) < twin["raw"] / 2
    assert out["comparison"]["spearman_style"] > out["comparison"]["spearman_raw"]
    with Store(db) as store:
        assert store.counts() == {"battles": 20_000, "votes": 20_000}


def test_simulate_text_output_tells_the_story_and_rerun_adds_nothing(tmp_path, capsys):
    db = tmp_path / "sim.db"
    argv = ["simulate", "--db", str(db), "--battles", "2000", "--seed", "5", "--rounds", "10"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "chatty twin vs base: raw" in text
    assert "Spearman correlation with the truth" in text
    assert main(argv) == 0
    assert "2,000 were already there" in capsys.readouterr().out


def test_leaderboard_json_has_the_documented_shape(simulated_db, capsys):
    out = _json_output(capsys, ["leaderboard", "--db", str(simulated_db), "--json", "--rounds", "20"])
    assert out["method"] == "bt" and out["ci"] == "bootstrap"
    assert out["battles_used"] == 6000
    assert out["battles_excluded"] == {"error": 0, "identity_leak": 0, "unvoted": 0, "self_battle": 0,
                                       "missing_style": 0}
    ratings = [m["rating"] for m in out["models"]]
    assert ratings == sorted(ratings, reverse=True)
    for model in out["models"]:
        assert {"model", "battles", "wins", "losses", "ties", "win_rate", "rating", "ci", "rank",
                "style_controlled"} <= set(model)
        lo, hi = model["ci"]
        assert lo <= model["rating"] <= hi
        assert {"rating", "ci", "rank"} <= set(model["style_controlled"])
    assert set(out["style_coefficients"]) == {"length", "emoji", "header", "list", "bold"}
    assert out["style_coefficients"]["length"]["log_odds_per_sd"] > 0
    assert 0.0 <= out["position_bias"]["left_win_rate"] <= 1.0


def test_anchor_sets_the_named_models_rating(simulated_db, capsys):
    out = _json_output(capsys, ["leaderboard", "--db", str(simulated_db), "--json", "--ci", "sandwich",
                                "--anchor", "sim-gecko-3b=500"])
    gecko = next(m for m in out["models"] if m["model"] == "sim-gecko-3b")
    assert gecko["rating"] == pytest.approx(500, abs=1e-6)


def test_unknown_anchor_model_is_a_usage_error(simulated_db, capsys):
    assert main(["leaderboard", "--db", str(simulated_db), "--anchor", "nobody=1000", "--ci", "sandwich"]) == 2
    err = capsys.readouterr().err
    assert "nobody" in err and "Traceback" not in err


@pytest.mark.parametrize("bad", ["gpt", "gpt=", "=1000", "gpt=high"])
def test_malformed_anchor_is_refused_by_the_parser(tmp_path, bad, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["leaderboard", "--db", str(tmp_path / "x.db"), "--anchor", bad])
    assert exc.value.code == 2
    assert "MODEL=RATING" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["foo", "=maverick", "llama*=", "llama*=two\nlines"])
def test_a_malformed_family_is_one_line_and_exit_2(tmp_path, bad, capsys):
    assert main(["leaderboard", "--db", str(tmp_path / "x.db"), "--family", "llama*=ok", "--family", bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1 and "GLOB=NAME" in captured.err
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened


def test_family_from_the_command_line_and_from_the_config(tmp_path, capsys):
    log = _vote_log(tmp_path / "votes.csv", [("lab-a", "rival", "model_a"), ("lab-b", "rival", "model_b"),
                                             ("lab-a", "rival", "model_b"), ("lab-b", "rival", "tie"),
                                             ("lab-a", "lab-b", "model_a"), ("rival", "lab-b", "model_b")] * 20)
    db = tmp_path / "votes.db"
    assert main(["import", str(log), "--db", str(db)]) == 0
    capsys.readouterr()
    base = ["leaderboard", "--db", str(db), "--ci", "sandwich", "--config", str(tmp_path / "none.toml")]
    # a glob matching nothing is said once, on stderr and in the notes, never silently dropped
    config = tmp_path / "blindside.toml"
    config.write_text("", encoding="utf-8")
    base[-1] = str(config)
    assert main(base + ["--family", "lab-*=lab", "--family", "claude-*=claude"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("'claude-*'") == 1 and "matches no model" in captured.err
    assert captured.out.count("'claude-*'") == 1
    best_row = next(line for line in captured.out.splitlines() if line.split()[1:2] == ["lab-a"])
    assert best_row.endswith("lab: best of 2 variants")
    assert "lab: lab-a is the best of 2 variants" in captured.out
    assert "re-test lab-a on fresh battles" in captured.out

    out = _json_output(capsys, base + ["--json", "--family", "lab-*=lab", "--family", "claude-*=claude"])
    assert [f["name"] for f in out["families"]] == ["lab"] and out["families"][0]["best"] == "lab-a"
    entry = {m["model"]: m["family"] for m in out["models"]}
    assert entry["lab-a"]["best"] is True and entry["lab-b"]["best"] is False and entry["rival"] is None
    assert capsys.readouterr().err == ""  # --json: the note is in the JSON only

    # the config's family = "NAME" on models, by their leaderboard name
    config.write_text('[models.lab-a]\nprovider = "ollama"\nmodel = "a"\nfamily = "lab"\n'
                      '[models.lab-b]\nprovider = "ollama"\nmodel = "b"\nfamily = "lab"\n', encoding="utf-8")
    out = _json_output(capsys, base + ["--json"])
    assert out["families"][0]["members"] == ["lab-a", "lab-b"] and out["families"][0]["best_of"] == 2


def _live_battle(store: Store, a: str, b: str, *, status: str = "complete", leak: bool = False,
                 category: str | None = None) -> str:
    battle_id = store.begin_battle(model_a=a, model_b=b, prompt="q", category=category)
    record = ResponseRecord(text="answer", features={"tokens": 3})
    store.save_turn(battle_id, 1, "q", record, record)
    store.finish_battle(battle_id, status=status, identity_leak=leak,
                        features_a={"tokens": 3, "emoji": 0, "header": 0, "list": 0, "bold": 0},
                        features_b={"tokens": 5, "emoji": 1, "header": 0, "list": 0, "bold": 0})
    return battle_id


def test_errored_leaked_and_unvoted_battles_are_excluded_and_counted(tmp_path, capsys):
    db = tmp_path / "votes.db"
    with Store(db) as store:
        for i in range(6):
            store.record_vote(_live_battle(store, "m1", "m2"), "model_a" if i % 3 else "model_b", "alice")
        _live_battle(store, "m1", "m2", status="error")
        store.record_vote(_live_battle(store, "m1", "m2", leak=True), "model_b", "alice")
        _live_battle(store, "m1", "m2")  # never voted
    out = _json_output(capsys, ["leaderboard", "--db", str(db), "--json", "--rounds", "10"])
    assert out["battles_used"] == 6
    assert out["battles_excluded"]["error"] == 1
    assert out["battles_excluded"]["identity_leak"] == 1
    assert out["battles_excluded"]["unvoted"] == 1
    m1 = next(m for m in out["models"] if m["model"] == "m1")
    assert (m1["wins"], m1["losses"]) == (4, 2)
    with_leaks = _json_output(capsys, ["leaderboard", "--db", str(db), "--json", "--rounds", "10",
                                       "--include-leaks"])
    assert with_leaks["battles_used"] == 7


def test_category_and_voter_filters(tmp_path, capsys):
    db = tmp_path / "votes.db"
    with Store(db) as store:
        for i in range(4):
            store.record_vote(_live_battle(store, "m1", "m2", category="coding"), "model_a", "alice")
        for i in range(3):
            store.record_vote(_live_battle(store, "m1", "m3", category="factual"), "model_b", "bob")
    coding = _json_output(capsys, ["leaderboard", "--db", str(db), "--json", "--category", "coding",
                                   "--ci", "sandwich"])
    assert coding["battles_used"] == 4
    assert {m["model"] for m in coding["models"]} == {"m1", "m2"}
    bob = _json_output(capsys, ["leaderboard", "--db", str(db), "--json", "--voter", "bob", "--ci", "sandwich"])
    assert bob["battles_used"] == 3
    assert {m["model"] for m in bob["models"]} == {"m1", "m3"}


# What ``blindside leaderboard --json`` adds to the board's own keys (tests/test_scoring_leaderboard.py
# TOP_KEYS), in order: which votes were rated (issue 13), then the human agreement.
CLI_KEYS = ["votes_rated", "agreement"]


def test_humans_by_default_a_judge_by_name_and_judges_beside_humans(tmp_path, capsys):
    # Humans prefer m1 on every battle; the judge prefers m2 on every battle.
    db = tmp_path / "votes.db"
    with Store(db) as store:
        for _ in range(4):
            battle = _live_battle(store, "m1", "m2")
            store.record_vote(battle, "model_a", "alice")
            store.record_vote(battle, "model_b", "judge:mini", kind="judge")
    base = ["leaderboard", "--db", str(db), "--json", "--ci", "sandwich"]

    humans = _json_output(capsys, base)
    assert list(humans)[-len(CLI_KEYS):] == CLI_KEYS and humans["votes_rated"] == "humans"
    m1 = next(m for m in humans["models"] if m["model"] == "m1")
    assert (humans["battles_used"], m1["wins"], m1["losses"]) == (4, 4, 0)

    judge = _json_output(capsys, [*base, "--voter", "judge:mini"])
    m1 = next(m for m in judge["models"] if m["model"] == "m1")
    assert judge["votes_rated"] == "judge:mini" and (judge["battles_used"], m1["wins"], m1["losses"]) == (4, 0, 4)

    both = _json_output(capsys, [*base, "--judges"])
    m1 = next(m for m in both["models"] if m["model"] == "m1")
    assert both["votes_rated"] == "humans and judges" and (m1["wins"], m1["losses"]) == (4, 4)

    assert main(["leaderboard", "--db", str(db), "--judges", "--ci", "sandwich"]) == 0
    assert "Votes rated: humans' and every judge's" in capsys.readouterr().out
    assert main(["leaderboard", "--db", str(db), "--ci", "sandwich"]) == 0
    assert "Votes rated: humans' only" in capsys.readouterr().out


def test_voter_and_judges_together_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["leaderboard", "--db", str(tmp_path / "v.db"), "--judges", "--voter", "alice"])
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_leaderboard_on_real_votes_shows_the_maverick_gap(tmp_path, capsys, real_votes_rows):
    db = tmp_path / "arena.db"
    with Store(db) as store:
        store.insert_battles(
            NewBattle(id=row["id"], model_a=row["model_a"], model_b=row["model_b"], winner=row["winner"],
                      created="2025-06-01T00:00:00+00:00", source="import:arena-csv")
            for row in real_votes_rows)
    out = _json_output(capsys, ["leaderboard", "--db", str(db), "--json", "--ci", "sandwich"])
    self_battles = sum(row["model_a"] == row["model_b"] for row in real_votes_rows)
    assert self_battles == 10  # stored, but a model against itself tells a rating nothing
    assert out["battles_used"] == len(real_votes_rows) - self_battles
    assert out["battles_excluded"]["self_battle"] == self_battles
    rating = {m["model"]: m["rating"] for m in out["models"]}
    gap = rating["llama-4-maverick-03-26-experimental"] - rating["llama-4-maverick-17b-128e-instruct"]
    assert gap > 100
    assert out["models"][0]["style_controlled"] is None
    assert out["style_coefficients"] is None
    assert out["battles_excluded"]["missing_style"] == len(real_votes_rows) - self_battles


def _vote_log(path: Path, battles: list[tuple[str, str, str]]) -> Path:
    """An arena-style CSV vote log (id, model_a, model_b, winner), as ``blindside import`` reads it."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "model_a", "model_b", "winner"])
        for i, (a, b, winner) in enumerate(battles):
            writer.writerow([f"v{i}", a, b, winner])
    return path


HOSTILE_NAMES = ("clear\x1b[2Jscreen", "title\x1b]0;T\x07bell", "two\nlines", "x" * 10_000)


def test_leaderboard_text_escapes_hostile_model_names_from_an_import(tmp_path, capsys):
    names = ("plain-model",) + HOSTILE_NAMES
    battles = [(a, b, winner) for a in names for b in names if a != b for winner in ("model_a", "model_b", "tie")]
    log = _vote_log(tmp_path / "votes.csv", battles)
    db = tmp_path / "votes.db"
    assert main(["import", str(log), "--db", str(db)]) == 0
    capsys.readouterr()
    for extra in ([], ["--matrices"], ["--method", "elo"]):
        assert main(["leaderboard", "--db", str(db), "--ci", "sandwich", *extra]) == 0
        text = capsys.readouterr().out
        assert "\x1b" not in text and "\x07" not in text
        assert "clear␛[2Jscreen" in text and "title␛]0;T␇bell" in text and "two␊lines" in text
        assert not any(line.startswith("lines") for line in text.splitlines())  # the newline did not break a row
        assert max(len(line) for line in text.splitlines()) < 400  # the 10,000-character name is shortened
        assert "x" * 30 + "…" in text
    # the JSON keeps every name exactly as imported
    out = _json_output(capsys, ["leaderboard", "--db", str(db), "--ci", "sandwich", "--json"])
    assert {m["model"] for m in out["models"]} == set(names)


def test_matrices_in_text_and_json(tmp_path, capsys):
    log = _vote_log(tmp_path / "votes.csv", [("m1", "m2", "model_a")] * 3 + [("m2", "m1", "model_a")]
                    + [("m1", "m3", "tie"), ("m3", "m1", "model_b")])
    db = tmp_path / "votes.db"
    assert main(["import", str(log), "--db", str(db)]) == 0
    capsys.readouterr()
    out = _json_output(capsys, ["leaderboard", "--db", str(db), "--json", "--ci", "sandwich", "--matrices"])
    mats = out["matrices"]
    order = mats["models"]
    i, j, k = (order.index(m) for m in ("m1", "m2", "m3"))
    assert mats["battles"][i][j] == 4 and mats["battles"][i][k] == 2 and mats["battles"][j][k] == 0
    assert mats["wins"][i][j] == 3 and mats["wins"][j][i] == 1 and mats["wins"][i][k] == 1
    assert mats["win_rate"][i][j] == 0.75 and mats["win_rate"][i][k] == 1.0 and mats["win_rate"][j][k] is None
    assert "matrices" not in _json_output(capsys, ["leaderboard", "--db", str(db), "--json", "--ci", "sandwich"])

    assert main(["leaderboard", "--db", str(db), "--ci", "sandwich", "--matrices"]) == 0
    text = capsys.readouterr().out
    win_part = text.split("Win rate of the row model")[1].split("Battles between")[0]
    rows = {line.split()[1]: line.split()[2:] for line in win_part.splitlines() if line.split()[:1] and line.split()[0].isdigit()}
    assert rows["m1"][j] == "75%" and rows["m2"][i] == "25%" and rows["m1"][k] == "100%" and rows["m2"][k] == "–"


def _heavy_modules_after(code: str) -> set[str]:
    import subprocess
    import sys

    probe = code + "; import sys; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split()) & {"numpy", "scipy", "trueskill"}


def test_help_the_result_types_and_the_app_screens_load_no_rating_math():
    assert _heavy_modules_after("from tui.cli import build_parser; build_parser().format_help()") == set()
    assert _heavy_modules_after("import scoring, scoring.results, tui.rating_format, tui.leaderboard_text") == set()
    # (the store's sqlite_utils imports numpy when it is installed; scipy stays out)
    assert "scipy" not in _heavy_modules_after(
        "import tui.app, tui.screens.leaderboard, tui.screens.battle, tui.screens.history")
