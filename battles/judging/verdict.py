"""Reading a judge's verdict, and MT-Bench's rule for the two orders.

The verdict is the last ``[[A]]``, ``[[B]]`` or ``[[C]]`` in the answer: the prompt asks for
it after the explanation, and an explanation may quote the format ("[[A]]" if A is better)
before it. (FastChat's own scorer takes the first of A, B, C found anywhere, so it reads such
a quote as the verdict.) An answer with none is unparseable: kept, never counted.
"""

from __future__ import annotations

import re

_VERDICT = re.compile(r"\[\[([ABC])\]\]")

# A verdict in one order, in the battle's own terms. "ab": the battle's model A was shown as
# Assistant A; "ba": the sides were swapped, so Assistant A was the battle's model B.
_WINNER = {
    "ab": {"A": "model_a", "B": "model_b", "C": "tie"},
    "ba": {"A": "model_b", "B": "model_a", "C": "tie"},
}


def parse_verdict(text: str) -> str | None:
    """``"A"``, ``"B"``, ``"C"`` (the last marker in ``text``), or None when there is none."""
    found = _VERDICT.findall(text or "")
    return found[-1] if found else None


def winner_of(order: str, verdict: str) -> str:
    """A verdict given in ``order`` as the battle's winner: model_a, model_b or tie."""
    return _WINNER[order][verdict]


def decide(ab: str, ba: str) -> tuple[str, bool]:
    """(winner, consistent) from the verdicts of both orders: the same winner both times
    wins, anything else is a tie (MT-Bench's rule for position-swapped judgments)."""
    first, second = winner_of("ab", ab), winner_of("ba", ba)
    if first == second:
        return first, True
    return "tie", False
