"""``blindside simulate``: a synthetic arena with known truth and style-biased voters.

The workshop demonstration of the Llama 4 story: a "chatty twin" as strong as its base model
but dressed up wins on the raw board and comes out level once style is controlled.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_BATTLES = 20_000


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


def run(args: argparse.Namespace) -> int:
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
