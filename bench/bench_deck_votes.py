"""Saving a deck vote while 30 sessions vote at once (target: 95th percentile <= 100 ms).

A 35-battle deck of the workshop pack (bench/room_deck.py). Thirty writer processes, each with
its own Store connection as each served session has, start together and vote every battle of
the deck, a random 0.3 to 1 s apart (people take several seconds to read two answers; here the
room votes about 45 times a second, so the writes collide), through the deck screen's own
path: ``decks.votes_of`` to find the next battle, ``decks.shown_swapped`` and
``decks.stored_winner`` for the side this voter saw, then ``Store.record_vote``. Each vote is timed from the call to ``record_vote`` to its
return (the vote committed and durable). Percentiles over every vote.

Baseline: the same votes from one writer alone, the same deck.

    python -m bench.bench_deck_votes [--quick]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TARGET_MS = 100.0
SESSIONS = 30
PAUSE_S = (0.3, 1.0)  # between one session's votes
# One session: waits for "go", votes the deck's battles it has not voted on, prints the times (ms).
WRITER = """
import json, random, sys, time
from battles import decks
from battles.store import Store
db, deck, voter, low, high = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
rng = random.Random(voter)
store = Store(db)
order = decks.playable_battles(store, deck)
print("ready", flush=True)
sys.stdin.readline()
times = []
while True:
    todo = [b for b in order if b not in decks.votes_of(store, deck, voter)]
    if not todo:
        break
    swapped = decks.shown_swapped(voter, todo[0])
    winner = decks.stored_winner(rng.choice(["left", "right", "tie", "both_bad"]), swapped)
    started = time.perf_counter()
    store.record_vote(todo[0], winner, voter, shown_swapped=swapped, kind="human")
    times.append((time.perf_counter() - started) * 1000)
    time.sleep(rng.uniform(low, high))
store.close()
print(json.dumps(times), flush=True)
"""


def vote_times(db: Path, deck: str, voters: list[str], pause: tuple[float, float]) -> list[float]:
    """Every vote's save time (ms), ``voters`` voting at once, one process each."""
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), deck, voter, *map(str, pause)], cwd=REPO_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for voter in voters]
    try:
        for proc in procs:  # all connected and the deck read before anyone votes
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a voting session did not start")
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        times = []
        for proc in procs:
            times += json.loads(proc.stdout.readline())
            proc.wait(timeout=120)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(quick: bool = False) -> list[dict]:
    from bench.room_deck import build_room_deck
    from tests.fake_provider import fake_provider_process

    prompts = 12 if quick else None
    with fake_provider_process() as url, tempfile.TemporaryDirectory(prefix="bench-deck-votes-") as tmp:
        db = Path(tmp) / "room.db"
        battles = build_room_deck(db, url, prompts=prompts)
        alone = vote_times(db, "room", ["alone"], pause=(0.0, 0.0))
        room = vote_times(db, "room", [f"voter{i:02d}" for i in range(SESSIONS)], pause=PAUSE_S)
    assert len(room) == SESSIONS * len(battles)
    p50, p95 = statistics.median(room), percentile(room, 0.95)
    note = f"{len(room):,} votes on a {len(battles)}-battle deck, one process per session"
    return [
        {"name": f"deck vote saved, {SESSIONS} sessions voting at once (95th percentile)", "value": round(p95, 1),
         "unit": "ms", "target": f"<= {TARGET_MS:g}", "baseline": round(percentile(alone, 0.95), 1),
         "ratio": round(p95 / max(percentile(alone, 0.95), 1e-3), 1),
         "note": f"{note}; baseline: one session voting alone, 95th percentile"},
        {"name": f"deck vote saved, {SESSIONS} sessions (median)", "value": round(p50, 1), "unit": "ms",
         "target": "report", "baseline": round(statistics.median(alone), 1)},
        {"name": f"deck vote saved, {SESSIONS} sessions (slowest)", "value": round(max(room), 1), "unit": "ms",
         "target": "report"},
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.report import module_main

    return module_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
