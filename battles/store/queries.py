"""Read queries: one battle, the history list, what ratings and pairing count, exports' batches."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any


class Queries:
    """Part of Store."""

    conn: sqlite3.Connection

    def battle(self, battle_id: str) -> dict[str, Any] | None:
        """One battle with its responses (by turn) and its vote, or None."""
        self.conn.row_factory = sqlite3.Row
        try:
            row = self.conn.execute("SELECT * FROM battles WHERE id = ?", (battle_id,)).fetchone()
            if row is None:
                return None
            battle = dict(row)
            battle["responses"] = [
                {**dict(r), "features": json.loads(r["features"]) if r["features"] else None}
                for r in self.conn.execute(
                    "SELECT * FROM responses WHERE battle_id = ? ORDER BY turn, side", (battle_id,))
            ]
            vote = self.conn.execute("SELECT winner, voter, created FROM votes WHERE battle_id = ?",
                                     (battle_id,)).fetchone()
            battle["vote"] = dict(vote) if vote else None
            return battle
        finally:
            self.conn.row_factory = None

    def recent_battles(self, *, search: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first: id, created, prompt, models, winner, status, leak flag, category."""
        sql = ("SELECT b.id, b.created, b.prompt, b.category, b.model_a, b.model_b, b.status, "
               "b.identity_leak, v.winner, v.voter FROM battles b LEFT JOIN votes v ON v.battle_id = b.id")
        params: list[Any] = []
        if search:
            like = f"%{search}%"
            sql += " WHERE b.prompt LIKE ? OR b.model_a LIKE ? OR b.model_b LIKE ? OR b.category LIKE ?"
            params += [like] * 4
        sql += " ORDER BY b.created DESC, b.rowid DESC LIMIT ?"
        params.append(limit)
        self.conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in self.conn.execute(sql, params)]
        finally:
            self.conn.row_factory = None

    def pair_counts(self) -> dict[frozenset[str], int]:
        """Battles per unordered pair (errored ones excluded), for the balanced pairing."""
        counts: dict[frozenset[str], int] = {}
        for a, b, n in self.conn.execute(
                "SELECT model_a, model_b, count(*) FROM battles WHERE status != 'error' GROUP BY model_a, model_b"):
            key = frozenset((a, b))
            counts[key] = counts.get(key, 0) + n
        return counts

    def voted_outcomes(self) -> list[tuple[str, str, str]]:
        """(model_a, model_b, winner) of counted battles in time order, for TrueSkill pairing."""
        return self.conn.execute(
            "SELECT b.model_a, b.model_b, v.winner FROM battles b JOIN votes v ON v.battle_id = b.id "
            "WHERE b.status = 'complete' AND b.identity_leak = 0 AND b.model_a != b.model_b "
            "ORDER BY v.created, b.rowid").fetchall()

    def scoring_rows(self, *, category: str | None = None, voter: str | None = None,
                     include_leaks: bool = False,
                     features: tuple[str, ...] = ("tokens", "emoji", "header", "list", "bold")) -> tuple[list[tuple], dict[str, int]]:
        """Rows (model_a, model_b, winner, a_<features>..., b_<features>...) of the battles a
        rating counts, in time order, and how many were excluded and why. A model voted
        against itself says nothing about any model: such a battle is kept in the store but
        counted under ``self_battle``, never rated."""
        where = ["1=1"]
        params: list[Any] = []
        if category:
            where.append("b.category = ?")
            params.append(category)
        if voter:
            where.append("v.voter = ?")
            params.append(voter)
        filters = " AND ".join(where)
        feature_cols = ", ".join([f"b.a_{f}" for f in features] + [f"b.b_{f}" for f in features])
        counted = "b.status = 'complete' AND b.model_a != b.model_b" + (
            "" if include_leaks else " AND b.identity_leak = 0")
        rows = self.conn.execute(
            f"SELECT b.model_a, b.model_b, v.winner, {feature_cols} FROM battles b "
            f"JOIN votes v ON v.battle_id = b.id WHERE {filters} AND {counted} ORDER BY v.created, b.rowid",
            params).fetchall()
        excluded = {"error": 0, "identity_leak": 0, "unvoted": 0, "self_battle": 0}
        base_filters = filters.replace("v.voter = ?", "1=1") if voter else filters
        base_params = [p for p, w in zip(params, where[1:]) if not w.startswith("v.")]
        row = self.conn.execute(
            "SELECT "
            "sum(b.status = 'error'), "
            "sum(b.status = 'complete' AND b.identity_leak = 1 AND v.battle_id IS NOT NULL "
            "AND b.model_a != b.model_b), "
            "sum(b.status = 'complete' AND v.battle_id IS NULL), "
            "sum(b.status = 'complete' AND v.battle_id IS NOT NULL AND b.model_a = b.model_b) "
            f"FROM battles b LEFT JOIN votes v ON v.battle_id = b.id WHERE {base_filters}",
            base_params).fetchone()
        excluded["error"] = row[0] or 0
        excluded["identity_leak"] = 0 if include_leaks else (row[1] or 0)
        excluded["unvoted"] = row[2] or 0
        excluded["self_battle"] = row[3] or 0
        return rows, excluded

    def iter_battles(self, *, batch_size: int = 5_000, voted_only: bool = False,
                     with_responses: bool = True) -> Iterator[dict[str, Any]]:
        """Every battle with its responses and vote, in insertion order (for export).

        ``voted_only`` keeps complete battles that have a vote; ``with_responses=False``
        skips reading the texts (``responses`` is then an empty list)."""
        last_rowid = 0
        voted = (" AND status = 'complete' AND EXISTS (SELECT 1 FROM votes WHERE votes.battle_id = battles.id)"
                 if voted_only else "")
        self.conn.row_factory = sqlite3.Row
        try:
            while True:
                rows = [dict(r) for r in self.conn.execute(
                    f"SELECT rowid AS _rowid, * FROM battles WHERE rowid > ?{voted} ORDER BY rowid LIMIT ?",
                    (last_rowid, batch_size))]
                if not rows:
                    return
                last_rowid = rows[-1]["_rowid"]
                ids = [r["id"] for r in rows]
                marks = ",".join("?" * len(ids))
                votes = {r["battle_id"]: dict(r) for r in self.conn.execute(
                    f"SELECT * FROM votes WHERE battle_id IN ({marks})", ids)}
                responses: dict[str, list[dict]] = {}
                for r in (self.conn.execute(
                        f"SELECT * FROM responses WHERE battle_id IN ({marks}) ORDER BY turn, side", ids)
                        if with_responses else ()):
                    item = dict(r)
                    item["features"] = json.loads(item["features"]) if item["features"] else None
                    responses.setdefault(item["battle_id"], []).append(item)
                for row in rows:
                    row.pop("_rowid")
                    vote = votes.get(row["id"])
                    row["vote"] = {k: vote[k] for k in ("winner", "voter", "created")} if vote else None
                    row["responses"] = responses.get(row["id"], [])
                    yield row
        finally:
            self.conn.row_factory = None

    def categories(self) -> list[str]:
        """The prompt categories battles were fought in, for filters."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT category FROM battles WHERE category IS NOT NULL AND category != '' ORDER BY 1")]

    def voters(self) -> list[str]:
        """The names votes were recorded under, for filters."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT voter FROM votes WHERE voter IS NOT NULL AND voter != '' ORDER BY 1")]

    def counts(self) -> dict[str, int]:
        battles = self.conn.execute("SELECT count(*) FROM battles").fetchone()[0]
        votes = self.conn.execute("SELECT count(*) FROM votes").fetchone()[0]
        return {"battles": battles, "votes": votes}

