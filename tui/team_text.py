"""Plain-text pieces of the team views (voters report, board, fingerprint): no Textual here.

Every voter or model name passes through ``printable`` (names come from voters and imported
logs: data, never terminal instructions).
"""

from __future__ import annotations

from collections.abc import Mapping

from tui.widgets.safe_text import printable

FEATURE_WORDS = {"longer_chosen": ("the longer answer", "the lengths"),
                 "more_emoji_chosen": ("the answer with more emoji", "the emoji counts"),
                 "more_markdown_chosen": ("the answer with more markdown", "the markdown (headers, lists, bold)")}


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def estimate(rate: float, ci) -> tuple[str, str]:
    """(``68%``, ``52–81``): whole percents, or one decimal when the interval is narrower than
    two points (a hundred thousand votes would otherwise read ``50% [50–50]``)."""
    lo, hi = ci
    digits = 1 if hi - lo < 0.02 else 0
    return f"{100 * rate:.{digits}f}%", f"{100 * lo:.{digits}f}–{100 * hi:.{digits}f}"


def share(p: Mapping | None) -> str:
    """``{k, n, rate, ci}`` as ``68% [52–81] of 30``; ``-`` with nothing to count."""
    if not p or not p.get("n"):
        return "-"
    rate, interval = estimate(p["rate"], p["ci"])
    return f"{rate} [{interval}] of {p['n']}"


def position(p: Mapping | None) -> str:
    if not p or p.get("first_shown_chosen") is None:
        return "-"
    rate, interval = estimate(p["first_shown_chosen"], p["ci"])
    return f"{rate} [{interval}] of {p.get('n', '?')}"


def style_line(fingerprint: Mapping) -> str:
    """The style coefficients as one line, or why there are none yet."""
    coefs = fingerprint.get("style_coefficients")
    if coefs is None:
        return "style coefficients: after 30 decisive votes"
    parts = []
    for name, c in coefs.items():
        if c.get("log_odds_per_sd") is None:
            parts.append(f"{name} (no variation)")
        else:
            lo, hi = c["ci"]
            parts.append(f"{name} {c['log_odds_per_sd']:+.2f} [{lo:+.2f}, {hi:+.2f}]")
    return "style coefficients (log-odds per SD): " + ", ".join(parts)


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def fingerprint_sentences(fp: Mapping, who: str = "Voters") -> list[str]:
    """One sentence per measured tendency of a (pooled) fingerprint."""
    out = []
    for key, (word, what) in FEATURE_WORDS.items():
        p = fp.get(key) or {}
        if p.get("n"):
            rate, interval = estimate(p["rate"], p["ci"])
            out.append(f"{who} chose {word} {rate} of the time [{interval}%], "
                       f"over {p['n']} decisive votes where {what} differ.")
    pos = fp.get("position_bias") or {}
    if pos.get("first_shown_chosen") is not None:
        rate, interval = estimate(pos["first_shown_chosen"], pos["ci"])
        out.append(f"{who} chose the answer shown first (left) {rate} of the time [{interval}%].")
    twin = fp.get("twin_pairs") or {}
    if twin.get("n"):
        rate, interval = estimate(twin["rate"], twin["ci"])
        out.append(f"Against its own untreated twin, the treated model won {rate} [{interval}%] "
                   f"of {twin['n']} decisive votes.")
    return out


def name(text: str | None) -> str:
    return printable(text) if text else "(anonymous)"
