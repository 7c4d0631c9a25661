"""blindside voters and the leaderboard's agreement, on a real SQLite file, against hand counts.

The four battles and the votes below are small enough to count by hand; each expected number
carries its count in a comment.
"""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest

from battles.config import ModelConfig
from battles.store import NewBattle, Store
from tui.cli import main
from tui.team_data import agreement_json, twins_map

F = ("tokens", "emoji", "header", "list", "bold")


def features(tokens, emoji, header=0):
    return dict(zip(F, (tokens, emoji, header, 0, 0)))


# id, model_a, model_b, features a, features b
BATTLES = [
    ("b1", "alpha", "beta", features(100, 0, header=1), features(50, 2)),
    ("b2", "alpha", "alpha-chatty", features(40, 0), features(90, 3)),
    ("b3", "beta", "alpha", features(30, 1), features(30, 0)),
    ("b4", "alpha-chatty", "beta", features(80, 2), features(20, 2)),
]
# voter, battle, winner in the battle's own terms, shown_swapped (model_b on the left)
VOTES = [
    ("ann", "b1", "model_a", False),   # left = alpha chosen: longer, less emoji, more markdown, first shown
    ("ann", "b2", "model_b", True),    # left = alpha-chatty chosen: longer, more emoji, treated won, first
    ("ann", "b3", "tie", False),
    ("ann", "b4", "model_b", False),   # right = beta chosen: shorter, emoji equal, not first
    ("bob", "b1", "model_a", True),    # right = alpha chosen: longer, less emoji, more markdown, not first
    ("bob", "b2", "model_a", False),   # left = alpha chosen: shorter, less emoji, treated lost, first
    ("bob", "b3", "model_a", True),    # right = beta chosen: lengths equal, more emoji, not first
    ("bob", "b4", "both_bad", False),
    ("cy", "b1", "model_a", False),
    ("cy", "b2", "model_b", False),
]


def make_db(path, votes=VOTES) -> Store:
    store = Store(path)
    store.insert_battles(NewBattle(id=i, model_a=a, model_b=b, winner=None, created=f"2025-01-0{n + 1}",
                                   source="test", features_a=fa, features_b=fb)
                         for n, (i, a, b, fa, fb) in enumerate(BATTLES))
    for voter, battle, winner, swapped in votes:
        store.record_vote(battle, winner, voter, shown_swapped=swapped)
    return store


@pytest.fixture
def db(tmp_path):
    make_db(tmp_path / "votes.db").close()
    return tmp_path / "votes.db"


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def voters_json(capsys, db, *extra) -> dict:
    (db.parent / "empty.toml").write_text("", encoding="utf-8")  # no models: twins found by name
    code, out, _ = run_cli(capsys, "voters", "--db", str(db), "--config", str(db.parent / "empty.toml"),
                           "--json", *extra)
    assert code == 0
    return json.loads(out)


def assert_share(entry, k, n):
    assert (entry["k"], entry["n"]) == (k, n)
    assert entry["rate"] == pytest.approx(k / n)
    exact = binomtest(k, n).proportion_ci(method="exact")
    assert entry["ci"] == pytest.approx([exact.low, exact.high])


