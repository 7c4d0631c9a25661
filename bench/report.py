"""Run the benchmark modules and write BENCHMARKS.md.

Each module ``bench/bench_<name>.py`` exposes ``run(quick: bool = False) -> list[dict]``; a row
has ``name``, ``value``, ``unit``, ``target`` and optionally ``baseline``, ``ratio`` (value /
baseline, measured in the same run), ``note`` and ``met`` (a module may judge its own target).

Every module runs in its own child process, so one that crashes, hangs or leaves threads behind
costs only its own section. A target written ``"< 250"``, ``">= 15"`` or ``"ratio <= 1.5"`` is
judged here; any other target is shown as written, unjudged.

``--only`` refreshes some modules: the sections of the others are kept from the existing
report, with the date they were measured (their figures travel in a JSON comment at the end
of the file).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT = REPO_ROOT / "BENCHMARKS.md"
# The modules the project promises, in report order; others found in bench/ follow.
KNOWN_MODULES = ("bench_import", "bench_streaming", "bench_tui", "bench_scoring", "bench_leaderboard",
                 "bench_local_model", "bench_selection", "bench_deck", "bench_judge", "bench_board",
                 "bench_deck_votes", "bench_serve_memory")
MODULE_TIMEOUT_S = {"quick": 600, "full": 3600}
RESULTS_MARK = "<!-- bench-results:"
REQUIRED_KEYS = ("name", "value", "unit", "target")

_TARGET = re.compile(r"^\s*(ratio\s+)?(<=|>=|<|>|≤|≥|==)\s*([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)", re.IGNORECASE)


@dataclass
class ModuleResult:
    module: str
    status: str  # ok | missing | failed
    rows: list[dict] = field(default_factory=list)
    error: str | None = None
    seconds: float | None = None
    quick: bool = False
    ran_at: str | None = None


def module_main(run, description: str, argv: list[str] | None = None) -> int:
    """``python -m bench.bench_NAME [--quick]``: run one module and print its rows."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (fewer repetitions)")
    args = parser.parse_args(argv)
    for row in run(quick=args.quick):
        extra = f"  (baseline {row['baseline']} {row['unit']}, ratio {row.get('ratio')})" if "baseline" in row else ""
        note = f"  [{row['note']}]" if row.get("note") else ""
        print(f"{row['name']}: {row['value']} {row['unit']}  target {row['target']}{extra}{note}")
    return 0


# -- which modules ----------------------------------------------------------------------------

def available_modules() -> list[str]:
    found = sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))
    return [m for m in KNOWN_MODULES] + [m for m in found if m not in KNOWN_MODULES]


def module_name(name: str) -> str:
    """``scoring``, ``bench_scoring`` and ``bench.bench_scoring`` all name ``bench_scoring``."""
    name = name.strip().removeprefix("bench.").removesuffix(".py")
    return name if name.startswith("bench_") else f"bench_{name}"


def selected_modules(only: list[str] | None) -> list[str]:
    if not only:
        return available_modules()
    wanted: list[str] = []
    for item in only:
        for name in item.split(","):
            if name.strip() and module_name(name) not in wanted:
                wanted.append(module_name(name))
    return wanted


# -- running one module -----------------------------------------------------------------------

_CHILD = """\
import json, sys, importlib
name, quick, out = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
try:
    module = importlib.import_module("bench." + name)
except ModuleNotFoundError as exc:
    if exc.name in ("bench." + name,):
        json.dump({"status": "missing"}, open(out, "w"))
        sys.exit(0)
    raise
rows = module.run(quick=quick)
json.dump({"status": "ok", "rows": rows}, open(out, "w"), default=str)
"""


