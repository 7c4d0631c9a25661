"""The Textual app under load: two answers streaming at once, the keyboard, start-up.

Streaming: the fake provider (tests/fake_provider.py, in a child process so its CPU is not
counted) streams two Markdown answers (headers, lists, code, a table) of 2,000 tokens at
1,000 tokens/s each, one OpenAI-style and one Ollama-style, into the real app run headless
(``App.run_test``). Measured, medians over the runs:

- complete-text lag: from the last piece of text reaching the app to both panes showing the
  complete answer (target < 200 ms). Baseline: rendering the same final answer at once on
  the idle app (what a "render it all again at the end" step would cost).
- key latency: a key sent through the driver (as a terminal would) every 50 ms during the
  streams, until its binding runs (target < 100 ms, median and 95th percentile). Baseline: the
  same key on the idle app.
- CPU: process CPU time / wall time while streaming (target < 1 core). Baseline: the same two
  streams through the engine with no UI.

Start-up, each a median over several child processes:

- ``blindside --help`` (target < 0.5 s). Baseline: ``python -c pass``.
- first paint of the app in a pseudo-terminal, until the app writes its ready file on its
  first ``Ready`` (target < 1.5 s). Baseline: a bare Textual app timed the same way.

    python -m bench.bench_tui [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKENS = 2000
RATE = 1000
KEY = "f12"


def _config(url: str, run: int):
    from battles.config import ArenaConfig, Config, ModelConfig

    def model(name: str, provider: str, base: str) -> ModelConfig:
        spec = f"fake:text=markdown,tokens={TOKENS},rate={RATE},id={name}{run}"
        return ModelConfig(name=name, provider=provider, model=spec, base_url=base, timeout=120)

    return Config(arena=ArenaConfig(voter="bench", pairing="uniform"),
                  models={"left": model("left", "openai", f"{url}/v1"), "right": model("right", "ollama", url)})


# -- streaming in the app ------------------------------------------------------------------------

def _bench_app_class():
    from textual.binding import Binding

    from tui.app import BlindsideApp

    class BenchApp(BlindsideApp):
        """The real app plus one key whose handling time is recorded."""

        BINDINGS = [*BlindsideApp.BINDINGS, Binding(KEY, "ping", "ping", show=False, priority=True)]

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.pings: list[float] = []

        def action_ping(self) -> None:
            self.pings.append(time.perf_counter())

    return BenchApp


async def _key_latencies(app, count: int, gap: float, stop: asyncio.Event | None = None) -> list[float]:
    """Send ``KEY`` through the driver every ``gap`` s; ms until each one's action ran."""
    from textual import events

    latencies = []
    for _ in range(count):
        if stop is not None and stop.is_set():
            break
        before = len(app.pings)
        sent = time.perf_counter()
        app._driver.send_message(events.Key(KEY, None).set_sender(app))
        while len(app.pings) == before:
            await asyncio.sleep(0.001)
        latencies.append((app.pings[-1] - sent) * 1000)
        await asyncio.sleep(gap)
    return latencies


async def _stream_once(url: str, db: Path, run: int) -> dict:
    from battles.store import Store
    from tests.fake_provider import expected_text

    app = _bench_app_class()(_config(url, run), Store(db), seed=run)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.screen
        await pilot.pause(0.3)
        idle_keys = await _key_latencies(app, 10, 0.02)
        screen.query_one("#prompt").text = "Write a guide with headers, lists and code."
        cpu0, wall0 = time.process_time(), time.perf_counter()
        screen.action_send()
        done = asyncio.Event()
        keys_task = asyncio.create_task(_key_latencies(app, 10_000, 0.05, done))
        while screen.phase != "ready":
            if screen.phase == "unvotable":
                raise RuntimeError("a side failed during the benchmark")
            await asyncio.sleep(0.005)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        done.set()
        stream_keys = await keys_task
        battle = screen.battle
        for pane in screen.panes:
            expected = expected_text(battle.models[pane.side].model)
            if pane.markdown.source != expected:
                raise RuntimeError(f"pane {pane.side} does not show the complete answer")
        lag = (max(p.shown_at for p in screen.panes) - screen.last_delta_at) * 1000
        # Baseline: one full render of the final answer on the now idle app.
        pane = screen.pane("a")
        started = time.perf_counter()
        pane.markdown.update(pane.markdown.source)
        await pane.markdown.wait_rendered()
        full_render = (time.perf_counter() - started) * 1000
    return {"lag": lag, "full_render": full_render, "cpu": (cpu1 - cpu0) / (wall1 - wall0),
            "wall": wall1 - wall0, "idle_keys": idle_keys, "stream_keys": stream_keys}


