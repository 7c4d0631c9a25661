"""The Textual app: ``blindside`` with no subcommand (``blindside app`` is not a subcommand)."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from battles.config import load_config
    from battles.store import open_store

    config = load_config(getattr(args, "config", None))
    report = None
    if not config.models:  # no models configured: the bundled local lineup, or what is found
        import dataclasses

        from battles.lineup import lineup_report

        report = lineup_report(config)
        config = dataclasses.replace(config, models=report.models)
    prompts = getattr(args, "prompts", None)
    if prompts:
        from tui.app import make_prompt_deck

        make_prompt_deck(prompts, None)  # a bad --prompts fails here, with a message, before the screen opens
    with open_store(getattr(args, "db", None)) as store:
        from tui.app import BlindsideApp

        app = BlindsideApp(config, store, voter=getattr(args, "voter", None), prompts=prompts,
                           lineup_report=report)
        app.run()
    return app.return_code or 0
