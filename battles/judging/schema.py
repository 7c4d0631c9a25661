"""The ``judgments`` table: every answer an LLM judge gave, kept for audit.

One row per (battle, judge, order): ``order`` is ``ab`` (the battle's model A shown as
Assistant A) or ``ba`` (the sides swapped). ``text`` is the judge's whole answer (keys
redacted), ``verdict`` the parsed ``A`` / ``B`` / ``C`` in the terms of that order (NULL when
none could be read), ``verdict_source`` where it came from (``text``: the last marker in the
answer; ``forced``: a local llama-cpp judge whose answer had none was asked to go on after
``[[`` with one of A, B, C, see ``battles.providers.llama_cpp``; NULL without a verdict; added by
migration ``m005_judgment_verdict_source``), ``error`` why the request failed (then ``text``
holds what arrived).
A rerun replaces a row. The vote that follows from the two rows is an ordinary vote by the
voter ``judge:NAME`` of kind ``judge``; this table only explains it.

The table itself is made by the store's migration ``m004_judgments`` (battles/store/schema.py),
so every ``Store`` has it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from battles.store import Store, now_iso

ORDERS = ("ab", "ba")
VERDICTS = ("A", "B", "C")
JUDGMENT_FIELDS = ("judge", "order", "text", "verdict", "error", "ttft_ms", "duration_ms", "tokens", "created",
                   "verdict_source")
VERDICT_SOURCES = ("text", "forced")


@dataclass
class Judgment:
    """One judge's answer to one battle shown in one order."""

    battle_id: str
    judge: str
    order: str
    text: str = ""
    verdict: str | None = None
    error: str | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    tokens: int | None = None
    created: str | None = None
    verdict_source: str | None = None  # text | forced (None without a verdict)

    @property
    def answered(self) -> bool:
        """The judge answered (whether or not a verdict could be read from it)."""
        return self.error is None


def save_judgment(store: Store, judgment: Judgment) -> None:
    """Write (or replace) one judgment; durable on return, like a vote."""
    if judgment.order not in ORDERS:
        raise ValueError(f"unknown order {judgment.order!r}")
    if judgment.verdict not in (*VERDICTS, None):
        raise ValueError(f"unknown verdict {judgment.verdict!r}")
    if judgment.verdict is not None and judgment.verdict_source is None:
        judgment.verdict_source = "text"
    if judgment.verdict_source not in (*VERDICT_SOURCES, None):
        raise ValueError(f"unknown verdict source {judgment.verdict_source!r}")
    judgment.created = judgment.created or now_iso()
    with store.write() as conn:
        conn.execute(
            'INSERT OR REPLACE INTO judgments (battle_id, judge, "order", text, verdict, error, ttft_ms, '
            "duration_ms, tokens, created, verdict_source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (judgment.battle_id, judgment.judge, judgment.order, judgment.text, judgment.verdict,
             judgment.error, judgment.ttft_ms, judgment.duration_ms, judgment.tokens, judgment.created,
             judgment.verdict_source))


def load_judgments(store: Store, battle_id: str, judge: str | None = None) -> list[Judgment]:
    """A battle's judgments (of one judge, or all), by judge then order."""
    sql = ('SELECT battle_id, judge, "order", text, verdict, error, ttft_ms, duration_ms, tokens, created, '
           "verdict_source FROM judgments WHERE battle_id = ?")
    params: list[Any] = [battle_id]
    if judge is not None:
        sql += " AND judge = ?"
        params.append(judge)
    sql += ' ORDER BY judge, "order"'
    return [Judgment(*row) for row in store.conn.execute(sql, params)]


def iter_judgments(store: Store, judge: str | None = None) -> Iterator[Judgment]:
    """Every judgment (of one judge, or all) in battle order: the raw verdicts a report of the
    judges' position bias reads before the consistency rule."""
    sql = ('SELECT j.battle_id, j.judge, j."order", j.text, j.verdict, j.error, j.ttft_ms, j.duration_ms, '
           "j.tokens, j.created, j.verdict_source FROM judgments j JOIN battles b ON b.id = j.battle_id")
    params: list[Any] = []
    if judge is not None:
        sql += " WHERE j.judge = ?"
        params.append(judge)
    sql += ' ORDER BY b.rowid, j.judge, j."order"'
    for row in store.conn.execute(sql, params):
        yield Judgment(*row)


def judges(store: Store) -> list[str]:
    """The names of the judges that have judged a battle in this store."""
    return [r[0] for r in store.conn.execute("SELECT DISTINCT judge FROM judgments ORDER BY 1")]


def battle_judgments(store: Store, battle_id: str) -> list[dict[str, Any]]:
    """A battle's raw judgments as JSON-able dicts (the jsonl export's ``judgments``)."""
    return [{name: getattr(j, name) for name in JUDGMENT_FIELDS} for j in load_judgments(store, battle_id)]
