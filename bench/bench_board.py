"""The live board: how soon a vote cast by another process is on the board (target <= 2 s).

A room-sized database (a 35-battle deck voted by 30 voters: 1,050 votes, style features on
both sides) is shown by the real board app run headless (``App.run_test``). A writer in a
child process, as a voter's session would be, records one vote at a time and reports the
wall-clock time once ``record_vote`` has returned (the vote is committed and durable); the
board notes the wall-clock time it put a board with that vote on screen. Medians over the
votes, and the slowest.

Baseline: the board's recomputation alone (reading every vote and computing ratings,
agreement and the room's fingerprint), in this process, timed the same number of times. What
the latency adds to it is the polling (``PRAGMA data_version`` every 0.5 s) and the hand-over.

    python -m bench.bench_board [--quick]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TARGET_S = 2.0
BATTLES = 35
VOTERS = 30
FEATURES = ("tokens", "emoji", "header", "list", "bold")
# Reads "battle voter" lines, records each vote, answers with the time it was committed.
WRITER = """
import sys, time
from battles.store import Store
store = Store(sys.argv[1])
print("ready", flush=True)
for line in sys.stdin:
    battle, voter = line.split()
    store.record_vote(battle, "model_a", voter, shown_swapped=True)
    print(time.time(), flush=True)
"""


def build_room(path: Path, seed: int = 3) -> None:
    from battles.store import NewBattle, Store

    rng = random.Random(seed)
    models = ["smollm2", "smollm2-creative", "smollm2-chatty"]

    def features():
        return dict(zip(FEATURES, (rng.randint(20, 500), rng.randint(0, 4), rng.randint(0, 3),
                                   rng.randint(0, 6), rng.randint(0, 6))))

    with Store(path) as store:
        store.insert_battles(NewBattle(id=f"deck-{i}", model_a=(pair := rng.sample(models, 2))[0], model_b=pair[1],
                                       winner=None, created=f"2025-06-01T00:00:{i:02d}", source="bench",
                                       features_a=features(), features_b=features()) for i in range(BATTLES))
        for v in range(VOTERS):
            for i in range(BATTLES):
                store.record_vote(f"deck-{i}", rng.choice(["model_a", "model_b", "tie", "both_bad"]),
                                  f"voter{v:02d}", shown_swapped=rng.random() < 0.5)


def _board_class():
    from tui.board_app import BoardApp

    class TimedBoard(BoardApp):
        """Notes when each board (by its vote count) was put on screen."""

        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.shown_at: dict[int, float] = {}

        def _show(self, snapshot, error, seconds) -> None:
            super()._show(snapshot, error, seconds)
            if snapshot is not None:
                self.shown_at.setdefault(snapshot["votes"], time.time())

    return TimedBoard


async def _latencies(db: Path, votes: int) -> list[float]:
    app = _board_class()(db)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], cwd=REPO_ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = []
    try:
        assert writer.stdout.readline().strip() == "ready"
        async with app.run_test(size=(140, 45)) as pilot:
            while not app.shown_at:
                await pilot.pause(0.05)
            count = max(app.shown_at)
            for n in range(votes):
                await pilot.pause(0.3)  # votes a little apart, as in a room
                writer.stdin.write(f"deck-{n % BATTLES} late{n}\n")
                writer.stdin.flush()
                committed = float(await asyncio.to_thread(writer.stdout.readline))
                count += 1
                deadline = time.monotonic() + 10
                while count not in app.shown_at and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
                out.append(app.shown_at.get(count, float("inf")) - committed)
    finally:
        writer.stdin.close()
        writer.wait(timeout=10)
    return out


def _recompute_seconds(db: Path, runs: int) -> float:
    from battles.store import Store
    from tui.team_data import board_snapshot, load_votes, models_of, twins_map

    times = []
    with Store(db) as store:
        for _ in range(runs):
            started = time.perf_counter()
            rows = load_votes(store)
            board_snapshot(rows, twins_map(models_of(rows)))
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(quick: bool = False) -> list[dict]:
    votes = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        db = Path(tmp) / "room.db"
        build_room(db)
        latencies = asyncio.run(_latencies(db, votes))
        recompute = _recompute_seconds(db, votes)
    median = statistics.median(latencies)
    return [
        {"name": f"board: a vote from another process on screen (median of {votes}, "
                 f"{BATTLES * VOTERS:,}-vote room)",
         "value": round(median, 3), "unit": "s", "target": f"<= {TARGET_S:g}",
         "baseline": round(recompute, 3), "ratio": round(median / recompute, 1),
         "note": "baseline: the board's recomputation alone, same database"},
        {"name": "board: slowest of those votes", "value": round(max(latencies), 3), "unit": "s",
         "target": f"<= {TARGET_S:g}"},
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.report import module_main

    return module_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
