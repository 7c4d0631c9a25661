"""The store's tables, the migrations that build them, and the checks made on opening a file.

Tables (open the file with Datasette or sqlite3 to explore):
- ``battles``: one row per battle. ``model_a`` is always the model shown on the left;
  ``swapped`` records the coin flip that put the drawn pair's second model there.
  ``status`` is streaming / complete / error. Style features of each side, summed over
  turns, sit in ``a_*`` / ``b_*`` columns (NULL = unknown, never 0 for unknown).
- ``responses``: one row per side and turn: the user's prompt, the answer, its error,
  timings, tokens, finish reason and that turn's features (JSON).
- ``votes``: one per battle and voter (since m002; at most one per battle before):
  winner in the battle's own terms (model_a | model_b | tie | both_bad), voter (NULL: the
  one anonymous voter of the battle), time, ``shown_swapped`` (1 when this voter saw
  ``model_b`` on the left) and ``kind`` (``human``, or ``judge`` for a model's verdict).
- ``decks``, ``deck_answers``, ``deck_battles`` (m003): battles generated once and voted by
  many; see ``battles.decks``.
- ``judgments`` (m004): every answer an LLM judge gave, in both orders; see
  ``battles.judging.schema``. ``verdict_source`` (m005): ``text`` when the verdict was read
  from the answer, ``forced`` when the local judge wrote none and was asked for one letter.
- ``scoring_cache_state`` (m006): one row saying whether the leaderboard's cached read
  (``battles.store.scoring_cache``) is still current, short only of new votes and unvoted
  battles (``appended``), or stale. Triggers on ``battles`` and ``votes`` keep it so on every write,
  whoever makes it; a migration that rebuilds either table must create them again
  (``create_stale_triggers``).

A new migration is a function appended to MIGRATION_STEPS; its name is what
``_sqlite_migrations`` records, so a name once released never changes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from battles.errors import StoreError
from battles.store.connection import make_durable, open_error, write_transaction

if TYPE_CHECKING:  # sqlite-utils (and numpy with it) loads only when a file needs migrating
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

WINNERS = ("model_a", "model_b", "tie", "both_bad")
STATUSES = ("streaming", "complete", "error")
SIDES = ("a", "b")
VOTE_KINDS = ("human", "judge")
FEATURE_COLUMNS = ("tokens", "chars", "words", "emoji", "header", "list", "bold", "code_blocks", "exclamations")
MIGRATION_SET = "blindside"


def m001_initial(db: sqlite_utils.Database) -> None:
    side_features = {f"{side}_{name}": int for side in SIDES for name in FEATURE_COLUMNS}
    db["battles"].create(
        {
            "id": str,
            "created": str,
            "source": str,
            "prompt": str,
            "pack": str,
            "category": str,
            "language": str,
            "model_a": str,
            "model_b": str,
            "swapped": int,
            "status": str,
            "identity_leak": int,
            "turns": int,
            **side_features,
            "meta": str,
        },
        pk="id",
        not_null={"created", "model_a", "model_b", "status"},
        defaults={"swapped": 0, "identity_leak": 0, "turns": 0, "source": "live"},
    )
    db["responses"].create(
        {
            "battle_id": str,
            "side": str,
            "turn": int,
            "prompt": str,
            "text": str,
            "error": str,
            "error_hint": str,
            "ttft_ms": float,
            "duration_ms": float,
            "tokens": int,
            "finish_reason": str,
            "features": str,
        },
        pk=("battle_id", "side", "turn"),
        foreign_keys=[("battle_id", "battles", "id")],
    )
    db["votes"].create(
        {"battle_id": str, "winner": str, "voter": str, "created": str},
        pk="battle_id",
        foreign_keys=[("battle_id", "battles", "id")],
        not_null={"winner", "created"},
    )
    # Only the index the history list needs: ratings read every counted battle anyway, and
    # each further index slows the bulk imports the leaderboard's users depend on.
    db["battles"].create_index(["created"])


def m002_votes_per_voter(db: sqlite_utils.Database) -> None:
    """Many votes per battle, one per voter, each with the side order that voter saw.
    Existing votes are kept as human votes seen in the battle's own order."""
    db.execute("""
        CREATE TABLE votes_per_voter (
            battle_id TEXT NOT NULL REFERENCES battles(id),
            winner TEXT NOT NULL,
            voter TEXT,
            created TEXT NOT NULL,
            shown_swapped INTEGER NOT NULL DEFAULT 0,
            kind TEXT NOT NULL DEFAULT 'human'
        )""")
    db.execute("INSERT INTO votes_per_voter (battle_id, winner, voter, created) "
               "SELECT battle_id, winner, voter, created FROM votes ORDER BY rowid")
    db.execute("DROP TABLE votes")
    db.execute("ALTER TABLE votes_per_voter RENAME TO votes")
    # One vote per voter and battle; all votes without a name are one anonymous voter
    # (a unique index would let any number of NULLs through). Its battle_id prefix also
    # serves every lookup of a battle's votes.
    db.execute("CREATE UNIQUE INDEX votes_one_per_voter ON votes (battle_id, ifnull(voter, ''))")


