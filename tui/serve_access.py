"""Who may use ``blindside serve``: whoever holds its token.

The token comes in once, as ``?token=`` on the first page; the answer sets a cookie so that the
page's websocket, its scripts and a reload get in without it. The cookie holds a value derived
from the token, not the token itself, so the token never travels back out of the server.
Every request without a right token or cookie gets a bare 403.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets

from aiohttp import web

TOKEN_ENV = "BLINDSIDE_TOKEN"
TOKEN_QUERY = "token"
FORBIDDEN_TEXT = "403 Forbidden: open the address blindside serve printed when it started, with its ?token=.\n"

_TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']*")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def cookie_name(port: int) -> str:
    """Browsers share cookies between the ports of a host: each server names its own."""
    return f"blindside_session_{port}"


def cookie_value(token: str) -> str:
    """What the cookie carries: proof of the token that cannot be turned back into it."""
    return hmac.new(_bytes(token), b"blindside serve session", hashlib.sha256).hexdigest()


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing says nothing about how much was right
    (digests first: compare_digest alone would still tell a wrong length apart)."""
    if given is None:
        return False
    return hmac.compare_digest(hashlib.sha256(_bytes(given)).digest(), hashlib.sha256(_bytes(expected)).digest())


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # any str at all, and one-to-one


def access_middleware(token: str, port: int):
    """An aiohttp middleware that lets in only requests carrying the token or its cookie."""
    name, session = cookie_name(port), cookie_value(token)

    @web.middleware
    async def check_access(request: web.Request, handler):
        by_query = same_secret(request.query.get(TOKEN_QUERY), token)
        if not by_query and not same_secret(request.cookies.get(name), session):
            return web.Response(status=403, text=FORBIDDEN_TEXT, headers=_PRIVATE)
        response = await handler(request)
        if by_query and isinstance(response, web.Response) and response.status < 400:
            # SameSite=Strict: another site's page cannot make a browser use it.
            response.set_cookie(name, session, path="/", httponly=True, samesite="Strict")
        if not response.prepared:  # a websocket has already sent its headers
            response.headers.update(_PRIVATE)
        return response

    return check_access


# The page's address may hold the token: never send it on as a Referer, never cache the page.
_PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


class HideTokens(logging.Filter):
    """Blanks ``token=...`` in log lines (the access log prints each request's address)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = _TOKEN_IN_TEXT.sub(r"\1[hidden]", message), None
        return True
