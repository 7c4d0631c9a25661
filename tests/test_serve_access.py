"""``blindside serve`` lets in only the holders of its token, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from http.client import HTTPResponse
from pathlib import Path

import aiohttp
import pytest

from tests.helpers_reliability import REPO_ROOT, assert_no_traceback, child_env, run_cli
from tests.serving import served, stop
from tui.serve_access import FORBIDDEN_TEXT, cookie_name, same_secret

pytestmark = pytest.mark.slow

SCRIPT = "static/js/textual.js"


def get(url: str, cookie: str | None = None, host: str | None = None) -> tuple[int, dict[str, str], str]:
    """Status, headers (Set-Cookie kept whole) and body of a GET; errors are answers too."""
    headers = {"Cookie": cookie} if cookie else {}
    if host:
        headers["Host"] = host
    request = urllib.request.Request(url, headers=headers)
    try:
        response: HTTPResponse = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    with response:
        return response.status, dict(response.headers.items()), response.read().decode("utf-8", "replace")


def session_cookie(headers: dict[str, str], port: int) -> tuple[str, set[str]]:
    """``name=value`` of the session cookie and its attributes, lower-cased."""
    pair, *attributes = [part.strip() for part in headers["Set-Cookie"].split(";")]
    assert pair.startswith(f"{cookie_name(port)}=")
    return pair, {attribute.lower() for attribute in attributes}


def test_without_the_token_page_script_and_websocket_get_a_bare_403(tmp_path):
    with served(tmp_path) as server:
        for path in ("", SCRIPT, "ws", "?token=", "?token=wrong" + server.token):
            status, headers, body = get(server.base + path)
            assert (path, status) == (path, 403)
            assert body == FORBIDDEN_TEXT and "Set-Cookie" not in headers
        status, _, _ = get(server.base, cookie=f"{cookie_name(server.port)}={server.token}")  # the token is not the cookie
        assert status == 403


async def test_a_websocket_without_the_token_is_refused_and_starts_no_session(tmp_path):
    with served(tmp_path) as server:
        async with aiohttp.ClientSession() as client:
            for url in (server.base + "ws", server.base + "ws?token=nope"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await client.ws_connect(url)
                assert refused.value.status == 403
        assert server.descendants() == []


def test_the_token_opens_the_page_and_its_cookie_lets_a_reload_in(tmp_path):
    with served(tmp_path) as server:
        assert server.address == f"{server.base}?token={server.token}"
        status, headers, page = get(server.address)
        assert status == 200 and "<html" in page.lower()
        cookie, attributes = session_cookie(headers, server.port)
        assert {"httponly", "samesite=strict", "path=/"} <= attributes
        assert headers["Referrer-Policy"] == "no-referrer"
        # a reload, the page's script and its websocket come back with the cookie alone
        status, headers, reloaded = get(server.base, cookie=cookie)
        assert status == 200 and "<html" in reloaded.lower() and "Set-Cookie" not in headers
        status, _, script = get(server.base + SCRIPT, cookie=cookie)
        assert status == 200 and "WebSocket" in script
        # the websocket address in the page is the one the browser used, where the cookie goes
        assert f'data-session-websocket-url="ws://127.0.0.1:{server.port}/ws"' in page
        # opened by another name (another address of this machine, or its host name), it stays there
        _, _, named = get(server.address, host=f"blindside.example:{server.port}")
        assert 'data-session-websocket-url="ws://blindside.example:' in named
        status, _, _ = get(server.base, cookie=cookie[:-1] + ("0" if cookie[-1] != "0" else "1"))
        assert status == 403
    assert_no_traceback("".join(server.stderr))


def test_two_servers_on_one_host_keep_their_own_cookies(tmp_path):
    """A browser shares cookies between the ports of a host: each server's cookie has its own name."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with served(tmp_path / "one") as one, served(tmp_path / "two") as two:
        cookies = [session_cookie(get(server.address)[1], server.port)[0] for server in (one, two)]
        jar = "; ".join(cookies)  # what the browser sends to either port
        assert get(one.base, cookie=jar)[0] == 200 and get(two.base, cookie=jar)[0] == 200
        assert get(one.base, cookie=cookies[1])[0] == 403


