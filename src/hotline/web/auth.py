"""Access control: every route declares who may call it through ONE dependency.

* ``Depends(require(Permission.X))`` — a logged-in user holding ``X``;
* ``Depends(authenticated())`` — any logged-in user (``/api/v1/auth/me``, logout);
* ``Depends(public())`` — anyone (login, health, static-like routes).

Each returns the :class:`Principal` (``public()`` returns None).  For every
state-changing method (POST, PUT, PATCH, DELETE) they also check CSRF: the
session's token must arrive in the ``X-CSRF-Token`` header (``fetch()``) or
the ``csrf_token`` form field (HTML forms); ``public()`` routes check that the
request did not come from another site (``Sec-Fetch-Site`` / ``Origin``).

The declaration is attached to the dependency function
(:func:`access_of`), so a test can walk every route of the app and check
each role's access (tests/unit/web/test_web_routes.py).

Sessions (server-side, :mod:`hotline.store.web_sessions`) expire after
``session_ttl_s`` and after ``session_idle_s`` without use.
"""

from __future__ import annotations

import asyncio
import enum
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, WebSocket, WebSocketException
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.requests import HTTPConnection
from starlette.status import WS_1008_POLICY_VIOLATION

from hotline.store.accounts import User
from hotline.store.audit import AuditAction
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.permissions import Permission, permissions_of

if TYPE_CHECKING:
    from hotline.web.context import WebContext

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "MAX_TOKEN_CHARS",
    "SESSION_COOKIE",
    "Access",
    "AccessKind",
    "DeclaredRoute",
    "Principal",
    "access_of",
    "authenticated",
    "client_address",
    "context_of",
    "declared_routes",
    "optional_principal",
    "public",
    "require",
    "require_ws",
    "revalidate",
    "route_access",
]

SESSION_COOKIE: Final = "hotline_session"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_TOKEN_CHARS: Final = 128
_ACCESS_ATTR: Final = "__hotline_access__"


class AccessKind(enum.Enum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    PERMISSION = "permission"


@dataclass(frozen=True, slots=True)
class Access:
    """What a route demands."""

    kind: AccessKind
    permission: Permission | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """The logged-in user of a request."""

    user_id: str
    username: str
    display_name: str
    role: str
    permissions: frozenset[Permission]
    csrf_token: str
    session_hash: str
    expires_at: datetime
    source: str = field(default="")

    def has(self, permission: Permission) -> bool:
        return permission in self.permissions


def context_of(request: HTTPConnection) -> WebContext:
    """The web layer's dependencies, stored on the app by ``create_web_app``."""
    ctx: WebContext | None = getattr(request.app.state, "web", None)
    if ctx is None:  # an app without the web layer: nobody is authenticated
        raise ApiError(ErrorCode.NOT_AUTHENTICATED)
    return ctx


def client_address(request: HTTPConnection) -> str:
    return request.client.host if request.client is not None else ""


def access_of(dependency: Callable[..., Any]) -> Access | None:
    """The declaration carried by a dependency made here, else None."""
    found = getattr(dependency, _ACCESS_ATTR, None)
    return found if isinstance(found, Access) else None


def route_access(dependant: Dependant) -> list[Access]:
    """Every access declaration among a route's dependencies (recursively)."""
    found: list[Access] = []
    for sub in dependant.dependencies:
        if sub.call is not None and (access := access_of(sub.call)) is not None:
            found.append(access)
        found.extend(route_access(sub))
    return found


@dataclass(frozen=True, slots=True)
class DeclaredRoute:
    """One method of one HTTP route and the access declarations found on it."""

    method: str
    path: str
    access: tuple[Access, ...]


def declared_routes(app: FastAPI) -> list[DeclaredRoute]:
    """Every API, page and WebSocket route of ``app`` (mounts such as /static excluded).

    A WebSocket route is listed with the method ``WEBSOCKET``.
    """
    found: list[DeclaredRoute] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIWebSocketRoute):
            ws_access = tuple(route_access(route.dependant))
            found.append(DeclaredRoute("WEBSOCKET", context.path or route.path, ws_access))
            continue
        if not isinstance(route, APIRoute):
            continue
        access = tuple(route_access(route.dependant))
        path = context.path or route.path
        methods = set(context.methods or route.methods or ()) - {"HEAD"}
        found.extend(DeclaredRoute(method, path, access) for method in sorted(methods))
    return found


def _mark(fn: Callable[..., Any], access: Access) -> None:
    setattr(fn, _ACCESS_ATTR, access)


async def _check_same_site(request: Request) -> None:
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        raise ApiError(ErrorCode.CSRF_FAILED)
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if origin == "null" or urlsplit(origin).netloc != host:
            raise ApiError(ErrorCode.CSRF_FAILED)


async def _check_csrf(request: Request, principal: Principal) -> None:
    if request.method in SAFE_METHODS:
        return
    await _check_same_site(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), principal.csrf_token.encode()):
        raise ApiError(ErrorCode.CSRF_FAILED)


