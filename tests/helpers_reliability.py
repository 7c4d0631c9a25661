"""Shared pieces of the reliability and security tests: child processes, file fingerprints,
fake-provider configs, a hard time limit.

Run as a script it is the child process those tests start and kill:

    python -m tests.helpers_reliability vote-loop DB --count N --tag TAG

records battles through ``battles.store.Store`` exactly as the engine does (begin, save the
turn, finish as complete, vote) and prints each battle id, flushed, right after
``record_vote`` returns: a printed id is a vote the store acknowledged.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ARENA_VOTES_CSV = REPO_ROOT / "battles" / "data" / "arena-human-preference-140k-votes.csv.gz"
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


# -- child processes --------------------------------------------------------------------------

def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: the repo importable, no user config or db leaking in."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("BLINDSIDE_CONFIG", None)
    env.pop("BLINDSIDE_DB", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    """``blindside ARGS`` as a command run with this interpreter (no installed script needed)."""
    return [sys.executable, "-m", "tui.cli", *args]


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), env=env or child_env(), cwd=cwd or REPO_ROOT,
                          input=input, capture_output=True, text=True, timeout=timeout)


def vote_loop_command(db: Path, *, count: int = 0, tag: str = "w") -> list[str]:
    return [sys.executable, "-m", "tests.helpers_reliability", "vote-loop", str(db),
            "--count", str(count), "--tag", tag]


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback (most recent call last)" not in stderr, stderr
    assert "database is locked" not in stderr, stderr


# -- files ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileState:
    """What must not change about a file we were told to leave alone."""

    sha256: str
    size: int
    mtime_ns: int
    companions: tuple[str, ...]  # which of -wal/-shm/-journal exist beside it


def file_state(path: Path) -> FileState:
    data = path.read_bytes()
    return FileState(
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        mtime_ns=path.stat().st_mtime_ns,
        companions=tuple(s for s in SQLITE_COMPANIONS if Path(f"{path}{s}").exists()),
    )


def tree_bytes(paths: Sequence[Path]) -> bytes:
    """Every byte of these files and of their SQLite companions, for scanning."""
    out = bytearray()
    for path in paths:
        for candidate in (path, *(Path(f"{path}{s}") for s in SQLITE_COMPANIONS)):
            if candidate.is_file():
                out += candidate.read_bytes()
            elif candidate.is_dir():
                for sub in sorted(candidate.rglob("*")):
                    if sub.is_file():
                        out += sub.read_bytes()
    return bytes(out)


# -- network ----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


# -- configs for the fake provider ------------------------------------------------------------

def fake_config_toml(models: dict[str, dict[str, object]], *, voter: str | None = "tester") -> str:
    """A blindside.toml with these models (name -> fields), e.g. from ``fake_model``."""
    lines = ["[arena]"]
    if voter:
        lines.append(f"voter = {json.dumps(voter)}")
    lines.append('pairing = "uniform"')
    for name, fields in models.items():
        lines.append("")
        lines.append(f"[models.{json.dumps(name)}]")
        for key, value in fields.items():
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def fake_model(fake, provider: str, model_id: str, **fields: object) -> dict[str, object]:
    """Fields of one model served by the FakeProvider ``fake`` (model_id picks its behaviour)."""
    return {"provider": provider, "model": model_id, "base_url": fake.base_url(provider), **fields}


# -- data files -------------------------------------------------------------------------------

def arena_json_records(n: int, *, seed: int, id_prefix: str,
                       models: Sequence[str] = ("model-x", "model-y", "model-z")) -> list[dict]:
    """``n`` LMArena-style vote records (id, model_a, model_b, winner) with unique ids."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        a, b = rng.sample(list(models), 2)
        records.append({"id": f"{id_prefix}-{i:06d}", "model_a": a, "model_b": b,
                        "winner": rng.choice(("model_a", "model_b", "tie", "both_bad"))})
    return records


def write_arena_json(path: Path, records: list[dict]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:
        json.dump(records, out)
    return path


# -- a hard time limit ------------------------------------------------------------------------

class TimeLimitExceeded(AssertionError):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging forever) when the block runs longer than ``seconds``.

    SIGALRM interrupts even a tight pure-Python loop; tests run in the main thread.
    """
    def expire(signum, frame):
        raise TimeLimitExceeded(f"still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- the child: a vote loop -------------------------------------------------------------------

def vote_loop(db: Path, count: int, tag: str) -> int:
    """Record ``count`` battles (0: until killed), printing each id once its vote is durable."""
    from battles.features import style_features
    from battles.store import ResponseRecord, Store

    rng = random.Random(f"{tag}-{os.getpid()}")
    models = ("alpha", "beta", "gamma", "delta")
    store = Store(db)
    print("ready", flush=True)
    done = 0
    while count == 0 or done < count:
        a, b = rng.sample(models, 2)
        prompt = f"question {tag}-{done}"
        battle_id = store.begin_battle(model_a=a, model_b=b, prompt=prompt)
        texts = ("x " * rng.randint(1, 200), "**y** " * rng.randint(1, 50))
        records = [ResponseRecord(text=t, tokens=len(t) // 4, finish_reason="stop",
                                  features=style_features(t, len(t) // 4)) for t in texts]
        store.save_turn(battle_id, 1, prompt, records[0], records[1])
        store.finish_battle(battle_id, status="complete", identity_leak=False,
                            features_a=records[0].features, features_b=records[1].features)
        store.record_vote(battle_id, rng.choice(("model_a", "model_b", "tie", "both_bad")), tag)
        sys.stdout.write(battle_id + "\n")
        sys.stdout.flush()
        done += 1
    store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.helpers_reliability")
    sub = parser.add_subparsers(dest="command", required=True)
    loop = sub.add_parser("vote-loop", help="record battles and votes, printing each acknowledged id")
    loop.add_argument("db", type=Path)
    loop.add_argument("--count", type=int, default=0, help="0: until killed")
    loop.add_argument("--tag", default="w")
    args = parser.parse_args(argv)
    if args.command == "vote-loop":
        return vote_loop(args.db, args.count, args.tag)
    return 2


if __name__ == "__main__":
    sys.exit(main())