async def test_the_token_is_nowhere_but_the_start_up_line(tmp_path):
    env = child_env(BLINDSIDE_TOKEN="from-the-environment-1234")
    with served(tmp_path, env=env) as server:
        assert server.token == "from-the-environment-1234"
        token = server.token
        pages = [get(server.address), get(server.address + "&fontsize=20")]
        async with aiohttp.ClientSession() as client:
            async with client.ws_connect(server.base + f"ws?token={token}&width=80&height=24") as ws:
                first = await ws.receive(timeout=30)  # the session's app is running and drawing
                assert first.type == aiohttp.WSMsgType.BINARY
                sessions = server.descendants()
                assert sessions, "the websocket started no session"
                for pid in sessions:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes()
                    environ = Path(f"/proc/{pid}/environ").read_bytes()
                    assert token.encode() not in argv and b"BLINDSIDE_TOKEN" not in environ
                assert any(b"tui.cli" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in sessions)
    for _, headers, body in pages:
        assert token not in body and token not in str(headers)
    printed = [line for line in server.stdout + server.stderr if token in line]
    assert printed == [f"blindside serve: open {server.address}\n"]
    assert "token=[hidden]" in "".join(server.stderr)  # requests are logged, their tokens blanked


def test_token_option_sets_the_token(tmp_path):
    with served(tmp_path, "--token", "team arena/42") as server:
        assert server.token == "team arena/42"
        assert server.address.endswith("?token=team%20arena%2F42")
        assert get(server.address)[0] == 200
        assert get(server.base + "?token=team+arena")[0] == 403


def test_no_token_is_allowed_on_loopback(tmp_path):
    with served(tmp_path, "--no-token") as server:
        assert server.address == server.base
        status, _, page = get(server.base)
        assert status == 200 and "<html" in page.lower()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::"])
def test_no_token_beyond_loopback_is_refused(tmp_path, host):
    done = run_cli("serve", "--no-token", "--host", host, "--port", "8765", "--db", str(tmp_path / "v.db"),
                   cwd=REPO_ROOT)
    assert done.returncode == 2
    assert_no_traceback(done.stderr)
    assert done.stderr == (f"blindside: --no-token is refused on {host}: anyone who can reach it could vote. "
                           "Serve with a token (the default), or bind to --host 127.0.0.1.\n")


@pytest.mark.parametrize("how", ["option", "environment"])
def test_an_empty_token_is_refused(tmp_path, how):
    args = ["serve", "--port", "8765", "--db", str(tmp_path / "v.db")]
    if how == "option":
        done = run_cli(*args, "--token", " ", cwd=REPO_ROOT)
    else:
        done = run_cli(*args, env=child_env(BLINDSIDE_TOKEN=""), cwd=REPO_ROOT)
    assert done.returncode == 2
    assert_no_traceback(done.stderr)
    assert "empty" in done.stderr and done.stderr.count("\n") == 1


def test_tokens_compare_whole_and_exact():
    assert same_secret("abc", "abc")
    assert not same_secret(None, "abc")
    assert not same_secret("ab", "abc") and not same_secret("abcd", "abc") and not same_secret("", "abc")
    assert not same_secret("\udcff", "abc") and same_secret("é-\udcff", "é-\udcff")  # any str, no error


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def drain(ws) -> None:
    async for _ in ws:
        pass


async def test_stopping_the_server_ends_its_open_sessions(tmp_path):
    with served(tmp_path) as server:
        async with aiohttp.ClientSession() as client:
            async with client.ws_connect(server.address.replace("/?", "/ws?")) as ws:
                await ws.receive(timeout=30)  # the session's app is up
                sessions = server.descendants()
                assert sessions
                reading = asyncio.create_task(drain(ws))  # as a browser keeps listening
                started = time.monotonic()
                await asyncio.to_thread(stop, server.proc)  # Ctrl+C while a browser tab is still open
                assert time.monotonic() - started < 10
                reading.cancel()
        assert server.proc.returncode == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in sessions) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in sessions), "sessions outlived the server"
    assert_no_traceback("".join(server.stderr))
