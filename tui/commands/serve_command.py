"""``blindside serve``: the app in web browsers (textual-serve), one app per browser session."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve", parents=[common], help="serve the app to web browsers",
        description="Serve the app with textual-serve: each browser tab runs its own session and "
                    "all of them vote into the same database. Binds to 127.0.0.1 unless told otherwise.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; anything else lets others vote)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    # Also accepted before "serve"; SUPPRESS keeps such a value from being reset here.
    parser.add_argument("--prompts", metavar="NAME|FILE", default=argparse.SUPPRESS,
                        help="prompt pack every session draws prompts from")
    parser.add_argument("--voter", metavar="NAME", default=argparse.SUPPRESS,
                        help="record every session's votes under this name (default: each session asks)")
    parser.add_argument("--board", action="store_true",
                        help="serve the live board (blindside board) instead of the app")


def app_command(args: argparse.Namespace) -> str:
    """The command each browser session runs: this blindside, with the same config and database."""
    from battles.config import find_config_path
    from battles.store import resolve_db_path

    argv = [sys.executable, "-m", "tui.cli"]
    config = find_config_path(getattr(args, "config", None))  # resolved now: sessions may start elsewhere
    if config is not None:
        argv += ["--config", str(config.resolve())]
    argv += ["--db", str(resolve_db_path(getattr(args, "db", None)).resolve())]
    if getattr(args, "voter", None):
        argv += ["--voter", args.voter]
    if getattr(args, "prompts", None):
        prompts = args.prompts
        argv += ["--prompts", os.path.abspath(prompts) if os.path.exists(prompts) else prompts]
    if getattr(args, "board", False):
        argv += ["board"]
    return shlex.join(argv)


def bind_warning(host: str) -> str | None:
    if host in LOCAL_HOSTS:
        return None
    return (f"warning: serving on {host}: anyone who can reach this address can open the app and vote. "
            "Use --host 127.0.0.1 to keep it on this machine.")


def run(args: argparse.Namespace) -> int:
    from battles.config import load_config
    from battles.errors import ConfigError

    load_config(getattr(args, "config", None))  # a broken config fails here, not in every browser tab
    if getattr(args, "prompts", None):
        from tui.app import make_deck

        make_deck(args.prompts, None)  # so does a bad --prompts
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port} is not a port number (1-65535).")
    warning = bind_warning(args.host)
    if warning:
        print(f"blindside: {warning}", file=sys.stderr)
    from textual_serve.server import Server

    command = app_command(args)
    try:
        Server(command, host=args.host, port=args.port, title="blindside").serve()
    except OSError as exc:  # the address is taken or not this machine's: a user error, no traceback
        raise ConfigError(f"cannot listen on {args.host} port {args.port}: {exc.strerror or exc}. "
                          "Pick another --port (or --host), or stop what is using it.") from None
    return 0
