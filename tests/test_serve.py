"""``blindside serve`` stays on this machine unless told otherwise, and says so when told."""

from __future__ import annotations

import socket
import subprocess
import urllib.request

import pytest

from tests.helpers_reliability import (
    REPO_ROOT,
    assert_no_traceback,
    child_env,
    cli_command,
)
from tests.serving import served
from tui.cli import build_parser


def outside_address() -> str | None:
    """This machine's address on its default route (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent by a UDP connect
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_serve_defaults_to_loopback():
    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1"


@pytest.mark.slow
def test_serve_answers_on_loopback_only_and_prints_no_warning(tmp_path):
    with served(tmp_path) as server:
        with urllib.request.urlopen(server.address, timeout=10) as response:
            assert response.status == 200
            page = response.read().decode("utf-8", "replace")
        assert "<html" in page.lower()
        other = outside_address()
        if other is not None:  # a machine without a network has nothing else to check
            with pytest.raises(OSError):
                socket.create_connection((other, server.port), timeout=2).close()
    err = "".join(server.stderr)
    assert "warning" not in err.lower()
    assert_no_traceback(err)
    assert server.proc.poll() is not None


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_serve_warns_when_asked_to_bind_beyond_this_machine(tmp_path, host):
    """The warning comes before anything binds; a busy port then keeps the server from starting."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.Popen(cli_command("serve", "--host", host, "--port", str(port),
                                            "--db", str(tmp_path / "votes.db")),
                                cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            first_line = proc.stderr.readline()
        finally:
            proc.kill()
            proc.communicate(timeout=10)
    assert first_line.startswith(f"blindside: warning: serving on {host}:"), first_line
    assert "anyone who can reach this address" in first_line
    assert "--host 127.0.0.1" in first_line


def test_serve_on_a_busy_port_says_so_without_a_traceback(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(cli_command("serve", "--port", str(port), "--db", str(tmp_path / "votes.db")),
                              cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert_no_traceback(done.stderr)
    assert str(port) in done.stderr and "blindside:" in done.stderr


def test_serve_refuses_a_port_that_is_not_a_port(tmp_path):
    done = subprocess.run(cli_command("serve", "--port", "70000", "--db", str(tmp_path / "votes.db")),
                          cwd=REPO_ROOT, env=child_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert_no_traceback(done.stderr)
    assert "70000" in done.stderr
