"""The battle screen end to end: the real app (App.run_test) against the loopback fake providers,
votes in a real SQLite file."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.app_harness import (SIZE, all_text, db_rows, lineup, make_app, rendered_lines, send_prompt, wait_for,
                               wait_phase)
from tests.fake_provider import expected_text
from tui.screens.battle import BattleScreen
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.setup import SetupScreen
from tui.screens.voter import VoterPrompt


def reveal_text(screen) -> str:
    return str(screen.query_one("#reveal").render())


async def test_send_stream_vote_reveal_store_and_leaderboard(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    config = lineup(fake_provider, "fake:text=markdown,tokens=60", "fake:text=plain,tokens=40,seed=3")
    app = make_app(config, db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, BattleScreen)
        await send_prompt(pilot, "Explain recursion")
        await wait_phase(pilot, "ready")
        battle = screen.battle
        for side in "ab":  # each pane shows exactly its own side's full answer
            assert screen.pane(side).markdown.source == expected_text(battle.models[side].model, "Explain recursion")
        assert battle.models["a"].name not in all_text(app)

        await pilot.press("a")
        assert screen.phase == "voted"
        assert db_rows(db, "SELECT winner, voter FROM votes") == [("model_a", "tester")]
        await wait_for(pilot, lambda: "→" in reveal_text(screen), what="the rating move")
        reveal = reveal_text(screen)
        left, right = battle.models["a"].name, battle.models["b"].name
        assert f"Model A was {left}; Model B was {right}" in reveal
        assert f"{left} new →" in reveal and f"{right} new →" in reveal
        assert left in str(screen.pane("a").border_title)
        assert "first token" in all_text(app) and "tokens" in all_text(app)

        await pilot.press("l")
        board = app.screen
        assert isinstance(board, LeaderboardScreen)
        await wait_for(pilot, lambda: board.result is not None and not board.computing, what="leaderboard")
        assert board.query_one(DataTable).row_count == 2
        assert {m.model: m.wins for m in board.result.models} == {left: 1, right: 0}

        # A second vote: the live ratings and a freshly opened leaderboard count both.
        await pilot.press("escape", "n")
        await send_prompt(pilot, "Another question")
        await wait_phase(pilot, "ready")
        generation = app.ratings_generation
        await pilot.press("t")
        await wait_for(pilot, lambda: app._ratings_shown_generation > generation, what="live ratings")
        assert sum(m.battles for m in app.ratings.models) == 4  # two battles, two sides each
        await pilot.press("l")
        board = app.screen
        await wait_for(pilot, lambda: board.result is not None and not board.computing, what="leaderboard")
        assert board.result.battles_used == 2


async def test_leaderboard_open_during_a_vote_recomputes(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    app = make_app(lineup(fake_provider, "fake:tokens=8", "fake:tokens=9"), db)
    async with app.run_test(size=SIZE) as pilot:
        battle_screen = app.screen
        await send_prompt(pilot, "hi")
        await wait_phase(pilot, "ready")
        await pilot.press("l")
        board = app.screen
        await wait_for(pilot, lambda: board.result is not None and not board.computing)
        assert board.result.battles_used == 0
        battle_screen.action_vote("model_b")  # e.g. a vote from the command palette
        await wait_for(pilot, lambda: board.result.battles_used == 1, what="recompute after the vote")
        assert board.query_one(DataTable).row_count == 2


async def test_a_failing_side_shows_its_error_and_the_app_keeps_going(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    app = make_app(lineup(fake_provider, "fake:tokens=30", "fake:fault=error@3"), db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send_prompt(pilot, "hello")
        await wait_phase(pilot, "unvotable")
        battle = screen.battle
        failing = "a" if "fault" in battle.models["a"].model else "b"
        working = "b" if failing == "a" else "a"
        assert screen.pane(failing).has_class("-failed")
        assert not screen.pane(working).has_class("-failed")
        assert f"Model {failing.upper()} failed:" in all_text(app)
        assert screen.pane(working).markdown.source == expected_text(battle.models[working].model, "hello")

        await pilot.press("a")  # not votable: nothing is recorded
        assert db_rows(db, "SELECT count(*) FROM votes") == [(0,)]
        assert db_rows(db, "SELECT status FROM battles") == [("error",)]

        await pilot.press("v")  # who was who, now that it can never be voted
        assert screen.phase == "revealed"
        assert battle.models[failing].name in reveal_text(screen)
        assert app.is_running


async def test_stop_cancels_both_streams(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    app = make_app(lineup(fake_provider, "fake:tokens=3000,rate=40", "fake:tokens=3000,rate=40,id=2"), db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send_prompt(pilot, "go on")
        await wait_for(pilot, lambda: all(p.text for p in screen.panes), what="both streams started")
        await pilot.press("s")
        await wait_phase(pilot, "unvotable", timeout=5)
        for pane in screen.panes:
            assert "stopped before its answer was complete" in str(pane.query_one(".pane-error").render())
            assert 0 < len(pane.text) < len(expected_text("fake:tokens=3000,rate=40"))
        assert db_rows(db, "SELECT status FROM battles") == [("error",)]
        assert sorted(r[0] for r in db_rows(db, "SELECT error FROM responses")) == ["stopped", "stopped"]


async def test_follow_up_turn_then_vote(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    app = make_app(lineup(fake_provider, "fake:text=echo", "fake:text=echo,id=2"), db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send_prompt(pilot, "first question")
        await wait_phase(pilot, "ready")
        await pilot.press("f")
        assert screen.query_one("#prompt").text == ""
        assert screen.query_one("#prompt").has_focus
        await pilot.press("s")  # a letter typed in the box is text, not a key binding
        assert screen.query_one("#prompt").text == "s"
        screen.query_one("#prompt").text = "second one"
        await pilot.press("ctrl+s")
        await wait_phase(pilot, "ready")
        for pane in screen.panes:
            source = pane.markdown.source
            assert source.index("first question") < source.index("> second one") < source.rindex("second one")
        assert db_rows(db, "SELECT turn, count(*) FROM responses GROUP BY turn") == [(1, 2), (2, 2)]
        # each side saw its own earlier answer
        request = fake_provider.requests_for(model="fake:text=echo")[-1]
        assert [m["content"] for m in request.body["messages"]] == ["first question", "first question", "second one"]
        await pilot.press("b")
        assert db_rows(db, "SELECT winner FROM votes") == [("model_b",)]


async def test_regenerate_draws_both_answers_again(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    app = make_app(lineup(fake_provider, "fake:tokens=12", "fake:tokens=12,id=2"), db)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send_prompt(pilot, "question")
        await wait_phase(pilot, "ready")
        await pilot.press("r")
        await wait_for(pilot, lambda: len(fake_provider.requests) == 4, what="second pair of requests")
        await wait_phase(pilot, "ready")
        assert len(fake_provider.requests_for(model="fake:tokens=12")) == 2
        assert db_rows(db, "SELECT count(*) FROM responses") == [(2,)]  # replaced, not added
        for side in "ab":
            assert screen.pane(side).markdown.source == expected_text(screen.battle.models[side].model, "question")
        await pilot.press("x")
        assert db_rows(db, "SELECT winner FROM votes") == [("both_bad",)]


async def test_model_text_is_shown_never_interpreted(fake_provider, tmp_path):
    hostile = "fake:say=%5Bbold%20red%5Dboom%5B%2Fbold%20red%5D%20%1B%5B2J%20after%20%1B%5D0%3Btitle%07"
    app = make_app(lineup(fake_provider, hostile, "fake:tokens=5"), tmp_path / "v.db")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send_prompt(pilot, "say it")
        await wait_phase(pilot, "ready")
        side = "a" if screen.battle.models["a"].model == hostile else "b"
        lines = rendered_lines(app)
        assert any("[bold red]boom[/bold red] ␛[2J after" in line for line in lines)
        segments = [seg.text for strip in app.screen._compositor.render_strips() for seg in strip]
        assert not any("\x1b" in s or "\x07" in s for s in segments)
        assert "\x1b" in screen.pane(side).text  # kept as received (the store has the raw answer)
        await pilot.press("a")
        assert any("boom" in line for line in rendered_lines(app))  # the reveal did not choke on it


async def test_voter_is_asked_once_when_not_configured(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6", voter=None), db)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, VoterPrompt)
        await pilot.press(*"cy", "enter")
        assert isinstance(app.screen, BattleScreen)
        assert app.voter == "cy" and "cy" in app.sub_title
        await send_prompt(pilot, "q")
        await wait_phase(pilot, "ready")
        await pilot.press("a")
        assert db_rows(db, "SELECT voter FROM votes") == [("cy",)]


async def test_voter_from_the_command_line_wins(fake_provider, tmp_path):
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6", voter=None), tmp_path / "v.db",
                   voter="dave")
    async with app.run_test(size=SIZE):
        assert isinstance(app.screen, BattleScreen)
        assert app.voter == "dave"


async def test_without_models_a_setup_screen_explains_the_config(tmp_path):
    from battles.config import Config

    app = make_app(Config(), tmp_path / "v.db")
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, SetupScreen)
        text = all_text(app)
        assert "blindside.toml" in text and "[models." in text and "api_key_env" in text
        await pilot.press("q")
    assert not app.is_running


async def test_empty_prompt_is_refused_with_a_message(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), db)
    async with app.run_test(size=SIZE) as pilot:
        await send_prompt(pilot, "   ")
        await pilot.pause()
        assert app.screen.phase == "idle"
        assert any("Type a prompt first" in n.message for n in app._notifications)
        assert db_rows(db, "SELECT count(*) FROM battles") == [(0,)]


async def test_answers_follow_the_stream_until_the_user_scrolls_up(fake_provider, tmp_path):
    app = make_app(lineup(fake_provider, "fake:infinite,rate=600", "fake:infinite,rate=600,id=2"),
                   tmp_path / "v.db")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await send_prompt(pilot, "a long one")
        left, right = screen.pane("a").markdown, screen.pane("b").markdown
        await wait_for(pilot, lambda: left.max_scroll_y > 10, what="more text than fits")
        await wait_for(pilot, lambda: left.scroll_y == left.max_scroll_y and left.rendered, what="following")
        assert left.has_focus
        await pilot.press("pageup")
        held = left.scroll_y
        assert held < left.max_scroll_y
        grown = left.max_scroll_y
        await wait_for(pilot, lambda: left.max_scroll_y > grown + 10, what="more text")
        assert left.scroll_y == held  # the reader's place is kept
        await wait_for(pilot, lambda: right.scroll_y == right.max_scroll_y and right.rendered)  # B still follows
        await pilot.press("s")
        await wait_phase(pilot, "unvotable")


def test_a_rating_the_votes_cannot_place_yet_is_not_shown_as_a_number():
    from scoring.results import ModelRating
    from tui.screens.battle import describe_move

    def entry(rating, ci, battles):
        return ModelRating(model="m", battles=battles, wins=battles, losses=0, ties=0, both_bad=0, win_rate=1.0,
                           rating=rating, ci=ci, rank=1)

    settled = entry(1012.4, (990.0, 1030.0), 40)
    moved = entry(1020.2, (1000.0, 1040.0), 41)
    one_vote = entry(2123.0, (-5000.0, 9000.0), 1)
    assert describe_move("m", settled, moved) == "m 1012 → 1020 (+8)"
    assert describe_move("m", None, one_vote) == "m new → not settled yet (1 vote)"
    assert describe_move("m", one_vote, moved) == "m not settled yet (1 vote) → 1020"


async def test_a_prompt_sent_while_the_app_starts_up_goes_out_once_the_models_are_ready(fake_provider, tmp_path):
    app = make_app(lineup(fake_provider, "fake:tokens=8", "fake:tokens=9,seed=2"), tmp_path / "votes.db")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: app.arena is not None, what="the arena")
        arena, app.arena = app.arena, None  # as in the first moments after start
        await send_prompt(pilot, "Explain recursion")
        assert screen.phase == "idle" and screen.send_pending
        app._arena_ready(arena)
        await wait_phase(pilot, "ready")
        assert db_rows(tmp_path / "votes.db", "SELECT prompt FROM battles") == [("Explain recursion",)]


async def test_the_voter_question_wraps_instead_of_being_cut_off(fake_provider, tmp_path):
    from textual.widgets import Label

    from tui.screens.voter import QUESTION

    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6", voter=None), tmp_path / "v.db")
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, VoterPrompt)
        region = app.screen.query_one("#voter-question", Label).region
        shown = [line[region.x:region.right].strip() for line in rendered_lines(app)[region.y:region.bottom]]
        assert len(shown) > 1 and " ".join(shown) == QUESTION  # every word, over several lines


async def test_in_the_prompt_box_the_status_names_a_pack_key_that_works_there(fake_provider, tmp_path):
    from prompts import load_pack

    pack = {p.text for p in load_pack("workshop")}
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), tmp_path / "v.db", prompts="workshop")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        box = screen.query_one("#prompt")
        box.text = ""
        await pilot.pause()
        assert app.focused is box
        status = str(screen.query_one("#status").render())
        assert "ctrl+o: draw one from a prompt pack" in status and "p:" not in status
        await pilot.press("p")
        assert box.text == "p"  # in the box, p is a letter
        await pilot.press("ctrl+o")
        assert box.text in pack and app.focused is box
