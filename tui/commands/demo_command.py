"""``blindside demo arena-2025``: LMArena's real 140k votes and the two Llama 4 Mavericks.

The votes ship as package data (``battles/data``). They go into a database of their own,
``arena-2025.db`` next to the user's vote database, never into the user's votes unless
``--db`` says so. Loading is one all-or-nothing import, so "the file's last battle is in the
database" means it is fully loaded and a second run skips the import.

Then the leaderboard: in the app when a terminal is attached, else (or with ``--no-open``) as
text, with the two Maverick rows marked and the gap between them with its bootstrap interval.
The two Mavericks form one variant family (``--family 'llama-4-maverick*=maverick'``): the
better-rated one is flagged as the best of 2 variants, with its expected selection inflation.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scoring.results import Leaderboard, ModelRating

DATASETS = ("arena-2025",)
DATA_FILE = "arena-human-preference-140k-votes.csv.gz"
DEMO_DB_NAME = "arena-2025.db"
SUBMITTED = "llama-4-maverick-03-26-experimental"  # the chat-tuned variant on the leaderboard
RELEASED = "llama-4-maverick-17b-128e-instruct"  # the weights Meta released
# both Mavericks are variants of one model: the board flags the better-rated one as a pick
DEMO_FAMILIES = (("llama-4-maverick*", "maverick"),)
PRIVATE_VARIANTS = 27  # Llama 4 variants Meta tested privately on LMArena before publishing one
ATTRIBUTION = "Attribution: LMArena, arena-human-preference-140k, CC BY 4.0."
NO_STYLE_LINE = ("These real votes come without the answers, so there are no style features and no "
                 "style control here; run `blindside simulate` to see style control at work.")


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "demo", parents=[common], help="LMArena's real 140k votes: the two Llama 4 Maverick variants",
        description="Load LMArena's arena-human-preference-140k votes (shipped with blindside) into a "
                    f"separate database ({DEMO_DB_NAME} next to your vote database, or --db PATH) "
                    "and show the leaderboard, with the Llama 4 Maverick variant submitted to the "
                    "leaderboard beside the released weights.")
    parser.add_argument("dataset", choices=DATASETS, help="the demo data set")
    parser.add_argument("--no-open", action="store_true",
                        help="print the leaderboard as text instead of opening the app")
    parser.add_argument("--rounds", type=int, default=100, metavar="N",
                        help="bootstrap rounds of the intervals (default: 100)")
    parser.add_argument("--seed", type=int, default=42, help="bootstrap seed (default: 42)")


def run(args: argparse.Namespace) -> int:
    from battles.errors import ConfigError
    from battles.store import open_store

    if args.rounds < 1:
        raise ConfigError("--rounds must be at least 1.")
    path = demo_db_path(getattr(args, "db", None))
    with open_store(path) as store:
        loaded = load_demo_votes(store)
        print(loaded, file=sys.stderr, flush=True)
        if not args.no_open and sys.stdin.isatty() and sys.stdout.isatty():
            return _open_app(args, store)
        print(demo_text(store, rounds=args.rounds, seed=args.seed))
    return 0


def demo_db_path(cli_path: str | None = None):
    """``--db`` when given, else ``arena-2025.db`` beside the user's vote database."""
    from battles.store import resolve_db_path

    if cli_path:
        return resolve_db_path(cli_path)
    own = resolve_db_path(None)
    demo = own.with_name(DEMO_DB_NAME)
    return demo if demo != own else own.with_name("arena-2025-demo.db")


def data_file():
    """The shipped votes, as a context manager giving a real file path."""
    from importlib.resources import as_file, files

    return as_file(files("battles").joinpath("data", DATA_FILE))


def load_demo_votes(store) -> str:
    """Import the shipped votes unless they are already in ``store``; a one-line summary."""
    from battles.importing import import_file

    with data_file() as path:
        last_id = _last_battle_id(path)
        if last_id and store.battle(last_id) is not None:
            return f"LMArena's votes are already in {store.path} ({store.counts()['votes']:,} votes)."
        report = import_file(store, path, format="arena-csv")
    return (f"Loaded {report.added:,} LMArena votes into {store.path} "
            f"({report.already_present:,} already there, {report.bad_rows:,} unusable rows skipped).")


def _last_battle_id(path) -> str | None:
    """The id on the file's last line: imports are all-or-nothing, so if it is in the store,
    the whole file is."""
    import gzip

    last = ""
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                last = line
    first_field = last.split(",", 1)[0].strip()
    return first_field if first_field and first_field != "id" else None


def maverick_rows(result: Leaderboard) -> dict[str, ModelRating]:
    """The two Maverick rows of a leaderboard result, by name (absent ones left out)."""
    return {m.model: m for m in result.models if m.model in (SUBMITTED, RELEASED)}