def run_module(name: str, *, quick: bool, timeout: float | None = None) -> ModuleResult:
    """Run ``bench.<name>.run(quick)`` in a child process and collect its rows."""
    ran_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if not (BENCH_DIR / f"{name}.py").exists():
        return ModuleResult(name, "missing", quick=quick, ran_at=ran_at)
    timeout = timeout or MODULE_TIMEOUT_S["quick" if quick else "full"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "rows.json"
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-c", _CHILD, name, "1" if quick else "0", str(out)],
                                  cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            return ModuleResult(name, "failed", error=f"still running after {timeout:.0f} s; stopped",
                                seconds=time.monotonic() - started, quick=quick, ran_at=ran_at)
        seconds = time.monotonic() - started
        if done.returncode != 0 or not out.exists():
            return ModuleResult(name, "failed", error=_last_error(done.stderr) or f"exit code {done.returncode}",
                                seconds=seconds, quick=quick, ran_at=ran_at)
        payload = json.loads(out.read_text(encoding="utf-8"))
    if payload["status"] == "missing":
        return ModuleResult(name, "missing", quick=quick, ran_at=ran_at)
    rows, problem = _checked_rows(payload.get("rows"))
    if problem:
        return ModuleResult(name, "failed", rows=rows, error=problem, seconds=seconds, quick=quick, ran_at=ran_at)
    return ModuleResult(name, "ok", rows=rows, seconds=seconds, quick=quick, ran_at=ran_at)


def _last_error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:500] if lines else ""


def _checked_rows(rows) -> tuple[list[dict], str | None]:
    if not isinstance(rows, list):
        return [], f"run() returned {type(rows).__name__}, not a list of rows"
    good = [r for r in rows if isinstance(r, dict)]
    for row in good:
        missing = [k for k in REQUIRED_KEYS if k not in row]
        if missing:
            return good, f"row {row.get('name', '?')!r} lacks {', '.join(missing)}"
    if len(good) != len(rows):
        return good, "run() returned a row that is not a dict"
    return good, None


# -- judging targets --------------------------------------------------------------------------

def target_met(row: dict) -> bool | None:
    """True/False when the target can be judged, None when it cannot (free text, no value)."""
    if isinstance(row.get("met"), bool):
        return row["met"]
    match = _TARGET.match(str(row.get("target") or ""))
    if not match:
        return None
    on_ratio, op, bound = match.group(1), match.group(2), float(match.group(3))
    value = row.get("ratio") if on_ratio else row.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return {"<": value < bound, "<=": value <= bound, "≤": value <= bound, ">": value > bound,
            ">=": value >= bound, "≥": value >= bound, "==": value == bound}[op]


# -- the machine ------------------------------------------------------------------------------

def machine() -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "Cores": f"{os.cpu_count()} logical" + (f" ({n} usable)" if (n := _usable_cpus()) != os.cpu_count() else ""),
        "RAM": _ram(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": platform.platform(),
        "Load average (1 min) when written": _load(),
        "Commit": _commit(),
    }


