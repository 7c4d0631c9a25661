"""``python -m bench``: runs the benchmark modules, judges targets, writes BENCHMARKS.md with the
machine it ran on, reports missing or broken modules instead of crashing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench.report import (
    ModuleResult,
    available_modules,
    machine,
    merge,
    module_name,
    previous_results,
    render,
    selected_modules,
    target_met,
)
from tests.helpers_reliability import REPO_ROOT, child_env

ROWS = [
    {"name": "import 140k votes", "value": 1.8, "unit": "s", "target": "<= 3", "baseline": 7.2, "ratio": 0.25,
     "note": "baseline: csv + executemany"},
    {"name": "tokens per side", "value": 9.0, "unit": "tokens/s", "target": ">= 15"},
    {"name": "overhead of two streams", "value": 2.2, "unit": "ms", "target": "ratio <= 1.5", "baseline": 2.0,
     "ratio": 1.1},
    {"name": "startup", "value": 420, "unit": "ms", "target": "fast enough"},
]


def test_targets_are_judged_from_their_text():
    assert [target_met(r) for r in ROWS] == [True, False, True, None]
    assert target_met({"value": None, "target": "< 5"}) is None
    assert target_met({"value": 10, "target": "< 5", "met": True}) is True  # a module's own verdict wins
    assert target_met({"value": 5, "target": "≤ 5"}) is True
    assert target_met({"value": 3, "target": "> 1e1"}) is False


def test_module_names_are_resolved_the_short_or_the_long_way():
    assert module_name("scoring") == module_name("bench_scoring") == module_name("bench.bench_scoring.py")
    assert selected_modules(["scoring,import", "tui"]) == ["bench_scoring", "bench_import", "bench_tui"]
    assert selected_modules(None) == available_modules()
    assert available_modules()[:6] == ["bench_import", "bench_streaming", "bench_tui", "bench_scoring",
                                       "bench_leaderboard", "bench_local_model"]


def test_the_report_shows_figures_targets_ratios_and_the_machine():
    results = [ModuleResult("bench_import", "ok", rows=ROWS, seconds=12.0, ran_at="2025-01-01T00:00:00+00:00"),
               ModuleResult("bench_tui", "missing", ran_at="2025-01-01T00:00:00+00:00"),
               ModuleResult("bench_scoring", "failed", error="ValueError: boom", seconds=1.0)]
    info = machine()
    for key in ("CPU", "Cores", "RAM", "Python", "OS"):
        assert info[key] and info[key] != "unknown" or key == "CPU"
    text = render(results, info, generated="2025-01-01T00:00:00+00:00")
    assert info["Python"] in text and info["OS"] in text and info["RAM"] in text
    assert "| import 140k votes | 1.8 s | <= 3 | yes | 7.2 s | 0.25 | baseline: csv + executemany |" in text
    assert "| tokens per side | 9 tokens/s | >= 15 | **no** |" in text
    assert "| startup | 420 ms | fast enough | – |" in text
    assert "Missing: `bench/bench_tui.py`" in text
    assert "**Failed**" in text and "ValueError: boom" in text
    assert "2 targets met, 1 missed, 1 not judged" in text


def test_a_partial_run_keeps_the_other_modules_sections(tmp_path):
    report = tmp_path / "BENCHMARKS.md"
    earlier = [ModuleResult("bench_import", "ok", rows=ROWS[:1], ran_at="then"),
               ModuleResult("bench_tui", "ok", rows=ROWS[3:], ran_at="then")]
    report.write_text(render(earlier, machine(), generated="then"), encoding="utf-8")
    kept = previous_results(report)
    assert kept["bench_import"].rows == ROWS[:1]
    fresh = [ModuleResult("bench_tui", "ok", rows=ROWS[1:2], ran_at="now")]
    merged = merge(fresh, kept)
    assert [r.module for r in merged] == ["bench_import", "bench_tui"]
    assert merged[1].rows == ROWS[1:2] and merged[0].rows == ROWS[:1]
    assert previous_results(tmp_path / "nothing.md") == {}


@pytest.mark.slow
def test_python_m_bench_runs_a_module_and_writes_the_report(tmp_path):
    """The real command, on the cheapest real module plus one that does not exist."""
    output = tmp_path / "out" / "BENCHMARKS.md"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "streaming",
                           "--only", "no_such_bench", "--output", str(output)],
                          cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "bench_no_such_bench: missing" in done.stdout
    text = output.read_text(encoding="utf-8")
    assert "## Machine" in text and "## bench_streaming" in text
    assert "Missing: `bench/bench_no_such_bench.py`" in text
    section = text.split("## bench_streaming", 1)[1].split("\n## ", 1)[0]
    assert "| Figure | Value | Target | Met | Compared against | Ratio | Note |" in section
    assert section.count("\n| ") >= 3  # header, rule, at least one figure
    assert "quick run" in section
    assert previous_results(output)["bench_streaming"].status == "ok"
