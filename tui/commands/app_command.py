"""The Textual app: ``blindside`` with no subcommand (``blindside app`` is not a subcommand)."""

from __future__ import annotations

import argparse

REVEALS = ("end", "each")


def add_options(parser: argparse.ArgumentParser, default=None) -> None:
    """``--deck`` and ``--reveal``: on the app itself, and on ``serve`` (default SUPPRESS there)."""
    parser.add_argument("--deck", metavar="NAME", default=default,
                        help="play deck NAME (see `blindside deck`): its battles one after another, "
                             "no model called")
    parser.add_argument("--reveal", choices=REVEALS, default=default,
                        help="with --deck: name the models at the end (default) or after each vote")


def deck_options(args: argparse.Namespace) -> tuple[str | None, str]:
    """(deck name or None, reveal mode); ConfigError (exit 2) for --reveal without --deck."""
    from battles.errors import ConfigError

    deck, reveal = getattr(args, "deck", None), getattr(args, "reveal", None)
    if reveal and not deck:
        raise ConfigError("--reveal goes with --deck NAME (it says when a deck's models are named).")
    return deck, reveal or "end"


def check_deck(store, name: str) -> None:
    """A ConfigError (exit 2), before any screen opens, for a deck that is not there or is empty."""
    from battles.decks import playable_battles, require_deck
    from battles.errors import ConfigError

    require_deck(store, name)
    if not playable_battles(store, name):
        raise ConfigError(f"Deck {name!r} has no battles to vote on yet; "
                          f"run: blindside deck build {name}")


def check_deck_options(args: argparse.Namespace) -> None:
    """``--deck``/``--reveal`` as given (``serve`` checks them once for all its sessions)."""
    deck, _reveal = deck_options(args)
    if deck:
        from battles.store import open_store

        with open_store(getattr(args, "db", None)) as store:
            check_deck(store, deck)


def run(args: argparse.Namespace) -> int:
    from battles.config import load_config
    from battles.store import open_store

    config = load_config(getattr(args, "config", None))
    deck, reveal = deck_options(args)
    report = None
    if not config.models and not deck:  # no models configured: the bundled local lineup, or what is found
        import dataclasses

        from battles.lineup import lineup_report

        report = lineup_report(config)
        config = dataclasses.replace(config, models=report.models)
    prompts = getattr(args, "prompts", None)
    if prompts and not deck:
        from tui.app import make_prompt_deck

        make_prompt_deck(prompts, None)  # a bad --prompts fails here, with a message, before the screen opens
    with open_store(getattr(args, "db", None)) as store:
        if deck:
            check_deck(store, deck)  # the deck's answers are stored: the lineup may have changed since
        from tui.app import BlindsideApp

        app = BlindsideApp(config, store, voter=getattr(args, "voter", None), prompts=None if deck else prompts,
                           lineup_report=report, deck=deck, reveal=reveal)
        app.run()
    return app.return_code or 0
