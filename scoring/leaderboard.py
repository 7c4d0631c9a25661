"""One call from a battle table to a leaderboard: a ``scoring.results.Leaderboard``.

The field names below are those of the typed result and of its JSON form
(``Leaderboard.to_json()``, the output of ``blindside leaderboard --json``).

Methods
    ``bt`` (default): Bradley-Terry maximum likelihood (see :mod:`scoring.bt`),
        rating = full-data fit; interval from ``ci`` = ``bootstrap`` (2.5/97.5
        percentiles over ``rounds`` resamples of battles, fixed ``seed``) or
        ``sandwich`` (Huber-White, +-1.96 sigma).
    ``elo``: online Elo in time order (k = 4), rating = that single pass.
        There is no sandwich for a sequential rating, so the interval is
        always the bootstrap of :func:`scoring.elo.bootstrap_online_elo`
        (resample, replay in time order); ``ci`` is reported as
        ``bootstrap`` and a note says so when ``sandwich`` was asked.
    ``trueskill``: rating = mu on TrueSkill's own scale (default mu 25),
        interval = [mu - 3 sigma, mu + 3 sigma] (``ci`` = ``trueskill_3sigma``);
        the lower end is TrueSkill's conservative rating, also given as
        ``conservative`` with ``mu`` and ``sigma``.  The interval is the
        posterior spread, not a resampling interval.

Models the votes cannot place (``bt``)
    Plain Bradley-Terry has a finite maximum-likelihood rating only on a
    strongly connected comparison graph (edge loser -> winner per decisive
    battle, both ways for a tie or both_bad; see
    :func:`scoring.bt.placed_models`).  Models outside the clearly largest
    strongly connected component (or every model, when no component is
    clearly the largest, e.g. two models and one decisive vote) are marked
    ``provisional``: their ``rating`` is kept (a placeholder the tiny
    ridge produced, thousands of points out, never to be shown), their ``ci``
    is None (unbounded; ``[None, None]`` in JSON) and in the rank rule their bounds count as
    -inf / +inf, so a provisional model ranks 1 and pushes nobody down.  A
    note in ``notes`` says how many there are and why.  Ratings (and every
    bootstrap resample) are centred on the placed models (mean 1000 over
    them before any anchor), so a placeholder neither shifts nor widens the
    placed models' ratings.  A provisional model cannot be the anchor (the
    raw board is then left unanchored, with a note).  Every model entry has
    ``provisional`` (always false for ``elo`` and ``trueskill``, whose
    ratings are finite by construction); the ``style_controlled`` entry of a
    model the votes cannot place is ``provisional`` too, although the
    penalised style fit gives it a finite rating.

Very few battles (``bt``)
    A placed model with fewer than 5 battles gets an interval at least as
    wide as the normal interval (+-1.96 sigma) from the larger of the
    sandwich and the model-based (inverse Fisher information) variance: a
    percentile bootstrap of a handful of battles is far too narrow (often a
    single point), and the sandwich alone collapses too when the residuals
    vanish (one tie between two models).  With ``ci="sandwich"`` the
    model-based floor applies.  Such models are widened, not made
    provisional; a note lists them.

Style control always refers to the contextual Bradley-Terry fit (with the
requested interval method; for ``elo`` and ``trueskill``: bootstrap unless
``ci="sandwich"``).  For ``elo``/``trueskill`` ``style_controlled`` holds that
BT fit's rating (on the BT scale) and ``rank_shift`` compares the method's own
rank with the style-controlled BT rank.

Rank = 1 + the number of models whose lower bound is above this model's upper
bound (LMArena's rule), computed separately for the raw and the
style-controlled board.

Variant families (``families``, ``family_globs``; see :mod:`scoring.families`)
    ``families``: (model name, family) pairs (the config's ``family = "NAME"``);
    ``family_globs``: (fnmatch glob, family) pairs (``--family GLOB=NAME``), matched
    case-sensitively on whole model names, taking precedence over ``families``. A glob that
    matches no model of the counted battles is said once in ``notes`` (and in
    ``family_warnings``); a model two families claim stays in the first, with a note.
    ``families`` (JSON: top-level list) holds each family with a member on the board:
    ``{"name", "members", "best", "best_of", "expected_selection_inflation",
    "selection_adjusted_ci", "advice", "style_controlled"}``. ``best`` is the placed member
    with the highest rating and ``best_of`` the number of placed members; both, the figures
    and ``advice`` are null with fewer than two placed members (nothing was picked).
    ``style_controlled`` is ``{"best", "best_of", "expected_selection_inflation",
    "selection_adjusted_ci"}`` on the style-controlled board (its best member may differ), or
    null. Each member's model entry has ``family``: ``{"name", "members", "best_of", "best":
    bool, "expected_selection_inflation", "selection_adjusted_ci", "advice",
    "style_controlled"}``, the figures and advice set on the best member only (null on the
    others); ``style_controlled`` there is ``{"best_of", "best", "expected_selection_inflation",
    "selection_adjusted_ci"}`` or null. Models in no family have ``"family": null``.
    TrueSkill's mu +- 3 sigma is no 95% interval: its raw board gets no figures (a note says so).

Anchor: ``anchor=(model, rating)`` shifts every rating and interval of a board
by one constant so that ``model`` gets ``rating`` (its interval keeps its
width; ranks are unchanged).  Applied to the raw board and, separately, to the
style-controlled board.  An anchor model absent from the battles is ignored
with a note.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .battles_table import STYLE_FEATURES, BattleTable
from .bt import (
    SCALE,
    STYLE_CONVENTIONS,
    Z95,
    Rows,
    contextual_sandwich_cov,
    fit_contextual,
    fit_contextual_bootstrap,
    fit_plain_batched,
    pair_cells,
    PairCells,
    percentile_interval,
    placed_models,
    plain_bootstrap_counts,
    plain_model_cov,
    plain_sandwich_cov,
    rank_from_intervals,
    style_convention_setup,
    style_design,
    to_points,
)
from .results import (
    CI_METHODS,
    EXCLUSION_KEYS,
    METHODS,
    Anchor,
    Exclusions,
    Family,
    FamilySelection,
    Leaderboard,
    ModelRating,
    PairwiseMatrices,
    PositionBias,
    StyleCoefficient,
    StyleRating,
    TrueSkillFit,
    describe_style_coefficient,
)
from .stats import model_counts, pairwise_matrices, position_bias

__all__ = ["CI_METHODS", "EXCLUSION_KEYS", "METHODS", "compute_leaderboard", "describe_style_coefficient"]
# below this many battles an interval is widened to at least the normal-theory one (see above)
FEW_BATTLES = 5

def _anchor_shift(points: np.ndarray, models: list[str], present: np.ndarray, anchor, notes, label) -> float:
    if anchor is None:
        return 0.0
    name, value = anchor
    if name not in models or not present[models.index(name)]:
        notes.append(f"anchor model {name!r} has no battles in the {label} fit; no anchor applied there")
        return 0.0
    return float(value) - float(points[models.index(name)])


def _centre(theta: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """Shift (..., K) ratings to mean zero over the placed models (if any)."""
    if not placed.any():
        return theta
    return theta - theta[..., placed].mean(-1, keepdims=True)


def _centred_se(cov: np.ndarray, placed: np.ndarray) -> np.ndarray:
    """Rating-point standard errors of theta - mean(theta[placed]) given cov(theta)."""
    K = cov.shape[0]
    w = placed / placed.sum() if placed.any() else np.full(K, 1.0 / K)
    cw = cov @ w
    var = np.diag(cov) - 2.0 * cw + w @ cw
    return SCALE * np.sqrt(np.maximum(var, 0.0))


# a note names at most this many characters of a model (names come from imports: any length)
_NOTE_NAME_WIDTH = 60


def _name_list(names: list[str], limit: int = 5) -> str:
    cut = [n if len(n) <= _NOTE_NAME_WIDTH else n[: _NOTE_NAME_WIDTH - 1] + "…" for n in names[:limit]]
    shown = ", ".join(cut)
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _plain_bt(table, cells: PairCells, placed, battles, ci, rounds, rng, notes):
    """(points, lo, hi) of the plain BT board, centred on the placed models."""
    theta_fit = fit_plain_batched(cells)[0]
    points = to_points(_centre(theta_fit, placed))
    few = placed & (battles < FEW_BATTLES)
    if ci == "bootstrap":
        boot = fit_plain_batched(cells, plain_bootstrap_counts(cells, rounds, rng))
        lo, hi = percentile_interval(to_points(_centre(boot, placed)))
        if few.any():
            se = np.maximum(
                _centred_se(plain_sandwich_cov(cells, theta_fit), placed),
                _centred_se(plain_model_cov(cells, theta_fit), placed),
            )
            lo = np.where(few, np.minimum(lo, points - Z95 * se), lo)
            hi = np.where(few, np.maximum(hi, points + Z95 * se), hi)
    else:
        se = _centred_se(plain_sandwich_cov(cells, theta_fit), placed)
        if few.any():
            se = np.where(few, np.maximum(se, _centred_se(plain_model_cov(cells, theta_fit), placed)), se)
        lo, hi = points - Z95 * se, points + Z95 * se
    if few.any():
        names = [table.models[m] for m in np.flatnonzero(few)]
        floor = "the larger of its sandwich and model-based" if ci == "bootstrap" else "its model-based"
        notes.append(
            f"fewer than {FEW_BATTLES} battles ({_name_list(names)}): a {ci} interval of so few battles "
            f"is too narrow, so it is widened to at least {floor} 95% interval"
        )
    return points, lo, hi


def _raw_board(table, method, ci, rounds, rng, k, draw_probability, notes, cells=None, placed=None, battles=None):
    """(points, lo, hi, ci_used, per-model TrueSkillFit or None)."""
    K = len(table.models)
    extra = [None] * K
    if method == "bt":
        points, lo, hi = _plain_bt(table, cells, placed, battles, ci, rounds, rng, notes)
        return points, lo, hi, ci, extra
    if method == "elo":
        from .elo import bootstrap_online_elo, online_elo

        order = table.time_order()
        points = online_elo(table.a, table.b, table.outcome, K, order=order, k=k)
        if ci == "sandwich":
            notes.append("elo has no sandwich estimate; its interval is the time-ordered bootstrap")
        boot = bootstrap_online_elo(table.a, table.b, table.outcome, K, rounds, rng, order=order, k=k)
        lo, hi = percentile_interval(boot)
        return points, lo, hi, "bootstrap", extra
    # trueskill (its package loads only for this method)
    from .trueskill_ratings import empirical_draw_probability, make_env, trueskill_fit

    if draw_probability is None:
        draw_probability = empirical_draw_probability(table.winner_code)
    env = make_env(draw_probability)
    mu, sigma, env = trueskill_fit(table.a, table.b, table.winner_code, K, order=table.time_order(), env=env)
    for m in range(K):
        extra[m] = TrueSkillFit(float(mu[m]), float(sigma[m]), float(mu[m] - 3 * sigma[m]))
    notes.append(
        f"trueskill: rating = mu, interval = mu +- 3 sigma (lower end = conservative rating); "
        f"draw probability {env.draw_probability:.3f}"
    )
    return mu.copy(), mu - 3 * sigma, mu + 3 * sigma, "trueskill_3sigma", extra


def _style_board(table, ci, rounds, rng, anchor, notes, convention="fastchat"):
    """None, or dict with per-model arrays (NaN for models absent) and coefficients."""
    K = len(table.models)
    design = style_design(table.features_a, table.features_b, STYLE_FEATURES)
    if design is None:
        return None, table.n
    keep = design.keep
    m = int(keep.sum())
    if m == 0:
        return None, design.n_missing
    if design.n_missing:
        rows = Rows(K, table.a[keep], table.b[keep], table.outcome[keep], design.Xt)
    else:
        rows = Rows(K, table.a, table.b, table.outcome, design.Xt)
    cluster = table.cluster if table.cluster is None or not design.n_missing else table.cluster[keep]
    F = len(design.features)
    # warm start: the plain fit on the same battles (cheap: it runs on pairs)
    start = np.zeros(K + F)
    start[:K] = fit_plain_batched(pair_cells(rows.a, rows.b, rows.y, K))[0]
    reg, weight = style_convention_setup(convention, rows)
    theta, _ = fit_contextual(rows, reg=reg, weight=weight, theta0=start)
    present = (np.bincount(rows.a, minlength=K) + np.bincount(rows.b, minlength=K)) > 0
    points = to_points(theta[:K])
    beta = theta[K:]
    if ci == "bootstrap":
        boot = fit_contextual_bootstrap(rows, theta, rounds, rng, reg=reg, weight=weight, cluster=cluster)
        lo, hi = percentile_interval(to_points(boot[:, :K]))
        blo, bhi = percentile_interval(boot[:, K:]) if F else (np.zeros(0), np.zeros(0))
    else:
        cov = contextual_sandwich_cov(rows, theta, reg=reg, weight=weight, cluster=cluster)
        se = np.sqrt(np.maximum(np.diag(cov), 0.0))
        lo, hi = points - Z95 * SCALE * se[:K], points + Z95 * SCALE * se[:K]
        blo, bhi = beta - Z95 * se[K:], beta + Z95 * se[K:]
    shift = _anchor_shift(points, table.models, present, anchor, notes, "style-controlled")
    points, lo, hi = points + shift, lo + shift, hi + shift
    rank = np.zeros(K, dtype=np.int64)
    idx = np.flatnonzero(present)
    rank[idx] = rank_from_intervals(lo[idx], hi[idx])
    coefs = {
        name: StyleCoefficient(
            log_odds_per_sd=float(beta[f]),
            ci=(float(blo[f]), float(bhi[f])),
            odds_ratio=float(math.exp(beta[f])),
            sd_of_ratio=float(design.std[f]),
            constant=bool(design.std[f] == 0),
        )
        for f, name in enumerate(design.features)
    }
    return {
        "points": points,
        "lo": lo,
        "hi": hi,
        "rank": rank,
        "present": present,
        "coefficients": coefs,
        "battles_used": m,
    }, design.n_missing


def _family_selection(entries) -> FamilySelection | None:
    from .families import best_of_family

    best = best_of_family(entries)
    if best is None:
        return None
    return FamilySelection(best.best, best.best_of, best.expected_inflation, best.adjusted_ci)


def _families(rows: list[ModelRating], named, globs, ci_used: str, notes: list[str]):
    """(families with a member on the board, warnings about globs matching no model)."""
    if not named and not globs:
        return (), ()
    from .families import resolve_families

    membership = resolve_families([r.model for r in rows], named, globs)
    warnings = tuple(f"family glob {pattern!r} (family {name!r}) matches no model in the counted battles"
                     for pattern, name in membership.unmatched_globs)
    notes.extend(warnings)
    for model, kept, ignored in membership.conflicts:
        notes.append(f"{model!r} is declared in families {kept!r} and {ignored!r}; it counts in {kept!r}")
    by_name = {r.model: r for r in rows}
    found = []
    for name, members in membership.members.items():
        entries = [by_name[m] for m in members]
        raw = None
        if ci_used != "trueskill_3sigma":
            raw = _family_selection([(e.model, e.rating, *e.ci) for e in entries if e.placed])
        styled = _family_selection([(e.model, e.style_controlled.rating, *e.style_controlled.ci) for e in entries
                                    if e.style_controlled is not None and not e.style_controlled.provisional])
        found.append(Family(name, members, raw, styled))
    if ci_used == "trueskill_3sigma" and any(sum(by_name[m].placed for m in f.members) > 1 for f in found):
        notes.append("families: TrueSkill's mu +- 3 sigma is not a 95% interval, so the selection figures "
                     "of the best variant are given for the style-controlled board only")
    return tuple(found), warnings


def _position_bias(table: BattleTable) -> PositionBias:
    bias = position_bias(table)
    adjusted = bias["adjusted_ci"]
    return PositionBias(
        left_win_rate=bias["left_win_rate"],
        ci=tuple(bias["ci"]),
        left_wins=bias["left_wins"],
        decisive_battles=bias["decisive_battles"],
        adjusted_log_odds=bias["adjusted_log_odds"],
        adjusted_ci=None if adjusted is None else tuple(adjusted),
    )


def compute_leaderboard(
    table: BattleTable,
    method: str = "bt",
    ci: str = "bootstrap",
    rounds: int = 100,
    seed: int = 0,
    anchor: tuple[str, float] | None = None,
    style_control: bool = True,
    excluded: dict[str, int] | None = None,
    *,
    k: float = 4.0,
    draw_probability: float | None = None,
    matrices: bool = False,
    style_convention: str = "fastchat",
    families=(),
    family_globs=(),
) -> Leaderboard:
    """Leaderboard of the (already filtered) battles; see the module docstring.

    ``excluded``: counts of battles the caller filtered out, passed through
    into ``battles_excluded`` (``missing_style`` is added to by this call).
    ``matrices=True`` adds ``matrices`` (pairwise battle and win-rate tables).
    ``style_convention``: ``fastchat`` or ``arena-rank`` (see :mod:`scoring.bt`).
    ``families``, ``family_globs``: variant families (see the module docstring).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    if rounds < 1:
        raise ValueError("rounds must be at least 1")
    if style_convention not in STYLE_CONVENTIONS:
        raise ValueError(f"style_convention must be one of {STYLE_CONVENTIONS}, got {style_convention!r}")
    notes: list[str] = []
    K = len(table.models)
    plain_ss, style_ss = np.random.SeedSequence(seed).spawn(2)

    counts = model_counts(table)
    present = counts["battles"] > 0
    # models the votes cannot place on a Bradley-Terry board (the style board is always BT)
    unplaced = np.zeros(K, dtype=bool)
    if table.n:
        cells = pair_cells(table.a, table.b, table.outcome, K, cluster=table.cluster)
        placed = placed_models(cells)
        unplaced = present & ~placed
        points, lo, hi, ci_used, extra = _raw_board(
            table, method, ci, rounds, np.random.default_rng(plain_ss), k, draw_probability, notes,
            cells=cells, placed=placed, battles=counts["battles"],
        )
    else:
        points = lo = hi = np.zeros(K)
        ci_used, extra = ci, [None] * K
    provisional = unplaced if method == "bt" else np.zeros(K, dtype=bool)
    if provisional.any():
        n_prov = int(provisional.sum())
        names = [table.models[m] for m in np.flatnonzero(provisional)]
        notes.insert(
            0,
            f"the votes cannot place {n_prov} of {int(present.sum())} models yet ({_name_list(names)}): "
            "a model that has only won or only lost has no finite Bradley-Terry rating; more votes "
            "will place it. Until then its rating is provisional, a placeholder with an unbounded interval",
        )
        lo, hi = lo.copy(), hi.copy()
        lo[provisional], hi[provisional] = -np.inf, np.inf
    if anchor is not None and anchor[0] in table.models and provisional[table.models.index(anchor[0])]:
        notes.append(f"anchor model {anchor[0]!r} is provisional on the raw board; no anchor applied there")
        shift = 0.0
    else:
        shift = _anchor_shift(points, table.models, present, anchor, notes, "raw")
    points, lo, hi = points + shift, lo + shift, hi + shift
    rank = np.zeros(K, dtype=np.int64)
    idx = np.flatnonzero(present)
    rank[idx] = rank_from_intervals(lo[idx], hi[idx])

    style = None
    missing_style = 0
    if style_control and table.n:
        if table.has_features:
            style, missing_style = _style_board(
                table, ci, rounds, np.random.default_rng(style_ss), anchor, notes, style_convention
            )
        else:
            missing_style = table.n
        if style is not None and method != "bt":
            notes.append("style_controlled is the contextual Bradley-Terry fit (BT scale)")
            if unplaced.any():
                notes.append(
                    f"{int(unplaced.sum())} style-controlled rating(s) provisional: the votes cannot place "
                    "them on a Bradley-Terry board yet (only won or only lost)"
                )

    rows = []
    for m in range(K):
        if not present[m]:
            continue
        wins, losses = int(counts["wins"][m]), int(counts["losses"][m])
        decisive = wins + losses
        styled = None
        if style is not None and style["present"][m]:
            srank = int(style["rank"][m])
            styled = StyleRating(
                rating=float(style["points"][m]),
                ci=(float(style["lo"][m]), float(style["hi"][m])),
                rank=srank,
                rank_shift=int(rank[m]) - srank,
                provisional=bool(unplaced[m]),
            )
        rows.append(ModelRating(
            model=table.models[m],
            battles=int(counts["battles"][m]),
            wins=wins,
            losses=losses,
            ties=int(counts["ties"][m]),
            both_bad=int(counts["both_bad"][m]),
            win_rate=(wins / decisive) if decisive else None,
            rating=float(points[m]),
            ci=None if provisional[m] else (float(lo[m]), float(hi[m])),
            rank=int(rank[m]),
            provisional=bool(provisional[m]),
            style_controlled=styled,
            trueskill=extra[m],
        ))
    rows.sort(key=lambda r: (-r.rating, r.model))
    found, family_warnings = _families(rows, families, family_globs, ci_used, notes)
    if found:
        family_of = {model: f for f in found for model in f.members}
        rows = [dataclasses.replace(r, family=family_of.get(r.model)) for r in rows]

    battles_excluded = dict(excluded or {})
    battles_excluded["missing_style"] = int(battles_excluded.get("missing_style", 0)) + int(missing_style)

    anchor_out = None
    if anchor is not None and anchor[0] in table.models and present[table.models.index(anchor[0])]:
        anchor_out = Anchor(anchor[0], float(anchor[1]))

    return Leaderboard(
        method=method,
        ci=ci_used,
        rounds=rounds if ci_used == "bootstrap" else None,
        seed=seed,
        anchor=anchor_out,
        battles_used=table.n,
        style_control=bool(style_control),
        style_battles_used=None if style is None else style["battles_used"],
        battles_excluded=Exclusions.of(battles_excluded),
        models=tuple(rows),
        style_coefficients=None if style is None else style["coefficients"],
        position_bias=_position_bias(table),
        notes=tuple(notes),
        matrices=PairwiseMatrices.from_json(pairwise_matrices(table)) if matrices else None,
        style_convention=style_convention,
        families=found,
        family_warnings=family_warnings,
    )
