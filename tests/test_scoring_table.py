import json
import subprocess
import sys

import numpy as np
import pytest

from scoring.battles_table import BOTH_BAD, STYLE_FEATURES, TIE, WIN_A, WIN_B, BattleTable, winner_codes


def test_from_records_maps_models_and_winners():
    t = BattleTable.from_records(
        ["b", "a", "c", "a"], ["a", "c", "b", "b"], ["model_a", "model_b", "tie", "both_bad"]
    )
    assert t.models == ["a", "b", "c"]
    assert t.a.tolist() == [1, 0, 2, 0]
    assert t.b.tolist() == [0, 2, 1, 1]
    assert t.winner_code.tolist() == [WIN_A, WIN_B, TIE, BOTH_BAD]
    assert t.outcome.tolist() == [1.0, 0.0, 0.5, 0.5]
    assert t.features_a is None and t.order is None
    assert t.time_order().tolist() == [0, 1, 2, 3]


def test_from_records_accepts_numpy_input_and_old_bothbad_label():
    t = BattleTable.from_records(np.array(["x", "y"]), np.array(["y", "x"]), np.array(["tie (bothbad)", "model_b"]))
    assert t.winner_code.tolist() == [BOTH_BAD, WIN_B]


def test_unknown_winner_label_is_rejected():
    with pytest.raises(ValueError, match="unknown winner label 'draw'"):
        BattleTable.from_records(["a"], ["b"], ["draw"])


def test_length_mismatch_and_feature_shape_are_rejected():
    with pytest.raises(ValueError):
        BattleTable.from_records(["a", "b"], ["b"], ["tie", "tie"])
    with pytest.raises(ValueError):
        BattleTable.from_records(["a"], ["b"], ["tie"], features_a=np.zeros((1, 4)), features_b=np.zeros((1, 4)))
    with pytest.raises(ValueError):
        BattleTable.from_records(["a"], ["b"], ["tie"], features_a=np.zeros((1, 5)))


def test_winner_codes_vectorised_matches_loop():
    labels = ["model_a", "model_b", "tie", "both_bad"]
    rng = np.random.default_rng(0)
    w = [labels[i] for i in rng.integers(0, 4, 1000)]
    assert winner_codes(w).tolist() == [labels.index(x) for x in w]


def test_timestamps_give_time_order_and_subset_keeps_it():
    t = BattleTable.from_records(["a", "b", "a"], ["b", "a", "b"], ["model_a", "model_a", "tie"], timestamps=[30, 10, 20])
    assert t.time_order().tolist() == [1, 2, 0]
    s = t.subset(np.array([True, False, True]))
    # kept rows 0 (t=30) and 2 (t=20): new positions 0 and 1, time order 1 then 0
    assert s.time_order().tolist() == [1, 0]
    assert s.n == 2


def test_swapped_flips_sides_and_winners():
    fa = np.arange(10.0).reshape(2, 5)
    t = BattleTable.from_records(["a", "b"], ["b", "a"], ["model_a", "tie"], fa, fa + 1)
    s = t.swapped()
    assert s.a.tolist() == t.b.tolist() and s.b.tolist() == t.a.tolist()
    assert s.winner_code.tolist() == [WIN_B, TIE]
    assert np.array_equal(s.features_a, t.features_b)


def test_style_feature_names():
    assert STYLE_FEATURES == ("length", "emoji", "header", "list", "bold")


def test_scoring_never_imports_battles_tui_or_textual():
    code = (
        "import sys, scoring, scoring.battles_table, scoring.bt, scoring.elo, scoring.trueskill_ratings, "
        "scoring.stats, scoring.leaderboard, scoring.simulate\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('battles', 'tui', 'textual'))\n"
        "print(__import__('json').dumps(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_leaderboard_text_does_not_import_textual():
    code = (
        "import sys, tui.leaderboard_text\n"
        "print(__import__('json').dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
