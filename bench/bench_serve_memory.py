"""Memory of each deck session under ``blindside serve --deck`` (target: <= 120 MB per added session).

A 35-battle deck of the workshop pack (bench/room_deck.py) is served (loopback, no token)
and opened by 1, then 3, then 6 websocket sessions at once (aiohttp's client, as a browser's
page talks to textual-serve): each types a voter name, waits for its first battle and votes
three battles. Once all are on their next battle, the proportional set size (PSS, from
/proc/PID/smaps_rollup: pages shared between sessions are split between them, which RSS
would count in full for each) of every process the server started is summed. The figure is
the slope of that sum against the number of sessions (least squares over the three counts).

Baseline: the server process's own PSS with no session open.

    python -m bench.bench_serve_memory [--quick]
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TARGET_MB = 120.0
COUNTS = (1, 3, 6)
VOTES = 3  # battles each session votes before it is measured
ESCAPES = re.compile(r"\x1b\[[0-9;:?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def pss_mb(pid: int) -> float:
    """The process's proportional set size, in MB (0 for a process that is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return int(found[1]) / 1024 if found else 0.0


class Session:
    """One browser session, as the page drives it: a websocket to /ws, keys as "stdin"."""

    def __init__(self, client, port: int, voter: str) -> None:
        self.client, self.port, self.voter = client, port, voter
        self.screen = ""
        self.ws = None

    async def open(self) -> None:
        self.ws = await self.client.ws_connect(f"ws://127.0.0.1:{self.port}/ws?width=120&height=40")
        self.reader = asyncio.create_task(self._read())
        await self.wait_for("Who is voting?")
        await self.keys(self.voter + "\r")
        await self.wait_for("battle 1 of")
        for number in range(VOTES):
            await self.keys("a")
            await self.wait_for(f"battle {number + 2} of")

    async def _read(self) -> None:
        import aiohttp

        decoder = __import__("codecs").getincrementaldecoder("utf-8")("replace")
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                self.screen += ESCAPES.sub("", decoder.decode(message.data))

    async def keys(self, text: str) -> None:
        self.mark = len(self.screen)
        await self.ws.send_str(json.dumps(["stdin", text]))

    async def wait_for(self, text: str, timeout: float = 60) -> None:
        since = getattr(self, "mark", 0)
        deadline = time.monotonic() + timeout
        while text not in self.screen[since:]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"session {self.voter}: {text!r} did not show within {timeout:g} s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def measure(server) -> tuple[dict[int, float], float]:
    """{sessions open: total PSS of the server's children, MB}, and the server's own PSS alone."""
    import aiohttp

    alone = pss_mb(server.proc.pid)
    totals: dict[int, float] = {}
    async with aiohttp.ClientSession() as client:
        sessions: list[Session] = []
        try:
            for count in COUNTS:
                new = [Session(client, server.port, f"voter{i}") for i in range(len(sessions), count)]
                await asyncio.gather(*(s.open() for s in new))
                sessions += new
                await asyncio.sleep(1.0)  # settled: the sessions idle on their next battle
                totals[count] = sum(pss_mb(pid) for pid in server.descendants())
        finally:
            for session in sessions:
                await session.close()
    return totals, alone


def slope(points: dict[int, float]) -> float:
    xs, ys = list(points), list(points.values())
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def run(quick: bool = False) -> list[dict]:
    from bench.room_deck import build_room_deck
    from tests.fake_provider import fake_provider_process
    from tests.helpers_reliability import child_env, free_port
    from tests.serving import serve_command, serving

    with tempfile.TemporaryDirectory(prefix="bench-serve-memory-") as tmp:
        db = Path(tmp) / "votes.db"
        with fake_provider_process() as url:
            build_room_deck(db, url, prompts=12 if quick else None)
        port = free_port()
        with serving(serve_command(port, db, "--deck", "room", "--no-token"), port, cwd=Path(tmp),
                     env=child_env(), timeout=60) as server:
            totals, alone = asyncio.run(measure(server))
    per_session = slope(totals)
    shown = ", ".join(f"{n}: {mb:.0f} MB" for n, mb in totals.items())
    return [
        {"name": "serve --deck: memory added per session (PSS slope)", "value": round(per_session, 1), "unit": "MB",
         "target": f"<= {TARGET_MB:g}", "baseline": round(alone, 1),
         "note": f"PSS of the sessions' processes by sessions open: {shown}; baseline: the server's own PSS"},
        {"name": "serve --deck: PSS per session with 6 open (mean)", "value": round(totals[COUNTS[-1]] / COUNTS[-1], 1),
         "unit": "MB", "target": "report"},
    ]


def main(argv: list[str] | None = None) -> int:
    from bench.report import module_main

    return module_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
