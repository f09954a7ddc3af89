"""Security headers on every response (R12f), as a plain ASGI middleware.

* ``Content-Security-Policy``: scripts, styles, images and connections from
  this origin only; no inline script or style, no plugins, no framing, forms
  post only to us.  Templates therefore never use ``<script>`` bodies,
  ``style=`` attributes or ``on*=`` handlers: put code in an ES module under
  ``static/js`` and styles in ``static/css``.
* ``Strict-Transport-Security`` when the request came over HTTPS (directly,
  or through a proxy whose ``X-Forwarded-Proto`` uvicorn trusts).
* ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin`` (no referrer leaves the
  site; ``no-referrer`` would make Chromium send ``Origin: null`` on our own form
  posts, which the CSRF check refuses),
  ``X-Content-Type-Options: nosniff``, a ``Permissions-Policy`` that turns off
  what the workplace does not use, ``Cross-Origin-Opener-Policy``.
* ``Cache-Control: no-store`` on everything but static assets (pages and the
  API carry personal data).

A request body larger than ``max_body_bytes`` is refused with 413: at once
when its ``Content-Length`` says so, and otherwise (a chunked body, or a
``Content-Length`` that lies) as soon as the bytes read so far pass the limit:
``receive`` is wrapped and counts every ``http.request`` message, whatever the
headers say, before any route (even the public login form) sees the body.
"""

from __future__ import annotations

import json
from typing import Final

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "BodyTooLarge", "SecurityHeadersMiddleware", "security_headers"]

CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; media-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS: Final = "max-age=31536000; includeSubDomains"
PERMISSIONS_POLICY: Final = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024


def security_headers(*, https: bool, static: bool) -> list[tuple[bytes, bytes]]:
    """The headers added to one response."""
    headers = [
        (b"content-security-policy", CSP.encode()),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"x-content-type-options", b"nosniff"),
        (b"permissions-policy", PERMISSIONS_POLICY.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if https:
        headers.append((b"strict-transport-security", HSTS.encode()))
    if not static:
        headers.append((b"cache-control", b"no-store"))
    return headers


class BodyTooLarge(HTTPException):
    """Raised by the wrapped ``receive`` once the body passes the limit (answered 413)."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class SecurityHeadersMiddleware:
    """Adds :func:`security_headers` to every HTTP response."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, message: str = ""
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.too_large = json.dumps(
            {"code": "payload_too_large", "message": message}, ensure_ascii=False
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        path = str(scope.get("path", ""))
        extra = security_headers(https=https, static=path.startswith("/static/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + [
                    (n, v) for n, v in extra if n not in names
                ]
            await send(message)

        length = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await self._refuse(send_with_headers)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send_with_headers(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:  # too late for a status: the server drops the connection
                raise
            await self._refuse(send_with_headers)

    async def _refuse(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": self.too_large})
