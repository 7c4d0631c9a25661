"""Playing a deck in the real app: after the voter's name the first battle shows at once, sides
shuffled per voter, a/b/t/x vote and the next battle follows with no model call; nothing names
a model before the vote; a returning voter goes on where they stopped; reveal end or each."""

from __future__ import annotations

import pytest

from battles import decks
from battles.config import ArenaConfig, Config, ModelConfig
from battles.deck_build import build_deck
from battles.store import Store
from tests.app_harness import SIZE, all_text, db_rows, wait_for
from tests.test_decks import write_pack
from tui.app import BlindsideApp

NAMES = ("zephyr-large", "quartz-mini", "onyx-small")
PROVIDERS = ("openai", "anthropic", "ollama")
IDS = ("fake:tokens=14,seed=31,id=z", "fake:tokens=11,seed=32,id=q", "fake:text=markdown,tokens=12,id=o")
PROMPTS = ["What is a lighthouse for?", "Explain rain to a child."]  # 2 prompts x 3 pairs = 6 battles


def lineup(fake) -> Config:
    return Config(arena=ArenaConfig(voter="config-voter"), models={
        name: ModelConfig(name=name, provider=provider, model=model_id, base_url=fake.base_url(provider))
        for name, provider, model_id in zip(NAMES, PROVIDERS, IDS)})


def secrets(fake) -> list[str]:
    return [*NAMES, *PROVIDERS, *IDS, "127.0.0.1", "localhost", f":{fake.port}"]


def leaked(app, words) -> list[str]:
    text = all_text(app).lower()
    return [w for w in words if w.lower() in text]


@pytest.fixture
async def deck_db(tmp_path, fake_provider):
    db = tmp_path / "v.db"
    with Store(db) as store:
        report = await build_deck(store, lineup(fake_provider), "room", prompts=str(write_pack(tmp_path, PROMPTS)),
                                  models=list(NAMES), seed=2)
    assert report.playable == 6
    fake_provider.clear()
    return db


def deck_app(db, config: Config | None = None, *, voter: str | None = None, reveal: str = "end") -> BlindsideApp:
    return BlindsideApp(config or Config(), Store(db), voter=voter, deck="room", reveal=reveal)


async def enter_name(pilot, name: str) -> None:
    from tui.screens.voter import VoterPrompt

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, VoterPrompt), what="the name prompt")
    pilot.app.screen.query_one("#voter-name").value = name
    await pilot.press("enter")
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "phase", None) == "ready", what="the first battle")


def pane_texts(app) -> tuple[str, str]:
    return tuple(pane.markdown.source for pane in app.screen.panes)


def expected_sides(db, voter: str, battle_id: str) -> tuple[str, str]:
    """(left text, right text) as ``voter`` should see the battle."""
    texts = dict(db_rows(db, "SELECT side, text FROM responses WHERE battle_id = ?", (battle_id,)))
    return (texts["b"], texts["a"]) if decks.shown_swapped(voter, battle_id) else (texts["a"], texts["b"])


async def test_after_the_name_each_battle_shows_at_once_and_nothing_names_a_model(deck_db, fake_provider):
    # The config names other models than the deck's (here: none): the deck plays from the store.
    app = deck_app(deck_db)
    words = secrets(fake_provider)
    with Store(deck_db) as store:
        order = decks.playable_battles(store, "room")
    async with app.run_test(size=SIZE) as pilot:
        await enter_name(pilot, "ann")
        screen = app.screen
        seen_swaps = set()
        for number, battle_id in enumerate(order, 1):
            assert screen.current.battle.id == battle_id
            assert pane_texts(app) == expected_sides(deck_db, "ann", battle_id)
            assert f"battle {number} of 6" in all_text(app)
            assert leaked(app, words) == [], number  # before this battle's vote
            swapped = decks.shown_swapped("ann", battle_id)
            seen_swaps.add(swapped)
            await pilot.press("a")  # Model A, i.e. whichever side ann sees on the left
            vote = db_rows(deck_db, "SELECT winner, shown_swapped, kind FROM votes WHERE battle_id = ? AND voter = 'ann'",
                           (battle_id,))
            assert vote == [("model_b" if swapped else "model_a", int(swapped), "human")]
        assert seen_swaps == {True, False}  # the sides really are shuffled
        # the end: every vote with the models named, in the voter's own left/right terms
        from tui.screens.deck_play import DeckSummary

        await wait_for(pilot, lambda: isinstance(app.screen, DeckSummary), what="the summary")
        await pilot.pause()
        text = all_text(app)
        assert "you voted on 6 battles" in text
        assert set(NAMES) <= set(leaked(app, NAMES))
    assert fake_provider.requests == []  # no model was called to play
    assert db_rows(deck_db, "SELECT count(*) FROM votes WHERE voter = 'ann'") == [(6,)]


