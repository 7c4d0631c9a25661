"""Live writes: a battle as the engine plays it (begun, each turn saved, finished), then its vote."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from battles.errors import VoteError
from battles.store.connection import write_transaction
from battles.store.records import RESPONSE_INSERT, ResponseRecord, new_battle_id, now_iso, response_row
from battles.store.schema import FEATURE_COLUMNS, STATUSES, VOTE_KINDS, WINNERS


class LiveWrites:
    """Part of Store: each call is one durable transaction."""

    path: Path
    conn: sqlite3.Connection

    def begin_battle(self, *, model_a: str, model_b: str, prompt: str, swapped: bool = False,
                     pack: str | None = None, category: str | None = None,
                     battle_id: str | None = None) -> str:
        battle_id = battle_id or new_battle_id()
        with write_transaction(self.conn, self.path) as conn:
            conn.execute(
                "INSERT INTO battles (id, created, source, prompt, pack, category, model_a, model_b, "
                "swapped, status, identity_leak, turns) VALUES (?, ?, 'live', ?, ?, ?, ?, ?, ?, 'streaming', 0, 0)",
                (battle_id, now_iso(), prompt, pack, category, model_a, model_b, int(swapped)),
            )
        return battle_id

    def save_turn(self, battle_id: str, turn: int, prompt: str, a: ResponseRecord, b: ResponseRecord) -> None:
        """Write (or, after a regenerate, replace) both sides of one turn."""
        with write_transaction(self.conn, self.path) as conn:
            for side, record in (("a", a), ("b", b)):
                conn.execute("INSERT OR REPLACE " + RESPONSE_INSERT,
                             response_row(battle_id, side, turn, prompt, record))
            conn.execute("UPDATE battles SET turns = max(turns, ?) WHERE id = ?", (turn, battle_id))

    def finish_battle(self, battle_id: str, *, status: str, identity_leak: bool,
                      features_a: dict[str, int | None] | None, features_b: dict[str, int | None] | None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        columns = {"status": status, "identity_leak": int(identity_leak)}
        for side, features in (("a", features_a or {}), ("b", features_b or {})):
            columns.update({f"{side}_{name}": features.get(name) for name in FEATURE_COLUMNS})
        assignments = ", ".join(f"{name} = ?" for name in columns)
        with write_transaction(self.conn, self.path) as conn:
            conn.execute(f"UPDATE battles SET {assignments} WHERE id = ?", (*columns.values(), battle_id))

    def record_vote(self, battle_id: str, winner: str, voter: str | None, *, shown_swapped: bool = False,
                    kind: str = "human") -> None:
        """Record ``voter``'s vote; durable on return. ``winner`` is in the battle's own
        terms (model_a is the battle's model_a whatever side this voter saw it on);
        ``shown_swapped``: this voter saw model_b on the left. Each voter votes once on a
        battle; votes without a name (None or "") count as one anonymous voter. Refuses
        unknown, unfinished or errored battles, and a second vote by the same voter."""
        if winner not in WINNERS:
            raise VoteError(f"{winner!r} is not a vote; use one of a, b, tie, both_bad.")
        if kind not in VOTE_KINDS:
            raise VoteError(f"{kind!r} is not a kind of vote; use one of {', '.join(VOTE_KINDS)}.")
        voter = voter or None
        with write_transaction(self.conn, self.path) as conn:
            row = conn.execute("SELECT status FROM battles WHERE id = ?", (battle_id,)).fetchone()
            if row is None:
                raise VoteError(f"There is no battle {battle_id} in {self.path}.")
            if row[0] == "error":
                raise VoteError(f"Battle {battle_id} ended with an error and cannot be voted on.")
            if row[0] != "complete":
                raise VoteError(f"Battle {battle_id} has not finished streaming; it cannot be voted on yet.")
            if conn.execute("SELECT 1 FROM votes WHERE battle_id = ? AND ifnull(voter, '') = ifnull(?, '')",
                            (battle_id, voter)).fetchone():
                who = f"from {voter}" if voter else "with no voter name"
                raise VoteError(f"Battle {battle_id} already has a vote {who}; each voter votes once on a battle.")
            conn.execute("INSERT INTO votes (battle_id, winner, voter, created, shown_swapped, kind) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (battle_id, winner, voter, now_iso(), int(shown_swapped), kind))

    def withdraw_vote(self, battle_id: str, voter: str, *, kind: str) -> None:
        """Remove ``voter``'s vote of ``kind`` on the battle (a judge's rerun replaces its own
        earlier verdict; human votes are never withdrawn this way)."""
        with write_transaction(self.conn, self.path) as conn:
            conn.execute("DELETE FROM votes WHERE battle_id = ? AND voter = ? AND kind = ?", (battle_id, voter, kind))