def test_voters_json_matches_the_hand_counts(db, capsys):
    report = voters_json(capsys, db)
    by_name = {v["voter"]: v for v in report["voters"]}
    assert sorted(by_name) == ["ann", "bob", "cy"]
    ann, bob = by_name["ann"], by_name["bob"]
    assert (ann["kind"], ann["votes"], ann["decisive"]) == ("human", 4, 3)
    assert_share(ann["longer_chosen"], 2, 3)          # b1 yes, b2 yes, b4 no
    assert_share(ann["more_emoji_chosen"], 1, 2)      # b1 no, b2 yes (b4 equal)
    assert_share(ann["more_markdown_chosen"], 1, 1)   # only b1 differs
    assert_share(ann["twin_pairs"], 1, 1)             # b2: alpha-chatty beat alpha
    assert ann["position_bias"]["first_shown_chosen"] == pytest.approx(2 / 3)
    assert (bob["votes"], bob["decisive"]) == (4, 3)
    assert_share(bob["longer_chosen"], 1, 2)          # b1 yes, b2 no (b3 equal)
    assert_share(bob["more_emoji_chosen"], 1, 3)      # b1 no, b2 no, b3 yes
    assert_share(bob["twin_pairs"], 0, 1)
    assert bob["position_bias"]["first_shown_chosen"] == pytest.approx(1 / 3)
    exact = binomtest(1, 3).proportion_ci(method="exact")
    assert bob["position_bias"]["ci"] == pytest.approx([exact.low, exact.high])
    assert all(v["style_coefficients"] is None for v in report["voters"])  # under 30 decisive votes

    pairs = {(p["a"], p["b"]): p for p in report["agreement"]}
    assert set(pairs) == {("ann", "bob"), ("ann", "cy"), ("bob", "cy")}
    ab = pairs[("ann", "bob")]
    assert ab["battles"] == 4
    assert ab["agreement"] == pytest.approx(1 / 4)               # only b1
    assert ab["agreement_without_ties"] == pytest.approx(1 / 2)  # b1, b2 have no tie: b1 agrees
    assert ab["cohen_kappa"] == pytest.approx(0.0)  # p_e = (1*3 + 2*0 + 1*1) / 16 = p_o
    ac = pairs[("ann", "cy")]
    assert (ac["battles"], ac["agreement"], ac["cohen_kappa"]) == (2, 1.0, pytest.approx(1.0))
    bc = pairs[("bob", "cy")]
    assert bc["agreement"] == pytest.approx(0.5) and bc["cohen_kappa"] == pytest.approx(0.0)

    humans = report["humans"]
    assert (humans["voter"], humans["votes"], humans["decisive"]) == ("humans", 10, 8)
    assert_share(humans["longer_chosen"], 5, 7)  # ann 2/3 + bob 1/2 + cy b1 yes, b2 yes


def test_one_voter_and_an_unknown_one(db, capsys):
    report = voters_json(capsys, db, "--voter", "cy")
    assert [v["voter"] for v in report["voters"]] == ["cy"]
    assert {(p["a"], p["b"]) for p in report["agreement"]} == {("ann", "cy"), ("bob", "cy")}

    code, out, err = run_cli(capsys, "voters", "--db", str(db), "--voter", "zed")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "zed" in err and "ann" in err


def test_text_report_says_it_in_a_sentence_and_escapes_names(tmp_path, capsys):
    hostile = "eve\x1b[2J"
    store = make_db(tmp_path / "votes.db", VOTES + [(hostile, "b1", "model_b", False)])
    store.close()
    code, out, _ = run_cli(capsys, "voters", "--db", str(tmp_path / "votes.db"))
    assert code == 0
    assert "\x1b" not in out and "eve␛[2J" in out
    # humans pooled: longer chosen 5 of 8 (eve chose the shorter beta in b1)
    exact = binomtest(5, 8).proportion_ci(method="exact")
    assert (f"Human voters chose the longer answer 62% of the time "
            f"[{100 * exact.low:.0f}–{100 * exact.high:.0f}%]") in out
    assert "Cohen's kappa" in out


def test_style_coefficients_from_30_decisive_votes(tmp_path, capsys):
    store = Store(tmp_path / "votes.db")
    store.insert_battles(NewBattle(id=f"s{i}", model_a="alpha", model_b="beta", winner=None,
                                   created=f"2025-01-01T{i:05d}", source="test",
                                   features_a=features(20 + 7 * i % 50, i % 3),
                                   features_b=features(30 + 11 * i % 40, (i + 1) % 3)) for i in range(40))
    for i in range(30):
        store.record_vote(f"s{i}", "model_a" if i % 3 else "model_b", "many")
    for i in range(29):
        store.record_vote(f"s{i}", "model_b" if i % 4 else "model_a", "few")
    store.close()
    by_name = {v["voter"]: v for v in voters_json(capsys, tmp_path / "votes.db")["voters"]}
    assert by_name["few"]["decisive"] == 29 and by_name["few"]["style_coefficients"] is None
    coefs = by_name["many"]["style_coefficients"]
    assert by_name["many"]["decisive"] == 30
    assert set(coefs) == {"length", "emoji", "header", "list", "bold"}
    length = coefs["length"]
    assert length["ci"][0] < length["log_odds_per_sd"] < length["ci"][1]


