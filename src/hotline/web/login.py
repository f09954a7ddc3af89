"""Password login with lockout, and logout (R12a).

:func:`log_in` (blocking: run it in a thread) first records the attempt as a
failure, then checks the lockout (failures of the username, or from the
source address, within ``lockout_window_s``, this attempt included; a locked
attempt is dropped again and does not check the password), then the
argon2id hash (argon2-cffi; a username that does not exist is checked
against a dummy hash so that timing does not tell), re-hashes the password
when the hasher's parameters changed, and opens a server-side session.
Every outcome is written to the audit log and to ``login_attempts``.

Recording before counting makes the lockout hold under concurrent guesses:
the n-th attempt to be stored counts at least n failures, so at most
``lockout_user_failures`` passwords are ever checked per window, however many
requests race (checking, then verifying, then recording let all of them
through the check before any was recorded).
"""

from __future__ import annotations

import contextlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hotline.store.accounts import User
from hotline.store.audit import AuditAction
from hotline.store.web_sessions import StoredSession
from hotline.web.context import WebContext
from hotline.web.errors import ApiError, ErrorCode

__all__ = ["LoginResult", "log_in", "log_out"]

MAX_USERNAME_CHARS: Final = 64
MAX_PASSWORD_CHARS: Final = 1024
ATTEMPTS_KEPT_S: Final = (
    86400.0  # login attempts older than this are deleted (the audit log keeps them)
)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A new session: ``token`` goes into the cookie and nowhere else."""

    token: str
    session: StoredSession
    user: User


def _audit(
    ctx: WebContext, action: AuditAction, username: str, role: str, source: str, **details: object
) -> None:
    ctx.audit.append(
        at=ctx.clock.utcnow(),
        actor=username,
        role=role,
        action=action,
        object=f"user:{username}",
        details=details,
        source=source,
    )


def _locked_minutes(ctx: WebContext, username: str, source: str) -> int | None:
    """Minutes to wait, or None; counts the attempt being made (already recorded)."""
    cfg = ctx.config
    since = ctx.clock.utcnow() - timedelta(seconds=cfg.lockout_window_s)
    by_user = ctx.sessions.failures(username=username, since=since)
    by_source = ctx.sessions.failures(source=source, since=since) if source else 0
    if by_user > cfg.lockout_user_failures or by_source > cfg.lockout_source_failures:
        return max(1, math.ceil(cfg.lockout_window_s / 60))
    return None


def _verify(ctx: WebContext, user: User | None, password: str) -> bool:
    if user is None:
        with contextlib.suppress(VerificationError):
            ctx.hasher.verify(ctx.dummy_hash, password)
        return False
    try:
        return ctx.hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def log_in(
    ctx: WebContext, username: str, password: str, *, source: str, user_agent: str
) -> LoginResult:
    """Check the password and open a session, or raise :class:`ApiError` (see module doc)."""
    username = username.strip()[:MAX_USERNAME_CHARS]
    password = password[:MAX_PASSWORD_CHARS]
    now = ctx.clock.utcnow()
    attempt = ctx.sessions.record_attempt(username=username, source=source, success=False, now=now)
    minutes = _locked_minutes(ctx, username, source)
    if minutes is not None:
        ctx.sessions.forget_attempt(attempt)
        _audit(ctx, AuditAction.LOGIN_LOCKED, username, "", source)
        raise ApiError(
            ErrorCode.LOCKED_OUT,
            params={"minutes": minutes},
            headers={"Retry-After": str(int(ctx.config.lockout_window_s))},
        )
    user = ctx.sessions.user_by_username(username) if username else None
    ok = _verify(ctx, user, password) and user is not None and user.is_active
    if not ok or user is None:
        _audit(ctx, AuditAction.LOGIN_FAILED, username, "", source, known=user is not None)
        raise ApiError(ErrorCode.INVALID_CREDENTIALS)
    ctx.sessions.settle_attempt(attempt, success=True)
    if ctx.hasher.check_needs_rehash(user.password_hash):
        ctx.sessions.set_password_hash(user.id, ctx.hasher.hash(password))
    token = secrets.token_urlsafe(32)
    session = ctx.sessions.create(
        token=token,
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        now=now,
        ttl_s=ctx.config.session_ttl_s,
        source=source,
        user_agent=user_agent,
    )
    ctx.sessions.purge_expired(now, ctx.config.session_idle_s)
    keep = max(ctx.config.lockout_window_s, ATTEMPTS_KEPT_S)
    ctx.sessions.purge_attempts(now - timedelta(seconds=keep))
    _audit(ctx, AuditAction.LOGIN_SUCCEEDED, user.username, user.role, source)
    return LoginResult(token, session, user)


def log_out(ctx: WebContext, session_hash: str, username: str, role: str, source: str) -> None:
    """End the session and audit it (blocking)."""
    ctx.sessions.delete(session_hash)
    _audit(ctx, AuditAction.LOGOUT, username, role, source)
