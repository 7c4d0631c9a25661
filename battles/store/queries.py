"""Read queries: one battle, the history list, what ratings and pairing count, exports' batches.

A battle's votes come in the order they were cast (time, then insertion). Where a caller
wants one vote per battle (``battle["vote"]``, the history list), it is the first.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from battles.store.schema import FEATURE_COLUMNS

if TYPE_CHECKING:  # numpy loads with the first scoring read, not with the store
    from battles.store.scoring_cache import ScoringColumns

VOTE_FIELDS = ("winner", "voter", "created", "shown_swapped", "kind")
# A battle counts in ratings when complete and not a model against itself; identity leaks
# are left out unless asked for.
_COUNTED = "b.status = 'complete' AND b.model_a != b.model_b"
_SHOWN_WINNER = {"model_a": "left", "model_b": "right", "tie": "tie", "both_bad": "both_bad"}


@dataclass(frozen=True)
class ShownVote:
    """One vote as its voter saw the battle: sides by position, not by the battle's order."""

    battle_id: str
    voter: str | None
    kind: str
    winner: str  # left | right | tie | both_bad
    model_left: str
    model_right: str
    features_left: dict[str, int | None]  # FEATURE_COLUMNS -> count (None: unknown)
    features_right: dict[str, int | None]
    shown_swapped: bool  # the battle's model_b was on the left


def _swap(swapped: str, plain: str) -> str:
    """SQL: ``swapped`` when the voter saw model_b on the left, else ``plain``."""
    return f"CASE WHEN v.shown_swapped THEN {swapped} ELSE {plain} END"


def _kind_filter(kind: str | tuple[str, ...]) -> tuple[str, list[str]]:
    """SQL and parameters keeping the votes of ``kind`` (one kind, or any of several)."""
    kinds = [kind] if isinstance(kind, str) else list(kind)
    return f"v.kind IN ({', '.join('?' * len(kinds))})", kinds


_LEFT_MODEL = _swap("b.model_b", "b.model_a")
_RIGHT_MODEL = _swap("b.model_a", "b.model_b")
_SHOWN_BATTLE_WINNER = _swap(
    "CASE v.winner WHEN 'model_a' THEN 'model_b' WHEN 'model_b' THEN 'model_a' ELSE v.winner END", "v.winner")



def _scoring_filter(category: str | None, voter: str | None, kind: str | tuple[str, ...] | None,
                    include_leaks: bool) -> tuple[str, list]:
    """The WHERE clause (and its parameters) of the votes ratings count."""
    where, params = [_COUNTED], []
    if not include_leaks:
        where.append("b.identity_leak = 0")
    if category:
        where.append("b.category = ?")
        params.append(category)
    if voter:
        where.append("v.voter = ?")
        params.append(voter)
    if kind:
        kind_sql, kind_params = _kind_filter(kind)
        where.append(kind_sql)
        params.extend(kind_params)
    return " AND ".join(where), params


def _scoring_columns_sql(features: tuple[str, ...]) -> str:
    """The columns of a scoring row: each vote as its voter saw the battle, then the battle's rowid."""
    columns = [_LEFT_MODEL, _RIGHT_MODEL, _SHOWN_BATTLE_WINNER]
    columns += [_swap(f"b.b_{f}", f"b.a_{f}") for f in features]
    columns += [_swap(f"b.a_{f}", f"b.b_{f}") for f in features]
    return ", ".join(columns) + ", b.rowid"


