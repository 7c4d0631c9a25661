"""A text-drawn chart of ratings with their intervals, raw beside style-controlled.

Each model gets two rows on one shared scale: ``raw`` ``├──●──┤`` and ``style`` ``├─●─┤``.
Drawn with box characters only, so it renders the same in every terminal and in a browser.
A provisional rating (the votes cannot place the model yet, its interval is unbounded) gets no
bar and does not stretch the axis: its row says "not placed yet".
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

RAW_STYLE = "bold cyan"
STYLE_CONTROLLED_STYLE = "bold magenta"
UNPLACED = "? not placed yet"


def _provisional(entry: dict | None) -> bool:
    """A rating the votes cannot place: flagged, or an interval with an open end."""
    if not entry:
        return False
    ci = entry.get("ci")
    return bool(entry.get("provisional")) or (bool(ci) and any(v is None for v in ci))


def _interval(entry: dict | None) -> tuple[float, float, float] | None:
    """(low, point, high) of a leaderboard entry, or None when it has no usable rating
    (none yet, or a provisional one: its point is a placeholder and its interval unbounded)."""
    if not entry or _provisional(entry):
        return None
    rating = entry.get("rating")
    if rating is None or not math.isfinite(rating):
        return None
    low, high = (entry.get("ci") or (rating, rating))[:2]
    low = rating if low is None or not math.isfinite(low) else low
    high = rating if high is None or not math.isfinite(high) else high
    return min(low, rating), rating, max(high, rating)


def draw_interval_chart(models: list[dict], width: int, *, same_scale: bool = True) -> Text:
    """Two rows per model (raw, style-controlled) of interval bars sharing one axis.

    ``same_scale=False`` (raw ratings on another scale than the style-controlled Bradley-Terry
    ones, e.g. TrueSkill) draws two charts, each on its own axis."""
    if not same_scale:
        raw = draw_interval_chart([{**m, "style_controlled": None} for m in models], width)
        styled = [{"model": m.get("model"), **m["style_controlled"], "provisional": False}
                  for m in models if m.get("style_controlled")]
        if not styled:
            return raw
        return Text.assemble(raw, "\n", Text("style-controlled (Bradley-Terry scale)\n", style="dim"),
                             _draw(styled, width, label="style", style=STYLE_CONTROLLED_STYLE))
    return _draw(models, width)


def _draw(models: list[dict], width: int, label: str = "raw", style: str = RAW_STYLE) -> Text:
    rows: list[tuple[str, str, tuple[float, float, float] | None, str, bool]] = []
    for entry in models:
        name = str(entry.get("model", "?"))
        rows.append((name, label, _interval(entry), style, _provisional(entry)))
        styled = entry.get("style_controlled")
        if styled is not None:
            # the penalised style fit is finite even for a provisional model: draw it
            rows.append(("", "style", _interval({**styled, "provisional": False}), STYLE_CONTROLLED_STYLE, False))
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
    for name, label, interval, style, provisional in rows:
        shown = name if len(name) <= name_width else name[: name_width - 1] + "…"
        text.append(shown.ljust(name_width) + " ")
        text.append(label.ljust(label_width), style="dim")
        if provisional:
            text.append(UNPLACED[:bar_width], style="dim italic")
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
        self.models: list[dict] = []
        self.same_scale = True

    def show(self, models: list[dict], *, same_scale: bool = True) -> None:
        self.models, self.same_scale = list(models), same_scale
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.render().plain.splitlines()) or 1

    def render(self) -> Text:
        return draw_interval_chart(self.models, self.size.width or 80, same_scale=self.same_scale)