async def _engine_only(url: str, db: Path, run: int) -> float:
    """CPU cores used by the same two streams through the engine alone."""
    from battles.engine import Arena
    from battles.store import Store

    with Store(db) as store:
        async with Arena(_config(url, run), store, seed=run) as arena:
            battle = arena.start("Write a guide with headers, lists and code.")
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await battle.run(lambda side, piece: None)
            return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_streaming(runs: int) -> list[dict]:
    results, engine_cpu = [], []
    from tests.fake_provider import fake_provider_process

    with fake_provider_process() as url, tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            results.append(asyncio.run(_stream_once(url, Path(tmp) / f"app{run}.db", run)))
            engine_cpu.append(asyncio.run(_engine_only(url, Path(tmp) / f"engine{run}.db", run + 100)))
    lag = statistics.median(r["lag"] for r in results)
    full = statistics.median(r["full_render"] for r in results)
    cpu = statistics.median(r["cpu"] for r in results)
    base_cpu = statistics.median(engine_cpu)
    stream_keys = [k for r in results for k in r["stream_keys"]]
    idle_keys = [k for r in results for k in r["idle_keys"]]
    key_median, key_idle = statistics.median(stream_keys), statistics.median(idle_keys)
    return [
        {"name": "tui: complete text shown after the last byte", "value": round(lag, 1), "unit": "ms",
         "target": "< 200", "baseline": round(full, 1), "ratio": round(lag / full, 2),
         "note": "baseline: rendering the whole final answer at once, idle app"},
        {"name": "tui: key handled while two streams render (median)", "value": round(key_median, 1),
         "unit": "ms", "target": "< 100", "baseline": round(key_idle, 1),
         "ratio": round(key_median / key_idle, 2), "note": f"{len(stream_keys)} keys; baseline: idle app"},
        {"name": "tui: key handled while two streams render (95th percentile)",
         "value": round(_percentile(stream_keys, 0.95), 1), "unit": "ms", "target": "< 100"},
        {"name": "tui: CPU while streaming 2 x 1,000 tokens/s", "value": round(cpu, 2), "unit": "cores",
         "target": "< 1", "baseline": round(base_cpu, 2), "ratio": round(cpu / base_cpu, 2),
         "note": "process CPU / wall; baseline: the same streams through the engine, no UI"},
    ]


# -- start-up ------------------------------------------------------------------------------------

def _median_seconds(argv: list[str], runs: int, env: dict | None = None) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


BARE_APP = """
import os, pathlib, time
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("hello")
    def on_ready(self):
        pathlib.Path(os.environ["BLINDSIDE_READY_FILE"]).write_text(str(time.time()))
Bare().run()
"""


def first_paint_seconds(argv: list[str], env: dict, ready: Path, timeout: float = 30.0) -> float:
    """Start ``argv`` on a pseudo-terminal; seconds until it writes ``ready``."""
    ready.unlink(missing_ok=True)
    main_fd, child_fd = pty.openpty()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env={**env, "BLINDSIDE_READY_FILE": str(ready)},
                            stdin=child_fd, stdout=child_fd, stderr=child_fd, close_fds=True)
    os.close(child_fd)
    try:
        while not ready.exists():
            if time.perf_counter() - started > timeout or proc.poll() is not None:
                raise RuntimeError(f"{argv[-1]!r} did not paint within {timeout} s")
            try:  # drain the terminal so the child never blocks on a full pty
                import select

                if select.select([main_fd], [], [], 0.005)[0]:
                    os.read(main_fd, 65536)
            except OSError:
                pass
        return time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(main_fd)


def bench_startup(runs: int) -> list[dict]:
    python = sys.executable
    help_s = _median_seconds([python, "-m", "tui.cli", "--help"], runs)
    bare_python = _median_seconds([python, "-c", "pass"], runs)
    rows = [{"name": "blindside --help", "value": round(help_s, 3), "unit": "s", "target": "< 0.5",
             "baseline": round(bare_python, 3), "ratio": round(help_s / bare_python, 2),
             "note": "baseline: python -c pass"}]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "blindside.toml"
        config.write_text('[arena]\nvoter = "bench"\n\n'
                          '[models.left]\nprovider = "openai"\nmodel = "fake:tokens=5"\nbase_url = "http://127.0.0.1:9/v1"\n\n'
                          '[models.right]\nprovider = "ollama"\nmodel = "fake:tokens=5"\nbase_url = "http://127.0.0.1:9"\n',
                          encoding="utf-8")
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        ready = Path(tmp) / "ready"
        app_argv = [python, "-m", "tui.cli", "--config", str(config), "--db", str(Path(tmp) / "v.db")]
        first_paint_seconds(app_argv, env, ready)  # creates the database; not timed
        app_s = statistics.median(first_paint_seconds(app_argv, env, ready) for _ in range(runs))
        bare_s = statistics.median(first_paint_seconds([python, "-c", BARE_APP], env, ready) for _ in range(runs))
    rows.append({"name": "tui: first paint (process start to first screen)", "value": round(app_s, 3),
                 "unit": "s", "target": "< 1.5", "baseline": round(bare_s, 3), "ratio": round(app_s / bare_s, 2),
                 "note": "baseline: a bare Textual app, same pseudo-terminal"})
    return rows


def run(quick: bool = False) -> list[dict]:
    return bench_streaming(2 if quick else 5) + bench_startup(3 if quick else 7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    for row in run(quick=args.quick):
        extra = f"  (baseline {row['baseline']} {row['unit']}, ratio {row['ratio']})" if "baseline" in row else ""
        print(f"{row['name']}: {row['value']} {row['unit']}  target {row['target']}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
