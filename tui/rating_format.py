"""How ratings read, in the CLI's text and on every screen: the one set of display rules.

Ratings, intervals, method names, style coefficients, position bias and exclusions are
worded here and nowhere else. A model the votes cannot place yet (it has only won or only
lost, or its votes do not connect it to the others) has no meaningful rating: it shows
``–`` and the reason, never its placeholder number. Model names are untrusted text (an
import or a config may hold anything): ``model_name`` escapes control characters with the
program's one sanitizer and shortens overlong names for tables.

No numpy, no Textual: the CLI and the app import this at start-up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from scoring.results import (
    Family,
    FamilySelection,
    ModelRating,
    PositionBias,
    StyleCoefficient,
    StyleRating,
    describe_style_coefficient,
)
from tui.widgets.safe_text import printable

NONE = "–"
UNPLACED = "not placed yet"
METHOD_NAMES = {"bt": "Bradley-Terry", "elo": "online Elo", "trueskill": "TrueSkill"}
CI_NAMES = {
    "bootstrap": "95% bootstrap intervals",
    "sandwich": "95% sandwich intervals",
    "trueskill_3sigma": "mu ± 3 sigma",
}
EXCLUSION_NAMES = {
    "error": "error",
    "identity_leak": "identity leak",
    "unvoted": "unvoted",
    "missing_style": "missing style features",
}
STYLE_STANDS_FOR = "style-controlled = contextual Bradley-Terry"
# names longer than this are cut (with …) in tables; the full name is in --json
NAME_WIDTH = 40
# At the reveal, an interval wider than this says the votes do not pin the model down yet:
# the rating would move a lot with the next few votes, so it is not shown as a number.
UNSETTLED_INTERVAL = 400.0

# line breaks and tabs would break a table row: shown as their control pictures too
_ONE_LINE = str.maketrans({"\n": "␊", "\r": "␍", "\t": "␉"})


def model_name(name: str, width: int | None = NAME_WIDTH) -> str:
    """``name`` safe for one line of a terminal: control characters escaped, cut to ``width``."""
    text = printable(str(name)).translate(_ONE_LINE)
    if width is not None and len(text) > width:
        return text[: width - 1] + "…"
    return text


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def interval_method(ci: str, rounds: int | None = None) -> str:
    """'95% bootstrap intervals (100 rounds)'."""
    text = CI_NAMES.get(ci, ci)
    if ci == "bootstrap" and rounds:
        text += f" ({rounds} rounds)"
    return text


def is_placed(entry: ModelRating | StyleRating) -> bool:
    return not entry.provisional and entry.ci is not None


def unplaced_reason(entry: ModelRating) -> str:
    """Why the votes cannot place ``entry`` yet, in a few words."""
    if entry.wins and not entry.losses:
        return "only won so far"
    if entry.losses and not entry.wins:
        return "only lost so far"
    return "its votes do not link it to the others yet"


def number(value: float | None, digits: int = 0) -> str:
    if value is None or not math.isfinite(value):
        return NONE
    return f"{value:.{digits}f}"


def _digits(trueskill: bool) -> int:
    return 1 if trueskill else 0  # TrueSkill's mu lives on a scale of ~25


def rating_text(entry: ModelRating | StyleRating | None, trueskill: bool = False) -> str:
    """The rating, or ``–`` when there is none or the votes cannot place the model."""
    if entry is None or not is_placed(entry):
        return NONE
    return number(entry.rating, _digits(trueskill))


def interval_text(entry: ModelRating | StyleRating | None, trueskill: bool = False) -> str:
    """'[980, 1040]'; 'not placed yet (only won so far)' for a model the votes cannot place."""
    if entry is None:
        return NONE
    if not is_placed(entry):
        return f"{UNPLACED} ({unplaced_reason(entry)})" if isinstance(entry, ModelRating) else UNPLACED
    d = _digits(trueskill)
    return f"[{number(entry.ci[0], d)}, {number(entry.ci[1], d)}]"


def win_rate_text(win_rate: float | None) -> str:
    return NONE if win_rate is None else f"{100 * win_rate:.1f}%"


def shift_text(shift: int | None) -> str:
    """Rank movement under style control: ↑ moved up, ↓ moved down, = unchanged."""
    if shift is None:
        return NONE
    if shift > 0:
        return f"↑{shift}"
    if shift < 0:
        return f"↓{-shift}"
    return "="


def is_settled(entry: ModelRating) -> bool:
    """Placed, and with an interval narrow enough that the rating means something yet."""
    return is_placed(entry) and entry.ci[1] - entry.ci[0] <= UNSETTLED_INTERVAL


def settled_rating_text(entry: ModelRating) -> str:
    """The rating shown at the reveal: a number only once the votes pin the model down."""
    if not is_settled(entry):
        votes = entry.battles
        return f"not settled yet ({votes} vote{'s' if votes != 1 else ''})"
    return number(entry.rating)


def coefficient_line(feature: str, coefficient: StyleCoefficient, width: int = 0) -> str:
    """'length  +0.25 [+0.20, +0.30]  a one-SD longer answer adds ...'; a feature that never
    varies in these battles has no estimable coefficient and says so instead of a number."""
    name = feature.ljust(width)
    if coefficient.constant:
        return f"{name}  {NONE}  (constant in these battles: not estimable)"
    lo, hi = coefficient.ci
    return (f"{name}  {coefficient.log_odds_per_sd:+.2f} [{lo:+.2f}, {hi:+.2f}]  "
            + describe_style_coefficient(feature, coefficient.log_odds_per_sd))


COEFFICIENTS_HEADING = "Style coefficients (log-odds of winning per SD of the style difference, 95% CI"


def position_bias_lines(bias: PositionBias) -> list[str]:
    lo, hi = bias.ci
    lines = [f"Position bias: the left answer won {100 * bias.left_win_rate:.1f}% of "
             f"{bias.decisive_battles:,} decisive battles (95% CI {100 * lo:.1f}-{100 * hi:.1f}%; no bias = 50%)"]
    if bias.adjusted_log_odds is not None and bias.adjusted_ci is not None:
        alo, ahi = bias.adjusted_ci
        lines.append(f"  adjusted for model strength: left side {bias.adjusted_log_odds:+.3f} log-odds "
                     f"[{alo:+.3f}, {ahi:+.3f}]")
    return lines


def exclusions_text(excluded: Mapping[str, int], *, skip_zero: bool = False) -> str:
    """'error 2, identity leak 1, ...' (every reason, or only those with battles)."""
    return ", ".join(f"{EXCLUSION_NAMES.get(key, key.replace('_', ' '))} {count:,}"
                     for key, count in excluded.items() if count or not skip_zero)


FAMILIES_HEADING = "Variant families (the best-rated of k variants is lifted by the luck of the pick):"


def best_of_text(best_of: int) -> str:
    return f"best of {best_of} variants"


def family_cell(entry: ModelRating) -> str:
    """'maverick: best of 2 variants' on a family's best member, 'maverick' on the others."""
    family = entry.family
    if family is None:
        return ""
    name = model_name(family.name, 24)
    if family.raw is not None and family.raw.best == entry.model:
        return f"{name}: {best_of_text(family.raw.best_of)}"
    return name


