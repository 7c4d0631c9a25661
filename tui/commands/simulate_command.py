"""``blindside simulate``: a synthetic arena with known truth and style-biased voters.

The workshop demonstration of the Llama 4 story: a "chatty twin" as strong as its base model
but dressed up wins on the raw board and comes out level once style is controlled.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from battles.errors import ConfigError

DEFAULT_BATTLES = 20_000
# the selection simulation's defaults (scoring.selection holds the same numbers; scoring loads numpy,
# which --help should not wait for)
DEFAULT_VOTES = 2500
DEFAULT_SPREAD = 10.0
DEFAULT_TRIALS = 200
MIN_VOTES = 10


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "simulate", parents=[common], help="a synthetic arena that shows style bias and style control",
        description="Simulate voters who prefer long, emoji-rich answers, write the battles with their "
                    "style features to a database, and print the truth beside the raw and the "
                    "style-controlled leaderboard. Without --db the battles go to a separate "
                    "simulation database, never your own votes.")
    parser.add_argument("--battles", type=_battle_count, default=DEFAULT_BATTLES, metavar="N",
                        help=f"number of simulated battles (default: {DEFAULT_BATTLES:,})")
    parser.add_argument("--seed", type=int, default=7, metavar="S", help="random seed (default: 7)")
    parser.add_argument("--rounds", type=int, default=100, metavar="N", help="bootstrap rounds (default: 100)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    selection = parser.add_argument_group(
        "selection bias", "With --variants, simulate a lab that tests N private variants of one model "
                          "and publishes the best-rated one (no database is written).")
    selection.add_argument("--variants", type=int, metavar="N",
                           help="number of private variants the lab tests")
    selection.add_argument("--votes-per-variant", type=int, metavar="V",
                           help=f"votes each variant gets (default: {DEFAULT_VOTES:,})")
    selection.add_argument("--variant-spread", type=float, metavar="SD",
                           help=f"sd of the variants' true strengths, in points (default: {DEFAULT_SPREAD:g})")
    selection.add_argument("--trials", type=int, metavar="T",
                           help=f"simulated labs to average over (default: {DEFAULT_TRIALS})")


def run(args: argparse.Namespace) -> int:
    if args.variants is not None:
        return run_selection(args)
    for option in ("votes_per_variant", "variant_spread", "trials"):
        if getattr(args, option) is not None:
            raise ConfigError(f"--{option.replace('_', '-')} goes with --variants N")
    from battles.store import Store, default_db_path
    from scoring.leaderboard import compute_leaderboard
    from scoring.simulate import compare_to_truth, simulate_arena
    from tui.leaderboard_text import render_simulation

    db_path = Path(args.db).expanduser() if getattr(args, "db", None) else simulation_db_path(default_db_path())
    db_path.parent.mkdir(parents=True, exist_ok=True)
    arena = simulate_arena(args.battles, seed=args.seed)
    with Store(db_path) as store:
        added, present = store.insert_battles(_simulated_battles(arena))
    result = compute_leaderboard(arena.table(), method="bt", ci="bootstrap", rounds=args.rounds, seed=args.seed)
    comparison = compare_to_truth(result, arena.true_ratings, arena.twin, arena.base)
    if args.json:
        print(json.dumps({"db": str(db_path), "battles_written": added, "battles_already_present": present,
                          "true_ratings": arena.true_ratings,
                          "true_style_log_odds_per_sd": arena.true_style_log_odds_per_sd,
                          "comparison": comparison, "leaderboard": result.to_json()}, indent=2))
    else:
        print(render_simulation(result, arena, comparison))
        print(f"\nWrote {added:,} simulated battles to {db_path}"
              + (f" ({present:,} were already there)" if present else "")
              + f"; explore them with: blindside leaderboard --db {db_path}")
    return 0


def simulation_db_path(user_db: Path) -> Path:
    return user_db.with_name("simulation.db")


def _simulated_battles(arena):
    from battles.store import NewBattle, now_iso
    from scoring.simulate import RECORD_KEYS

    created = now_iso()
    for i, record in enumerate(arena.records()):
        yield NewBattle(
            id=f"sim-{arena.seed}-{i}",
            model_a=record["model_a"],
            model_b=record["model_b"],
            winner=record["winner"],
            created=created,
            source="simulate",
            voter="simulated",
            category="simulated",
            features_a={key: record[f"{key}_a"] for key in RECORD_KEYS},
            features_b={key: record[f"{key}_b"] for key in RECORD_KEYS},
        )


def _battle_count(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 100 <= value <= 10_000_000:
        raise argparse.ArgumentTypeError("use between 100 and 10,000,000 battles")
    return value


def run_selection(args: argparse.Namespace) -> int:
    """``--variants N``: the best of N private variants, published (see scoring.selection)."""
    votes = DEFAULT_VOTES if args.votes_per_variant is None else args.votes_per_variant
    spread = DEFAULT_SPREAD if args.variant_spread is None else args.variant_spread
    trials = DEFAULT_TRIALS if args.trials is None else args.trials
    if args.variants < 1:
        raise ConfigError(f"--variants must be at least 1 (got {args.variants})")
    if votes < MIN_VOTES:
        raise ConfigError(f"--votes-per-variant must be at least {MIN_VOTES} (got {votes})")
    if not spread >= 0 or spread == float("inf"):
        raise ConfigError(f"--variant-spread must be zero or more points (got {spread:g})")
    if trials < 2:
        raise ConfigError(f"--trials must be at least 2 (got {trials})")

    from scoring.selection import simulate_selection

    result = simulate_selection(args.variants, votes, spread, trials, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render_selection(result, args.variants, spread))
    return 0


def render_selection(result: dict, variants: int, spread: float) -> str:
    """A small table (points, mean over trials) and one plain sentence."""
    sel = result["selection"]
    votes = sel["votes_per_variant"]
    out = [
        f"Best of {variants} private variant{'s' if variants != 1 else ''}: {sel['trials']} simulated labs, "
        f"{votes:,} votes per variant, true strengths spread {spread:g} points",
        "Rating minus the published variant's true strength, in points (mean over the labs):",
        "",
    ]
    headers = ["Variants", "Published", "sd", "Style-ctrl", "Re-test", "Theory, equal variants"]
    rows = [[str(r["n"]), f"{r['published_minus_truth']:+.1f}", f"{r['published_minus_truth_sd']:.1f}",
             f"{r['style_controlled_published_minus_truth']:+.1f}", f"{r['retest_minus_truth']:+.1f}",
             f"{r['expected_equal_variants']:+.1f}"] for r in sel["rows"]]
    widths = [max(len(h), *(len(row[k]) for row in rows)) for k, h in enumerate(headers)]
    for line in [headers] + rows:
        out.append("  ".join(cell.rjust(w) for cell, w in zip(line, widths)).rstrip())
    last = sel["rows"][-1]
    retest = f"a re-test on {votes:,} fresh votes lands {_points(last['retest_minus_truth'])} points from the truth"
    out.append("")
    if last["n"] == 1:
        out.append(f"With a single variant there is nothing to select: its published rating is "
                   f"{_points(last['published_minus_truth'])} points from the truth on average, and {retest}.")
    else:
        out.append(f"Publishing the best of {last['n']} variants overstates the model by "
                   f"{last['published_minus_truth']:.0f} points on average "
                   f"({last['style_controlled_published_minus_truth']:.0f} under style control); {retest}.")
    return "\n".join(out)


def _points(x: float) -> str:
    """Whole points with a sign, never '-0'."""
    return f"{round(x) + 0:+d}"
