"""Wrap-up records: what the operator wrote down after a call (issue 8, R12e).

One row per saved wrap-up form: the call, the operator, the topic, an
outcome code, free-text notes and whether the call carried a proposal about
the service.  Proposals flagged here are the input of the proposals register
(R12e): :meth:`WrapupRepository.proposals` lists them and
:meth:`WrapupRepository.set_proposal_status` moves them through the register's
statuses.

Layer L2: a database adapter; rows never leave this module, the repository
returns frozen dataclasses.  The row is registered on :data:`Base.metadata` by
importing this module (the migration environment does so).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from hotline.core.errors import ConfigurationError
from hotline.store.db import Database
from hotline.store.models import Base

__all__ = [
    "MAX_NOTES_CHARS",
    "PROPOSAL_NEW",
    "Wrapup",
    "WrapupInput",
    "WrapupRepository",
    "WrapupRow",
]

MAX_ID_CHARS: Final = 64
MAX_CODE_CHARS: Final = 32
MAX_NOTES_CHARS: Final = 4000
MAX_IN_CHUNK: Final = 500
PROPOSAL_NEW: Final = "new"
"""The status a flagged proposal enters the register with."""


class WrapupRow(Base):
    """One saved wrap-up form (only inserted; a proposal's status may change)."""

    __tablename__ = "wrapups"
    __table_args__ = (
        Index("ix_wrapups_call", "call_id"),
        Index("ix_wrapups_operator_at", "operator_id", "at_ms"),
        Index("ix_wrapups_proposal_at", "proposal", "at_ms"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at_ms: Mapped[int] = mapped_column(BigInteger)
    call_id: Mapped[str] = mapped_column(String(MAX_ID_CHARS))
    operator_id: Mapped[str] = mapped_column(String(MAX_ID_CHARS))
    username: Mapped[str] = mapped_column(String(MAX_ID_CHARS))
    topic: Mapped[str | None] = mapped_column(String(MAX_ID_CHARS), nullable=True)
    outcome: Mapped[str] = mapped_column(String(MAX_CODE_CHARS))
    notes: Mapped[str] = mapped_column(Text)
    proposal: Mapped[bool] = mapped_column(Boolean)
    proposal_status: Mapped[str | None] = mapped_column(String(MAX_CODE_CHARS), nullable=True)


@dataclass(frozen=True, slots=True)
class WrapupInput:
    """What the wrap-up form sends (validated on creation)."""

    call_id: str
    operator_id: str
    username: str
    topic: str | None
    outcome: str
    notes: str = ""
    proposal: bool = False

    def __post_init__(self) -> None:
        for what, value, limit in (
            ("call_id", self.call_id, MAX_ID_CHARS),
            ("operator_id", self.operator_id, MAX_ID_CHARS),
            ("username", self.username, MAX_ID_CHARS),
            ("outcome", self.outcome, MAX_CODE_CHARS),
        ):
            if not value or len(value) > limit:
                raise ConfigurationError(f"wrapup.{what}", f"must be 1..{limit} characters")
        if self.topic is not None and not 0 < len(self.topic) <= MAX_ID_CHARS:
            raise ConfigurationError("wrapup.topic", f"must be 1..{MAX_ID_CHARS} characters")
        if len(self.notes) > MAX_NOTES_CHARS:
            raise ConfigurationError("wrapup.notes", f"at most {MAX_NOTES_CHARS} characters")


@dataclass(frozen=True, slots=True)
class Wrapup:
    """A stored wrap-up record."""

    id: int
    at: datetime
    call_id: str
    operator_id: str
    username: str
    topic: str | None
    outcome: str
    notes: str
    proposal: bool
    proposal_status: str | None


def _ms(at: datetime) -> int:
    if at.tzinfo is None:
        raise ConfigurationError("wrapup.at", "must be an aware datetime")
    return int(at.timestamp() * 1000)


def _wrapup(r: WrapupRow) -> Wrapup:
    return Wrapup(
        id=r.id,
        at=datetime.fromtimestamp(r.at_ms / 1000, tz=UTC),
        call_id=r.call_id,
        operator_id=r.operator_id,
        username=r.username,
        topic=r.topic,
        outcome=r.outcome,
        notes=r.notes,
        proposal=r.proposal,
        proposal_status=r.proposal_status,
    )


class WrapupRepository:
    """Writes and reads wrap-up records (short sessions; blocking: call in a thread)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, form: WrapupInput, at: datetime) -> Wrapup:
        """Store one form; a flagged proposal enters the register as ``new``."""
        row = WrapupRow(
            at_ms=_ms(at),
            call_id=form.call_id,
            operator_id=form.operator_id,
            username=form.username,
            topic=form.topic,
            outcome=form.outcome,
            notes=form.notes,
            proposal=form.proposal,
            proposal_status=PROPOSAL_NEW if form.proposal else None,
        )
        with self._db.session() as s, s.begin():
            s.add(row)
            s.flush()
            return _wrapup(row)

    def for_calls(self, call_ids: Iterable[str]) -> list[Wrapup]:
        """Every record of the given calls, oldest first."""
        ids = sorted(set(call_ids))
        found: list[Wrapup] = []
        with self._db.session() as s:
            for i in range(0, len(ids), MAX_IN_CHUNK):
                stmt = select(WrapupRow).where(WrapupRow.call_id.in_(ids[i : i + MAX_IN_CHUNK]))
                found.extend(_wrapup(r) for r in s.scalars(stmt))
        found.sort(key=lambda w: (w.at, w.id))
        return found

    def proposals(
        self,
        since: datetime,
        until: datetime,
        *,
        statuses: Sequence[str] | None = None,
        limit: int = 500,
    ) -> list[Wrapup]:
        """Records flagged as a proposal about the service in ``[since, until)``, newest first."""
        stmt = select(WrapupRow).where(
            WrapupRow.proposal.is_(True),
            WrapupRow.at_ms >= _ms(since),
            WrapupRow.at_ms < _ms(until),
        )
        if statuses is not None:
            stmt = stmt.where(WrapupRow.proposal_status.in_(list(statuses)))
        stmt = stmt.order_by(WrapupRow.at_ms.desc(), WrapupRow.id.desc()).limit(limit)
        with self._db.session() as s:
            return [_wrapup(r) for r in s.scalars(stmt)]

    def set_proposal_status(self, wrapup_id: int, status: str) -> bool:
        """Move a proposal to ``status``; False when there is no such proposal."""
        if not status or len(status) > MAX_CODE_CHARS:
            raise ConfigurationError("wrapup.proposal_status", f"1..{MAX_CODE_CHARS} characters")
        stmt = (
            update(WrapupRow)
            .where(WrapupRow.id == wrapup_id, WrapupRow.proposal.is_(True))
            .values(proposal_status=status)
        )
        with self._db.session() as s, s.begin():
            return bool(getattr(s.execute(stmt), "rowcount", 0))
