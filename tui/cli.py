"""The ``blindside`` command line. With no subcommand it opens the Textual app.

Each subcommand lives in ``tui/commands/<name>.py`` with ``add_parser(subparsers, common)``
and ``run(args) -> int``. Modules import their heavy dependencies (numpy, textual, httpx)
inside ``run`` so that ``blindside --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("battle", "vote", "models", "leaderboard", "simulate", "import", "export", "serve", "demo", "deck",
            "judge", "voters", "board")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blindside",
        description="Blind side-by-side model battles in the terminal, with style-controlled ratings.",
    )
    _add_common_options(parser, default=None)
    # Subcommands accept the same options after their name; SUPPRESS keeps a value given
    # before the subcommand from being reset to None by the subparser's default.
    common = argparse.ArgumentParser(add_help=False)
    _add_common_options(common, default=argparse.SUPPRESS)
    parser.add_argument("--voter", metavar="NAME", help="name recorded on your votes")
    parser.add_argument("--prompts", metavar="NAME|FILE", help="prompt pack to draw prompts from")
    from tui.commands import app_command

    app_command.add_options(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        _command_module(name).add_parser(subparsers, common)
    return parser


def _add_common_options(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("--config", metavar="PATH", default=default,
                        help="config file (default: $BLINDSIDE_CONFIG, ./blindside.toml, then the user config dir)")
    parser.add_argument("--db", metavar="PATH", default=default,
                        help="vote database (default: $BLINDSIDE_DB, then the user data dir)")


def _command_module(name: str):
    return importlib.import_module(f"tui.commands.{name}_command")


def main(argv: list[str] | None = None) -> int:
    from battles.errors import BlindsideError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from tui.commands import app_command

            return app_command.run(args)
        return _command_module(args.command).run(args)
    except BlindsideError as exc:
        print(f"blindside: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("blindside: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
