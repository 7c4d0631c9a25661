"""``blindside judge --judge NAME``: an LLM judge votes on the finished battles, both orders each."""

from __future__ import annotations

import argparse
import sys

from tui.progress_line import ProgressLine, bar


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "judge", parents=[common], help="let a model of the lineup judge the finished battles",
        description="Show each finished battle to a judge model twice, once in each order, with "
                    "MT-Bench's pairwise judge prompt. Both verdicts the same: that side wins; "
                    "different: a tie. The vote is recorded as voter judge:NAME (kind judge) beside "
                    "the humans' votes; both raw answers are kept for audit and come out in the "
                    "jsonl export. Ctrl+C keeps what is done; run again to continue.")
    parser.add_argument("--judge", required=True, metavar="NAME", help="a model of the lineup")
    parser.add_argument("--battles", choices=("unjudged", "all"), default="unjudged",
                        help="unjudged (default): skip battles this judge has settled, re-ask "
                             "missing or failed judgments; all: judge every finished battle again")
    parser.add_argument("--limit", type=_positive, metavar="N", help="judge at most N battles (oldest first)")
    parser.add_argument("--concurrency", type=_positive, default=4, metavar="K",
                        help="judge requests in flight at once (default 4)")
    parser.add_argument("--template", metavar="FILE",
                        help="a judge template (TOML) instead of MT-Bench's pair-v2; see "
                             "prompts/judges/mt-bench-pair-v2.toml for its shape")
    parser.add_argument("--deadline", type=float, default=300.0, metavar="SECONDS",
                        help="give up on one judgment after this long (default 300)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of 1 or more, not {value!r}")
    return number


def run(args: argparse.Namespace) -> int:
    import asyncio

    from battles.errors import ConfigError
    from battles.judging.runner import JudgeRun, find_judge
    from battles.judging.template import load_template
    from battles.store import open_store
    from tui.headless import load_lineup_config

    if args.deadline <= 0:
        raise ConfigError("--deadline takes a number of seconds above 0.")
    template = load_template(args.template)
    config, _origin = load_lineup_config(getattr(args, "config", None), at_least=1)
    model = find_judge(config.models, args.judge)
    progress = _ProgressBar(model.name) if sys.stderr.isatty() else None
    with open_store(getattr(args, "db", None)) as store:
        judge = JudgeRun(store, model, template, concurrency=args.concurrency, deadline_s=args.deadline,
                         on_progress=progress)
        battle_ids = judge.select(args.battles, args.limit)
        interrupted = False
        try:
            summary = asyncio.run(judge.run(battle_ids))
        except KeyboardInterrupt:
            interrupted = True
            summary = judge.summary
            summary.interrupted = True
        finally:
            if progress:
                progress.clear()
    from tui.widgets.safe_text import json_text, printable

    print(json_text(summary.to_json()) if args.json else printable(summary.text()))
    if interrupted:
        return 130
    return 1 if summary.failures else 0


class _ProgressBar(ProgressLine):
    """A bar on the terminal's stderr while the judge works; erased before the summary."""

    def __init__(self, judge: str):
        super().__init__()
        self.judge = judge

    def __call__(self, done: int, total: int) -> None:
        self.show(f"Judging with {self.judge}: {bar(done, total, 24)} {done}/{total} battles")
