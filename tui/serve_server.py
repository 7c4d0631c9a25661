"""textual-serve's server with blindside's access check, its own start-up line and quiet logs."""

from __future__ import annotations

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

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        if self._token is not None:
            app.middlewares.append(access_middleware(self._token, self.port))
        return app

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
