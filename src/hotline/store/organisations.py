"""The directory of organisations a call can be redirected to (R7).

An organisation of the region (a ministry's hotline, the military
commissariat, the multifunctional centre, ...) has a number reached through
the trunks, the topics it serves, and its opening hours as text for people.
The voice menu names an organisation by id (``external`` node,
:class:`~hotline.ivr.flow_nodes.ExternalTarget`); the operator's workplace
picks one by topic.  The row is registered on :data:`Base.metadata` by
importing this module (the migration environment does so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Boolean, DateTime, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from hotline.core.errors import ConfigurationError
from hotline.store.db import Database
from hotline.store.models import Base

__all__ = [
    "MAX_HOURS_CHARS",
    "MAX_TOPICS",
    "OrganisationRow",
    "OrganisationsRepository",
    "StoredOrganisation",
]

MAX_ID_CHARS: Final = 64
MAX_NAME_CHARS: Final = 200
MAX_NUMBER_CHARS: Final = 32
MAX_HOURS_CHARS: Final = 500
MAX_TOPICS: Final = 32


class OrganisationRow(Base):
    """One organisation of the directory."""

    __tablename__ = "organisations"
    organisation_id: Mapped[str] = mapped_column(String(MAX_ID_CHARS), primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_CHARS))
    number: Mapped[str] = mapped_column(String(MAX_NUMBER_CHARS))
    topics: Mapped[list[str]] = mapped_column(default=list)
    hours: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True, slots=True)
class StoredOrganisation:
    """An organisation as the rest of the system sees it (``number`` as dialled by people)."""

    organisation_id: str
    name: str
    number: str
    topics: tuple[str, ...] = field(default=())
    hours: str = ""
    enabled: bool = True

    def __post_init__(self) -> None:
        _check("organisation_id", self.organisation_id, MAX_ID_CHARS)
        _check("name", self.name, MAX_NAME_CHARS)
        _check("number", self.number, MAX_NUMBER_CHARS)
        if len(self.hours) > MAX_HOURS_CHARS:
            raise ConfigurationError("organisation.hours", f"longer than {MAX_HOURS_CHARS}")
        if len(self.topics) > MAX_TOPICS:
            raise ConfigurationError("organisation.topics", f"more than {MAX_TOPICS}")
        for topic in self.topics:
            _check("topics", topic, MAX_ID_CHARS)


def _check(what: str, value: str, limit: int) -> None:
    if not value.strip():
        raise ConfigurationError(f"organisation.{what}", "must not be empty")
    if len(value) > limit:
        raise ConfigurationError(f"organisation.{what}", f"longer than {limit}")


class OrganisationsRepository:
    """Reads and writes the directory (short sessions; plain dataclasses out)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, org: StoredOrganisation) -> None:
        """Insert or replace one organisation."""
        with self._db.session() as s, s.begin():
            s.merge(
                OrganisationRow(
                    organisation_id=org.organisation_id,
                    name=org.name,
                    number=org.number,
                    topics=list(org.topics),
                    hours=org.hours,
                    enabled=org.enabled,
                    updated_at=datetime.now(UTC),
                )
            )

    def delete(self, organisation_id: str) -> bool:
        """Remove one organisation; False when there was none."""
        with self._db.session() as s, s.begin():
            row = s.get(OrganisationRow, organisation_id)
            if row is None:
                return False
            s.delete(row)
            return True

    def clear(self) -> None:
        """Delete every organisation (``hotline init --force``)."""
        with self._db.session() as s, s.begin():
            s.execute(delete(OrganisationRow))

    def all(self) -> list[StoredOrganisation]:
        with self._db.session() as s:
            rows = s.scalars(select(OrganisationRow).order_by(OrganisationRow.organisation_id))
            return [_organisation(r) for r in rows]

    def get(self, organisation_id: str) -> StoredOrganisation | None:
        with self._db.session() as s:
            row = s.get(OrganisationRow, organisation_id)
            return _organisation(row) if row is not None else None

    def for_topic(self, topic: str) -> list[StoredOrganisation]:
        """Enabled organisations that serve ``topic`` (for the operator's redirect list)."""
        return [o for o in self.all() if o.enabled and topic in o.topics]


def _organisation(r: OrganisationRow) -> StoredOrganisation:
    return StoredOrganisation(
        r.organisation_id, r.name, r.number, tuple(r.topics), r.hours, r.enabled
    )
