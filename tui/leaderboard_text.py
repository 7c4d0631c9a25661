"""Plain-text rendering of leaderboard results (no Textual: usable from the CLI).

``render_leaderboard(result)`` takes the dict from
``scoring.leaderboard.compute_leaderboard``; ``render_simulation(result,
arena)`` puts a simulated arena's truth beside the raw and style-controlled
boards.

A provisional model (one the votes cannot place yet: it has only won or only
lost, so its Bradley-Terry rating is unbounded) shows its placeholder rating
with a ``?`` suffix and ``not placed yet`` instead of an interval.
"""

from __future__ import annotations

from scoring.leaderboard import describe_style_coefficient
from scoring.simulate import SimulatedArena, compare_to_truth

_METHOD_NAMES = {"bt": "Bradley-Terry", "elo": "online Elo", "trueskill": "TrueSkill"}
_CI_NAMES = {
    "bootstrap": "95% bootstrap intervals",
    "sandwich": "95% sandwich intervals",
    "trueskill_3sigma": "mu +- 3 sigma",
}
_EXCLUDED_NAMES = {
    "error": "error",
    "identity_leak": "identity leak",
    "unvoted": "unvoted",
    "missing_style": "missing style features",
}


UNPLACED = "not placed yet"
PROVISIONAL_LEGEND = "?: provisional, the votes cannot place this model yet (see the note below)."


def _unplaced(ci) -> bool:
    """An interval with an open end ([None, None]): the model is provisional."""
    return ci is not None and any(v is None for v in ci)


def _fmt_rating(x: float | None, trueskill: bool = False, provisional: bool = False) -> str:
    if x is None:
        return "-"
    text = f"{x:.1f}" if trueskill else f"{x:.0f}"
    return text + "?" if provisional else text


def _fmt_ci(ci, trueskill: bool = False) -> str:
    if ci is None:
        return "-"
    if _unplaced(ci):
        return UNPLACED
    if trueskill:
        return f"[{ci[0]:.1f}, {ci[1]:.1f}]"
    return f"[{ci[0]:.0f}, {ci[1]:.0f}]"


def _fmt_shift(shift: int | None) -> str:
    if shift is None:
        return ""
    if shift > 0:
        return f"↑{shift}"
    if shift < 0:
        return f"↓{-shift}"
    return "="


def _table(headers: list[str], rows: list[list[str]], align: str) -> list[str]:
    widths = [len(h) for h in headers]
    for row in rows:
        for k, cell in enumerate(row):
            widths[k] = max(widths[k], len(cell))

    def line(cells):
        out = []
        for k, cell in enumerate(cells):
            out.append(cell.ljust(widths[k]) if align[k] == "l" else cell.rjust(widths[k]))
        return "  ".join(out).rstrip()

    lines = [line(headers), "  ".join("-" * w for w in widths)]
    lines.extend(line(r) for r in rows)
    return lines


_CONVENTION_WORDS = {
    "fastchat": "FastChat's: summed log loss, 0.25 x squared ratings and coefficients",
    "arena-rank": "arena-rank 0.1.1's: mean log loss, each battle weighted 1 / max(battles of its pair, 50), "
                  "reg 1.0 on the coefficients only",
}


