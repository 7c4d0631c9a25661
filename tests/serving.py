"""A real ``blindside serve`` in a child process on a free loopback port, for the serve tests.

``served(tmp_path, *args)`` starts it, waits for the address it prints and for the port, and
stops it (SIGINT, as Ctrl+C) on the way out, keeping what it wrote on stdout and stderr.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.helpers_reliability import child_env, cli_command, free_port, wait_for_port

ADDRESS_PREFIX = "blindside serve: open "


@dataclass
class Served:
    proc: subprocess.Popen
    port: int
    address: str  # what it printed to open, token included
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def token(self) -> str | None:
        values = parse_qs(urlsplit(self.address).query).get("token")
        return values[0] if values else None

    @property
    def output(self) -> str:
        """Everything it wrote so far, both streams."""
        return "".join(self.stdout) + "".join(self.stderr)

    def descendants(self) -> list[int]:
        """The process ids of everything it started (its browser sessions), from /proc."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
        found, todo = [], [self.proc.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found


def serve_command(port: int, db: Path, *args: str) -> list[str]:
    return cli_command("serve", "--port", str(port), "--db", str(db), *args)


def _collect(stream, lines: list[str]) -> None:
    for line in stream:
        lines.append(line)


@contextlib.contextmanager
def served(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 30) -> Iterator[Served]:
    port = free_port()
    with serving(serve_command(port, tmp_path / "votes.db", *args), port, cwd=tmp_path, env=env,
                 timeout=timeout) as server:
        yield server


@contextlib.contextmanager
def serving(command: list[str], port: int, *, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 30) -> Iterator[Served]:
    """``command`` (a ``blindside serve`` listening on ``port``) started, waited for, stopped."""
    proc = subprocess.Popen(command, cwd=cwd, env=env or child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    server = Served(proc, port, address="")
    readers = [threading.Thread(target=_collect, args=(proc.stdout, server.stdout), daemon=True),
               threading.Thread(target=_collect, args=(proc.stderr, server.stderr), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.address:
            server.address = next((line[len(ADDRESS_PREFIX):].strip() for line in list(server.stdout)
                                   if line.startswith(ADDRESS_PREFIX)), "")
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve printed no address to open:\n{server.output}")
            time.sleep(0.05)
        if not wait_for_port("127.0.0.1", port, timeout=max(1, deadline - time.monotonic()), proc=proc):
            raise AssertionError(f"serve did not start listening:\n{server.output}")
        yield server
    finally:
        stop(proc)
        for reader in readers:
            reader.join(10)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
