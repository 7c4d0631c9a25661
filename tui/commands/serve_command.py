"""``blindside serve``: the app in web browsers (textual-serve), one app per browser session.

Only holders of the token get in (see tui/serve_access.py); ``--no-token`` is for loopback only.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import socket
import sys

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve", parents=[common], help="serve the app to web browsers",
        description="Serve the app with textual-serve: each browser tab runs its own session and "
                    "all of them vote into the same database. Binds to 127.0.0.1 unless told otherwise. "
                    "Only browsers that opened the printed address, with its ?token=, get in.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; anything else lets others vote)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    access = parser.add_mutually_exclusive_group()
    access.add_argument("--token", metavar="TOKEN", default=None,
                        help="the token browsers must bring (default: $BLINDSIDE_TOKEN, else a random one; "
                             "$BLINDSIDE_TOKEN keeps it out of the process list)")
    access.add_argument("--no-token", action="store_true",
                        help="let in any browser, without a token (only when bound to loopback)")
    # Also accepted before "serve"; SUPPRESS keeps such a value from being reset here.
    parser.add_argument("--prompts", metavar="NAME|FILE", default=argparse.SUPPRESS,
                        help="prompt pack every session draws prompts from")
    parser.add_argument("--voter", metavar="NAME", default=argparse.SUPPRESS,
                        help="record every session's votes under this name (default: each session asks)")
    parser.add_argument("--board", action="store_true",
                        help="serve the live board (blindside board) instead of the app")
    from tui.commands.app_command import add_options

    add_options(parser, default=argparse.SUPPRESS)  # --deck NAME, --reveal end|each


def app_command(args: argparse.Namespace) -> str:
    """The command each browser session runs: this blindside, with the same config and database.

    It never carries the token: sessions have no use for it, and a command line is public.
    """
    from battles.config import find_config_path
    from battles.store import resolve_db_path

    argv = [sys.executable, "-m", "tui.cli"]
    config = find_config_path(getattr(args, "config", None))  # resolved now: sessions may start elsewhere
    if config is not None:
        argv += ["--config", str(config.resolve())]
    argv += ["--db", str(resolve_db_path(getattr(args, "db", None)).resolve())]
    if getattr(args, "voter", None):
        argv += ["--voter", args.voter]
    if getattr(args, "deck", None):
        argv += ["--deck", args.deck]
    if getattr(args, "reveal", None):
        argv += ["--reveal", args.reveal]
    if getattr(args, "prompts", None):
        prompts = args.prompts
        argv += ["--prompts", os.path.abspath(prompts) if os.path.exists(prompts) else prompts]
    if getattr(args, "board", False):
        argv += ["board"]
    return shlex.join(argv)


def is_loopback(host: str) -> bool:
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_warning(host: str) -> str | None:
    if is_loopback(host):
        return None
    return (f"warning: serving on {host}: anyone who can reach this address and has the token can open "
            "the app and vote. Use --host 127.0.0.1 to keep it on this machine.")


def choose_token(args: argparse.Namespace) -> str | None:
    """The token to require, or None for ``--no-token`` (refused beyond loopback)."""
    from battles.errors import ConfigError
    from tui.serve_access import TOKEN_ENV, new_token

    if getattr(args, "no_token", False):
        if not is_loopback(args.host):
            raise ConfigError(f"--no-token is refused on {args.host}: anyone who can reach it could vote. "
                              "Serve with a token (the default), or bind to --host 127.0.0.1.")
        return None
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV)
    if token is None:
        return new_token()
    if not token.strip():
        source = "--token" if args.token is not None else f"${TOKEN_ENV}"
        raise ConfigError(f"{source} is empty: give a token, or leave it unset for a random one.")
    return token


def open_address(host: str, port: int, token: str | None) -> str:
    """The address to open in a browser, as Jupyter prints it."""
    from urllib.parse import quote

    if host in WILDCARD_HOSTS:  # every interface: name one the room can reach
        host = outside_address() or socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    address = f"http://{host}:{port}/"
    return address if token is None else f"{address}?token={quote(token, safe='')}"


def outside_address() -> str | None:
    """This machine's address on its default route (no packet is sent by a UDP connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            return probe.getsockname()[0]
        except OSError:
            return None


def run(args: argparse.Namespace) -> int:
    from battles.config import load_config
    from battles.errors import ConfigError

    load_config(getattr(args, "config", None))  # a broken config fails here, not in every browser tab
    if getattr(args, "prompts", None):
        from tui.app import make_prompt_deck

        make_prompt_deck(args.prompts, None)  # so does a bad --prompts
    from tui.commands.app_command import check_deck_options

    check_deck_options(args)  # a missing deck fails here, not in every browser tab
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port} is not a port number (1-65535).")
    token = choose_token(args)
    warning = bind_warning(args.host)
    if warning:
        print(f"blindside: {warning}", file=sys.stderr)
    from tui.serve_access import TOKEN_ENV
    from tui.serve_server import BlindsideServer

    os.environ.pop(TOKEN_ENV, None)  # sessions inherit this environment: keep the token out of it
    server = BlindsideServer(app_command(args), host=args.host, port=args.port, token=token,
                             address=open_address(args.host, args.port, token))
    try:
        server.serve()
    except OSError as exc:  # the address is taken or not this machine's: a user error, no traceback
        raise ConfigError(f"cannot listen on {args.host} port {args.port}: {exc.strerror or exc}. "
                          "Pick another --port (or --host), or stop what is using it.") from None
    return 0
