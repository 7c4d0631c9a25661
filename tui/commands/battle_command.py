"""``blindside battle``: one blind battle from the command line, with an optional vote."""

from __future__ import annotations

import argparse
import sys

VOTES = ("a", "b", "tie", "both_bad")


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "battle", parents=[common], help="run one blind battle and print both answers",
        description="Send one prompt to two anonymous models at once and print both answers as "
                    "Model A and Model B. The models are named only after a vote "
                    "(--vote here, or `blindside vote BATTLE_ID ...` later).")
    parser.add_argument("--prompt", required=True, metavar="TEXT|-", help="the prompt; - reads it from stdin")
    parser.add_argument("--models", metavar="A,B", help="fix the pair (A is shown as Model A)")
    parser.add_argument("--vote", choices=VOTES, help="vote right away and reveal the models")
    # SUPPRESS: a --voter given before the subcommand name is kept.
    parser.add_argument("--voter", metavar="NAME", default=argparse.SUPPRESS,
                        help="name recorded with the vote (default: config arena.voter, else your user name)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from battles.engine import default_voter
    from battles.store import open_store
    from tui.headless import load_lineup_config, parse_pair, read_prompt

    prompt = read_prompt(args.prompt)
    pair = parse_pair(args.models)
    # The lineup's origin is not printed: before the vote, output names no model.
    config, _origin = load_lineup_config(getattr(args, "config", None))
    voter = default_voter(config, getattr(args, "voter", None))
    with open_store(getattr(args, "db", None)) as store:
        return asyncio.run(_battle(config, store, prompt, pair, args.vote, voter, args.json))


async def _battle(config, store, prompt, pair, vote, voter, as_json) -> int:
    from battles.engine import Arena

    async with Arena(config, store) as arena:
        battle = arena.start(prompt, models=pair)
        if sys.stderr.isatty() and not as_json:
            print("Streaming both answers...", file=sys.stderr, flush=True)
        await battle.run()
        reveal = None
        if vote and battle.can_vote:
            reveal = battle.vote(vote, voter)
    if as_json:
        _print_json(battle, reveal)
    else:
        _print_text(battle, reveal, vote, voter)
    return 0 if battle.status == "complete" else 1


def _print_json(battle, reveal) -> None:
    from tui.headless import side_dict
    from tui.widgets.safe_text import json_text

    sides = {}
    for side in ("a", "b"):
        record = reveal.a if reveal and side == "a" else reveal.b if reveal else battle.results[side]
        model = getattr(reveal, f"model_{side}") if reveal else None
        sides[side] = side_dict(record, model=model, show_hint=reveal is not None)
    out = {
        "battle_id": battle.id,
        "status": battle.status,
        "identity_leak": battle.identity_leak,
        "winner": reveal.winner if reveal else None,
        "leaked_names": reveal.leaked_names if reveal else None,
        "sides": sides,
    }
    print(json_text(out))


def _print_text(battle, reveal, vote, voter) -> None:
    from battles.engine import anonymous_error
    from tui.headless import SIDE_LABELS, format_reveal, side_stats
    from tui.widgets.safe_text import printable

    lines = [f"Battle {battle.id}", ""]
    for side in ("a", "b"):
        record = battle.results[side]
        lines.append(f"=== {SIDE_LABELS[side]} ===")
        if record.text:
            lines.append(printable(record.text.rstrip("\n")))
        if record.error:
            lines.append(printable(anonymous_error(side, record.error)))
        lines.append(side_stats(record))
        lines.append("")
    if battle.identity_leak and not reveal:
        lines.append("Note: an answer names a model (identity leak); ratings leave this battle out by default.")
    if battle.status == "error":
        # The hint (e.g. "set OPENAI_API_KEY") could tell who was who: a battle stays blind
        # even when it fails, and `models --check` gives every model's error with its name.
        lines.append("The battle ended in an error: it cannot be voted on and does not count.")
        lines.append("Run `blindside models --check` to see which model failed and what to do.")
    elif reveal:
        lines.append(format_reveal(reveal, voter=voter))
    else:
        lines.append(f"Vote with: blindside vote {battle.id} a|b|tie|both_bad")
    print("\n".join(lines))
