"""``blindside judge`` from the command line, against the fake provider and a real SQLite file."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time

import pytest

from battles.store import Store
from tests.helpers_reliability import child_env, cli_command, REPO_ROOT
from tests.test_cli_battle import write_config
from tests.test_judge import add_battle
from tui.cli import main

KEY = "sk-test-JUDGEKEY0123456789abcdefXYZ"


@pytest.fixture
def setup(tmp_path, fake_provider, monkeypatch):
    """A lineup of two contestants and three judges; four finished battles."""
    monkeypatch.setenv("BLINDSIDE_CLI_KEY", KEY)
    config = write_config(tmp_path, fake_provider, {
        "alpha": ("openai", "fake:tokens=5"),
        "bravo": ("ollama", "fake:tokens=7"),
        "echo": ("openai", "fake:text=echo"),
        "prose": ("anthropic", "fake:say=Both%20answers%20are%20good%20in%20their%20own%20way."),
        "slow": ("openai", "fake:say=Thinking%20it%20over%20slowly%20[[A]],rate=15"),
    })
    db = tmp_path / "votes.db"
    with Store(db) as store:
        add_battle(store, "a_wins", "[[B]]", "[[A]]")
        add_battle(store, "b_wins", "[[A]]", "[[B]]")
        add_battle(store, "flip", "[[A]]", "[[A]]")
        add_battle(store, "talk", "plain words", "more words")
    return ["--config", str(config), "--db", str(db)]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_judge_json_summary_and_votes(setup, capsys):
    code, out, err = run_cli(capsys, "judge", *setup, "--judge", "echo", "--json")
    assert code == 0, err
    assert err == ""  # not a terminal: no progress bar
    summary = json.loads(out)
    assert summary["judge"] == "judge:echo"
    assert (summary["battles_selected"], summary["battles_judged"], summary["votes_recorded"]) == (4, 4, 3)
    assert (summary["consistent"], summary["inconsistent"], summary["unparseable"], summary["failed"]) == (2, 1, 1, 0)
    assert summary["verdicts"] == {"A": 4, "B": 2, "C": 0}
    assert summary["first_position_rate"] == round(4 / 6, 4)
    with Store(setup[3]) as store:
        rows = store.conn.execute("SELECT battle_id, winner, kind FROM votes WHERE voter = 'judge:echo' "
                                  "ORDER BY battle_id").fetchall()
    assert rows == [("a_wins", "model_a", "judge"), ("b_wins", "model_b", "judge"), ("flip", "tie", "judge")]


def test_judge_text_summary_shows_prose_as_unparseable(setup, capsys):
    code, out, err = run_cli(capsys, "judge", *setup, "--judge", "prose", "--concurrency", "2")
    assert code == 0, err
    assert "Battles judged: 4 of 4" in out and "Votes recorded: 0" in out
    assert "Unparseable: 4 battle(s), 8 judgment(s)" in out
    assert "unparseable: battle talk order ab" in out
    assert "Traceback" not in out + err
    assert "Both answers are good" not in out  # raw text stays in the database, not on screen


def test_a_rerun_leaves_settled_battles_alone(setup, capsys, fake_provider):
    assert run_cli(capsys, "judge", *setup, "--judge", "echo", "--limit", "1", "--json")[0] == 0
    code, out, _ = run_cli(capsys, "judge", *setup, "--judge", "echo", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["battles_selected"] == 3 and summary["already_judged"] == 1
    assert len(fake_provider.requests_for("fake:text=echo")) == 8


def test_a_judge_not_in_the_lineup_is_one_line_and_exit_2(setup, capsys):
    code, out, err = run_cli(capsys, "judge", *setup, "--judge", "gpt-9")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "'gpt-9' is not in the lineup" in err and "alpha" in err


def test_a_template_without_the_answer_markers_is_one_line_and_exit_2(setup, capsys, tmp_path):
    template = tmp_path / "judge.toml"
    template.write_text('[single_turn]\nsystem = "Judge."\nuser = "Q: {question}\\nA: {answer_a}\\nB: {answer_b}"\n')
    code, out, err = run_cli(capsys, "judge", *setup, "--judge", "echo", "--template", str(template))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "answer marker [The Start of Assistant A's Answer]" in err
    code, _, err = run_cli(capsys, "judge", *setup, "--judge", "echo", "--template", str(tmp_path / "none.toml"))
    assert code == 2 and "no such judge template file" in err and err.count("\n") == 1


def test_a_custom_template_replaces_the_default(setup, capsys, tmp_path, fake_provider):
    user = ("Which is better?\n[The Start of Assistant A's Answer]\n{answer_a}\n[The End of Assistant A's Answer]\n"
            "[The Start of Assistant B's Answer]\n{answer_b}\n[The End of Assistant B's Answer]")
    template = tmp_path / "judge.toml"
    template.write_text(f'[single_turn]\nsystem = "Be brief."\nuser = {json.dumps(user)}\n')
    code, _, err = run_cli(capsys, "judge", *setup, "--judge", "echo", "--template", str(template), "--limit", "1")
    assert code == 0, err
    messages = fake_provider.requests_for("fake:text=echo")[0].body["messages"]
    assert messages[0]["content"] == "Be brief." and messages[1]["content"].startswith("Which is better?")


def test_a_failing_judge_exits_1_with_the_battles_named_and_no_traceback(setup, capsys, tmp_path, fake_provider):
    config = write_config(tmp_path, fake_provider, {"alpha": ("openai", "fake:tokens=5"),
                                                    "down": ("openai", "fake:fault=503")})
    code, out, err = run_cli(capsys, "judge", "--config", str(config), "--db", setup[3], "--judge", "down")
    assert code == 1
    assert "Failed: 4 battle(s)" in out and "failed: battle flip order ba:" in out
    assert "Traceback" not in out + err and KEY not in out + err


@pytest.mark.parametrize("option", [["--limit", "0"], ["--concurrency", "-1"], ["--battles", "some"]])
def test_bad_options_exit_2(setup, capsys, option):
    with pytest.raises(SystemExit) as exit_:
        main(["judge", *setup, "--judge", "echo", *option])
    assert exit_.value.code == 2


def test_ctrl_c_keeps_what_is_done_and_a_rerun_continues(setup):
    env = child_env(BLINDSIDE_CLI_KEY=KEY)
    command = cli_command("judge", *setup, "--judge", "slow", "--concurrency", "1", "--json")
    child = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                with sqlite3.connect(setup[3]) as conn:
                    if conn.execute("SELECT count(*) FROM judgments").fetchone()[0] >= 3:
                        break
            except sqlite3.OperationalError:
                pass  # the table does not exist yet
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    assert "Traceback" not in out + err
    summary = json.loads(out)
    assert summary["interrupted"] is True
    with sqlite3.connect(setup[3]) as conn:
        kept = conn.execute("SELECT count(*) FROM judgments WHERE error IS NULL").fetchone()[0]
        voted = conn.execute("SELECT count(*) FROM votes WHERE voter = 'judge:slow'").fetchone()[0]
    assert 3 <= kept < 8 and voted == kept // 2

    again = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    rest = json.loads(again.stdout)
    assert rest["battles_selected"] == 4 - voted and rest["votes_recorded"] == 4 - voted
    with sqlite3.connect(setup[3]) as conn:
        assert conn.execute("SELECT count(*) FROM judgments WHERE error IS NULL").fetchone()[0] == 8
        assert conn.execute("SELECT count(*) FROM votes WHERE voter = 'judge:slow'").fetchone()[0] == 4


def test_a_human_still_votes_on_a_judged_battle_beside_the_judge(setup, capsys):
    assert run_cli(capsys, "judge", *setup, "--judge", "echo")[0] == 0
    code, _, err = run_cli(capsys, "vote", *setup, "flip", "b", "--voter", "carol")
    assert code == 0, err
    with Store(setup[3]) as store:
        rows = store.conn.execute("SELECT voter, winner, kind FROM votes WHERE battle_id = 'flip' "
                                  "ORDER BY voter").fetchall()
    assert rows == [("carol", "model_b", "human"), ("judge:echo", "tie", "judge")]


def test_a_zero_deadline_is_one_line_and_exit_2(setup, capsys):
    code, out, err = run_cli(capsys, "judge", *setup, "--judge", "echo", "--deadline", "0")
    assert code == 2 and out == "" and err.count("\n") == 1 and "--deadline" in err


def test_the_progress_bar_shows_on_a_terminal_and_is_erased(setup):
    import os
    import pty

    primary, secondary = pty.openpty()
    try:
        done = subprocess.run(cli_command("judge", *setup, "--judge", "echo"), env=child_env(BLINDSIDE_CLI_KEY=KEY),
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=secondary, text=True, timeout=60)
        os.close(secondary)
        secondary = None
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if secondary is not None:
            os.close(secondary)
        os.close(primary)
    assert done.returncode == 0
    text = shown.decode()
    assert "Judging with echo: [" in text and "4/4 battles" in text and text.endswith("\r\x1b[K")
    assert "Judging with" not in done.stdout


def test_a_judge_always_answering_a_shows_first_shown_chosen_1_in_voters(tmp_path, fake_provider, capsys,
                                                                       monkeypatch):
    monkeypatch.setenv("BLINDSIDE_CLI_KEY", KEY)
    # Its decided votes are all ties (A, then A with the sides swapped), so its position bias
    # can only come from the raw verdicts, both orders each.
    config = write_config(tmp_path, fake_provider, {
        "alpha": ("openai", "fake:tokens=5"),
        "first": ("openai", "fake:say=Assistant%20A%20is%20better.%20[[A]]"),
    })
    db = tmp_path / "votes.db"
    with Store(db) as store:
        for i in range(3):
            add_battle(store, f"b{i}", f"short {i}", f"a longer answer {i}")
            store.record_vote(f"b{i}", "model_a", "ann")
    setup = ["--config", str(config), "--db", str(db)]
    code, out, err = run_cli(capsys, "judge", *setup, "--judge", "first")
    assert code == 0, out + err
    code, out, err = run_cli(capsys, "voters", *setup, "--json")
    assert code == 0, err
    report = json.loads(out)
    judge = next(v for v in report["voters"] if v["voter"] == "judge:first")
    assert judge["kind"] == "judge" and (judge["votes"], judge["decisive"]) == (3, 0)
    bias = judge["position_bias"]
    assert (bias["first_shown_chosen"], bias["k"], bias["n"]) == (1.0, 6, 6)
    ann = next(v for v in report["voters"] if v["voter"] == "ann")
    assert ann["kind"] == "human" and ann["position_bias"]["n"] == 3  # humans: their own votes
    pairs = {(p["a"], p["b"]): p for p in report["agreement"]}
    assert pairs[("ann", "judge:first")]["agreement"] == 0.0  # model_a against tie, three times
    assert pairs[("judge:first", "humans")]["battles"] == 3
    assert report["style_comparison"]["coefficients"] == {"humans": None, "judge:first": None}