def test_a_judge_pairs_with_the_pooled_humans(tmp_path, capsys):
    store = make_db(tmp_path / "votes.db")
    store.record_vote("b1", "model_a", "judge:j", kind="judge")
    store.record_vote("b2", "model_a", "judge:j", kind="judge")
    before = agreement_json(store)
    store.close()
    report = voters_json(capsys, tmp_path / "votes.db")
    judge = next(v for v in report["voters"] if v["voter"] == "judge:j")
    assert judge["kind"] == "judge"
    pooled = next(p for p in report["agreement"] if p["a"] == "judge:j" and p["b"] == "humans")
    # b1: A against A, A, A; b2: A against B, A, B -> 4 of 6 pairs agree
    assert (pooled["battles"], pooled["pairs"]) == (2, 6)
    assert pooled["agreement"] == pytest.approx(4 / 6)
    assert report["humans"]["votes"] == 10  # the judge is not a human
    assert before["battles_with_multiple_votes"] == 4  # the leaderboard's agreement: humans only


def test_leaderboard_json_gains_agreement(db, capsys):
    code, out, _ = run_cli(capsys, "leaderboard", "--db", str(db), "--json", "--ci", "sandwich")
    assert code == 0
    agreement = json.loads(out)["agreement"]
    # per battle (model_a, model_b, neither): b1 [3,0,0], b2 [1,2,0], b3 [1,0,1], b4 [0,1,1]
    assert agreement["battles_with_multiple_votes"] == 4
    assert agreement["pairwise_agreement"] == pytest.approx(4 / 8)              # 3 + 1 + 0 + 0 of 8 pairs
    assert agreement["pairwise_agreement_without_ties"] == pytest.approx(4 / 6)  # b1 3 of 3, b2 1 of 3
    # Fleiss: p_a = (1 + 1/3 + 0 + 0) / 4 = 1/3; pi = (11, 7, 6) / 24; p_e = 206 / 576
    p_e = 206 / 576
    assert agreement["fleiss_kappa"] == pytest.approx((1 / 3 - p_e) / (1 - p_e))


def test_leaderboard_agreement_is_null_with_one_vote_per_battle(tmp_path, capsys):
    make_db(tmp_path / "votes.db", [v for v in VOTES if v[0] == "ann"]).close()
    code, out, _ = run_cli(capsys, "leaderboard", "--db", str(tmp_path / "votes.db"), "--json", "--ci", "sandwich")
    assert code == 0 and json.loads(out)["agreement"] is None


def test_twins_from_the_config_and_by_name():
    def model(name, treatment=None, temperature=0.3):
        return ModelConfig(name=name, provider="ollama", model="llama3.2:1b", temperature=temperature,
                           treatment=treatment)

    config = {m.name: m for m in (model("plain"), model("dressed", "chatty"), model("hot", temperature=1.0))}
    twins = twins_map(["plain", "dressed+chatty", "hot", "x-plain", "x", "y+chatty", "-chatty"], config)
    assert twins["dressed+chatty"] == ("plain", "chatty")  # same settings but the treatment
    assert twins["plain"] == ("plain", None) and twins["hot"] == ("hot", None)
    assert twins["x-plain"] == ("x", "plain") and twins["x"] == ("x", None)  # imported: by name
    assert twins["y+chatty"] == ("y", "chatty")
    assert twins["-chatty"] == ("-chatty", None)


async def test_f2_shows_the_voter_their_own_fingerprint(tmp_path, fake_provider):
    from tests.app_harness import lineup, make_app, wait_for, widget_texts
    from tui.screens.fingerprint import FingerprintScreen

    make_db(tmp_path / "votes.db").close()
    config = lineup(fake_provider, "fake:tokens=3", "fake:tokens=3", voter="ann")
    app = make_app(config, tmp_path / "votes.db")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, FingerprintScreen) and app.screen.loaded, 20,
                       "the fingerprint screen")
        text = "\n".join(widget_texts(app))
        assert "ann  ·  4 votes, 3 chose a side" in text
        assert "Chose the longer answer" in text and "67% [9–99%] of 3" in text  # 2 of 3, hand count above
        assert "style coefficients: after 30 decisive votes" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, FingerprintScreen)


