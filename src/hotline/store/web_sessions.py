"""Web sessions and login attempts (server-side state of the web workplace's auth).

``web_sessions``: one row per logged-in browser.  The cookie carries a random
token; only its SHA-256 is stored (``token_hash``, the primary key), so a copy
of the database does not let anyone log in.  A row has its absolute expiry,
the time it was last seen (idle expiry), the client address and user agent,
and the per-session CSRF token.

``login_attempts``: every password check, successful or not, with the
username tried and the source address; lockout counts the failures of a
username or of an address within a time window (:meth:`WebSessionStore.failures`).

Times are whole milliseconds since the epoch; the caller passes ``now``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.accounts import User
from hotline.store.db import Database
from hotline.store.events import from_ms, to_ms
from hotline.store.models import Base, UserRow

__all__ = [
    "LoginAttemptRow",
    "StoredSession",
    "WebSessionRow",
    "WebSessionStore",
    "token_hash",
]

MAX_USER_AGENT: Final = 255
MAX_ADDRESS: Final = 64
MAX_USERNAME: Final = 64


def token_hash(token: str) -> str:
    """The stored form of a session token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class WebSessionRow(Base):
    """One logged-in browser."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    expires_at_ms: Mapped[int] = mapped_column(BigInteger)
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    user_agent: Mapped[str] = mapped_column(String(MAX_USER_AGENT))


class LoginAttemptRow(Base):
    """One password check."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at_ms"),
        Index("ix_login_attempts_source_at", "source", "at_ms"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at_ms: Mapped[int] = mapped_column(BigInteger)
    username: Mapped[str] = mapped_column(String(MAX_USERNAME))
    source: Mapped[str] = mapped_column(String(MAX_ADDRESS))
    success: Mapped[bool] = mapped_column(Boolean)


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A session as stored (the token itself is never stored)."""

    token_hash: str
    user_id: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen: datetime
    source: str
    user_agent: str


def _session(r: WebSessionRow) -> StoredSession:
    return StoredSession(
        token_hash=r.token_hash,
        user_id=r.user_id,
        csrf_token=r.csrf_token,
        created_at=from_ms(r.created_at_ms),
        expires_at=from_ms(r.expires_at_ms),
        last_seen=from_ms(r.last_seen_ms),
        source=r.source,
        user_agent=r.user_agent,
    )


def _user(r: UserRow) -> User:
    return User(
        id=r.id,
        username=r.username,
        display_name=r.display_name,
        role=r.role,
        permissions=tuple(r.permissions),
        password_hash=r.password_hash,
        is_active=r.is_active,
        created_at=r.created_at,
    )


class WebSessionStore:
    """Sessions, login attempts and the two user updates login needs (blocking calls)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- users -------------------------------------------------------------------
    def user_by_username(self, username: str) -> User | None:
        with self._db.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username))
            return _user(row) if row is not None else None

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Store a re-hashed password (argon2 parameters changed)."""
        with self._db.session() as s, s.begin():
            s.execute(
                update(UserRow).where(UserRow.id == user_id).values(password_hash=password_hash)
            )

    # -- sessions ----------------------------------------------------------------
    def create(
        self,
        *,
        token: str,
        user_id: str,
        csrf_token: str,
        now: datetime,
        ttl_s: float,
        source: str,
        user_agent: str,
    ) -> StoredSession:
        row = WebSessionRow(
            token_hash=token_hash(token),
            user_id=user_id,
            csrf_token=csrf_token,
            created_at_ms=to_ms(now),
            expires_at_ms=to_ms(now + timedelta(seconds=ttl_s)),
            last_seen_ms=to_ms(now),
            source=source[:MAX_ADDRESS],
            user_agent=user_agent[:MAX_USER_AGENT],
        )
        with self._db.session() as s, s.begin():
            s.add(row)
        return _session(row)

    def lookup(self, token: str) -> tuple[StoredSession, User] | None:
        """The session of ``token`` and its user, expired or not; None when unknown."""
        with self._db.session() as s:
            found = s.execute(
                select(WebSessionRow, UserRow)
                .join(UserRow, UserRow.id == WebSessionRow.user_id)
                .where(WebSessionRow.token_hash == token_hash(token))
            ).first()
            if found is None:
                return None
            return _session(found[0]), _user(found[1])

    def lookup_hash(self, hashed: str) -> tuple[StoredSession, User] | None:
        """Like :meth:`lookup`, by the stored hash (a live socket re-checking its session)."""
        with self._db.session() as s:
            found = s.execute(
                select(WebSessionRow, UserRow)
                .join(UserRow, UserRow.id == WebSessionRow.user_id)
                .where(WebSessionRow.token_hash == hashed)
            ).first()
            if found is None:
                return None
            return _session(found[0]), _user(found[1])

    def touch(self, hashed: str, now: datetime) -> None:
        """Record that the session was used at ``now``."""
        with self._db.session() as s, s.begin():
            s.execute(
                update(WebSessionRow)
                .where(WebSessionRow.token_hash == hashed)
                .values(last_seen_ms=to_ms(now))
            )

    def delete(self, hashed: str) -> bool:
        with self._db.session() as s, s.begin():
            result = s.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == hashed))
            return bool(getattr(result, "rowcount", 0))

    def delete_user_sessions(self, user_id: str) -> int:
        """Log a user out everywhere (password change, account disabled)."""
        with self._db.session() as s, s.begin():
            result = s.execute(delete(WebSessionRow).where(WebSessionRow.user_id == user_id))
            return int(getattr(result, "rowcount", 0))

    def purge_expired(self, now: datetime, idle_s: float) -> int:
        """Delete sessions past their expiry or idle longer than ``idle_s``."""
        limit = to_ms(now)
        idle_limit = to_ms(now - timedelta(seconds=idle_s))
        with self._db.session() as s, s.begin():
            result = s.execute(
                delete(WebSessionRow).where(
                    (WebSessionRow.expires_at_ms <= limit)
                    | (WebSessionRow.last_seen_ms <= idle_limit)
                )
            )
            return int(getattr(result, "rowcount", 0))

    def sessions_of(self, user_id: str) -> list[StoredSession]:
        with self._db.session() as s:
            rows = s.scalars(
                select(WebSessionRow)
                .where(WebSessionRow.user_id == user_id)
                .order_by(WebSessionRow.created_at_ms)
            )
            return [_session(r) for r in rows]

    # -- login attempts ----------------------------------------------------------
    def record_attempt(self, *, username: str, source: str, success: bool, now: datetime) -> int:
        """Store one attempt; returns its id (see :meth:`settle_attempt`)."""
        row = LoginAttemptRow(
            at_ms=to_ms(now),
            username=username[:MAX_USERNAME],
            source=source[:MAX_ADDRESS],
            success=success,
        )
        with self._db.session() as s, s.begin():
            s.add(row)
            s.flush()
            return int(row.id)

    def settle_attempt(self, attempt_id: int, *, success: bool) -> None:
        """Mark an attempt recorded (as failed) before its password was checked."""
        with self._db.session() as s, s.begin():
            s.execute(
                update(LoginAttemptRow)
                .where(LoginAttemptRow.id == attempt_id)
                .values(success=success)
            )

    def forget_attempt(self, attempt_id: int) -> None:
        """Drop an attempt that was refused by the lockout (it checked no password)."""
        with self._db.session() as s, s.begin():
            s.execute(delete(LoginAttemptRow).where(LoginAttemptRow.id == attempt_id))

    def failures(
        self, *, username: str | None = None, source: str | None = None, since: datetime
    ) -> int:
        """Failed attempts since ``since`` (for a username: only after its last success)."""
        start = to_ms(since)
        with self._db.session() as s:
            stmt = select(func.count()).select_from(LoginAttemptRow)
            stmt = stmt.where(LoginAttemptRow.success.is_(False))
            if username is not None:
                last_ok = s.scalar(
                    select(func.max(LoginAttemptRow.at_ms))
                    .where(LoginAttemptRow.username == username[:MAX_USERNAME])
                    .where(LoginAttemptRow.success.is_(True))
                )
                if last_ok is not None:
                    start = max(start, int(last_ok) + 1)
                stmt = stmt.where(LoginAttemptRow.username == username[:MAX_USERNAME])
            if source is not None:
                stmt = stmt.where(LoginAttemptRow.source == source[:MAX_ADDRESS])
            stmt = stmt.where(LoginAttemptRow.at_ms >= start)
            return int(s.scalar(stmt) or 0)

    def purge_attempts(self, before: datetime) -> int:
        with self._db.session() as s, s.begin():
            result = s.execute(delete(LoginAttemptRow).where(LoginAttemptRow.at_ms < to_ms(before)))
            return int(getattr(result, "rowcount", 0))