def m003_decks(db: sqlite_utils.Database) -> None:
    """Decks: battles generated once and voted by many (see battles.decks)."""
    db["decks"].create(
        {"name": str, "created": str, "prompts": str, "pack": str, "models": str, "options": str,
         "prompt_count": int, "planned": int},
        pk="name",
        not_null={"created", "prompts", "models"},
    )
    db["deck_answers"].create(
        {"deck": str, "prompt_id": str, "model": str, "prompt": str, "text": str, "ttft_ms": float,
         "duration_ms": float, "tokens": int, "finish_reason": str, "features": str, "created": str},
        pk=("deck", "prompt_id", "model"),
        foreign_keys=[("deck", "decks", "name")],
    )
    db["deck_battles"].create(
        {"deck": str, "battle_id": str, "position": int},
        pk=("deck", "battle_id"),
        foreign_keys=[("deck", "decks", "name"), ("battle_id", "battles", "id")],
    )
    db["deck_battles"].create_index(["deck", "position"])


def m004_judgments(db: sqlite_utils.Database) -> None:
    """Every answer an LLM judge gave, kept for audit (see battles.judging.schema)."""
    db["judgments"].create(
        {
            "battle_id": str,
            "judge": str,
            "order": str,
            "text": str,
            "verdict": str,
            "error": str,
            "ttft_ms": float,
            "duration_ms": float,
            "tokens": int,
            "created": str,
        },
        pk=("battle_id", "judge", "order"),
        foreign_keys=[("battle_id", "battles", "id")],
        not_null={"judge", "order", "created"},
    )


def m005_judgment_verdict_source(db: sqlite_utils.Database) -> None:
    """Where a judgment's verdict came from: ``text`` (a marker in the answer) or ``forced``
    (a local judge's forced choice after its answer); NULL without a verdict."""
    db["judgments"].add_column("verdict_source", str)
    db.execute("UPDATE judgments SET verdict_source = 'text' WHERE verdict IS NOT NULL")


def create_stale_triggers(db: sqlite_utils.Database) -> None:
    """Keep ``scoring_cache_state`` true to what the cached scoring read may still serve.

    - A new vote, a new battle, or a change to a battle nobody voted on only sets
      ``appended``: the reader adds the votes above the cached rowids and counts the
      exclusions again. Unless the write would overwrite a row (INSERT OR REPLACE deletes
      without delete triggers: the insert triggers run before, to see the row it replaces)
      or votes already name the new battle: that is stale. (A replace on the
      one-vote-per-voter index, or a vote given a low rowid, the reader finds by counting.)
    - Any other change (a voted battle, a vote changed or deleted) is stale.
    Every WHEN clause is ``stale = 0``: once stale, every further write of the transaction
    (a bulk import's million rows) is a read of one row, not a write."""
    triggers = {  # name: (when, what makes it stale; None: always)
        "insert_battles": ("BEFORE INSERT ON battles", "EXISTS (SELECT 1 FROM votes WHERE battle_id = NEW.id) "
                           "OR EXISTS (SELECT 1 FROM battles WHERE rowid = NEW.rowid)"),
        "update_battles": ("AFTER UPDATE ON battles",
                           "EXISTS (SELECT 1 FROM votes WHERE battle_id IN (OLD.id, NEW.id))"),
        "delete_battles": ("AFTER DELETE ON battles", None),
        "insert_votes": ("BEFORE INSERT ON votes", "EXISTS (SELECT 1 FROM votes WHERE rowid = NEW.rowid)"),
        "update_votes": ("AFTER UPDATE ON votes", None),
        "delete_votes": ("AFTER DELETE ON votes", None),
    }
    for name, (event, stale_if) in triggers.items():
        body = "UPDATE scoring_cache_state SET stale = 1;"
        if stale_if:
            body = (f"UPDATE scoring_cache_state SET stale = 1 WHERE {stale_if}; "
                    "UPDATE scoring_cache_state SET appended = 1 WHERE stale = 0 AND appended = 0;")
        db.execute(f"CREATE TRIGGER IF NOT EXISTS scoring_cache_on_{name} {event} "
                   f"WHEN (SELECT stale FROM scoring_cache_state) = 0 BEGIN {body} END")


