"""The audit log (R13): append-only, with a keyed hash chain (HMAC-SHA256).

Who did what, when, from where and why: logins and logouts, configuration
changes, recording play and download (with a mandatory reason), exports,
views of personal data, retention deletions.  Each row carries

``seq`` (gap-free from 1), ``at`` (whole milliseconds since the epoch),
``actor``, ``role``, ``action``, ``object``, ``details`` (a JSON object),
``source`` (the client address), ``reason``, ``prev_hash`` and
``hash = HMAC-SHA256(key, prev_hash || canonical JSON of the other fields)``
(RFC 2104), where the canonical JSON has sorted keys, no spaces and UTF-8
text (:func:`canonical_row`).  The first row's ``prev_hash`` is
:data:`GENESIS_HASH` (64 zeros).

The key is the node's, kept outside the database: :func:`audit_chain_key`
derives it from the node secret (``HMAC-SHA256(secret, "audit-chain")``, a
key used for nothing else).  Someone who can write to the database but
cannot read the secret file can therefore neither edit a row and recompute
the hashes after it, nor forge new rows.  The migration also adds triggers
that refuse ``UPDATE`` and ``DELETE`` on ``audit_log`` (SQLite and
PostgreSQL), so the application's own database user cannot change history by
mistake; dropping them needs the schema owner and still leaves the chain to
catch the change.  Without a key (``key=None``) the chain is keyed with the
empty key: for tests and tools only; a node always passes its key.

Appends are serialised: inside the process by a lock, across processes by
the primary key (``seq`` is ``max + 1`` read in the same transaction, so two
writers that raced for the same ``seq`` cannot both commit: the loser gets an
integrity error, or a busy snapshot on SQLite, and retries on the new head).
The chain therefore never forks, on SQLite or PostgreSQL.

:meth:`AuditLog.verify` walks the chain and names the first broken link: an
edited row (its hash no longer matches), a removed or inserted row (a gap in
``seq`` or a ``prev_hash`` that is not the previous row's hash).  Removing
rows from the *end* of the chain leaves a valid shorter chain; an external
anchor (the last hash written elsewhere, e.g. in the feed or a printed
report) detects that, and :meth:`AuditLog.head` gives it.

Layer L2: the clock is the caller's (``at`` is an argument).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, Index, String, Text, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.db import Database
from hotline.store.events import from_ms, to_ms
from hotline.store.models import Base

__all__ = [
    "AUDIT_KEY_LABEL",
    "GENESIS_HASH",
    "MAX_PAGE",
    "AuditAction",
    "AuditEntry",
    "AuditLog",
    "AuditPage",
    "AuditRow",
    "ChainCheck",
    "audit_chain_key",
    "canonical_row",
    "chain_hash",
]

GENESIS_HASH: Final = "0" * 64
AUDIT_KEY_LABEL: Final = b"audit-chain"
MAX_PAGE: Final = 500
MAX_TEXT: Final = 2000
MAX_DETAILS_CHARS: Final = 16_000
_VERIFY_BATCH: Final = 1000
_APPEND_DEADLINE_S: Final = 30.0
_APPEND_FIRST_BACKOFF_S: Final = 0.002
_APPEND_MAX_BACKOFF_S: Final = 0.1
_PG_APPEND_LOCK: Final = 0x48_6F_74_6C_31_32_32  # "Hotl122": the audit chain's advisory lock


class AuditAction(enum.StrEnum):
    """The actions the application writes (the column takes any short string)."""

    LOGIN_SUCCEEDED = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGIN_LOCKED = "auth.login_locked"
    LOGOUT = "auth.logout"
    SESSION_EXPIRED = "auth.session_expired"
    CONFIG_CHANGED = "config.changed"
    RECORDING_PLAYED = "recording.played"
    RECORDING_DOWNLOADED = "recording.downloaded"
    EXPORTED = "report.exported"
    PERSONAL_DATA_VIEWED = "personal_data.viewed"
    RETENTION_RECORDING_DELETED = "retention.recording_deleted"
    RETENTION_NUMBERS_MASKED = "retention.numbers_masked"
    RETENTION_TEXTS_ERASED = "retention.texts_erased"


class AuditRow(Base):
    """One audit record; rows are only ever inserted."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at_ms"),
        Index("ix_audit_log_actor", "actor"),
        Index("ix_audit_log_action", "action"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(String(255))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON text, hashed as stored
    source: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored audit record."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    object: str
    details: Mapping[str, Any]
    source: str
    reason: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Newest first; ``next_before`` continues the listing (None: no more)."""

    items: tuple[AuditEntry, ...]
    next_before: int | None


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The result of :meth:`AuditLog.verify`."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None = None
    problem: str | None = None


def _canonical(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text; values JSON lacks (datetimes, ...) as ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_row(
    *,
    seq: int,
    at_ms: int,
    actor: str,
    role: str,
    action: str,
    object: str,
    details: str,
    source: str,
    reason: str,
) -> bytes:
    """The bytes hashed for one row (``details`` is already canonical JSON text)."""
    fields = {
        "seq": seq,
        "at_ms": at_ms,
        "actor": actor,
        "role": role,
        "action": action,
        "object": object,
        "details": details,
        "source": source,
        "reason": reason,
    }
    return _canonical(fields).encode("utf-8")


def audit_chain_key(secret: bytes) -> bytes:
    """The audit chain's key, derived from the node secret (used for nothing else)."""
    return hmac.new(secret, AUDIT_KEY_LABEL, hashlib.sha256).digest()


def chain_hash(key: bytes, prev_hash: str, row: bytes) -> str:
    """``HMAC-SHA256(key, prev_hash || row)`` as lowercase hex (RFC 2104)."""
    return hmac.new(key, prev_hash.encode("ascii") + row, hashlib.sha256).hexdigest()


def _clip(text: str | None, limit: int = MAX_TEXT) -> str:
    return (text or "")[:limit]


def _entry(r: AuditRow) -> AuditEntry:
    try:
        details = json.loads(r.details)
    except ValueError:
        details = {"unreadable": r.details[:200]}
    return AuditEntry(
        seq=r.seq,
        at=from_ms(r.at_ms),
        actor=r.actor,
        role=r.role,
        action=r.action,
        object=r.object,
        details=details if isinstance(details, dict) else {"value": details},
        source=r.source,
        reason=r.reason,
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


def _row_hash(key: bytes, r: AuditRow) -> str:
    row = canonical_row(
        seq=r.seq,
        at_ms=r.at_ms,
        actor=r.actor,
        role=r.role,
        action=r.action,
        object=r.object,
        details=r.details,
        source=r.source,
        reason=r.reason,
    )
    return chain_hash(key, r.prev_hash, row)


class AuditLog:
    """Appends to, reads and verifies the audit chain (see the module docstring)."""

    def __init__(self, db: Database, key: bytes | None = None) -> None:
        self._db = db
        self._key = key if key is not None else b""
        self._lock = threading.Lock()
        self._jitter = random.Random()  # back-off spread between competing writers

    def append(
        self,
        *,
        at: datetime,
        actor: str,
        role: str,
        action: str,
        object: str = "",
        details: Mapping[str, Any] | None = None,
        source: str = "",
        reason: str | None = None,
    ) -> AuditEntry:
        """Append one record at the head of the chain and return it (blocking)."""
        if at.tzinfo is None:
            raise ValueError("at must be an aware datetime")
        text = _canonical(dict(details or {}))
        if len(text) > MAX_DETAILS_CHARS:
            text = _canonical({"truncated": text[:MAX_DETAILS_CHARS]})
        fields = {
            "at_ms": to_ms(at),
            "actor": _clip(actor, 64),
            "role": _clip(role, 32),
            "action": _clip(action, 64),
            "object": _clip(object, 255),
            "details": text,
            "source": _clip(source, 64),
            "reason": _clip(reason),
        }
        with self._lock:
            # Another writer (another process, another engine) may take this seq first,
            # or SQLite may refuse the upgrade of our read to a write at once
            # (SQLITE_BUSY without waiting, to avoid a deadlock): back off with jitter
            # and retry on the new head until the deadline; a record is never dropped
            # because of contention alone.
            deadline = time.monotonic() + _APPEND_DEADLINE_S
            delay = _APPEND_FIRST_BACKOFF_S
            while True:
                try:
                    return self._append_once(fields)
                except (IntegrityError, OperationalError):
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(delay * (0.5 + self._jitter.random()))
                    delay = min(delay * 2, _APPEND_MAX_BACKOFF_S)

    def _append_once(self, fields: dict[str, Any]) -> AuditEntry:
        with self._db.session() as s, s.begin():
            if s.get_bind().dialect.name == "postgresql":
                # Writers in other processes queue here until this transaction ends,
                # so two of them never read the same head (no fork, no lost record).
                s.execute(select(func.pg_advisory_xact_lock(_PG_APPEND_LOCK)))
            head = s.execute(
                select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
            ).first()
            seq, prev = (head[0] + 1, head[1]) if head is not None else (1, GENESIS_HASH)
            row = AuditRow(seq=seq, prev_hash=prev, hash="", **fields)
            row.hash = _row_hash(self._key, row)
            s.add(row)
            s.flush()
            return _entry(row)

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record; (0, GENESIS_HASH) when empty."""
        with self._db.session() as s:
            head = s.execute(
                select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)
            ).first()
        return (head[0], head[1]) if head is not None else (0, GENESIS_HASH)

    def count(self) -> int:
        with self._db.session() as s:
            return int(s.scalar(select(func.count()).select_from(AuditRow)) or 0)

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> AuditPage:
        """Records newest first, filtered by period ``[since, until)``, actor and action."""
        limit = max(1, min(limit, MAX_PAGE))
        stmt = select(AuditRow)
        if since is not None:
            stmt = stmt.where(AuditRow.at_ms >= to_ms(since))
        if until is not None:
            stmt = stmt.where(AuditRow.at_ms < to_ms(until))
        if actor:
            stmt = stmt.where(AuditRow.actor == actor)
        if action:
            stmt = stmt.where(AuditRow.action == action)
        if before is not None:
            stmt = stmt.where(AuditRow.seq < before)
        stmt = stmt.order_by(AuditRow.seq.desc()).limit(limit + 1)
        with self._db.session() as s:
            rows = list(s.scalars(stmt))
        more = len(rows) > limit
        items = tuple(_entry(r) for r in rows[:limit])
        return AuditPage(items, items[-1].seq if more and items else None)

    def verify(self) -> ChainCheck:
        """Walk the whole chain; report the first broken link (blocking)."""
        expected_seq, prev = 1, GENESIS_HASH
        checked = 0
        with self._db.session() as s:
            while True:
                rows = list(
                    s.scalars(
                        select(AuditRow)
                        .where(AuditRow.seq >= expected_seq)
                        .order_by(AuditRow.seq)
                        .limit(_VERIFY_BATCH)
                    )
                )
                if not rows:
                    break
                for r in rows:
                    problem = None
                    if r.seq != expected_seq:
                        problem = f"record {expected_seq} is missing (next is {r.seq})"
                    elif r.prev_hash != prev:
                        problem = "prev_hash does not match the previous record"
                    elif not hmac.compare_digest(_row_hash(self._key, r), r.hash):
                        problem = "the record's content does not match its hash"
                    if problem is not None:
                        return ChainCheck(
                            False, checked, expected_seq - 1, prev, expected_seq, problem
                        )
                    checked += 1
                    expected_seq, prev = r.seq + 1, r.hash
        return ChainCheck(True, checked, expected_seq - 1, prev)
