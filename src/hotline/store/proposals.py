"""The proposals register (R12e) and the stored voice-menu flows.

Proposals about the service come from citizens' calls (the operator's wrap-up
form flags one: :meth:`ProposalsRepository.add_proposal`) or are entered by
hand; each moves through the statuses of :data:`TRANSITIONS`
(new → under review → accepted / rejected → implemented).

Voice-menu flows are kept as the YAML text an administrator edited
(:class:`FlowsRepository`); the text is validated by ``hotline.ivr.flow_yaml``
before it is saved.  Both rows are registered on :data:`Base.metadata` by
importing this module (the migration environment does so).  Layer L2.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Final

from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from hotline.core.errors import ConfigurationError
from hotline.store.db import Database
from hotline.store.models import Base

__all__ = [
    "MAX_FLOW_CHARS",
    "MAX_PROPOSAL_CHARS",
    "TRANSITIONS",
    "FlowRow",
    "FlowsRepository",
    "Proposal",
    "ProposalRow",
    "ProposalStatus",
    "ProposalsRepository",
    "StoredFlow",
]

MAX_PROPOSAL_CHARS: Final = 4000
MAX_FLOW_CHARS: Final = 1_000_000
MAX_LIST: Final = 1000


class ProposalStatus(enum.StrEnum):
    NEW = "new"
    UNDER_REVIEW = "under_review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    IMPLEMENTED = "implemented"


_S = ProposalStatus

#: Allowed status changes (R12e): anything else is refused.
TRANSITIONS: Final[Mapping[ProposalStatus, frozenset[ProposalStatus]]] = MappingProxyType(
    {
        _S.NEW: frozenset({_S.UNDER_REVIEW, _S.REJECTED}),
        _S.UNDER_REVIEW: frozenset({_S.ACCEPTED, _S.REJECTED}),
        _S.ACCEPTED: frozenset({_S.IMPLEMENTED}),
        _S.REJECTED: frozenset(),
        _S.IMPLEMENTED: frozenset(),
    }
)


class ProposalRow(Base):
    """One proposal about the service."""

    __tablename__ = "proposals"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), index=True)
    topic: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # "call" or "manual"
    author: Mapped[str] = mapped_column(String(64))
    resolution: Mapped[str] = mapped_column(Text, default="")


class FlowRow(Base):
    """One voice-menu flow as YAML text."""

    __tablename__ = "ivr_flows"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    yaml_text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True, slots=True)
class Proposal:
    id: str
    created_at: datetime
    updated_at: datetime
    status: ProposalStatus
    topic: str
    text: str
    call_id: str | None
    source: str
    author: str
    resolution: str


@dataclass(frozen=True, slots=True)
class StoredFlow:
    name: str
    yaml_text: str
    updated_at: datetime
    updated_by: str


def _proposal(r: ProposalRow) -> Proposal:
    return Proposal(
        id=r.id,
        created_at=r.created_at,
        updated_at=r.updated_at,
        status=ProposalStatus(r.status),
        topic=r.topic,
        text=r.text,
        call_id=r.call_id,
        source=r.source,
        author=r.author,
        resolution=r.resolution,
    )


class ProposalsRepository:
    """The register of proposals (plain dataclasses out)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_proposal(
        self,
        *,
        text: str,
        topic: str,
        author: str,
        now: datetime,
        call_id: str | None = None,
    ) -> Proposal:
        """Register a new proposal (from a wrap-up form when ``call_id`` is given)."""
        body = text.strip()
        if not body:
            raise ConfigurationError("proposal.text", "must not be empty")
        if len(body) > MAX_PROPOSAL_CHARS:
            raise ConfigurationError("proposal.text", f"longer than {MAX_PROPOSAL_CHARS}")
        row = ProposalRow(
            id=secrets.token_hex(8),
            created_at=now,
            updated_at=now,
            status=ProposalStatus.NEW.value,
            topic=topic[:64],
            text=body,
            call_id=call_id,
            source="call" if call_id else "manual",
            author=author[:64],
            resolution="",
        )
        with self._db.session() as s, s.begin():
            s.add(row)
        return _proposal(row)

    def get(self, proposal_id: str) -> Proposal | None:
        with self._db.session() as s:
            row = s.get(ProposalRow, proposal_id)
            return _proposal(row) if row is not None else None

    def list(
        self, *, status: ProposalStatus | None = None, limit: int = MAX_LIST
    ) -> list[Proposal]:
        stmt = select(ProposalRow).order_by(ProposalRow.created_at.desc(), ProposalRow.id)
        if status is not None:
            stmt = stmt.where(ProposalRow.status == status.value)
        with self._db.session() as s:
            return [_proposal(r) for r in s.scalars(stmt.limit(min(limit, MAX_LIST)))]

    def set_status(
        self, proposal_id: str, status: ProposalStatus, *, now: datetime, resolution: str = ""
    ) -> Proposal | None:
        """Move a proposal on; None when unknown; ConfigurationError for a refused step."""
        with self._db.session() as s, s.begin():
            row = s.get(ProposalRow, proposal_id)
            if row is None:
                return None
            current = ProposalStatus(row.status)
            if status not in TRANSITIONS[current]:
                raise ConfigurationError(
                    "proposal.status", f"{current.value} cannot become {status.value}"
                )
            row.status = status.value
            row.updated_at = now
            if resolution:
                row.resolution = resolution[:MAX_PROPOSAL_CHARS]
            return _proposal(row)


class FlowsRepository:
    """Stored voice-menu flows (YAML text, validated by the caller)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, name: str, yaml_text: str, *, updated_by: str, now: datetime) -> StoredFlow:
        if len(yaml_text) > MAX_FLOW_CHARS:
            raise ConfigurationError("flow", f"longer than {MAX_FLOW_CHARS}")
        with self._db.session() as s, s.begin():
            s.merge(FlowRow(name=name, yaml_text=yaml_text, updated_at=now, updated_by=updated_by))
        return StoredFlow(name, yaml_text, now, updated_by)

    def get(self, name: str) -> StoredFlow | None:
        with self._db.session() as s:
            row = s.get(FlowRow, name)
            if row is None:
                return None
            return StoredFlow(row.name, row.yaml_text, row.updated_at, row.updated_by)

    def names(self) -> list[str]:
        with self._db.session() as s:
            return list(s.scalars(select(FlowRow.name).order_by(FlowRow.name)))