class Queries:
    """Part of Store."""

    conn: sqlite3.Connection
    path: Path

    def battle(self, battle_id: str) -> dict[str, Any] | None:
        """One battle with its responses (by turn), its ``votes`` (in the order cast) and,
        for callers that want one, ``vote``: the first of them (or None)."""
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
        finally:
            self.conn.row_factory = None
        votes = self._votes_of([battle_id]).get(battle_id, [])
        battle["votes"] = votes
        battle["vote"] = votes[0] if votes else None
        return battle

    def _votes_of(self, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        votes: dict[str, list[dict[str, Any]]] = {}
        marks = ",".join("?" * len(ids))
        for battle_id, winner, voter, created, swapped, kind in self.conn.execute(
                "SELECT battle_id, winner, voter, created, shown_swapped, kind FROM votes "
                f"WHERE battle_id IN ({marks}) ORDER BY created, rowid", ids):
            votes.setdefault(battle_id, []).append(
                {"winner": winner, "voter": voter, "created": created, "shown_swapped": bool(swapped), "kind": kind})
        return votes

    def recent_battles(self, *, search: str | None = None, limit: int = 200,
                       viewer: str | None = None) -> list[dict[str, Any]]:
        """Newest first: id, created, prompt, models, status, leak flag, category, the first
        human vote's winner and voter, ``votes`` (how many human votes), ``judge_votes`` (how
        many judges voted) and ``mine``: the winner of ``viewer``'s own vote, or None. An
        unnamed viewer's own vote is the battle's unnamed vote (imported logs have those).
        Only ``mine`` tells whether ``viewer`` may see the models: another voter's vote, a
        judge's above all, never does."""
        where, params = "", []
        if search:
            like = f"%{search}%"
            where = " WHERE prompt LIKE ? OR model_a LIKE ? OR model_b LIKE ? OR category LIKE ?"
            params = [like] * 4
        first_vote = ("SELECT {} FROM votes v WHERE v.battle_id = b.id AND v.kind = 'human' "
                      "ORDER BY v.created, v.rowid LIMIT 1")
        own = ("v.voter = :viewer" if viewer else "(v.voter IS NULL OR v.voter = '')")
        mine = f"SELECT v.winner FROM votes v WHERE v.battle_id = b.id AND v.kind = 'human' AND {own} LIMIT 1"
        # The newest battles first, then their votes: a search never looks up the votes of
        # battles it does not show.
        sql = (f"SELECT b.id, b.created, b.prompt, b.category, b.model_a, b.model_b, b.status, b.identity_leak, "
               f"({first_vote.format('winner')}) AS winner, ({first_vote.format('voter')}) AS voter, "
               "(SELECT count(*) FROM votes v WHERE v.battle_id = b.id AND v.kind = 'human') AS votes, "
               "(SELECT count(*) FROM votes v WHERE v.battle_id = b.id AND v.kind = 'judge') AS judge_votes, "
               f"({mine}) AS mine "
               "FROM (SELECT rowid AS rid, * FROM battles" + where.replace("?", ":like") +
               " ORDER BY created DESC, rowid DESC LIMIT :limit) b ORDER BY b.created DESC, b.rid DESC")
        named = {"viewer": viewer, "limit": limit, "like": params[0] if params else None}
        self.conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in self.conn.execute(sql, named)]
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
        """(model_a, model_b, winner) of each counted human vote in time order, for TrueSkill pairing."""
        return self.conn.execute(
            "SELECT b.model_a, b.model_b, v.winner FROM votes v JOIN battles b ON b.id = v.battle_id "
            f"WHERE {_COUNTED} AND b.identity_leak = 0 AND v.kind = 'human' "
            "ORDER BY v.created, b.rowid, v.rowid").fetchall()

    def scoring_rows(self, *, category: str | None = None, voter: str | None = None,
                     kind: str | tuple[str, ...] | None = "human",
                     include_leaks: bool = False,
                     features: tuple[str, ...] = ("tokens", "emoji", "header", "list", "bold"),
                     ) -> tuple[list[tuple], dict[str, int]]:
        """One row per counted vote, in time order, as its voter saw the battle:
        (left model, right model, winner (model_a = the left one), left <features>...,
        right <features>..., the battle's rowid). The last column is a cluster key: the
        votes of one battle share it, so intervals can resample whole battles.

        Filters: ``category``, ``voter``, ``kind`` (``human`` by default, so judges do not
        count in human ratings; a tuple: any of these kinds; None: every kind). Also returns how many battles were left
        out and why (these counts ignore the voter filter): ``error``, ``identity_leak``,
        ``unvoted`` (no vote of this kind), and ``self_battle``: a model against itself
        says nothing about any model, so such a battle is kept but never rated."""
        where, params = _scoring_filter(category, voter, kind, include_leaks)
        rows = self.conn.execute(
            f"SELECT {_scoring_columns_sql(features)} FROM votes v JOIN battles b ON b.id = v.battle_id "
            f"WHERE {where} ORDER BY v.created, b.rowid, v.rowid", params).fetchall()
        # Without a voter filter, the rows already tell which counted battles have a vote.
        voted_counted = None if voter else len({row[-1] for row in rows})
        return rows, self._exclusions(category, kind, include_leaks, voted_counted)

    def scoring_rows_since(self, vote_rowid: int, *, category: str | None = None, voter: str | None = None,
                           kind: str | tuple[str, ...] | None = "human", include_leaks: bool = False,
                           features: tuple[str, ...] = ("tokens", "emoji", "header", "list", "bold"),
                           ) -> list[tuple]:
        """The rows of ``scoring_rows`` for the votes whose rowid is above ``vote_rowid``, in
        the same order, each followed by the vote's ``created`` and rowid (its place in
        that order)."""
        where, params = _scoring_filter(category, voter, kind, include_leaks)
        return self.conn.execute(
            f"SELECT {_scoring_columns_sql(features)}, v.created, v.rowid FROM votes v "
            f"JOIN battles b ON b.id = v.battle_id WHERE {where} AND v.rowid > ? "
            "ORDER BY v.created, b.rowid, v.rowid", [*params, vote_rowid]).fetchall()

    def _last_scoring_vote(self, battle_rowid: int, *, category: str | None, voter: str | None,
                           kind: str | tuple[str, ...] | None, include_leaks: bool) -> tuple[str, int, int] | None:
        """(created, battle rowid, vote rowid) of the last row ``scoring_rows`` gives, told
        which battle it belongs to: the last of that battle's counted votes."""
        where, params = _scoring_filter(category, voter, kind, include_leaks)
        row = self.conn.execute(
            "SELECT v.created, v.rowid FROM votes v JOIN battles b ON b.id = v.battle_id "
            f"WHERE b.rowid = ? AND {where} ORDER BY v.created DESC, v.rowid DESC LIMIT 1",
            [battle_rowid, *params]).fetchone()
        return None if row is None else (row[0], battle_rowid, row[1])

    def scoring_columns(self, *, category: str | None = None, voter: str | None = None,
                        kind: str | tuple[str, ...] | None = "human", include_leaks: bool = False,
                        features: tuple[str, ...] = ("tokens", "emoji", "header", "list", "bold"),
                        ) -> ScoringColumns:
        """What ``scoring_rows`` returns, as arrays (see ``ScoringColumns``), served from the
        cache file beside the database while no write has touched battles or votes since,
        or with only the votes added since read from SQLite (see
        ``battles.store.scoring_cache``)."""
        import numpy as np

        from battles.store.scoring_cache import ScoringSource, cached_columns, columns_from_rows

        request = {"category": category, "voter": voter, "kind": list(kind) if isinstance(kind, tuple) else kind,
                   "include_leaks": include_leaks,
                   "features": list(features)}
        filters = {"category": category, "voter": voter, "kind": kind, "include_leaks": include_leaks}

        def read() -> tuple[ScoringColumns, tuple | None, int | None]:
            rows, excluded = self.scoring_rows(**filters, features=features)
            last = self._last_scoring_vote(rows[-1][-1], **filters) if rows else None
            columns = columns_from_rows(rows, excluded, len(features))
            return columns, last, None if voter else int(np.unique(columns.cluster).size)

        return cached_columns(self.conn, self.path, request, ScoringSource(
            read=read,
            read_since=lambda rowid: self.scoring_rows_since(rowid, **filters, features=features),
            exclusions=lambda voted: self._exclusions(category, kind, include_leaks, voted)))

    def _exclusions(self, category: str | None, kind: str | tuple[str, ...] | None, include_leaks: bool,
                    voted_counted: int | None) -> dict[str, int]:
        """The battles left out, by reason. ``voted_counted``: how many of the battles the
        rows count have a vote (None: not known), so that only the few leaked and
        self-battles need their votes looked up, not every battle."""
        in_category, category_params = (" AND b.category = ?", [category]) if category else ("", [])
        errors, complete = self.conn.execute(
            f"SELECT sum(status = 'error'), sum(status = 'complete') FROM battles b WHERE 1 = 1{in_category}",
            category_params).fetchone()
        if voted_counted is None:
            scope = "b.status = 'complete'"
        else:  # the battles the rows leave out
            scope = "b.status = 'complete' AND (b.model_a = b.model_b" + (
                ")" if include_leaks else " OR b.identity_leak = 1)")
        kind_sql, kind_params = _kind_filter(kind) if kind else ("", [])
        voted = "EXISTS (SELECT 1 FROM votes v WHERE v.battle_id = b.id" + (f" AND {kind_sql}" if kind else "") + ")"
        leaked, self_battles, others = self.conn.execute(
            "SELECT sum(identity_leak = 1 AND model_a != model_b), sum(model_a = model_b), "
            f"sum(identity_leak = 0 AND model_a != model_b) FROM battles b WHERE {scope}{in_category} AND {voted}",
            [*category_params, *kind_params]).fetchone()
        leaked, self_battles, others = leaked or 0, self_battles or 0, others or 0
        if voted_counted is None:
            voted_complete = leaked + self_battles + others
        elif include_leaks:  # the rows counted leaked battles too
            voted_complete = voted_counted + self_battles
        else:
            voted_complete = voted_counted + leaked + self_battles
        return {"error": errors or 0, "identity_leak": 0 if include_leaks else leaked,
                "unvoted": (complete or 0) - voted_complete, "self_battle": self_battles}

    def shared_votes(self, *, kind: str = "human", include_leaks: bool = False) -> list[tuple[str, str | None, str]]:
        """(battle_id, voter, winner in the battle's own terms) of every counted battle that two or
        more votes of ``kind`` share: all that agreement between voters is measured on, read
        through the votes' battle index rather than by a pass over every vote."""
        leaks = "" if include_leaks else " AND b.identity_leak = 0"
        return self.conn.execute(
            "SELECT v.battle_id, v.voter, v.winner FROM votes v JOIN battles b ON b.id = v.battle_id "
            f"WHERE v.kind = ? AND {_COUNTED}{leaks} AND v.battle_id IN "
            "(SELECT battle_id FROM votes WHERE kind = ? GROUP BY battle_id HAVING count(*) > 1) "
            "ORDER BY v.battle_id, v.rowid", (kind, kind)).fetchall()

    def votes_with_features(self, *, voter: str | None = None, kind: str | None = None,
                            include_leaks: bool = False) -> Iterator[ShownVote]:
        """Every counted vote as its voter saw the battle, in time order, with both sides'
        style features (for per-voter reports: position bias, length and markdown
        preferences). Filters: ``voter``, ``kind`` (None: every kind)."""
        where, params = _scoring_filter(None, voter, kind, include_leaks)
        left = [_swap(f"b.b_{f}", f"b.a_{f}") for f in FEATURE_COLUMNS]
        right = [_swap(f"b.a_{f}", f"b.b_{f}") for f in FEATURE_COLUMNS]
        k = len(FEATURE_COLUMNS)
        for row in self.conn.execute(
                f"SELECT b.id, v.voter, v.kind, {_SHOWN_BATTLE_WINNER}, {_LEFT_MODEL}, {_RIGHT_MODEL}, "
                f"v.shown_swapped, {', '.join(left + right)} FROM votes v JOIN battles b ON b.id = v.battle_id "
                f"WHERE {where} ORDER BY v.created, b.rowid, v.rowid", params):
            yield ShownVote(battle_id=row[0], voter=row[1], kind=row[2], winner=_SHOWN_WINNER[row[3]],
                            model_left=row[4], model_right=row[5], shown_swapped=bool(row[6]),
                            features_left=dict(zip(FEATURE_COLUMNS, row[7:7 + k])),
                            features_right=dict(zip(FEATURE_COLUMNS, row[7 + k:])))

    def iter_battles(self, *, batch_size: int = 5_000, voted_only: bool = False,
                     with_responses: bool = True) -> Iterator[dict[str, Any]]:
        """Every battle with its responses and votes (``votes``; ``vote`` the first), in
        insertion order (for export).

        ``voted_only`` keeps complete battles that have a vote; ``with_responses=False``
        skips reading the texts (``responses`` is then an empty list)."""
        last_rowid = 0
        voted = (" AND status = 'complete' AND EXISTS (SELECT 1 FROM votes WHERE votes.battle_id = battles.id)"
                 if voted_only else "")
        while True:
            self.conn.row_factory = sqlite3.Row
            try:
                rows = [dict(r) for r in self.conn.execute(
                    f"SELECT rowid AS _rowid, * FROM battles WHERE rowid > ?{voted} ORDER BY rowid LIMIT ?",
                    (last_rowid, batch_size))]
                if not rows:
                    return
                last_rowid = rows[-1]["_rowid"]
                ids = [r["id"] for r in rows]
                marks = ",".join("?" * len(ids))
                responses: dict[str, list[dict]] = {}
                for r in (self.conn.execute(
                        f"SELECT * FROM responses WHERE battle_id IN ({marks}) ORDER BY turn, side", ids)
                        if with_responses else ()):
                    item = dict(r)
                    item["features"] = json.loads(item["features"]) if item["features"] else None
                    responses.setdefault(item["battle_id"], []).append(item)
            finally:
                self.conn.row_factory = None
            votes = self._votes_of(ids)
            for row in rows:
                row.pop("_rowid")
                row["votes"] = votes.get(row["id"], [])
                row["vote"] = row["votes"][0] if row["votes"] else None
                row["responses"] = responses.get(row["id"], [])
                yield row

    def categories(self) -> list[str]:
        """The prompt categories battles were fought in, for filters."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT category FROM battles WHERE category IS NOT NULL AND category != '' ORDER BY 1")]

    def voters(self) -> list[str]:
        """The names votes were recorded under, for filters."""
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT voter FROM votes WHERE voter IS NOT NULL AND voter != '' ORDER BY 1")]

    def counts(self) -> dict[str, int]:
        """How many battles, and how many votes (several per battle when several voted)."""
        battles = self.conn.execute("SELECT count(*) FROM battles").fetchone()[0]
        votes = self.conn.execute("SELECT count(*) FROM votes").fetchone()[0]
        return {"battles": battles, "votes": votes}