async def test_fingerprint_view_draws_a_fingerprint_dict():
    from textual.app import App

    from scoring.fingerprints import ShownVote, voter_fingerprint
    from tui.screens.fingerprint import FingerprintView

    votes = [ShownVote("dan", i, "x", "y", "left" if i % 4 else "right", [100, 0, 0, 0, 0], [50, 0, 0, 0, 0])
             for i in range(8)]
    fp = voter_fingerprint(votes)

    class Host(App):
        def compose(self):
            yield FingerprintView(fp)

    async with Host().run_test() as pilot:
        text = str(pilot.app.query_one(FingerprintView).render())
        assert "dan  ·  8 votes, 8 chose a side" in text
        assert "75% [35–97%] of 8" in text  # longer chosen 6 of 8 (binomtest exact interval)
        pilot.app.query_one(FingerprintView).show(None)
        assert "No votes yet" in str(pilot.app.query_one(FingerprintView).render())


def _length_battles(store, n=60):
    import random

    rng = random.Random(7)
    lengths = []
    for i in range(n):
        la, lb = rng.randint(20, 400), rng.randint(20, 400)
        lengths.append((la, lb))
        store.insert_battles([NewBattle(id=f"L{i}", model_a="alpha", model_b="beta", winner=None,
                                        created=f"2025-02-01T{i:05d}", source="test",
                                        features_a=features(la, i % 2), features_b=features(lb, (i + 1) % 2))])
    return rng, lengths


def test_style_side_by_side_says_the_judge_favours_length_more(tmp_path, capsys):
    store = Store(tmp_path / "votes.db")
    rng, lengths = _length_battles(store)
    for i, (la, lb) in enumerate(lengths):
        store.record_vote(f"L{i}", rng.choice(["model_a", "model_b"]), "ann")  # blind to length
        longer = "model_a" if la > lb else "model_b"
        shorter = "model_b" if longer == "model_a" else "model_a"
        store.record_vote(f"L{i}", longer if rng.random() < 0.9 else shorter, "judge:long", kind="judge")
    store.close()
    report = voters_json(capsys, tmp_path / "votes.db")
    comparison = report["style_comparison"]
    assert comparison["features"] == ["length", "emoji", "header", "list", "bold"]
    humans, judge = comparison["coefficients"]["humans"], comparison["coefficients"]["judge:long"]
    assert humans["length"]["log_odds_per_sd"] == report["humans"]["style_coefficients"]["length"]["log_odds_per_sd"]
    assert judge["length"]["log_odds_per_sd"] > 1.0 and abs(humans["length"]["log_odds_per_sd"]) < 0.6
    verdict = comparison["length_bias"]["judge:long"]
    assert verdict["larger"] == "judge" and verdict["ci"][0] > 0
    assert verdict["difference"] == pytest.approx(judge["length"]["log_odds_per_sd"]
                                                  - humans["length"]["log_odds_per_sd"])
    code, out, _ = run_cli(capsys, "voters", "--db", str(tmp_path / "votes.db"))
    assert code == 0 and "judge:long favours the longer answer more than the humans do." in out
    assert "humans (pooled): style coefficients (log-odds per SD): length " in out


def test_style_side_by_side_cannot_tell_two_alike(tmp_path, capsys):
    store = Store(tmp_path / "votes.db")
    rng, lengths = _length_battles(store)
    for i, _ in enumerate(lengths):  # both blind to length
        store.record_vote(f"L{i}", rng.choice(["model_a", "model_b"]), "ann")
        store.record_vote(f"L{i}", rng.choice(["model_a", "model_b"]), "judge:coin", kind="judge")
    store.close()
    verdict = voters_json(capsys, tmp_path / "votes.db")["style_comparison"]["length_bias"]["judge:coin"]
    assert verdict["larger"] == "cannot tell" and verdict["ci"][0] < 0 < verdict["ci"][1]
    code, out, _ = run_cli(capsys, "voters", "--db", str(tmp_path / "votes.db"))
    assert "cannot tell which favours the longer answer more" in out
