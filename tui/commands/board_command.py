"""``blindside board``: the live board for a projector (see tui/board_app.py)."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
A full-screen view of the room's votes for a projector: raw and style-controlled ratings
with 95% intervals, votes so far per voter, agreement and the room's pooled fingerprint,
from the human votes. It refreshes within about a second of a vote cast by any process
(it watches the database). Agreement counts a tie and both_bad as one verdict, "neither".
Keys: q quits, r refreshes now, p hides or shows the room's fingerprint.
Exit status 2 for a deck that does not exist.
"""


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "board", parents=[common], help="live board of the room's votes, for a projector",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    # SUPPRESS: a --deck given before "board" (as `blindside serve --board` may pass it) is kept.
    parser.add_argument("--deck", metavar="NAME", default=argparse.SUPPRESS,
                        help="only the battles of this deck")


def run(args: argparse.Namespace) -> int:
    from battles.store import open_store
    from tui.team_data import config_models, deck_battle_ids

    deck = getattr(args, "deck", None)
    with open_store(getattr(args, "db", None)) as store:
        path = store.path
        if deck:
            deck_battle_ids(store, deck)  # no such deck: one line, exit 2, before the screen opens
    models = config_models(getattr(args, "config", None))

    from tui.board_app import BoardApp

    BoardApp(path, deck=deck, models=models).run()
    return 0
