"""A text-drawn chart of ratings with their intervals, raw beside style-controlled.

Each model gets two rows on one shared scale: ``raw`` ``├──●──┤`` and ``style`` ``├─●─┤``.
Drawn with box characters only, so it renders the same in every terminal and in a browser.
A rating the votes cannot place yet (its interval is unbounded) gets no bar and does not
stretch the axis: its row says "– not placed yet".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

from scoring.results import ModelRating, StyleRating
from tui.rating_format import NONE, UNPLACED, is_placed, model_name

RAW_STYLE = "bold cyan"
STYLE_CONTROLLED_STYLE = "bold magenta"
UNPLACED_ROW = f"{NONE} {UNPLACED}"

# one chart row: (name, label, (low, point, high) or None, style, unplaced)
_Row = tuple[str, str, "tuple[float, float, float] | None", str, bool]


def _interval(entry: ModelRating | StyleRating | None) -> tuple[float, float, float] | None:
    """(low, point, high) of a rating, or None when it has none the votes can place."""
    if entry is None or not is_placed(entry) or not math.isfinite(entry.rating):
        return None
    low, high = entry.ci
    low = entry.rating if not math.isfinite(low) else low
    high = entry.rating if not math.isfinite(high) else high
    return min(low, entry.rating), entry.rating, max(high, entry.rating)


def draw_interval_chart(models: Sequence[ModelRating], width: int, *, same_scale: bool = True) -> Text:
    """Two rows per model (raw, style-controlled) of interval bars sharing one axis.

    ``same_scale=False`` (raw ratings on another scale than the style-controlled Bradley-Terry
    ones, e.g. TrueSkill) draws two charts, each on its own axis."""
    if same_scale:
        rows: list[_Row] = []
        for m in models:
            rows.append(_row(m.model, "raw", m, RAW_STYLE))
            if m.style_controlled is not None:
                rows.append(_row("", "style", m.style_controlled, STYLE_CONTROLLED_STYLE))
        return _draw(rows, width)
    raw = _draw([_row(m.model, "raw", m, RAW_STYLE) for m in models], width)
    styled = [_row(m.model, "style", m.style_controlled, STYLE_CONTROLLED_STYLE)
              for m in models if m.style_controlled is not None]
    if not styled:
        return raw
    return Text.assemble(raw, "\n", Text("style-controlled (Bradley-Terry scale)\n", style="dim"),
                         _draw(styled, width))


def _row(name: str, label: str, entry: ModelRating | StyleRating, style: str) -> _Row:
    return (model_name(name), label, _interval(entry), style, not is_placed(entry))


def _draw(rows: list[_Row], width: int) -> Text:
    intervals = [r[2] for r in rows if r[2] is not None]
    if not intervals:
        if any(r[4] for r in rows):
            return Text("No model is placed yet: one that has only won or only lost has no rating; more votes will place them.")
        return Text("No ratings yet: vote on a few battles first.")
    low = min(i[0] for i in intervals)
    high = max(i[2] for i in intervals)
    span = (high - low) or 1.0

    name_width = min(max((len(r[0]) for r in rows), default=4), 24)
    label_width = 6
    bar_width = max(10, width - name_width - label_width - 3)

    def column(value: float) -> int:
        return round((value - low) / span * (bar_width - 1))

    text = Text(no_wrap=True, overflow="ellipsis")
    for name, label, interval, style, unplaced in rows:
        shown = name if len(name) <= name_width else name[: name_width - 1] + "…"
        text.append(shown.ljust(name_width) + " ")
        text.append(label.ljust(label_width), style="dim")
        if unplaced:
            text.append(UNPLACED_ROW[:bar_width], style="dim italic")
            text.append("\n")
            continue
        line = [" "] * bar_width
        if interval is not None:
            lo, point, hi = (column(v) for v in interval)
            for i in range(lo, hi + 1):
                line[i] = "─"
            line[lo], line[hi] = "├", "┤"
            line[point] = "●"
        text.append("".join(line), style=style)
        text.append("\n")
    axis = f"{low:.0f}".ljust(bar_width // 2) + f"{high:.0f}".rjust(bar_width - bar_width // 2)
    text.append(" " * (name_width + 1 + label_width) + axis, style="dim")
    return text


class RatingChart(Widget):
    """Renders the ``models`` of a leaderboard result as interval bars."""

    DEFAULT_CSS = """
    RatingChart { height: auto; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.models: list[ModelRating] = []
        self.same_scale = True

    def show(self, models: Sequence[ModelRating], *, same_scale: bool = True) -> None:
        self.models, self.same_scale = list(models), same_scale
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.render().plain.splitlines()) or 1

    def render(self) -> Text:
        return draw_interval_chart(self.models, self.size.width or 80, same_scale=self.same_scale)