def render_leaderboard(result: dict) -> str:
    """Rank, model, battles, win rate, rating [interval], style-controlled
    rating [interval], rank and shift; then style coefficients in words,
    position bias and exclusions."""
    method = result.get("method", "bt")
    ts = method == "trueskill"
    ci_name = _CI_NAMES.get(result.get("ci"), str(result.get("ci")))
    if result.get("ci") == "bootstrap" and result.get("rounds"):
        ci_name += f" ({result['rounds']} rounds)"
    out = [
        f"Leaderboard: {_METHOD_NAMES.get(method, method)}, {ci_name}, "
        f"{result.get('battles_used', 0):,} battles"
    ]
    if result.get("anchor"):
        out.append(f"Anchored: {result['anchor']['model']} = {result['anchor']['rating']:g}")
    models = result.get("models") or []
    has_style = any(m.get("style_controlled") for m in models)
    headers = ["Rank", "Model", "Battles", "Win rate", "Rating", "95% CI" if not ts else "mu +- 3 sigma"]
    align = "rlrrrl"
    if has_style:
        headers += ["Style-ctrl", "95% CI", "Rank", "Shift"]
        align += "rlrl"
    rows = []
    any_provisional = False
    for m in models:
        wr = m.get("win_rate")
        provisional = bool(m.get("provisional")) or _unplaced(m.get("ci"))
        any_provisional |= provisional
        row = [
            str(m["rank"]),
            m["model"],
            f"{m['battles']:,}",
            "-" if wr is None else f"{100 * wr:.1f}%",
            _fmt_rating(m["rating"], ts, provisional),
            _fmt_ci(m["ci"], ts),
        ]
        if has_style:
            sc = m.get("style_controlled")
            if sc:
                sc_provisional = bool(sc.get("provisional"))
                any_provisional |= sc_provisional
                row += [_fmt_rating(sc["rating"], provisional=sc_provisional), _fmt_ci(sc["ci"]), str(sc["rank"]),
                        _fmt_shift(sc.get("rank_shift"))]
            else:
                row += ["-", "", "", ""]
        rows.append(row)
    if rows:
        out.extend(_table(headers, rows, align))
    else:
        out.append("(no battles)")
    if has_style:
        out.append("Shift: raw rank minus style-controlled rank (↑ = ranks higher once style is controlled).")
    if any_provisional:
        out.append(PROVISIONAL_LEGEND)

    coefs = result.get("style_coefficients")
    if coefs:
        used = result.get("style_battles_used")
        out.append("")
        out.append(
            "Style coefficients (log-odds per SD of the style difference, 95% CI"
            + (f", {used:,} battles" if used is not None else "")
            + "):"
        )
        width = max(len(f) for f in coefs)
        for feature, c in coefs.items():
            line = f"  {feature.ljust(width)}  {c['log_odds_per_sd']:+.2f} [{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}]  "
            if c.get("constant"):
                line += "(constant in these battles: not estimable)"
            else:
                line += describe_style_coefficient(feature, c["log_odds_per_sd"])
            out.append(line)
        convention = result.get("style_convention")
        if convention:
            out.append(f"Style convention: {convention} ({_CONVENTION_WORDS.get(convention, convention)}).")
    elif result.get("models"):
        out.append("")
        if result.get("style_control", True):
            out.append("Style control: not available (no style features known for these battles).")
        else:
            out.append("Style control: off.")

    pb = result.get("position_bias")
    if pb:
        out.append("")
        text = (
            f"Position bias: the left answer won {100 * pb['left_win_rate']:.1f}% of "
            f"{pb.get('decisive_battles', 0):,} decisive battles "
            f"(95% CI {100 * pb['ci'][0]:.1f}-{100 * pb['ci'][1]:.1f}%; no bias = 50%)"
        )
        out.append(text)
        if pb.get("adjusted_log_odds") is not None:
            lo, hi = pb["adjusted_ci"]
            out.append(
                f"  adjusted for model strength: left side {pb['adjusted_log_odds']:+.3f} log-odds "
                f"[{lo:+.3f}, {hi:+.3f}]"
            )

    ex = result.get("battles_excluded") or {}
    if ex:
        out.append("")
        parts = [f"{_EXCLUDED_NAMES.get(k, k.replace('_', ' '))} {v:,}" for k, v in ex.items()]
        out.append("Excluded battles: " + ", ".join(parts))
    for note in result.get("notes") or []:
        out.append(f"Note: {note}")
    return "\n".join(out)


def render_simulation(result: dict, arena: SimulatedArena, comparison: dict | None = None) -> str:
    """Truth beside the raw and style-controlled boards of a simulated arena."""
    cmp = comparison or compare_to_truth(result, arena.true_ratings, arena.twin, arena.base)
    weights = ", ".join(f"{f} {w:+.2f}" for f, w in arena.style_weights.items() if w)
    out = [
        f"Simulated arena: {arena.n:,} battles, {len(arena.models)} models; "
        f"voters' style weights per unit of style ratio: {weights}",
        f"{arena.twin} (the chatty twin) has exactly the strength of {arena.base}, "
        "but longer, emoji-laden, heavily formatted answers.",
        "",
    ]
    has_style = cmp["spearman_style"] is not None
    headers = ["Model", "Truth", "Raw", "95% CI", "Rank"]
    align = "lrrlr"
    if has_style:
        headers += ["Style-ctrl", "95% CI", "Rank"]
        align += "rlr"
    rows = []
    for r in cmp["models"]:
        tag = "  <- chatty twin" if r["model"] == arena.twin else ("  <- its base" if r["model"] == arena.base else "")
        raw = _fmt_rating(r["raw"], provisional=_unplaced(r["raw_ci"]))
        row = [r["model"] + tag, f"{r['truth']:.0f}", raw, _fmt_ci(r["raw_ci"]), str(r["raw_rank"])]
        if has_style:
            row += [f"{r['style']:.0f}", _fmt_ci(r["style_ci"]), str(r["style_rank"])]
        rows.append(row)
    out.extend(_table(headers, rows, align))
    out.append("")
    line = f"Spearman correlation with the truth: raw {cmp['spearman_raw']:.3f}"
    if has_style:
        line += f", style-controlled {cmp['spearman_style']:.3f}"
    out.append(line)
    twin = cmp.get("twin")
    if twin:
        line = f"chatty twin vs base: raw {twin['raw']:+.0f} points"
        if twin["style"] is not None:
            line += f", style-controlled {twin['style']:+.0f} points"
        line += f" (truth: {twin['truth']:+.0f})"
        out.append(line)
    coefs = result.get("style_coefficients")
    if coefs:
        out.append("")
        out.append("Style coefficients, recovered vs true (log-odds per SD):")
        width = max(len(f) for f in coefs)
        for f, c in coefs.items():
            true = arena.true_style_log_odds_per_sd.get(f)
            t = "" if true is None else f"   truth {true:+.2f}"
            out.append(f"  {f.ljust(width)}  {c['log_odds_per_sd']:+.2f} [{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}]{t}")
    return "\n".join(out)
