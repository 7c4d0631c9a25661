"""The arena-rank style-control convention against its published definition, and on the CLI.

arena-rank 0.1.1 (``ContextualBradleyTerry`` with ``ContextualPairDataset.from_pandas``
defaults): features z-scored, weights 1 / max(battles of the unordered pair, 50) divided by
their mean, loss = -mean(w * (y z - softplus(z))) + 0.5 * 1.0 * ||coeffs||^2 with z =
r_a - r_b + x . coeffs, ratings unpenalised and reported as 400 / ln 10 * r + 1000.
The reference below writes that loss out and minimises it with scipy, independently of
blindside's Newton solver.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from scoring.battles_table import BattleTable
from scoring.leaderboard import compute_leaderboard
from scoring.simulate import simulate_arena
from tui.cli import main


def arena_rank_reference(arena) -> tuple[dict[str, float], np.ndarray]:
    """Ratings (points, mean 1000) and coefficients from the written-out arena-rank loss."""
    models = sorted(set(arena.model_a) | set(arena.model_b))
    index = {m: k for k, m in enumerate(models)}
    a = np.array([index[m] for m in arena.model_a])
    b = np.array([index[m] for m in arena.model_b])
    y = np.array([{"model_a": 1.0, "model_b": 0.0}.get(w, 0.5) for w in arena.winner])
    d = (arena.features_a - arena.features_b) / (arena.features_a + arena.features_b + 1.0)
    x = (d - d.mean(axis=0)) / d.std(axis=0)
    pair = [tuple(sorted(p)) for p in zip(a.tolist(), b.tolist())]
    counts = {p: pair.count(p) for p in set(pair)}
    w = np.array([1.0 / max(counts[p], 50) for p in pair])
    w = w / w.mean()
    K, n = len(models), len(y)

    def loss_and_grad(params):
        r, beta = params[:K], params[K:]
        z = r[a] - r[b] + x @ beta
        ll = y * z - np.logaddexp(0.0, z)
        loss = -np.mean(w * ll) + 0.5 * 1.0 * beta @ beta
        e = -w * (y - expit(z)) / n
        grad_r = np.bincount(a, e, K) - np.bincount(b, e, K)
        return loss, np.concatenate([grad_r, x.T @ e + beta])

    fit = minimize(loss_and_grad, np.zeros(K + x.shape[1]), jac=True, method="L-BFGS-B",
                   options={"maxiter": 20_000, "maxcor": 50, "ftol": 1e-16, "gtol": 1e-13})
    r = fit.x[:K] - fit.x[:K].mean()
    points = 400.0 / math.log(10.0) * r + 1000.0
    return dict(zip(models, points.tolist())), fit.x[K:]


@pytest.fixture(scope="module")
def small_arena():
    return simulate_arena(3000, seed=11)


def test_arena_rank_convention_matches_its_published_definition(small_arena):
    ratings, coefficients = arena_rank_reference(small_arena)
    board = compute_leaderboard(small_arena.table(), ci="sandwich", style_convention="arena-rank").to_json()
    assert board["style_convention"] == "arena-rank"
    ours = {r["model"]: r["style_controlled"]["rating"] for r in board["models"]}
    assert ours.keys() == ratings.keys()
    for model, value in ratings.items():
        assert ours[model] == pytest.approx(value, abs=1e-4), model
    got = [c["log_odds_per_sd"] for c in board["style_coefficients"].values()]
    assert np.allclose(got, coefficients, atol=1e-6)


def test_arena_rank_weights_are_not_the_fastchat_loss(small_arena):
    """The pin above must be able to fail: FastChat's convention gives other numbers."""
    ratings, _ = arena_rank_reference(small_arena)
    fastchat = compute_leaderboard(small_arena.table(), ci="sandwich").to_json()
    assert fastchat["style_convention"] == "fastchat"
    gaps = [abs(r["style_controlled"]["rating"] - ratings[r["model"]]) for r in fastchat["models"]]
    assert max(gaps) > 1.0


def test_arena_rank_defaults_shrink_the_coefficients_and_keep_the_chatty_twin_ahead():
    arena = simulate_arena(20_000, seed=7)
    table = arena.table()
    fastchat = compute_leaderboard(table, ci="sandwich").to_json()
    arena_rank = compute_leaderboard(table, ci="sandwich", style_convention="arena-rank").to_json()
    for feature in ("length", "emoji"):
        fc = fastchat["style_coefficients"][feature]["log_odds_per_sd"]
        ar = arena_rank["style_coefficients"][feature]["log_odds_per_sd"]
        assert 0 < ar < fc / 5, feature
    fc_rows = {r["model"]: r for r in fastchat["models"]}
    ar_rows = {r["model"]: r for r in arena_rank["models"]}
    raw_gap = fc_rows[arena.twin]["rating"] - fc_rows[arena.base]["rating"]
    fastchat_gap = fc_rows[arena.twin]["style_controlled"]["rating"] - fc_rows[arena.base]["style_controlled"]["rating"]
    arena_rank_gap = ar_rows[arena.twin]["style_controlled"]["rating"] - ar_rows[arena.base]["style_controlled"]["rating"]
    assert raw_gap > 100 and abs(fastchat_gap) < 30  # FastChat's control removes the twin's lead
    assert arena_rank_gap > 0.8 * raw_gap  # arena-rank's defaults leave most of it


@pytest.mark.parametrize("ci", ["sandwich", "bootstrap"])
def test_arena_rank_intervals(small_arena, ci):
    board = compute_leaderboard(small_arena.table(), ci=ci, rounds=30, style_convention="arena-rank").to_json()
    for row in board["models"]:
        sc = row["style_controlled"]
        assert sc["ci"][0] < sc["rating"] < sc["ci"][1]
        assert 2.0 < sc["ci"][1] - sc["ci"][0] < 200.0
    for c in board["style_coefficients"].values():
        assert c["ci"][0] <= c["log_odds_per_sd"] <= c["ci"][1]


def test_unknown_convention_is_refused(small_arena):
    with pytest.raises(ValueError, match="style_convention"):
        compute_leaderboard(small_arena.table(), style_convention="lmarena")


def test_convention_with_no_battles():
    board = compute_leaderboard(BattleTable.from_records([], [], []), style_convention="arena-rank").to_json()
    assert board["style_convention"] == "arena-rank" and board["models"] == []


@pytest.fixture(scope="module")
def sim_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("convention") / "sim.db"
    assert main(["simulate", "--db", str(db), "--battles", "3000", "--rounds", "5", "--json"]) == 0
    return db


def test_leaderboard_cli_names_the_convention(sim_db, capsys):
    capsys.readouterr()
    assert main(["leaderboard", "--db", str(sim_db), "--ci", "sandwich", "--style-convention", "arena-rank",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["style_convention"] == "arena-rank"
    assert main(["leaderboard", "--db", str(sim_db), "--ci", "sandwich", "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert default["style_convention"] == "fastchat"
    assert default["style_coefficients"]["length"]["log_odds_per_sd"] > \
        5 * result["style_coefficients"]["length"]["log_odds_per_sd"]
    assert main(["leaderboard", "--db", str(sim_db), "--ci", "sandwich", "--style-convention", "arena-rank"]) == 0
    text = capsys.readouterr().out
    assert "Style convention: arena-rank" in text


def test_leaderboard_cli_refuses_an_unknown_convention(sim_db, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["leaderboard", "--db", str(sim_db), "--style-convention", "elo"])
    assert exc.value.code == 2
    assert "--style-convention" in capsys.readouterr().err