def is_best_of_family(entry: ModelRating) -> bool:
    return entry.family is not None and entry.family.raw is not None and entry.family.raw.best == entry.model


def _selection_lines(pick: FamilySelection, board: str, digits: int) -> list[str]:
    lo, hi = pick.selection_adjusted_ci
    k = pick.best_of
    return [
        f"{board}expected selection inflation: +{number(pick.expected_selection_inflation, 1)} points "
        f"at these vote counts (if the {k} variants are equally strong)",
        f"{board}interval allowing for the pick: [{number(lo, digits)}, {number(hi, digits)}] "
        f"(95% simultaneous over the {k} variants, Šidák)",
    ]


def family_lines(family: Family, trueskill: bool = False) -> list[str]:
    """The family's best member, the inflation, the widened interval and the advice, in words."""
    members = ", ".join(model_name(m) for m in family.members)
    name = model_name(family.name)
    raw, styled = family.raw, family.style_controlled
    if raw is None and styled is None:
        return [f"{name}: {members} (fewer than two placed variants on the board: nothing picked)"]
    lines = []
    if raw is not None:
        lines.append(f"{name}: {model_name(raw.best)} is the {best_of_text(raw.best_of)} ({members})")
        lines += ["  " + line for line in _selection_lines(raw, "", _digits(trueskill))]
    else:
        lines.append(f"{name}: {members}")
    if styled is not None:
        lines.append(f"  style-controlled: {model_name(styled.best)} is the {best_of_text(styled.best_of)}")
        lines += ["  " + line for line in _selection_lines(styled, "style-controlled ", 0)]
    best = raw or styled
    lines.append(f"  advice: re-test {model_name(best.best)} on fresh battles before trusting its rating")
    return lines
