"""``blindside`` (the app) and ``blindside serve`` from the command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tui.cli import build_parser, main
from tui.commands.serve_command import app_command, bind_warning

REPO = Path(__file__).resolve().parents[1]


def write_config(path: Path, url: str = "http://127.0.0.1:9") -> Path:
    path.write_text('[models.left]\nprovider = "openai"\nmodel = "fake:tokens=5"\n'
                    f'base_url = "{url}/v1"\n\n'
                    '[models.right]\nprovider = "ollama"\nmodel = "fake:tokens=5"\n'
                    f'base_url = "{url}"\n', encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unknown_prompt_pack_is_an_error_message_not_a_traceback(tmp_path, capsys):
    config = write_config(tmp_path / "blindside.toml")
    code = main(["--config", str(config), "--db", str(tmp_path / "v.db"), "--prompts", "no-such-pack"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-pack" in err and "built-in packs" in err and "Traceback" not in err


def test_broken_config_stops_before_the_app(tmp_path, capsys):
    config = tmp_path / "blindside.toml"
    config.write_text("[models.x\n", encoding="utf-8")
    assert main(["--config", str(config), "--db", str(tmp_path / "v.db")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def test_serve_runs_the_app_with_the_same_config_and_database(tmp_path):
    config = write_config(tmp_path / "blindside.toml")
    args = build_parser().parse_args(["serve", "--config", str(config), "--db", str(tmp_path / "v.db"),
                                      "--prompts", "workshop"])
    command = app_command(args)
    assert command.startswith(f"{sys.executable} -m tui.cli")
    assert f"--config {config.resolve()}" in command and f"--db {(tmp_path / 'v.db').resolve()}" in command
    assert "--prompts workshop" in command
    assert "--voter" not in command  # each browser session asks for its own voter


def test_only_loopback_binds_quietly():
    assert bind_warning("127.0.0.1") is None and bind_warning("localhost") is None
    assert "anyone" in bind_warning("0.0.0.0")


def test_bad_port_is_an_error_message(tmp_path, capsys):
    config = write_config(tmp_path / "blindside.toml")
    assert main(["serve", "--config", str(config), "--port", "70000"]) == 2
    assert "not a port number" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_serve_answers_browsers(tmp_path, host):
    config = write_config(tmp_path / "blindside.toml")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "serve", "--host", host, "--port", str(port),
                             "--config", str(config), "--db", str(tmp_path / "v.db"), "--token", "t0ken"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=t0ken", timeout=2) as response:
                    page = response.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.2)
        assert "/ws" in page  # the page that opens a websocket session running the app
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert ("anyone who can reach this address" in err) == (host != "127.0.0.1")


def test_a_browser_sessions_command_opens_the_app(tmp_path):
    """What textual-serve runs for each browser session paints the app on a terminal."""
    import shlex

    from bench.bench_tui import first_paint_seconds

    config = write_config(tmp_path / "blindside.toml")
    args = build_parser().parse_args(["--voter", "kim", "serve", "--config", str(config),
                                      "--db", str(tmp_path / "v.db")])
    argv = shlex.split(app_command(args))
    seconds = first_paint_seconds(argv, {**os.environ, "TERM": "xterm-256color"}, tmp_path / "ready")
    assert seconds > 0
    assert (tmp_path / "v.db").exists()  # the session opened the shared database
