"""The other screens: history, models, help, prompt packs, the command palette."""

from __future__ import annotations

from textual.widgets import DataTable, OptionList

from battles.store import NewBattle, ResponseRecord, Store
from prompts import load_pack
from tests.app_harness import SIZE, all_text, db_rows, lineup, make_app, send_prompt, wait_for, wait_phase
from tui.screens.battle import BattleScreen
from tui.screens.help import HelpScreen, key_rows
from tui.screens.history import HIDDEN, BattleDetailScreen, HistoryScreen
from tui.screens.leaderboard import LeaderboardScreen
from tui.screens.models import ModelsScreen
from tui.screens.pack_picker import PackPicker


def stored_battles(db) -> None:
    """One voted battle and one finished but unvoted battle, straight into the store."""
    def turn(prompt, a, b):
        return [(prompt, ResponseRecord(text=a, tokens=3, features={"tokens": 3}),
                 ResponseRecord(text=b, tokens=4, features={"tokens": 4}))]

    with Store(db) as store:
        store.insert_battles([
            NewBattle(id="voted1", model_a="alpha-model", model_b="beta-model", winner="model_a",
                      created="2025-01-01T10:00:00+00:00", source="live", voter="tester", prompt="Capital of France?",
                      category="factual", features_a={"tokens": 3, "bold": 1}, features_b={"tokens": 4},
                      turns=turn("Capital of France?", "**Paris**", "It is Paris.")),
            NewBattle(id="open1", model_a="beta-model", model_b="alpha-model", winner=None,
                      created="2025-01-02T10:00:00+00:00", source="live", prompt="Write a haiku",
                      category="creative", features_a={"tokens": 5}, features_b={"tokens": 6},
                      turns=turn("Write a haiku", "Autumn moon rises", "Leaves fall softly")),
        ])


async def searched(app, pilot) -> None:
    """Let the history search (a thread worker) finish and its rows reach the table."""
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_history_hides_unvoted_models_even_from_search_and_votes_from_detail(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    stored_battles(db)
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "h")
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await searched(app, pilot)
        table = history.query_one(DataTable)
        rows = {table.get_row_at(i)[1].plain: table.get_row_at(i) for i in range(table.row_count)}
        assert rows["Write a haiku"][3].plain == HIDDEN
        assert rows["Capital of France?"][3].plain == "alpha-model vs beta-model"

        # a search by model name must not surface the unvoted battle (it would tell who answered)
        history.query_one("#history-search").value = "beta"
        history.load()
        await searched(app, pilot)
        assert [table.get_row_at(i)[1].plain for i in range(table.row_count)] == ["Capital of France?"]
        history.query_one("#history-search").value = "haiku"
        history.load()
        await searched(app, pilot)
        assert table.row_count == 1

        table.focus()
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, BattleDetailScreen) and detail.battle_id == "open1"
        text = all_text(app)
        assert "Autumn moon rises" in text and "Leaves fall softly" in text
        assert "alpha-model" not in text and "beta-model" not in text
        assert "5 tokens" in text and "6 tokens" in text

        await pilot.press("b")  # voting from history
        assert db_rows(db, "SELECT winner, voter FROM votes WHERE battle_id = 'open1'") == [("model_b", "tester")]
        assert "Model B · alpha-model" in all_text(app)
        await pilot.press("escape")
        await searched(app, pilot)
        assert history.query_one(DataTable).get_row_at(0)[3].plain == "beta-model vs alpha-model"


async def test_others_and_judges_votes_reveal_nothing_until_the_viewer_votes(fake_provider, tmp_path):
    from battles.judging.schema import Judgment, save_judgment

    db = tmp_path / "votes.db"
    stored_battles(db)
    with Store(db) as store:  # another human and a judge voted on open1; the judge named a model
        store.record_vote("open1", "model_a", "ann")
        store.record_vote("open1", "tie", "judge:mini", kind="judge")
        save_judgment(store, Judgment("open1", "mini", "ab", text="A reads like beta-model. [[A]]", verdict="A"))
        save_judgment(store, Judgment("open1", "mini", "ba", text="Assistant A wins. [[A]]", verdict="A"))
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "h")
        history = app.screen
        await searched(app, pilot)
        table = history.query_one(DataTable)
        rows = {table.get_row_at(i)[1].plain: table.get_row_at(i) for i in range(table.row_count)}
        assert rows["Write a haiku"][3].plain == HIDDEN and rows["Write a haiku"][4].plain == "–"
        history.query_one("#history-search").value = "alpha"  # others' votes do not open a name search
        history.load()
        await searched(app, pilot)
        assert [table.get_row_at(i)[1].plain for i in range(table.row_count)] == ["Capital of France?"]
        history.query_one("#history-search").value = "haiku"
        history.load()
        await searched(app, pilot)
        table.focus()
        await pilot.press("enter")
        detail = app.screen
        assert isinstance(detail, BattleDetailScreen) and detail.votable
        text = all_text(app)
        assert "alpha-model" not in text and "beta-model" not in text and "judge:mini" not in text
        assert "reads like" not in text
        await pilot.press("j")  # the judges' answers are not to be had before the vote
        assert "reads like" not in all_text(app)

        await pilot.press("t")  # tester's own vote, beside ann's and the judge's
        assert db_rows(db, "SELECT voter, winner FROM votes WHERE battle_id = 'open1' ORDER BY voter") == [
            ("ann", "model_a"), ("judge:mini", "tie"), ("tester", "tie")]
        text = all_text(app)
        assert "Model A · beta-model" in text and "you voted tie" in text and "others: ann A" in text
        # the judge's decided vote and both raw verdicts: A in ab is model A, A in ba is model B
        assert "judge:mini voted tie · raw verdicts: A (A shown first), B (B shown first)" in text
        assert "reads like" not in text
        await pilot.press("j")
        assert "A reads like beta-model. [[A]]" in all_text(app)