def _load() -> str:
    """Other work on the machine slows every figure: say how busy it was."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _usable_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    except (OSError, ValueError):
        pass
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / (1 << 30):.1f} GiB"
    except (ValueError, OSError, AttributeError):
        return "unknown"


def _commit() -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if done.returncode != 0:
        return "unknown"
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


# -- the report -------------------------------------------------------------------------------

def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


MET_WORDS = {True: "yes", False: "**no**", None: "–"}


def render(results: list[ModuleResult], machine_info: dict[str, str], *, generated: str) -> str:
    lines = ["# Benchmarks", "",
             "Written by `python -m bench` (`--quick` for a smoke run, `--only NAME` for one module). "
             "Each figure is a median over repeated runs on the machine below; a ratio compares it with "
             "the baseline measured in the same run, so the ratio travels between machines better than "
             "the figure does.", "",
             f"Generated {generated}.", "", "## Machine", "", "| | |", "| --- | --- |"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in machine_info.items()]
    judged = [target_met(r) for res in results if res.status == "ok" for r in res.rows]
    lines += ["", "## Summary", "",
              f"{sum(m is True for m in judged)} targets met, {sum(m is False for m in judged)} missed, "
              f"{sum(m is None for m in judged)} not judged; "
              f"modules: {', '.join(f'{r.module} ({r.status})' for r in results)}.", ""]
    for res in results:
        lines += [f"## {res.module}", ""]
        how = "quick run (fewer repetitions: rough figures)" if res.quick else "full run"
        when = f"{how}, {res.ran_at}" + (f", took {res.seconds:.0f} s" if res.seconds is not None else "")
        if res.status == "missing":
            lines += [f"Missing: `bench/{res.module}.py` does not exist yet ({res.ran_at}).", ""]
            continue
        if res.status == "failed":
            lines += [f"**Failed** ({when}): {_cell(res.error)}", ""]
            if not res.rows:
                continue
        else:
            lines += [f"_{when}_", ""]
        lines += ["| Figure | Value | Target | Met | Compared against | Ratio | Note |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in res.rows:
            unit = row.get("unit") or ""
            value = f"{_fmt(row.get('value'))} {unit}".strip()
            baseline = row.get("baseline")
            against = f"{_fmt(baseline)} {unit}".strip() if baseline is not None else "–"
            lines.append(f"| {_cell(row.get('name'))} | {_cell(value)} | {_cell(row.get('target'))} | "
                         f"{MET_WORDS[target_met(row)]} | {_cell(against)} | {_cell(_fmt(row.get('ratio')))} | "
                         f"{_cell(row.get('note') or '')} |")
        lines.append("")
    # "--" may not appear inside an HTML comment; in JSON strings "\u002d" reads back as "-".
    payload = json.dumps([asdict(r) for r in results], default=str, sort_keys=True).replace("--", "-\\u002d")
    lines.append(f"{RESULTS_MARK} {payload} -->")
    return "\n".join(lines) + "\n"


def previous_results(path: Path) -> dict[str, ModuleResult]:
    """The module results stored in an earlier report, by module (empty when there is none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    start = text.rfind(RESULTS_MARK)
    if start < 0:
        return {}
    body = text[start + len(RESULTS_MARK):].rsplit("-->", 1)[0]
    try:
        items = json.loads(body)
        return {item["module"]: ModuleResult(**item) for item in items}
    except (ValueError, TypeError, KeyError):
        return {}


def merge(fresh: list[ModuleResult], earlier: dict[str, ModuleResult]) -> list[ModuleResult]:
    """Fresh results, plus the earlier ones of modules this run did not touch, in report order."""
    known = available_modules()
    by_module = {m: r for m, r in earlier.items() if m in known}  # a module since removed goes
    by_module.update({r.module: r for r in fresh})
    order = known + [m for m in by_module if m not in known]
    return [by_module[m] for m in order if m in by_module]


def print_result(res: ModuleResult, stream=sys.stdout) -> None:
    if res.status == "missing":
        print(f"{res.module}: missing (bench/{res.module}.py does not exist)", file=stream)
        return
    took = f" in {res.seconds:.1f} s" if res.seconds is not None else ""
    print(f"{res.module}: {res.status}{took}" + (f": {res.error}" if res.error else ""), file=stream)
    for row in res.rows:
        met = {True: "met", False: "MISSED", None: "not judged"}[target_met(row)]
        ratio = f", ratio {_fmt(row.get('ratio'))} vs {_fmt(row.get('baseline'))}" if row.get("ratio") is not None else ""
        print(f"  {row.get('name')}: {_fmt(row.get('value'))} {row.get('unit') or ''} "
              f"(target {row.get('target')}: {met}{ratio})", file=stream)
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the benchmarks and write BENCHMARKS.md.")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (fewer repetitions, rough figures)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this module (scoring, bench_scoring; repeat or comma-separate)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, metavar="PATH",
                        help=f"where to write the report (default {DEFAULT_OUTPUT.name} at the repo root)")
    parser.add_argument("--list", action="store_true", help="list the benchmark modules and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name in available_modules():
            print(name + ("" if (BENCH_DIR / f"{name}.py").exists() else "  (missing)"))
        return 0
    results = []
    try:
        for name in selected_modules(args.only):
            print(f"{name}: running{' (quick)' if args.quick else ''}...", flush=True)
            result = run_module(name, quick=args.quick)
            print_result(result)
            results.append(result)
    except KeyboardInterrupt:
        print("bench: interrupted; writing what was measured so far.", file=sys.stderr)
    # Modules not run this time (--only, or an interrupted run) keep their earlier sections.
    results = merge(results, previous_results(args.output))
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(render(results, machine(), generated=generated), encoding="utf-8")
    except OSError as exc:
        print(f"bench: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"Wrote {args.output}")
    return 1 if any(r.status == "failed" for r in results) else 0
