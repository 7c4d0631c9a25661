"""``blindside import FILE``: add a vote log (blindside export, LMArena JSON or CSV) to the database."""

from __future__ import annotations

import argparse
import sys

from tui.progress_line import ProgressLine

FORMAT_CHOICES = ("auto", "jsonl", "arena-json", "arena-csv")


def add_parser(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "import", parents=[common], help="import a vote log (blindside JSONL, LMArena JSON or CSV)",
        description="Add the battles of FILE to the database in one transaction. Importing the same "
                    "file again adds nothing. Bad rows are skipped and listed (first ten, with line "
                    "numbers); gzip files are read as they are.")
    parser.add_argument("file", metavar="FILE", help="the file to import (.gz works too)")
    parser.add_argument("--format", choices=FORMAT_CHOICES, default="auto",
                        help="jsonl (blindside's export), arena-json (LMArena records, array or JSON "
                             "Lines), arena-csv (id,model_a,model_b,winner); default: detect")
    parser.add_argument("--strict", action="store_true",
                        help="refuse the whole file if any row is bad (nothing is imported)")


def run(args: argparse.Namespace) -> int:
    from battles.importing import import_file
    from battles.store import open_store

    progress = _ProgressLine(args.file) if sys.stderr.isatty() else None
    try:
        with open_store(getattr(args, "db", None)) as store:
            report = import_file(store, args.file, format=args.format, strict=args.strict, progress=progress)
    finally:
        if progress:
            progress.clear()
    print(report.summary())
    if report.first_bad_rows:
        shown = len(report.first_bad_rows)
        print(f"Skipped rows{' (first ' + str(shown) + ')' if report.bad_rows > shown else ''}:")
        for row in report.first_bad_rows:
            print(f"  {row}")
    return 0


class _ProgressLine(ProgressLine):
    """Records read while a large file is imported (a million records take half a minute)."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def __call__(self, records: int, share: float) -> None:
        self.show(f"Importing {self.file}: {records:,} records read ({share:.0%} of the file)…")
