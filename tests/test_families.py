"""Variant families: the best of k variants, its expected selection inflation and the interval
that allows for the pick, checked against known truth by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from battles.config import config_families, parse_config
from battles.errors import ConfigError
from scoring.battles_table import BattleTable
from scoring.families import (
    Z95,
    best_of_family,
    expected_max,
    resolve_families,
    selection_adjusted_interval,
    simultaneous_z,
    standard_error,
)
from scoring.leaderboard import compute_leaderboard
from scoring.selection import expected_max_normal
from scoring.simulate import BASE, TWIN, simulate_arena
from tui.leaderboard_text import render_leaderboard

# -- the math against closed forms and Monte Carlo ------------------------------------------------


def test_expected_max_of_equal_errors_is_sigma_times_the_expected_max_normal():
    assert expected_max([7.0, 7.0]) == pytest.approx(7.0 / math.sqrt(math.pi), rel=1e-9)  # E[max of 2] = 1/sqrt(pi)
    assert expected_max([5.0] * 27) == pytest.approx(5.0 * expected_max_normal(27), rel=1e-9)
    assert expected_max([3.0]) == 0.0


def test_expected_max_of_unequal_errors_matches_the_closed_form_and_monte_carlo():
    # two members: E[max(s1 Z1, s2 Z2)] = sqrt((s1^2 + s2^2) / (2 pi))
    assert expected_max([3.0, 8.0]) == pytest.approx(math.sqrt((9 + 64) / (2 * math.pi)), rel=1e-7)
    s = np.array([2.0, 5.0, 5.5, 11.0])
    draws = np.random.default_rng(1).standard_normal((400_000, s.size)) * s
    assert expected_max(s) == pytest.approx(draws.max(1).mean(), abs=0.03)
    assert expected_max([0.0, 4.0]) == pytest.approx(4.0 / math.sqrt(2 * math.pi), rel=1e-7)  # max(0, 4Z)


def test_sidak_value_gives_simultaneous_coverage():
    assert simultaneous_z(1) == pytest.approx(Z95)
    for k in (2, 3, 10, 27):
        z = simultaneous_z(k)
        assert (2 * stats.norm.cdf(z) - 1) ** k == pytest.approx(0.95, abs=1e-12)
        assert z > simultaneous_z(k - 1)
    assert standard_error(1000.0, 990.2, 1009.8) == pytest.approx(9.8 / Z95)
    # a bootstrap interval keeps its asymmetry: each side stretched by z_k / 1.96
    lo, hi = selection_adjusted_interval(1000.0, 990.0, 1020.0, 4)
    stretch = simultaneous_z(4) / Z95
    assert (1000 - lo, hi - 1000) == pytest.approx((10 * stretch, 20 * stretch))


def _select_and_cover(truth: np.ndarray, se: np.ndarray, rng, trials: int):
    """Publish the best of k normal estimates per trial: (inflation, naive covers, adjusted covers)."""
    k = truth.size
    estimates = truth + se * rng.standard_normal((trials, k))
    pick = estimates.argmax(1)
    rows = np.arange(trials)
    published, true, s = estimates[rows, pick], truth[pick], se[pick]
    naive = (published - Z95 * s <= true) & (true <= published + Z95 * s)
    z = simultaneous_z(k)
    adjusted = (published - z * s <= true) & (true <= published + z * s)
    return published - true, naive, adjusted


def test_equal_variants_the_pick_is_inflated_as_expected_and_only_the_adjusted_interval_covers():
    rng = np.random.default_rng(5)
    for k in (3, 10, 27):
        se = np.full(k, 6.0)
        inflation, naive, adjusted = _select_and_cover(np.full(k, 1000.0), se, rng, 40_000)
        assert inflation.mean() == pytest.approx(expected_max(se), abs=0.05)
        assert naive.mean() == pytest.approx(0.975 ** k, abs=0.01)  # the naive interval fails more with k
        assert 0.95 <= adjusted.mean() <= 0.985  # at least 95% (about 97.5%: the pick errs upwards)


def test_unequal_variants_and_unequal_vote_counts_keep_the_adjusted_coverage():
    rng = np.random.default_rng(6)
    truth = np.array([1000.0, 1004.0, 995.0, 1010.0, 1001.0, 990.0])
    se = np.array([4.0, 9.0, 6.0, 12.0, 5.0, 8.0])
    _inflation, naive, adjusted = _select_and_cover(truth, se, rng, 40_000)
    assert adjusted.mean() >= 0.945 and naive.mean() < 0.94  # the naive one falls short of 95% (~0.92)
    # unequal errors, equal strengths: the numerical E[max] is the mean inflation
    inflation, _, _ = _select_and_cover(np.full(6, 1000.0), se, rng, 40_000)
    assert inflation.mean() == pytest.approx(expected_max(se), abs=0.1)


def _arena(rng, k: int, votes: int, field=(900.0, 950.0, 1000.0, 1050.0, 1100.0)):
    """A field of known strengths (mean 1000) that plays itself, and k variants of strength 1000
    with ``votes`` battles each against the field; no ties. Ratings are centred at 1000 over all
    models, as are the true strengths, so a rating is directly comparable with its truth."""
    field = np.asarray(field)
    names = [f"field-{i}" for i in range(field.size)]
    a, b, y = [], [], []
    n = 4000
    i = rng.integers(0, field.size, n)
    j = (i + rng.integers(1, field.size, n)) % field.size
    wins = rng.random(n) < 1 / (1 + 10 ** ((field[j] - field[i]) / 400))
    a += [names[x] for x in i]
    b += [names[x] for x in j]
    y += ["model_a" if w else "model_b" for w in wins]
    for v in range(k):
        o = rng.integers(0, field.size, votes)
        wins = rng.random(votes) < 1 / (1 + 10 ** ((field[o] - 1000.0) / 400))
        a += [f"variant-{v}"] * votes
        b += [names[x] for x in o]
        y += ["model_a" if w else "model_b" for w in wins]
    return BattleTable.from_records(a, b, y)


@pytest.mark.slow
def test_on_real_bradley_terry_boards_of_equal_variants_the_figures_match_the_truth():
    """End to end: the leaderboard's own fit, intervals and family figures over simulated boards."""
    rng = np.random.default_rng(11)
    k, trials = 8, 120
    inflation, expected, naive, adjusted = [], [], [], []
    for _ in range(trials):
        board = compute_leaderboard(_arena(rng, k, 400), ci="sandwich", style_control=False,
                                    family_globs=(("variant-*", "lab"),))
        (family,) = board.families
        pick = family.raw
        best = board.model(pick.best)
        assert pick.best_of == k and best.rating == max(board.model(m).rating for m in family.members)
        inflation.append(best.rating - 1000.0)
        expected.append(pick.expected_selection_inflation)
        naive.append(best.ci[0] <= 1000.0 <= best.ci[1])
        lo, hi = pick.selection_adjusted_ci
        adjusted.append(lo <= 1000.0 <= hi)
    inflation = np.array(inflation)
    # sd of the mean of observed inflations ~ 0.6 sigma / sqrt(120) ~ 0.6 points at sigma ~ 11
    assert inflation.mean() == pytest.approx(np.mean(expected), abs=3 * inflation.std() / math.sqrt(trials) + 0.5)
    assert np.mean(adjusted) >= 0.92  # ~0.975 expected
    assert np.mean(naive) < 0.9  # 0.975^8 = 0.82 expected
    assert np.mean(adjusted) - np.mean(naive) > 0.08