async def test_each_voter_has_a_side_order_of_their_own_kept_when_they_return(deck_db):
    with Store(deck_db) as store:
        order = decks.playable_battles(store, "room")
    orders = {voter: [decks.shown_swapped(voter, b) for b in order] for voter in ("ann", "bob", "cy")}
    assert len({tuple(o) for o in orders.values()}) > 1
    for voter in ("bob", "bob"):  # the same voter twice: the same sides
        app = deck_app(deck_db, voter=voter)  # --voter given: no name asked
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: getattr(app.screen, "phase", None) == "ready", what="the first battle")
            assert pane_texts(app) == expected_sides(deck_db, voter, order[0])


async def test_a_returning_voter_continues_where_they_stopped(deck_db):
    with Store(deck_db) as store:
        order = decks.playable_battles(store, "room")
    app = deck_app(deck_db)
    async with app.run_test(size=SIZE) as pilot:
        await enter_name(pilot, "dana")
        for key in ("b", "t"):
            await pilot.press(key)
        assert app.screen.current.battle.id == order[2]
    app = deck_app(deck_db)
    async with app.run_test(size=SIZE) as pilot:
        await enter_name(pilot, "dana")
        assert app.screen.current.battle.id == order[2]
        assert "battle 3 of 6" in all_text(app)
        await pilot.press("x")
    votes = db_rows(deck_db, "SELECT battle_id, winner FROM votes WHERE voter = 'dana' ORDER BY created")
    assert [b for b, _ in votes] == order[:3]
    assert votes[1][1] == "tie" and votes[2][1] == "both_bad"
    # another voter starts from the beginning
    app = deck_app(deck_db)
    async with app.run_test(size=SIZE) as pilot:
        await enter_name(pilot, "eve")
        assert app.screen.current.battle.id == order[0]


async def test_reveal_each_names_the_models_after_each_vote_and_not_before_the_next(deck_db, fake_provider):
    app = deck_app(deck_db, reveal="each")
    words = secrets(fake_provider)
    async with app.run_test(size=SIZE) as pilot:
        await enter_name(pilot, "fay")
        screen = app.screen
        for _ in range(2):
            assert leaked(app, words) == []
            current = screen.current
            await pilot.press("b")
            assert screen.phase == "revealed"
            left, right = current.left[0], current.right[0]
            assert f"Model A was {left}; Model B was {right}." in all_text(app)
            await pilot.press("a")  # no second vote on a revealed battle
            await pilot.press("n")
            assert screen.phase == "ready" and screen.current.battle.id != current.battle.id
        assert leaked(app, words) == []
    assert db_rows(deck_db, "SELECT count(*) FROM votes WHERE voter = 'fay'") == [(2,)]


async def test_a_voter_without_a_name_votes_as_a_guest(deck_db):
    app = deck_app(deck_db, config=Config(arena=ArenaConfig(voter="config-voter")))
    async with app.run_test(size=SIZE) as pilot:
        from tui.screens.voter import VoterPrompt

        # the config's voter name is not used for a deck: each person is asked
        await wait_for(pilot, lambda: isinstance(app.screen, VoterPrompt), what="the name prompt")
        await pilot.press("escape")
        await wait_for(pilot, lambda: getattr(app.screen, "phase", None) == "ready", what="the first battle")
        assert app.voter.startswith("guest-")
        await pilot.press("a")
    assert db_rows(deck_db, "SELECT voter FROM votes") == [(app.voter,)]


