"""``blindside models [--check]``: the lineup, and optionally whether each model answers."""

from __future__ import annotations

import argparse


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "models", parents=[common], help="list the lineup (--check: test each model)",
        description="List the models of the config. With --check, send each one a one-token "
                    "request at once and report its latency or what went wrong.")
    parser.add_argument("--check", action="store_true", help="send each model a one-token request")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    from tui.headless import load_lineup_config
    from tui.widgets.safe_text import json_text

    config, origin = load_lineup_config(getattr(args, "config", None), at_least=1)
    models = list(config.models.values())
    checks = _check(config) if args.check else {}
    if args.json:
        rows = []
        for m in models:
            row = {"name": m.contestant, "provider": m.provider, "model": m.model,
                   "treatment": m.treatment, "base_url": m.base_url, "api_key_env": m.api_key_env}
            if m.contestant in checks:
                c = checks[m.contestant]
                row["check"] = {"ok": c.ok, "latency_ms": c.latency_ms, "error": c.error, "hint": c.hint}
            rows.append(row)
        print(json_text({"models": rows, "lineup_note": origin}))
    else:
        if origin:
            from tui.widgets.safe_text import printable

            print(printable(origin) + "\n")
        print(_table(models, checks))
    return 0 if all(c.ok for c in checks.values()) else 1


def _check(config) -> dict:
    import asyncio

    from battles.engine import Arena

    async def check_all():
        async with Arena(config, store=None) as arena:
            return await arena.check()

    return {c.name: c for c in asyncio.run(check_all())}


NAME_WIDTH = 60  # a longer name or model id is cut with "…" so the table stays a table


def _table(models, checks) -> str:
    from tui.widgets.safe_text import one_line

    header = ["name", "provider", "model", "treatment"] + (["check"] if checks else [])
    rows = []
    for m in models:
        row = [one_line(m.contestant, NAME_WIDTH), m.provider, one_line(m.model, NAME_WIDTH), m.treatment or "-"]
        if checks:
            c = checks[m.contestant]
            if c.ok:
                row.append(f"ok ({c.latency_ms:.0f} ms)")
            else:
                failed = f"failed: {c.error}" + (f" ({c.hint})" if c.hint else "")
                row.append(one_line(failed))
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header] + rows]
    return "\n".join(lines)
