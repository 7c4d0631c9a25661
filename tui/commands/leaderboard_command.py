"""``blindside leaderboard``: ratings with and without style control, as text or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from battles.errors import ConfigError


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "leaderboard", parents=[common], help="ratings, raw and style-controlled",
        description="Rate the models from the votes in the database. Errored, leaked and unvoted "
                    "battles are left out and counted. When battles have two or more human votes, "
                    "--json adds 'agreement' (battles_with_multiple_votes, pairwise_agreement, "
                    "fleiss_kappa): a tie and both_bad count as one verdict, 'neither', and agree "
                    "with each other; the '_without_ties' share leaves out every pair of votes in "
                    "which either vote is a tie or both_bad.")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--method", choices=("bt", "elo", "trueskill"), default="bt",
                        help="Bradley-Terry (default), online Elo or TrueSkill")
    parser.add_argument("--no-style-control", dest="style_control", action="store_false",
                        help="skip the style-controlled fit")
    parser.add_argument("--ci", choices=("bootstrap", "sandwich"), default="bootstrap",
                        help="how intervals are computed (default: bootstrap)")
    parser.add_argument("--rounds", type=_positive_int, default=100, metavar="N",
                        help="bootstrap rounds (default: 100)")
    parser.add_argument("--anchor", metavar="MODEL=RATING", type=_anchor,
                        help="shift the scale so MODEL has RATING")
    parser.add_argument("--category", metavar="C", help="only battles of this prompt category")
    whose = parser.add_mutually_exclusive_group()
    whose.add_argument("--voter", metavar="NAME",
                       help="only this voter's votes, a judge's too (--voter judge:NAME); "
                            "by default only human votes are rated")
    whose.add_argument("--judges", action="store_true",
                       help="rate every judge's votes (blindside judge) beside the humans'")
    parser.add_argument("--include-leaks", action="store_true",
                        help="count battles flagged for an identity leak too")
    parser.add_argument("--seed", type=int, default=42, help="bootstrap seed (default: 42)")
    parser.add_argument("--style-convention", choices=("fastchat", "arena-rank"), default="fastchat",
                        help="style-control loss: FastChat's (default) or LMArena's arena-rank package "
                             "(mean loss, pair weights, penalty on the coefficients only)")
    parser.add_argument("--matrices", action="store_true",
                        help="add the pairwise win-rate and battle-count matrices")
    parser.add_argument("--family", dest="families", action="append", default=[], metavar="GLOB=NAME",
                        help="models whose names match GLOB (fnmatch: *, ?, [...]) are variants of family "
                             "NAME; its best-rated member is flagged with the luck of that pick. Repeatable; "
                             "adds to the config's family = \"NAME\" (for example "
                             "--family 'llama-4-maverick*=maverick')")


def run(args: argparse.Namespace) -> int:
    from battles.config import config_families, load_config
    from battles.store import open_store
    from tui.leaderboard_data import LeaderboardRequest, load_leaderboard
    from tui.leaderboard_text import render_leaderboard
    from tui.rating_format import model_name

    family_globs = tuple(family_spec(text) for text in args.families)
    families = config_families(load_config(getattr(args, "config", None)))
    request = LeaderboardRequest(
        method=args.method, ci=args.ci, rounds=args.rounds, style_control=args.style_control,
        anchor=args.anchor, category=args.category, voter=args.voter, judges=args.judges,
        include_leaks=args.include_leaks, seed=args.seed, matrices=args.matrices,
        style_convention=args.style_convention, families=families, family_globs=family_globs)
    with open_store(getattr(args, "db", None)) as store:
        board = load_leaderboard(store, request)
        if args.json:
            from tui.team_data import agreement_json

            agreement = agreement_json(store)  # None unless a battle has 2+ human votes
    if args.anchor and board.model(args.anchor[0]) is None:
        raise ConfigError(f"--anchor names {model_name(args.anchor[0])!r}, which has no counted battles. "
                          "Use a model name from the leaderboard.")
    if args.json:
        print(json.dumps({**board.to_json(), "votes_rated": request.votes_rated, "agreement": agreement}, indent=2))
    else:
        for warning in board.family_warnings:
            print(f"blindside: {model_name(warning, width=None)}", file=sys.stderr)
        print(render_leaderboard(board))
        print(f"Votes rated: {votes_rated_text(request)}")
    return 0


def votes_rated_text(request) -> str:
    """Which votes the board rates, for a person (the JSON's ``votes_rated``, in a sentence)."""
    from tui.rating_format import model_name

    if request.voter:
        return f"only {model_name(request.voter, width=None)}'s"
    return "humans' and every judge's (--judges)" if request.judges else "humans' only (judges: --judges or --voter judge:NAME)"


def family_spec(text: str) -> tuple[str, str]:
    """'GLOB=NAME' -> (glob, name); a usage error (one line, exit 2) otherwise."""
    glob, sep, name = text.rpartition("=")
    if not sep or not glob.strip() or not name.strip() or not name.isprintable():
        from tui.rating_format import model_name

        raise ConfigError(f"--family {model_name(text)!r} is not GLOB=NAME "
                          "(for example --family 'llama-4-maverick*=maverick').")
    return glob, name


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _anchor(text: str) -> tuple[str, float]:
    model, sep, rating = text.rpartition("=")
    try:
        if not sep or not model:
            raise ValueError
        return model, float(rating)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not MODEL=RATING (for example gpt-4o=1200)") from None
