"""``blindside export FILE|-``: write the vote log for analysis elsewhere."""

from __future__ import annotations

import argparse
import os
import sys


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "export", parents=[common], help="export the votes (JSONL, LMArena JSON or CSV)",
        description="Write the battles and votes to FILE (- for standard output; a name ending in "
                    ".gz is gzipped). jsonl is lossless and re-importable; arena-json is read by "
                    "LMArena's analysis code; csv has one row per vote with both sides' style features.")
    parser.add_argument("file", metavar="FILE", help="where to write, or - for standard output")
    parser.add_argument("--format", choices=("jsonl", "csv", "arena-json"), default="jsonl",
                        help="default: jsonl")


def run(args: argparse.Namespace) -> int:
    from battles.exporters import export
    from battles.store import open_store

    with open_store(getattr(args, "db", None)) as store:
        try:
            count = export(store, args.file, args.format)
        except BrokenPipeError:  # `blindside export - | head`: the reader left; not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    where = "standard output" if args.file == "-" else args.file
    print(f"Exported {count:,} battle{'' if count == 1 else 's'} to {where} ({args.format}).", file=sys.stderr)
    return 0
