"""Plain-text rendering of leaderboard results (no Textual: usable from the CLI).

``render_leaderboard(board)`` takes the ``scoring.results.Leaderboard`` from
``scoring.leaderboard.compute_leaderboard``; ``render_matrices(matrices)`` prints the pairwise
win-rate and battle-count matrices; ``render_simulation(board, arena)`` puts a simulated
arena's truth beside the raw and style-controlled boards. Every rating, interval and name goes
through ``tui.rating_format`` (the display rules the screens use too).
"""

from __future__ import annotations

from scoring.results import Leaderboard, PairwiseMatrices
from tui.rating_format import (
    COEFFICIENTS_HEADING,
    FAMILIES_HEADING,
    NONE,
    coefficient_line,
    exclusions_text,
    family_cell,
    family_lines,
    interval_method,
    interval_text,
    is_placed,
    method_name,
    model_name,
    number,
    position_bias_lines,
    rating_text,
    shift_text,
    win_rate_text,
)

UNPLACED_LEGEND = f"{NONE}: the votes cannot place this model yet (see the note below)."
# the matrix columns are numbered; the row label says which model a number stands for
MATRIX_NAME_WIDTH = 24


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


def render_leaderboard(board: Leaderboard) -> str:
    """Rank, model, battles, win rate, rating [interval], style-controlled
    rating [interval], rank and shift (and the variant family, when families are
    declared); then the families' best picks, style coefficients in words, position bias
    and exclusions."""
    ts = board.method == "trueskill"
    out = [f"Leaderboard: {method_name(board.method)}, {interval_method(board.ci, board.rounds)}, "
           f"{board.battles_used:,} battles"]
    if board.anchor:
        out.append(f"Anchored: {model_name(board.anchor.model)} = {board.anchor.rating:g}")
    has_style = board.has_style
    headers = ["Rank", "Model", "Battles", "Win rate", "Rating", "95% CI" if not ts else "mu ± 3 sigma"]
    align = "rlrrrl"
    if has_style:
        headers += ["Style-ctrl", "95% CI", "Rank", "Shift"]
        align += "rlrl"
    if board.families:
        headers.append("Family")
        align += "l"
    rows = []
    any_unplaced = False
    for m in board.models:
        any_unplaced |= not is_placed(m)
        row = [str(m.rank), model_name(m.model), f"{m.battles:,}", win_rate_text(m.win_rate),
               rating_text(m, ts), interval_text(m, ts)]
        if has_style:
            sc = m.style_controlled
            if sc is not None:
                any_unplaced |= not is_placed(sc)
                row += [rating_text(sc), interval_text(sc), str(sc.rank), shift_text(sc.rank_shift)]
            else:
                row += [NONE, "", "", ""]
        if board.families:
            row.append(family_cell(m))
        rows.append(row)
    if rows:
        out.extend(_table(headers, rows, align))
    else:
        out.append("(no battles)")
    if has_style:
        out.append("Shift: raw rank minus style-controlled rank (↑ = ranks higher once style is controlled).")
    if any_unplaced:
        out.append(UNPLACED_LEGEND)
    if board.families:
        out.append("")
        out.append(FAMILIES_HEADING)
        for family in board.families:
            out.extend("  " + line for line in family_lines(family, ts))

    coefs = board.style_coefficients
    if coefs:
        used = board.style_battles_used
        out.append("")
        out.append(COEFFICIENTS_HEADING + (f", {used:,} battles" if used is not None else "") + "):")
        width = max(len(f) for f in coefs)
        out.extend("  " + coefficient_line(feature, c, width) for feature, c in coefs.items())
        convention = board.style_convention
        out.append(f"Style convention: {convention} ({_CONVENTION_WORDS.get(convention, convention)}).")
    elif board.models:
        out.append("")
        if board.style_control:
            out.append("Style control: not available (no style features known for these battles).")
        else:
            out.append("Style control: off.")

    if board.position_bias:
        out.append("")
        out.extend(position_bias_lines(board.position_bias))

    if board.battles_excluded:
        out.append("")
        out.append("Excluded battles: " + exclusions_text(board.battles_excluded))
    for note in board.notes:
        out.append(f"Note: {model_name(note, width=None)}")
    if board.matrices is not None:
        out.append("")
        out.append(render_matrices(board.matrices))
    return "\n".join(out)


def render_matrices(matrices: PairwiseMatrices) -> str:
    """The win-rate matrix (row model's share of decisive battles against the column model)
    and the battle-count matrix, columns numbered as the rows."""
    models = matrices.models
    if not models:
        return "Pairwise matrices: no battles."
    labels = [f"{i + 1}" for i in range(len(models))]
    names = [f"{i + 1:>{len(labels[-1])}} {model_name(m, MATRIX_NAME_WIDTH)}" for i, m in enumerate(models)]
    out = ["Win rate of the row model against the column model (decisive battles; – = none):"]
    rows = [[names[i]] + [NONE if i == j or v is None else f"{100 * v:.0f}%" for j, v in enumerate(r)]
            for i, r in enumerate(matrices.win_rate)]
    out.extend(_table(["Model"] + labels, rows, "l" + "r" * len(models)))
    out.append("")
    out.append("Battles between the row and the column model:")
    rows = [[names[i]] + [NONE if i == j else f"{v:,}" for j, v in enumerate(r)]
            for i, r in enumerate(matrices.battles)]
    out.extend(_table(["Model"] + labels, rows, "l" + "r" * len(models)))
    return "\n".join(out)


def render_simulation(board: Leaderboard, arena, comparison: dict | None = None) -> str:
    """Truth beside the raw and style-controlled boards of a simulated arena
    (``arena``: a ``scoring.simulate.SimulatedArena``)."""
    from scoring.simulate import compare_to_truth

    cmp = comparison or compare_to_truth(board, arena.true_ratings, arena.twin, arena.base)
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
        entry = board.model(r["model"])
        row = [model_name(r["model"]) + tag, number(r["truth"]), rating_text(entry), interval_text(entry),
               str(r["raw_rank"])]
        if has_style:
            styled = entry.style_controlled if entry else None
            row += [rating_text(styled), interval_text(styled), str(r["style_rank"])]
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
    coefs = board.style_coefficients
    if coefs:
        out.append("")
        out.append("Style coefficients, recovered vs true (log-odds per SD):")
        width = max(len(f) for f in coefs)
        for f, c in coefs.items():
            true = arena.true_style_log_odds_per_sd.get(f)
            t = "" if true is None else f"   truth {true:+.2f}"
            out.append(f"  {f.ljust(width)}  {c.log_odds_per_sd:+.2f} [{c.ci[0]:+.2f}, {c.ci[1]:+.2f}]{t}")
    return "\n".join(out)
