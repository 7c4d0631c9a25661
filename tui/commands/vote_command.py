"""``blindside vote BATTLE_ID a|b|tie|both_bad``: vote on a finished battle, then reveal it."""

from __future__ import annotations

import argparse


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "vote", parents=[common], help="vote on a finished battle and reveal the models",
        description="Record your vote on a battle printed by `blindside battle` (a: Model A is "
                    "better, b: Model B is better, tie, both_bad), then name both models. "
                    "Each voter votes once on a battle.")
    parser.add_argument("battle_id", metavar="BATTLE_ID", help="the id printed by `blindside battle`")
    parser.add_argument("winner", metavar="VOTE", choices=("a", "b", "tie", "both_bad"),
                        help="a, b, tie or both_bad")
    parser.add_argument("--voter", metavar="NAME", default=argparse.SUPPRESS,
                        help="name recorded with the vote (default: config arena.voter, else your user name)")
    parser.add_argument("--json", action="store_true", help="print the reveal as one JSON object")


def run(args: argparse.Namespace) -> int:
    from battles.config import load_config
    from battles.engine import default_voter, vote_stored
    from battles.store import open_store
    from tui.headless import format_reveal
    from tui.widgets.safe_text import json_text

    config = load_config(getattr(args, "config", None))
    voter = default_voter(config, getattr(args, "voter", None))
    lineup = {m.contestant: m for m in config.models.values()}
    with open_store(getattr(args, "db", None)) as store:
        reveal = vote_stored(store, args.battle_id.strip(), args.winner, voter, lineup)
    if args.json:
        print(json_text({
            "battle_id": reveal.battle_id,
            "winner": reveal.winner,
            "voter": voter,
            "model_a": reveal.model_a,
            "model_b": reveal.model_b,
            "identity_leak": reveal.identity_leak,
            "leaked_names": reveal.leaked_names,
        }))
    else:
        print(format_reveal(reveal, voter=voter))
    return 0