async def test_leaderboard_switches_method_and_filters(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    battles = [NewBattle(id=f"b{i}", model_a=("m1", "m2", "m3")[i % 3], model_b=("m2", "m3", "m1")[i % 3],
                         winner=("model_a", "model_b", "tie")[i % 3 if i % 5 else 0], source="import",
                         created=f"2025-01-01T00:00:{i:02d}+00:00", voter="ann" if i < 20 else "bob",
                         category="coding" if i % 2 else "factual",
                         features_a={"tokens": 10 + i, "emoji": i % 2, "header": 0, "list": i % 4, "bold": 1},
                         features_b={"tokens": 40 - i, "emoji": 0, "header": i % 3, "list": 1, "bold": 0})
               for i in range(30)]
    with Store(db) as store:
        store.insert_battles(battles)
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "l")
        board = app.screen

        async def settled():
            await wait_for(pilot, lambda: board.result is not None and not board.computing, what="leaderboard")
            return board.result

        assert (await settled()).method == "bt"
        assert board.result.style_coefficients is not None
        for key, method in (("2", "elo"), ("3", "trueskill"), ("1", "bt")):
            await pilot.press(key)
            await wait_for(pilot, lambda: board.request.method == method, what="the method")
            assert (await settled()).method == method
            assert board.query_one("#lb-table", DataTable).row_count == 3
        board.query_one("#lb-category").value = "coding"
        await wait_for(pilot, lambda: board.request.category == "coding", what="the filter")
        assert (await settled()).battles_used == 15
        board.query_one("#lb-voter").value = "bob"
        await wait_for(pilot, lambda: board.request.voter == "bob", what="the filter")
        assert (await settled()).battles_used == 5
        assert "category coding" in str(board.query_one("#lb-status").render())


async def test_leaderboard_cycles_between_the_humans_and_each_judge_on_v(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    with Store(db) as store:
        store.insert_battles([NewBattle(id=f"b{i}", model_a="m1", model_b="m2", winner="model_a", source="import",
                                        created=f"2025-01-01T00:00:{i:02d}+00:00", voter="ann",
                                        features_a={"tokens": 10}, features_b={"tokens": 12}) for i in range(6)])
        for i in range(6):  # judge a prefers m2 everywhere; judge b votes on two battles, ties
            store.record_vote(f"b{i}", "model_b", "judge:a", kind="judge")
        for i in range(2):
            store.record_vote(f"b{i}", "tie", "judge:b", kind="judge")
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "l")
        board = app.screen

        async def settled():
            await wait_for(pilot, lambda: board.result is not None and not board.computing, what="leaderboard")
            return board.result

        def m1_record(result):
            m1 = result.model("m1")
            return (m1.wins, m1.losses, m1.ties)

        assert m1_record(await settled()) == (6, 0, 0) and board.title == "Leaderboard · votes rated: humans"
        for voter, record in (("judge:a", (0, 6, 0)), ("judge:b", (0, 0, 2)), (None, (6, 0, 0))):
            await pilot.press("v")
            await wait_for(pilot, lambda: board.request.voter == voter, what=f"votes of {voter}")
            assert m1_record(await settled()) == record
            assert board.title == f"Leaderboard · votes rated: {voter or 'humans'}"


