"""textual-serve's server with blindside's access check, its own start-up line and quiet logs."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web
from textual_serve.server import Server

from tui.serve_access import HideTokens, access_middleware


class BlindsideServer(Server):
    def __init__(self, command: str, *, host: str, port: int, token: str | None, address: str) -> None:
        super().__init__(command, host=host, port=port, title="blindside")
        self._token = token
        self._address = address
        self._sessions: set[asyncio.Task] = set()

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        if self._token is not None:
            app.middlewares.append(access_middleware(self._token, self.port))
        app.middlewares.append(self._track_sessions)
        return app

    @web.middleware
    async def _track_sessions(self, request: web.Request, handler):
        """Each websocket request runs one browser session for as long as it lasts."""
        if request.path != "/ws":
            return await handler(request)
        task = asyncio.current_task()
        self._sessions.add(task)
        try:
            return await handler(request)
        finally:
            self._sessions.discard(task)

    async def on_shutdown(self, app: web.Application) -> None:
        # Stopping the server ends the sessions too: cancelled, textual-serve tells each app to
        # quit and waits for it. Left alone, they would outlive the server, holding the database.
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        if sessions:
            await asyncio.wait(sessions, timeout=10)

    async def handle_index(self, request: web.Request) -> web.Response:
        # The page's websocket and scripts go back to the address the browser used (not the
        # bind address), so they reach this machine from elsewhere and carry the cookie set for it.
        # Nothing awaits between this and the page's use of it, so requests cannot mix theirs.
        self.public_url = f"{request.scheme}://{request.host}"
        return await super().handle_index(request)

    async def on_startup(self, app: web.Application) -> None:
        # The only place the token appears: the address to open, as Jupyter prints it.
        print(f"blindside serve: open {self._address}", flush=True)
        print("Each browser tab runs its own session. Press Ctrl+C to stop.", flush=True)

    def initialize_logging(self) -> None:
        # Plain lines on stderr: no locals in tracebacks (they would show the token), and
        # ``token=`` blanked in any line (the access log prints each request's address).
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(HideTokens())
        logging.basicConfig(level=logging.DEBUG if self.debug else logging.INFO, format="%(message)s",
                            handlers=[handler], force=True)