def _expire(ctx: WebContext, hashed: str, user: User, source: str) -> None:
    if ctx.sessions.delete(hashed):
        ctx.audit.append(
            at=ctx.clock.utcnow(),
            actor=user.username,
            role=user.role,
            action=AuditAction.SESSION_EXPIRED,
            object=f"user:{user.username}",
            source=source,
        )


async def _principal(request: HTTPConnection) -> Principal:
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    ctx = context_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise ApiError(ErrorCode.NOT_AUTHENTICATED)
    found = await asyncio.to_thread(ctx.sessions.lookup, token)
    if found is None:
        raise ApiError(ErrorCode.NOT_AUTHENTICATED)
    session, user = found
    now = ctx.clock.utcnow()
    idle = timedelta(seconds=ctx.config.session_idle_s)
    if now >= session.expires_at or now - session.last_seen >= idle or not user.is_active:
        await asyncio.to_thread(_expire, ctx, session.token_hash, user, client_address(request))
        raise ApiError(ErrorCode.SESSION_EXPIRED)
    if now - session.last_seen >= timedelta(seconds=ctx.config.touch_interval_s):
        await asyncio.to_thread(ctx.sessions.touch, session.token_hash, now)
    principal = Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        permissions=permissions_of(user.role, user.permissions),
        csrf_token=session.csrf_token,
        session_hash=session.token_hash,
        expires_at=session.expires_at,
        source=client_address(request),
    )
    request.state.principal = principal
    return principal


async def revalidate(conn: HTTPConnection, who: Principal) -> Principal:
    """``who`` as the store sees it now: for a long-lived socket, checked every tick.

    The session must still exist (not logged out, not revoked by an
    administrator), be neither past its lifetime nor idle longer than
    ``session_idle_s``, and its user must be active; otherwise
    :class:`ApiError` (``session_expired``).  Role and permissions are rebuilt
    from the fresh user row, so a change reaches an open socket at once.
    """
    ctx = context_of(conn)
    found = await asyncio.to_thread(ctx.sessions.lookup_hash, who.session_hash)
    if found is None:
        raise ApiError(ErrorCode.SESSION_EXPIRED)
    session, user = found
    now = ctx.clock.utcnow()
    idle = timedelta(seconds=ctx.config.session_idle_s)
    if now >= session.expires_at or now - session.last_seen >= idle or not user.is_active:
        await asyncio.to_thread(_expire, ctx, session.token_hash, user, who.source)
        raise ApiError(ErrorCode.SESSION_EXPIRED)
    return replace(
        who,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        permissions=permissions_of(user.role, user.permissions),
        expires_at=session.expires_at,
    )


def require(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency: a logged-in user holding ``permission`` (CSRF-checked when unsafe)."""

    async def dependency(request: Request) -> Principal:
        principal = await _principal(request)
        if permission not in principal.permissions:
            raise ApiError(ErrorCode.FORBIDDEN)
        await _check_csrf(request, principal)
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    _mark(dependency, Access(AccessKind.PERMISSION, permission))
    return dependency


def authenticated() -> Callable[[Request], Awaitable[Principal]]:
    """Dependency: any logged-in user (CSRF-checked when unsafe)."""

    async def dependency(request: Request) -> Principal:
        principal = await _principal(request)
        await _check_csrf(request, principal)
        return principal

    _mark(dependency, Access(AccessKind.AUTHENTICATED))
    return dependency


def public() -> Callable[[Request], Awaitable[None]]:
    """Dependency: anyone; a state-changing request must come from our own pages."""

    async def dependency(request: Request) -> None:
        await _check_same_site(request)

    _mark(dependency, Access(AccessKind.PUBLIC))
    return dependency


def require_ws(permission: Permission) -> Callable[[WebSocket], Awaitable[Principal]]:
    """Dependency of a WebSocket route: a logged-in user holding ``permission``.

    Checked once, at the handshake: a connection from another site's page
    (``Origin`` not ours), without a live session or without the permission
    is closed with 1008 (policy violation) and the error code as the reason.
    A long-lived socket should end itself when ``Principal.expires_at`` passes.
    """

    async def dependency(websocket: WebSocket) -> Principal:
        origin = websocket.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != websocket.headers.get("host", ""):
            raise WebSocketException(WS_1008_POLICY_VIOLATION, ErrorCode.CSRF_FAILED.value)
        try:
            principal = await _principal(websocket)
        except ApiError as exc:
            raise WebSocketException(WS_1008_POLICY_VIOLATION, exc.code.value) from None
        if permission not in principal.permissions:
            raise WebSocketException(WS_1008_POLICY_VIOLATION, ErrorCode.FORBIDDEN.value)
        return principal

    dependency.__name__ = f"require_ws_{permission.name.lower()}"
    _mark(dependency, Access(AccessKind.PERMISSION, permission))
    return dependency


async def optional_principal(request: Request) -> Principal | None:
    """The logged-in user, or None (for pages that show the login form)."""
    try:
        return await _principal(request)
    except ApiError:
        return None