def rating_gap(table, first: str, second: str, *, rounds: int, seed: int) -> tuple[float, float, float]:
    """Bradley-Terry rating of ``first`` minus ``second`` in points, with the 95% bootstrap
    interval of that difference (resampling battles, as the leaderboard's intervals do)."""
    import numpy as np

    from scoring.bt import fit_plain_batched, pair_cells, percentile_interval, plain_bootstrap_counts, to_points

    i, j = table.models.index(first), table.models.index(second)
    cells = pair_cells(table.a, table.b, table.outcome, len(table.models))
    points = to_points(fit_plain_batched(cells)[0])
    samples = to_points(fit_plain_batched(cells, plain_bootstrap_counts(cells, rounds, np.random.default_rng(seed))))
    lo, hi = percentile_interval(samples[:, i] - samples[:, j])
    return float(points[i] - points[j]), float(lo), float(hi)


def demo_board(store, *, rounds: int = 100, seed: int = 42):
    """(leaderboard result, battle table) of the demo database: plain Bradley-Terry, no style
    control (these votes have no style features)."""
    from scoring.leaderboard import compute_leaderboard
    from tui.leaderboard_data import LeaderboardRequest, load_table

    table, excluded = load_table(store, LeaderboardRequest(rounds=rounds, seed=seed, style_control=False))
    result = compute_leaderboard(table, rounds=rounds, seed=seed, style_control=False, excluded=excluded,
                                 family_globs=DEMO_FAMILIES)
    return result, table


def maverick_lines(result: Leaderboard, table, *, rounds: int, seed: int) -> list[str]:
    """The two Maverick variants side by side, and the gap between them with its interval."""
    lines = ["Llama 4 Maverick: the variant submitted to the leaderboard against the released weights"]
    from tui.rating_format import interval_text, rating_text

    rows = maverick_rows(result)
    if len(rows) < 2:
        return lines + ["  (this database does not hold votes for both variants)"]
    total = len(result.models)
    for name, what in ((SUBMITTED, "submitted"), (RELEASED, "released")):
        m = rows[name]
        where = f"rating {rating_text(m)} {interval_text(m)}"
        lines.append(f"  {what:9}  {name}: {where}, rank {m.rank} of {total}, {m.battles:,} battles")
    gap, lo, hi = rating_gap(table, SUBMITTED, RELEASED, rounds=rounds, seed=seed)
    lines.append(f"  gap: {gap:+.0f} points (95% interval {lo:+.0f} to {hi:+.0f}, bootstrap of {rounds} rounds)")
    lines.append(f"  luck of the pick: had {SUBMITTED} been the best of Meta's {PRIVATE_VARIANTS} private variants, "
                 f"equally strong ones would lift it by +{private_pick_inflation(rows[SUBMITTED]):.0f} points "
                 "on average at its vote count (`blindside simulate --variants 27` shows it)")
    return lines


def private_pick_inflation(entry: ModelRating) -> float:
    """sigma * E[max of 27 standard normals], sigma the entry's standard error (from its 95% interval)."""
    from scoring.families import expected_max, standard_error

    return expected_max([standard_error(entry.rating, *entry.ci)] * PRIVATE_VARIANTS)


def demo_text(store, *, rounds: int = 100, seed: int = 42) -> str:
    """The text leaderboard of the demo database with the Maverick comparison under it."""
    from tui.leaderboard_text import render_leaderboard

    result, table = demo_board(store, rounds=rounds, seed=seed)
    lines = [_mark_rows(render_leaderboard(result)), ""]
    lines += maverick_lines(result, table, rounds=rounds, seed=seed)
    lines += ["", NO_STYLE_LINE, ATTRIBUTION]
    return "\n".join(lines)


def _mark_rows(board: str) -> str:
    marks = {SUBMITTED: "  <- submitted to the leaderboard", RELEASED: "  <- the released weights"}
    out = []
    in_table = True  # the table ends at the first blank line; the family lines below name the models too
    for line in board.splitlines():
        in_table = in_table and bool(line.strip())
        words = line.split()
        name = next((n for n in marks if n in words), None) if in_table else None
        out.append(line + marks[name] if name else line)
    return "\n".join(out)


def _open_app(args: argparse.Namespace, store) -> int:
    """The app on its leaderboard screen, reading the demo database."""
    make_demo_app(store, rounds=args.rounds, seed=args.seed).run()
    return 0


def make_demo_app(store, *, rounds: int = 100, seed: int = 42):
    """The app showing the leaderboard of ``store`` (there is no lineup to battle with), with
    the Maverick comparison in a notification once computed."""
    from textual import work

    from battles.config import Config
    from battles.store import Store
    from tui.app import BlindsideApp
    from tui.screens.leaderboard import LeaderboardScreen

    class DemoApp(BlindsideApp):
        SUB_TITLE = "LMArena's real votes (arena-human-preference-140k, CC BY 4.0)"

        def on_mount(self, event) -> None:
            event.prevent_default()  # not the battle (or setup) screen of the app's own on_mount
            self.push_screen(LeaderboardScreen(family_globs=DEMO_FAMILIES))
            self.compare_mavericks()

        @work(thread=True, exclusive=True, group="demo")
        def compare_mavericks(self) -> None:
            with Store(self.store.path) as own:  # a connection of this thread's own
                result, table = demo_board(own, rounds=rounds, seed=seed)
            text = "\n".join(maverick_lines(result, table, rounds=rounds, seed=seed) + ["", NO_STYLE_LINE])
            self.call_from_thread(self.notify, text, title="Llama 4 Maverick", timeout=120, markup=False)

    return DemoApp(Config(), store)