# -- declaring families ----------------------------------------------------------------------------


def test_globs_names_precedence_and_what_matched_nothing():
    models = ["llama-4-maverick-exp", "llama-4-maverick-17b", "odd[name]", "gpt-4o", "Llama-4-maverick-x"]
    found = resolve_families(models, named=[("odd[name]", "odd"), ("gpt-4o", "gpt")],
                             globs=[("llama-4-maverick*", "maverick"), ("claude-*", "claude"),
                                    ("gpt-4?", "four"), ("claude-*", "claude")])
    # globs are case-sensitive, config names are exact (brackets are not a glob there)
    assert found.members == {"maverick": ("llama-4-maverick-exp", "llama-4-maverick-17b"),
                             "odd": ("odd[name]",), "four": ("gpt-4o",)}
    assert found.unmatched_globs == (("claude-*", "claude"),)  # once, though given twice
    assert found.conflicts == (("gpt-4o", "four", "gpt"),)  # the command line wins over the config


def test_best_of_family_needs_two_placed_members():
    assert best_of_family([("a", 1000.0, 990.0, 1010.0)]) is None
    assert best_of_family([("a", 1000.0, 990.0, 1010.0), ("b", 1e6, -math.inf, math.inf)]) is None
    pick = best_of_family([("a", 1000.0, 990.0, 1010.0), ("b", 1005.0, 990.0, 1020.0)])
    assert (pick.best, pick.best_of) == ("b", 2)
    assert pick.expected_inflation == pytest.approx(expected_max([10 / Z95, 15 / Z95]))


@pytest.fixture(scope="module")
def sim():
    return simulate_arena(8000, seed=4)


