"""Login and logout: the JSON API (``/api/v1/auth/*``) and the HTML form (``/login``).

The session token travels only in the ``hotline_session`` cookie: HTTP-only,
``SameSite=Strict``, ``Secure`` under HTTPS (or behind a TLS proxy), path ``/``.
The CSRF token comes back in the login answer and in ``/api/v1/auth/me`` (and
pages carry it in a ``<meta name="csrf-token">`` tag and hidden form fields).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from hotline.store.web_sessions import token_hash
from hotline.web.auth import (
    MAX_TOKEN_CHARS,
    SESSION_COOKIE,
    Principal,
    authenticated,
    client_address,
    context_of,
    optional_principal,
    public,
)
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.login import MAX_PASSWORD_CHARS, MAX_USERNAME_CHARS, LoginResult, log_in, log_out
from hotline.web.pages import render
from hotline.web.permissions import permissions_of

__all__ = ["LoginRequest", "SessionInfo", "auth_router", "login_pages_router"]

MAX_USER_AGENT: Final = 255
LOGIN_FORM_FIELDS: Final = 8
LOGIN_FORM_PART_BYTES: Final = 4096


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=MAX_USERNAME_CHARS)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class SessionInfo(BaseModel):
    """Who is logged in, what they may do, and the CSRF token for ``fetch()``."""

    username: str
    display_name: str
    role: str
    permissions: list[str]
    csrf_token: str
    expires_at: datetime


def _secure(request: Request) -> bool:
    return context_of(request).config.secure_cookies or request.url.scheme == "https"


def set_session_cookie(request: Request, response: Response, result: LoginResult) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=int(context_of(request).config.session_ttl_s),
        path="/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict"
    )


def _info(p: Principal) -> SessionInfo:
    return SessionInfo(
        username=p.username,
        display_name=p.display_name,
        role=p.role,
        permissions=sorted(p.permissions),
        csrf_token=p.csrf_token,
        expires_at=p.expires_at,
    )


async def _log_in(request: Request, username: str, password: str) -> LoginResult:
    ctx = context_of(request)
    agent = request.headers.get("user-agent", "")[:MAX_USER_AGENT]
    result = await asyncio.to_thread(
        log_in, ctx, username, password, source=client_address(request), user_agent=agent
    )
    previous = request.cookies.get(SESSION_COOKIE)
    if previous and len(previous) <= MAX_TOKEN_CHARS:  # a new login replaces this browser's
        await asyncio.to_thread(ctx.sessions.delete, token_hash(previous))
    return result


async def _log_out(request: Request, who: Principal) -> None:
    ctx = context_of(request)
    await asyncio.to_thread(log_out, ctx, who.session_hash, who.username, who.role, who.source)


auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@auth_router.post(
    "/login",
    response_model=SessionInfo,
    dependencies=[Depends(public())],
    summary="Log in with a password; sets the session cookie",
)
async def api_login(request: Request, body: LoginRequest, response: Response) -> SessionInfo:
    result = await _log_in(request, body.username, body.password)
    set_session_cookie(request, response, result)
    return _info(_principal_of(request, result))


def _principal_of(request: Request, result: LoginResult) -> Principal:
    """The principal of a session just opened (the cookie is not in this request)."""
    user, session = result.user, result.session
    return Principal(
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


@auth_router.post("/logout", status_code=204, summary="End the session")
async def api_logout(
    request: Request, who: Annotated[Principal, Depends(authenticated())]
) -> Response:
    await _log_out(request, who)
    response = Response(status_code=204)
    clear_session_cookie(request, response)
    return response


@auth_router.get("/me", response_model=SessionInfo, summary="The logged-in user")
async def api_me(who: Annotated[Principal, Depends(authenticated())]) -> SessionInfo:
    return _info(who)


login_pages_router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a local path (no scheme, no host, no ``//``) is a redirect target."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@login_pages_router.get("/login", response_class=HTMLResponse, dependencies=[Depends(public())])
async def login_form(
    request: Request,
    next: Annotated[str | None, Query(max_length=200)] = None,
    expired: Annotated[int | None, Query(ge=0, le=1)] = None,
    out: Annotated[int | None, Query(ge=0, le=1)] = None,
) -> Response:
    who = await optional_principal(request)
    if who is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    notice = "login.session_expired" if expired else ("login.logged_out" if out else None)
    return render(request, "login.html", None, next=_safe_next(next), notice_key=notice)


async def _login_form(request: Request) -> tuple[str, str, str]:
    """(username, password, next) of the login form, read with tight limits.

    The form is public, so nothing here may buffer much: no file parts at all
    (a multipart body with one answers 400), a few fields, small parts (the
    body limit of :mod:`hotline.web.security` bounds the whole body as well).
    """
    form = await request.form(
        max_files=0, max_fields=LOGIN_FORM_FIELDS, max_part_size=LOGIN_FORM_PART_BYTES
    )

    def field(name: str, limit: int, default: str = "") -> str:
        value = form.get(name)
        if value is None:
            return default
        if not isinstance(value, str) or len(value) > limit:
            raise ApiError(ErrorCode.VALIDATION_FAILED)
        return value

    return (
        field("username", MAX_USERNAME_CHARS),
        field("password", MAX_PASSWORD_CHARS),
        field("next", 200, "/"),
    )


@login_pages_router.post("/login", response_class=HTMLResponse, dependencies=[Depends(public())])
async def login_submit(request: Request) -> Response:
    username, password, target = "", "", "/"
    try:
        username, password, target = await _login_form(request)
        if not username.strip() or not password:
            raise ApiError(ErrorCode.INVALID_CREDENTIALS, status=422)
        result = await _log_in(request, username, password)
    except ApiError as exc:
        ctx = context_of(request)
        message = ctx.catalogue.text(f"error.{exc.code.value}", **exc.params)
        return render(
            request,
            "login.html",
            None,
            status=exc.status,
            next=_safe_next(target),
            error=message,
            username=username,
        )
    response = RedirectResponse(_safe_next(target), status_code=303)
    set_session_cookie(request, response, result)
    return response


@login_pages_router.post("/logout", include_in_schema=False)
async def logout_submit(
    request: Request, who: Annotated[Principal, Depends(authenticated())]
) -> Response:
    await _log_out(request, who)
    response = RedirectResponse("/login?out=1", status_code=303)
    clear_session_cookie(request, response)
    return response
