"""The best of N private variants: the simulation against known truth, its shape and its CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from scoring.selection import (
    expected_max_normal,
    report_sizes,
    selection_field,
    simulate_selection,
)
from tui.cli import main

ROW_KEYS = {"n", "published_minus_truth", "published_minus_truth_sd", "retest_minus_truth",
            "style_controlled_published_minus_truth", "expected_equal_variants"}


def test_expected_max_of_standard_normals():
    # closed forms: E[max of 2] = 1/sqrt(pi), E[max of 3] = 3 / (2 sqrt(pi))
    assert expected_max_normal(1) == 0.0
    assert expected_max_normal(2) == pytest.approx(1 / math.sqrt(math.pi), abs=1e-9)
    assert expected_max_normal(3) == pytest.approx(1.5 / math.sqrt(math.pi), abs=1e-9)
    # no closed form for 27: a large sample agrees (about 2.0)
    draws = np.random.default_rng(0).standard_normal((200_000, 27)).max(axis=1).mean()
    assert expected_max_normal(27) == pytest.approx(draws, abs=0.005)


def test_report_sizes():
    assert report_sizes(1) == [1]
    assert report_sizes(5) == [1, 3, 5]
    assert report_sizes(27) == [1, 3, 10, 27]
    assert report_sizes(40) == [1, 3, 10, 27, 40]


@pytest.fixture(scope="module")
def equal_variants():
    return simulate_selection(27, votes_per_variant=2500, spread=0.0, trials=400, seed=3)


def test_equal_variants_inflate_as_theory_expects(equal_variants):
    rows = {r["n"]: r for r in equal_variants["selection"]["rows"]}
    # one variant: nothing selected, the rating is right on average
    assert abs(rows[1]["published_minus_truth"]) < 1.5
    assert abs(rows[1]["style_controlled_published_minus_truth"]) < 1.5
    # the spread of one variant's rating is the standard error theory uses
    sigma = selection_field().raw_standard_error / math.sqrt(2500)
    assert rows[1]["published_minus_truth_sd"] == pytest.approx(sigma, rel=0.1)
    for n in (3, 10, 27):
        assert rows[n]["expected_equal_variants"] == pytest.approx(sigma * expected_max_normal(n))
        assert rows[n]["published_minus_truth"] == pytest.approx(rows[n]["expected_equal_variants"], abs=1.5)
        # the style-controlled rating of the published variant is inflated as much
        assert rows[n]["style_controlled_published_minus_truth"] > 0.7 * rows[n]["expected_equal_variants"]
    assert rows[27]["published_minus_truth"] > 10.0
    # fresh votes carry no selection
    for row in rows.values():
        assert abs(row["retest_minus_truth"]) < 1.5
    # picking the maximum narrows the spread
    assert rows[27]["published_minus_truth_sd"] < rows[1]["published_minus_truth_sd"]


def test_truly_different_variants_inflate_less():
    spread = simulate_selection(27, spread=20.0, trials=150, seed=4)["selection"]["rows"][-1]
    equal = simulate_selection(27, spread=0.0, trials=150, seed=4)["selection"]["rows"][-1]
    assert 0 < spread["published_minus_truth"] < equal["published_minus_truth"] - 3


def test_shape_and_reproducibility():
    result = simulate_selection(5, votes_per_variant=300, spread=10.0, trials=20, seed=9)
    assert set(result) == {"selection"}
    sel = result["selection"]
    assert set(sel) == {"trials", "votes_per_variant", "rows"}
    assert sel["trials"] == 20 and sel["votes_per_variant"] == 300
    assert [r["n"] for r in sel["rows"]] == [1, 3, 5]
    for row in sel["rows"]:
        assert set(row) == ROW_KEYS
        assert all(math.isfinite(v) for v in row.values())
    assert simulate_selection(5, votes_per_variant=300, spread=10.0, trials=20, seed=9) == result
    assert simulate_selection(5, votes_per_variant=300, spread=10.0, trials=20, seed=10) != result


@pytest.mark.parametrize("kwargs", [dict(variants=0), dict(variants=3, votes_per_variant=9),
                                    dict(variants=3, spread=-1.0), dict(variants=3, trials=1)])
def test_function_refuses_bad_input(kwargs):
    with pytest.raises(ValueError):
        simulate_selection(**kwargs)


def test_cli_json(capsys):
    assert main(["simulate", "--variants", "4", "--votes-per-variant", "200", "--trials", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["n"] for r in out["selection"]["rows"]] == [1, 3, 4]
    assert out["selection"]["trials"] == 10 and out["selection"]["votes_per_variant"] == 200


def test_cli_text(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BLINDSIDE_DB", str(tmp_path / "votes.db"))
    assert main(["simulate", "--variants", "10", "--variant-spread", "0", "--trials", "30"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["Variants"])
    table = [line.split() for line in lines[header + 1:header + 4]]
    assert [row[0] for row in table] == ["1", "3", "10"]
    assert "Publishing the best of 10 variants overstates the model by" in text
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("argv, message", [
    (["--variants", "0"], "--variants must be at least 1"),
    (["--variants", "3", "--variant-spread", "-5"], "--variant-spread must be zero or more"),
    (["--variants", "3", "--votes-per-variant", "9"], "--votes-per-variant must be at least 10"),
    (["--trials", "20"], "--trials goes with --variants"),
])
def test_cli_bad_input(argv, message, capsys):
    assert main(["simulate", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err
    assert "Traceback" not in captured.err