async def test_a_voter_who_finished_sees_the_summary_and_hands_over_to_the_next(deck_db):
    from tui.screens.deck_play import DeckSummary

    with Store(deck_db) as store:
        for battle_id in decks.playable_battles(store, "room"):
            store.record_vote(battle_id, "tie", "gus")
    app = deck_app(deck_db)
    async with app.run_test(size=SIZE) as pilot:
        from tui.screens.voter import VoterPrompt

        await wait_for(pilot, lambda: isinstance(app.screen, VoterPrompt), what="the name prompt")
        app.screen.query_one("#voter-name").value = "gus"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeckSummary), what="the summary")
        await pilot.pause()
        assert "gus, you voted on 6 battles" in all_text(app)
        await pilot.press("n")  # the next person on this laptop
        await enter_name(pilot, "hal")
        assert app.screen.current.battle.id == decks.playable_battles(app.store, "room")[0]
        await pilot.press("b")
    assert db_rows(deck_db, "SELECT count(*) FROM votes WHERE voter = 'hal'") == [(1,)]


async def test_the_end_of_the_deck_shows_the_voters_own_fingerprint(deck_db):
    from tui.screens.deck_play import DeckFingerprint, DeckSummary
    from tui.team_data import fingerprint_of, load_votes, models_of, twins_map

    with Store(deck_db) as store:  # another voter first: the fingerprint is ann's own
        for battle_id in decks.playable_battles(store, "room"):
            store.record_vote(battle_id, "model_b", "zed", shown_swapped=False)
    app = deck_app(deck_db)
    async with app.run_test(size=SIZE) as pilot:
        await enter_name(pilot, "ann")
        for _ in range(6):
            await pilot.press("a")  # always the answer shown first
        await wait_for(pilot, lambda: isinstance(app.screen, DeckSummary), what="the summary")
        view = app.screen.query_one(DeckFingerprint)
        await wait_for(pilot, lambda: view.loaded, what="the fingerprint")
        await pilot.pause()
        with Store(deck_db) as store:
            rows = load_votes(store)
        expected = fingerprint_of(rows, twins_map(models_of(rows)), "ann")
        assert view.fingerprint == expected
        assert expected["votes"] == 6 and expected["position_bias"]["first_shown_chosen"] == 1.0
        text = all_text(app)
        assert "Your fingerprint" in text and "ann  ·  6 votes, 6 chose a side" in text
        assert "100% [" in text and "of 6" in text  # the answer shown first, every time


async def test_f2_shows_the_fingerprint_during_the_deck_and_play_goes_on(deck_db, fake_provider):
    from tui.screens.fingerprint import FingerprintScreen

    with Store(deck_db) as store:
        order = decks.playable_battles(store, "room")
    app = deck_app(deck_db)
    words = secrets(fake_provider)
    async with app.run_test(size=SIZE) as pilot:
        await enter_name(pilot, "bea")
        assert "Your fingerprint" in all_text(app)  # the key is in the footer
        await pilot.press("b", "t")
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, FingerprintScreen) and app.screen.loaded,
                       what="the fingerprint screen")
        await pilot.pause()
        text = all_text(app)
        assert "bea  ·  2 votes, 1 chose a side" in text
        assert leaked(app, words) == []  # the third battle is still blind
        await pilot.press("escape")
        await wait_for(pilot, lambda: getattr(app.screen, "phase", None) == "ready", what="the deck again")
        assert app.screen.current.battle.id == order[2]
        await pilot.press("a")
    assert db_rows(deck_db, "SELECT count(*) FROM votes WHERE voter = 'bea'") == [(3,)]


def test_a_deck_built_with_another_lineup_still_plays_from_the_command_line(deck_db, tmp_path, fake_provider,
                                                                              monkeypatch):
    """The config now names other models than the deck was built with: the deck plays anyway."""
    from tests.helpers_reliability import fake_config_toml, fake_model
    from tui.cli import main

    config = tmp_path / "now.toml"
    config.write_text(fake_config_toml({"delta": fake_model(fake_provider, "openai", "fake:tokens=3"),
                                        "echo": fake_model(fake_provider, "ollama", "fake:tokens=3")}))
    played = []

    def run_headless(self, *args, **kwargs):
        async def drive() -> None:
            async with self.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: getattr(self.screen, "phase", None) == "ready", what="the first battle")
                played.append(self.screen.current.battle.id)
                await pilot.press("t")
        import asyncio

        asyncio.run(drive())

    monkeypatch.setattr(BlindsideApp, "run", run_headless)
    assert main(["--config", str(config), "--db", str(deck_db), "--deck", "room", "--voter", "ivy"]) == 0
    with Store(deck_db) as store:
        assert played == decks.playable_battles(store, "room")[:1]
    assert db_rows(deck_db, "SELECT battle_id, winner FROM votes WHERE voter = 'ivy'") == [(played[0], "tie")]
    assert fake_provider.requests == []