async def test_leaderboard_shows_the_pairwise_matrices_on_m(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    hostile = "evil\x1b[2J\nname" + "x" * 10_000
    pairs = [("m1", "m2", "model_a")] * 3 + [("m2", "m1", "model_a"), ("m1", hostile, "tie"), (hostile, "m2", "model_b")]
    with Store(db) as store:
        store.insert_battles(NewBattle(id=f"b{i}", model_a=a, model_b=b, winner=w, source="import",
                                       created=f"2025-01-01T00:00:{i:02d}+00:00")
                             for i, (a, b, w) in enumerate(pairs))
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "l")
        board = app.screen
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert board.result is not None and not board.computing
        names = [board.query_one("#lb-table", DataTable).get_row_at(i)[1].plain for i in range(3)]
        evil = next(n for n in names if n.startswith("evil"))
        assert evil.startswith("evil␛[2J␊name") and len(evil) == 40 and evil.endswith("…")
        assert not board.query_one("#lb-matrices").display
        await pilot.press("m")
        assert board.query_one("#lb-matrices").display and not board.query_one("#lb-body").display
        grid = board.query_one("#lb-matrix", DataTable)
        order = board.result.matrices.models
        cells = {row[0].plain.split(" ", 1)[1]: [c.plain for c in row[1:]]
                 for row in (grid.get_row_at(i) for i in range(grid.row_count))}
        i, j = order.index("m1"), order.index("m2")
        assert cells["m1"][j] == "75% (4)" and cells["m2"][i] == "25% (4)" and cells["m1"][i] == "–"
        await pilot.press("m")
        assert board.query_one("#lb-body").display and not board.query_one("#lb-matrices").display


async def test_models_screen_checks_every_model_at_once(fake_provider, tmp_path):
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:401"), tmp_path / "v.db")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "m")
        screen = app.screen
        assert isinstance(screen, ModelsScreen)
        table = screen.query_one(DataTable)

        def check(name: str) -> str:
            return table.get_cell(name, "Check").plain

        await wait_for(pilot, lambda: "checking" not in check("alpha-model") + check("beta-model"), what="checks")
        assert check("alpha-model").startswith("ok · ") and check("alpha-model").endswith(" ms")
        assert check("beta-model").startswith("✗ ")
        assert table.get_cell("beta-model", "Host").plain == f"127.0.0.1:{fake_provider.port}"
        assert len(fake_provider.requests) == 2
        assert all(r.body.get("max_tokens") == 1 or r.body.get("options", {}).get("num_predict") == 1
                   for r in fake_provider.requests)


async def test_help_lists_every_key_of_every_screen(fake_provider, tmp_path):
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), tmp_path / "v.db")
    async with app.run_test(size=(120, 120)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = all_text(app)
        for owner in (BattleScreen, LeaderboardScreen, HistoryScreen, BattleDetailScreen, ModelsScreen):
            for keys, description in key_rows(owner):
                assert description in text, f"{owner.__name__}: {description}"
        assert "ctrl+s" in text and "Change theme" in text
        await pilot.press("escape")
        assert isinstance(app.screen, BattleScreen)


async def test_command_palette_offers_the_actions_that_apply_now(fake_provider, tmp_path):
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), tmp_path / "v.db")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen

        def titles() -> set[str]:
            return {c.title for c in app.get_system_commands(screen)}

        assert {"Leaderboard", "History", "Models", "Help", "Change voter", "Send prompt"} <= titles()
        assert any("theme" in t.lower() for t in titles())  # Textual's own theme switcher
        assert "Vote: A is better" not in titles()
        await send_prompt(pilot, "hello")
        await wait_phase(pilot, "ready")
        assert {"Vote: A is better", "Vote: tie", "Follow-up turn", "Regenerate"} <= titles()
        vote = next(c for c in app.get_system_commands(screen) if c.title == "Vote: B is better")
        await vote.callback()
        assert screen.phase == "voted"


async def test_prompt_pack_fills_the_box_and_is_stored_with_the_battle(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    pack = {p.text: p for p in load_pack("workshop")}
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), db, prompts="workshop")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        first = screen.query_one("#prompt").text
        assert first in pack
        assert pack[first].category in str(screen.query_one("#prompt-source").render())
        await pilot.press("ctrl+s")
        await wait_phase(pilot, "ready")
        assert db_rows(db, "SELECT prompt, pack, category FROM battles") == [(first, "workshop", pack[first].category)]
        await pilot.press("n")
        second = screen.query_one("#prompt").text
        assert second in pack and second != first


async def test_edited_pack_prompt_is_stored_as_the_users_own(fake_provider, tmp_path):
    db = tmp_path / "votes.db"
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), db, prompts="workshop")
    async with app.run_test(size=SIZE) as pilot:
        box = app.screen.query_one("#prompt")
        box.text = box.text + " Answer in one word."
        await pilot.press("ctrl+s")
        await wait_phase(pilot, "ready")
        assert db_rows(db, "SELECT pack, category FROM battles") == [(None, None)]


async def test_pack_picker_when_no_pack_was_given(fake_provider, tmp_path):
    app = make_app(lineup(fake_provider, "fake:tokens=5", "fake:tokens=6"), tmp_path / "v.db")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "p")
        picker = app.screen
        assert isinstance(picker, PackPicker)
        options = picker.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert "general" in ids and "workshop" in ids
        options.highlighted = ids.index("general")
        options.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, BattleScreen)
        assert app.screen.query_one("#prompt").text in {p.text for p in load_pack("general")}
        assert app.prompts == "general"
