"""``blindside voters``: each voter's fingerprint (what they choose beyond the content) and
how much voters of the same battles agree."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Each voter's fingerprint, from their votes: how often they chose the longer answer, the one
with more emoji, the one with more markdown (each over their decisive votes where the two
answers differ in it, with an exact 95% interval), how often a treated twin (e.g. NAME-chatty)
beat its untreated model, how often they chose the answer shown first, and, from 30 decisive
votes on, their style coefficients (on one scale for everyone). "humans" pools every human
vote, to set beside a judge. Agreement: for each pair of voters who voted the same battles,
the share of those battles on which they chose the same (a tie and both_bad count as one
verdict, "neither"), the share without the battles where either chose neither, and Cohen's
kappa; each judge (kind "judge") is also paired with the humans pooled, every judge vote
against every human vote on the same battle. A judge's "shown first chosen" is read from
its raw verdicts in both orders, before the rule that turns two disagreeing verdicts into a
tie. "style_comparison" sets the humans' and each judge's style coefficients side by side;
a judge's length bias is called larger than the humans' only when the 95% interval of the
difference of their length coefficients excludes 0. Votes without a voter name count only
in "humans". Exit status 2 for a voter with no votes.
"""


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "voters", parents=[common], help="voter fingerprints and agreement",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voter", metavar="NAME", default=None, help="only this voter (and the pairs it is in)")
    parser.add_argument("--json", action="store_true",
                        help='print {"voters": [...], "humans": {...}, "agreement": [...], '
                             '"style_comparison": {...}}')


def run(args: argparse.Namespace) -> int:
    from battles.store import open_store
    from tui.team_data import config_models, judge_position_votes, load_votes, models_of, twins_map, voters_report

    with open_store(getattr(args, "db", None)) as store:
        rows = load_votes(store)
        raw_verdicts = judge_position_votes(store)
    models = models_of(rows)
    twins = twins_map(models, config_models(getattr(args, "config", None)))
    report = voters_report(rows, twins, voter=args.voter, position_votes=raw_verdicts)
    if args.json:
        from tui.widgets.safe_text import json_text

        print(json_text(report))
    else:
        print(render_voters(report))
    return 0


def render_voters(report: dict) -> str:
    from tui.team_text import fingerprint_sentences, name, percent, position, share, style_line, table

    if not report["voters"] and report["humans"] is None:
        return "No votes yet."
    rows = [[name(v["voter"]), v["kind"], str(v["votes"]), str(v["decisive"]), share(v["longer_chosen"]),
             share(v["more_emoji_chosen"]), share(v["more_markdown_chosen"]), share(v["twin_pairs"]),
             position(v["position_bias"])] for v in report["voters"]]
    header = ["voter", "kind", "votes", "decisive", "longer chosen", "more emoji chosen",
              "more markdown chosen", "treated twin won", "shown first chosen"]
    parts = [table(header, rows) if rows else "No named voters yet."]
    styles = [f"{name(v['voter'])}: {style_line(v)}" for v in report["voters"] if v["style_coefficients"]]
    pooled = report["humans"]
    if styles and pooled is not None and pooled["style_coefficients"] and any(
            v["kind"] == "judge" for v in report["voters"]):  # the judges' beside the room's, one scale
        styles.append(f"humans (pooled): {style_line(pooled)}")
    if styles:
        parts.append("\n".join(styles))
    humans = report["humans"]
    if humans is not None:
        parts.append("\n".join(fingerprint_sentences(humans, "Human voters") or
                               ["Human voters have made no decisive votes yet."]))
    judges_vs = _judge_sentences(report)
    if judges_vs:
        parts.append("\n".join(judges_vs))
    if report["agreement"]:
        agree_rows = [[name(p["a"]), name(p["b"]), str(p["battles"]), percent(p["agreement"]),
                       percent(p["agreement_without_ties"]),
                       "-" if p["cohen_kappa"] is None else f"{p['cohen_kappa']:.2f}"] for p in report["agreement"]]
        parts.append("Agreement on the battles both voted (tie and both_bad count as one verdict):\n" + table(
            ["voter", "with", "battles", "agreement", "without ties", "Cohen's kappa"], agree_rows))
    else:
        parts.append("Agreement: no two voters have voted the same battle yet.")
    return "\n\n".join(parts)


def _judge_sentences(report: dict) -> list[str]:
    """For each judge: whose preference for the longer answer is larger, the judge's or the
    pooled humans' (their length coefficients, and the interval of the difference)."""
    from tui.team_text import name

    comparison = report.get("style_comparison") or {}
    coefficients = comparison.get("coefficients") or {}
    humans = (coefficients.get("humans") or {}).get("length")
    out = []
    for judge, verdict in (comparison.get("length_bias") or {}).items():
        if verdict is None:
            out.append(f"Length bias: {name(judge)} against the humans: cannot compare yet "
                       "(each needs 30 decisive votes with lengths that vary).")
            continue
        mine = coefficients[judge]["length"]
        lo, hi = verdict["ci"]
        said = {"judge": f"{name(judge)} favours the longer answer more than the humans do",
                "humans": f"the humans favour the longer answer more than {name(judge)} does",
                "cannot tell": "cannot tell which favours the longer answer more"}[verdict["larger"]]
        out.append(f"Length bias: {name(judge)} {mine['log_odds_per_sd']:+.2f} against the humans' "
                   f"{humans['log_odds_per_sd']:+.2f} log-odds per SD (difference {verdict['difference']:+.2f}, "
                   f"95% interval [{lo:+.2f}, {hi:+.2f}]): {said}.")
    return out