def test_the_board_marks_the_best_member_in_json_and_text_raw_and_style_controlled(sim):
    board = compute_leaderboard(sim.table(), ci="sandwich", families=[(TWIN, "base"), (BASE, "base")],
                                family_globs=[("nobody-*", "ghost")])
    (family,) = board.families
    assert set(family.members) == {TWIN, BASE}
    twin, base = board.model(TWIN), board.model(BASE)
    assert family.raw.best == TWIN and twin.rating > base.rating  # the chatty twin wins raw
    assert family.style_controlled is not None
    sc_best = max((twin, base), key=lambda m: m.style_controlled.rating).model
    assert family.style_controlled.best == sc_best

    data = board.to_json()
    entry = {m["model"]: m for m in data["models"]}
    assert entry[TWIN]["family"]["best"] is True and entry[TWIN]["family"]["best_of"] == 2
    assert entry[TWIN]["family"]["expected_selection_inflation"] == pytest.approx(
        expected_max([standard_error(twin.rating, *twin.ci), standard_error(base.rating, *base.ci)]))
    lo, hi = entry[TWIN]["family"]["selection_adjusted_ci"]
    assert lo < twin.ci[0] and hi > twin.ci[1]
    assert TWIN in entry[TWIN]["family"]["advice"] and "fresh battles" in entry[TWIN]["family"]["advice"]
    assert entry[BASE]["family"]["best"] is False and entry[BASE]["family"]["selection_adjusted_ci"] is None
    assert entry[BASE]["family"]["advice"] is None
    others = [m for m in data["models"] if m["model"] not in (TWIN, BASE)]
    assert others and all(m["family"] is None for m in others)
    assert data["families"] == [family.to_json()] and data["families"][0]["best"] == TWIN
    assert data["families"][0]["style_controlled"]["best"] == sc_best
    warning = "family glob 'nobody-*' (family 'ghost') matches no model in the counted battles"
    assert board.family_warnings == (warning,) and data["notes"].count(warning) == 1

    text = render_leaderboard(board)
    twin_row = next(line for line in text.splitlines() if line.split()[1:2] == [TWIN])
    assert twin_row.rstrip().endswith("base: best of 2 variants")
    assert f"base: {TWIN} is the best of 2 variants" in text
    assert "expected selection inflation: +" in text and "interval allowing for the pick: [" in text
    assert f"re-test {TWIN} on fresh battles" in text


def test_without_families_the_board_is_unchanged(sim):
    plain = compute_leaderboard(sim.table(), ci="sandwich", style_control=False)
    assert plain.families == () and "Family" not in render_leaderboard(plain)
    assert all(m["family"] is None for m in plain.to_json()["models"])


def test_trueskill_raw_board_gets_no_figures_and_says_why(sim):
    board = compute_leaderboard(sim.table(), method="trueskill", family_globs=[("sim-*", "all")])
    (family,) = board.families
    assert family.raw is None and family.style_controlled is not None
    assert any("TrueSkill" in note and "families" in note for note in board.notes)


# -- the config -------------------------------------------------------------------------------------


def test_the_config_declares_families_on_models_by_their_board_name():
    config = parse_config({"models": {
        "exp": {"provider": "ollama", "model": "m", "family": "lab"},
        "chatty": {"provider": "ollama", "model": "m", "family": "lab", "treatment": "chatty"},
        "other": {"provider": "ollama", "model": "m"},
    }})
    assert config.models["exp"].family == "lab" and config.models["other"].family is None
    assert config_families(config) == (("exp", "lab"), ("chatty+chatty", "lab"))


@pytest.mark.parametrize("bad", ["", "   ", "two\nlines", 3, "x" * 101])
def test_a_bad_family_in_the_config_is_one_clear_error(bad):
    with pytest.raises(ConfigError) as caught:
        parse_config({"models": {"exp": {"provider": "ollama", "model": "m", "family": bad}}})
    message = str(caught.value)
    assert "'family'" in message and "exp" in message and "\n" not in message


# -- the app -----------------------------------------------------------------------------------------


async def test_the_app_leaderboard_marks_the_config_familys_best_and_shows_its_inflation(fake_provider, tmp_path):
    import dataclasses

    from battles.store import NewBattle, Store
    from tests.app_harness import SIZE, lineup, make_app, wait_for
    from tui.screens.leaderboard import LeaderboardScreen

    config = lineup(fake_provider, "fake:tokens=5", "fake:tokens=6")
    config = dataclasses.replace(config, models={name: dataclasses.replace(model, family="lab")
                                                 for name, model in config.models.items()})
    pairs = [("alpha-model", "rival", "model_a"), ("beta-model", "rival", "model_b"), ("alpha-model", "rival", "tie"),
             ("beta-model", "rival", "tie"), ("alpha-model", "beta-model", "model_a"), ("rival", "beta-model", "tie")]
    db = tmp_path / "votes.db"
    with Store(db) as store:
        store.insert_battles(NewBattle(id=f"b{i}", model_a=a, model_b=b, winner=w, source="import",
                                       created=f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}+00:00")
                             for i, (a, b, w) in enumerate(pairs * 10))
    app = make_app(config, db)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape", "l")
        board = app.screen
        assert isinstance(board, LeaderboardScreen)
        await wait_for(pilot, lambda: board.result is not None and not board.computing, what="leaderboard")
        (family,) = board.result.families
        assert family.name == "lab" and set(family.members) == {"alpha-model", "beta-model"}
        table = board.query_one("#lb-table")
        cells = [table.get_row_at(i)[1].plain for i in range(table.row_count)]
        assert [c for c in cells if "★" in c] == [f"{family.raw.best} ★ best of 2 variants"]
        summary = str(board.query_one("#lb-summary").render())
        assert f"lab: {family.raw.best} is the best of 2 variants" in summary
        assert "expected selection inflation: +" in summary and f"re-test {family.raw.best}" in summary