def m006_scoring_cache_state(db: sqlite_utils.Database) -> None:
    """Whether the cached scoring read is current (see battles.store.scoring_cache)."""
    db.execute("CREATE TABLE scoring_cache_state (id INTEGER PRIMARY KEY CHECK (id = 0), "
               "stale INTEGER NOT NULL, token INTEGER NOT NULL, appended INTEGER NOT NULL DEFAULT 0)")
    db.execute("INSERT INTO scoring_cache_state (id, stale, token) VALUES (0, 1, 0)")
    create_stale_triggers(db)


# In the order they apply. The store knows exactly these names: a file that records
# another one was written by a newer blindside.
MIGRATION_STEPS = (m001_initial, m002_votes_per_voter, m003_decks, m004_judgments, m005_judgment_verdict_source,
                   m006_scoring_cache_state)


def migration_names() -> list[str]:
    return [step.__name__ for step in MIGRATION_STEPS]


def _migrations() -> Migrations:
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(MIGRATION_SET)
    for step in MIGRATION_STEPS:
        migrations(name=step.__name__)(step)
    return migrations


def open_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Check that the file is a blindside database this release can read, make it durable
    and bring its schema up to date. Anything else: StoreError, the file left untouched
    and the connection closed."""
    if _up_to_date(conn):  # the common case, without loading sqlite-utils
        make_durable(conn, path)
        return
    import sqlite_utils

    _check_and_migrate(conn, sqlite_utils.Database(conn, execute_plugins=False), path)


def _up_to_date(conn: sqlite3.Connection) -> bool:
    """The file records exactly this release's migrations. Anything else (a new file, a
    foreign one, an older or newer schema) goes through the full checks."""
    try:
        applied = {name for (name,) in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (MIGRATION_SET,))}
        others = conn.execute("SELECT count(*) FROM _sqlite_migrations WHERE migration_set != ?",
                              (MIGRATION_SET,)).fetchone()[0]
    except sqlite3.DatabaseError:
        return False
    return not others and applied == set(migration_names())


def _check_and_migrate(conn: sqlite3.Connection, db: sqlite_utils.Database, path: Path) -> None:
    try:
        tables = set(db.table_names())
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise open_error(path, exc) or StoreError(f"{path} is not a SQLite database ({exc}); it was left "
                                                  "untouched. Pass --db with another path.") from None
    migrations = _migrations()
    if tables and "_sqlite_migrations" not in tables:
        conn.close()
        raise StoreError(f"{path} is a SQLite database but not a blindside one "
                         f"(it has tables {', '.join(sorted(tables)[:5])}); it was left untouched. "
                         "Pass --db with another path.")
    if tables:
        try:
            applied = {m.name for m in migrations.applied(db)}
        except sqlite3.DatabaseError:  # a _sqlite_migrations table of another shape
            applied = set()
        # sqlite-utils commits its own (empty) table before the first migration: a first run
        # stopped in between left only that. Such a file is still ours to set up.
        unstarted = tables == {"_sqlite_migrations"} and not db["_sqlite_migrations"].count
        if not applied and not unstarted:
            conn.close()
            raise StoreError(f"{path} is not a blindside database; it was left untouched. "
                             "Pass --db with another path.")
        newer = applied - set(migration_names())
        if newer:
            conn.close()
            raise StoreError(f"{path} was written by a newer blindside (schema {sorted(newer)[-1]}); "
                             "it was left untouched. Upgrade blindside to open it.")
    make_durable(conn, path)
    if migrations.pending(db):
        # The whole run holds the write lock (sqlite-utils nests each migration in it as a
        # savepoint), so of several first openers one migrates and the others, waiting
        # for the lock, then find nothing pending. Without it, a migration's read-then-write
        # transaction could not wait and failed with "database is locked".
        try:
            with write_transaction(conn, path):
                migrations.apply(db)
        except (sqlite3.DatabaseError, StoreError) as exc:
            conn.close()
            raise StoreError(f"{path}: could not update the database schema ({exc}); "
                             "it was left as it was. Check that the disk is not full and the "
                             "file is writable, then try again.") from None
