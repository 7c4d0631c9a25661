"""``blindside deck build|list|show``: decks of battles generated once and voted by many."""

from __future__ import annotations

import argparse
import sys

from tui.progress_line import ProgressLine, bar


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "deck", parents=[common], help="build and describe decks (battles generated once, voted by many)",
        description="A deck is a set of battles whose answers are generated once, before a session, "
                    "so that a whole room votes on the same battles without waiting for a model. "
                    "Play one with `blindside --deck NAME` or `blindside serve --deck NAME`.")
    actions = parser.add_subparsers(dest="deck_action", metavar="ACTION", required=True)

    build = actions.add_parser(
        "build", parents=[common], help="generate a deck's answers (again: only what is missing)",
        description="Ask each model for its answer to each prompt once, pair the answers into "
                    "battles (every pair of models per prompt, or --pairs N of them) and store them. "
                    "Failed generations are listed and left out; running the same command again "
                    "generates only what is missing (exit status 1 while some are). Battles whose answers "
                    "name a model are left out.")
    build.add_argument("name", metavar="NAME", help="the deck's name")
    # SUPPRESS: also accepted before "deck"; an existing deck keeps its own settings.
    build.add_argument("--prompts", metavar="PACK|FILE", default=argparse.SUPPRESS,
                       help="prompt pack (a built-in name or a .toml/.jsonl file)")
    build.add_argument("--models", metavar="A,B[,C...]", help="lineup models to put in the deck")
    build.add_argument("--pairs", type=int, metavar="N",
                       help="pairs of models per prompt, dealt evenly (default: all pairs)")
    build.add_argument("--concurrency", type=int, metavar="K",
                       help="answers generated at once (default: 2 with local models, else 8)")
    build.add_argument("--seed", type=int, metavar="S", help="seed of the pairs drawn, sides and order")

    listing = actions.add_parser("list", parents=[common], help="the decks in the database",
                                 description="One line per deck: battles, models, votes and voters.")
    listing.add_argument("--json", action="store_true", help="print JSON")

    show = actions.add_parser("show", parents=[common], help="describe one deck",
                              description="A deck's prompts, models, battles, leaks left out, "
                                          "missing battles, votes and voters.")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "list": _list, "show": _show}[args.deck_action](args)


def _build(args: argparse.Namespace) -> int:
    import asyncio

    from battles.deck_build import build_deck
    from battles.store import open_store
    from tui.headless import load_lineup_config

    models = None
    if args.models is not None:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
    config, _origin = load_lineup_config(getattr(args, "config", None), at_least=0)
    progress = _ProgressBar(args.name) if sys.stderr.isatty() else None
    try:
        with open_store(getattr(args, "db", None)) as store:
            report = asyncio.run(build_deck(store, config, args.name, prompts=getattr(args, "prompts", None),
                                            models=models, pairs=args.pairs, seed=args.seed,
                                            concurrency=args.concurrency, progress=progress))
    finally:
        if progress:
            progress.clear()
    from tui.widgets.safe_text import printable

    print(printable(report.summary()))
    return 1 if report.failures else 0


def _list(args: argparse.Namespace) -> int:
    from battles.decks import deck_names, deck_status
    from battles.store import open_store
    from tui.widgets.safe_text import json_text, printable

    with open_store(getattr(args, "db", None)) as store:
        statuses = [deck_status(store, name) for name in deck_names(store)]
    if args.json:
        print(json_text({"decks": [s.as_json() for s in statuses]}))
        return 0
    if not statuses:
        print("No decks yet. Build one with: blindside deck build NAME --prompts PACK --models A,B")
        return 0
    for s in statuses:
        print(printable(f"{s.deck.name}: {s.battles} battles, {s.deck.prompt_count} prompts, "
                            f"models {', '.join(s.deck.models)}; {s.votes} votes by {len(s.voters)} "
                            f"voter{'s' if len(s.voters) != 1 else ''}"))
    return 0


def _show(args: argparse.Namespace) -> int:
    from battles.decks import deck_status
    from battles.store import open_store
    from tui.widgets.safe_text import json_text, printable

    with open_store(getattr(args, "db", None)) as store:
        status = deck_status(store, args.name)
    if args.json:
        print(json_text(status.as_json()))
        return 0
    deck = status.deck
    pairs = "all pairs" if deck.pairs is None else f"{deck.pairs} pair{'s' if deck.pairs != 1 else ''} per prompt"
    lines = [
        f"Deck {deck.name} (built {deck.created[:16].replace('T', ' ')} UTC)",
        f"  prompts:  {deck.prompt_count} from {deck.prompts}",
        f"  models:   {', '.join(deck.models)} ({pairs}, seed {deck.seed})",
        f"  battles:  {status.battles} to vote on, of {deck.planned} planned",
        f"  left out: {status.leaks} for an identity leak",
        f"  missing:  {status.missing}" + (" (failed generations: run `blindside deck build "
                                            f"{deck.name}` to fill them in)" if status.missing else ""),
        f"  votes:    {status.votes} by {len(status.voters)} voter{'s' if len(status.voters) != 1 else ''}",
    ]
    for voter, votes in status.voters.items():
        lines.append(f"    {voter or '(anonymous)'}: {votes} of {status.battles}")
    print(printable("\n".join(lines)))
    return 0


class _ProgressBar(ProgressLine):
    """A bar on the terminal, redrawn in place as answers come in; erased before the summary."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def __call__(self, done: int, total: int, failed: int) -> None:
        tail = f" · {failed} failed" if failed else ""
        self.show(f"Building deck {self.name} {bar(done, total, 30)} {done}/{total} answers{tail}")
