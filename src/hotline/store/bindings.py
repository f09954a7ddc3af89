"""Registrar bindings in the database, so that phones stay registered across a restart."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from hotline.store.db import Database
from hotline.store.models import SipBindingRow

__all__ = ["BindingsRepository", "StoredBinding"]


@dataclass(frozen=True, slots=True)
class StoredBinding:
    aor: str
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    q: float | None
    source_transport: str
    source_host: str
    source_port: int
    user_agent: str | None


class BindingsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, binding: StoredBinding) -> None:
        """Insert or replace one binding."""
        with self._db.session() as s, s.begin():
            s.merge(SipBindingRow(**{f: getattr(binding, f) for f in StoredBinding.__slots__}))

    def delete(self, aor: str, contact: str) -> None:
        with self._db.session() as s, s.begin():
            s.execute(
                delete(SipBindingRow).where(
                    SipBindingRow.aor == aor, SipBindingRow.contact == contact
                )
            )

    def live(self, now: float) -> list[StoredBinding]:
        """Bindings not expired at ``now`` (epoch seconds); expired rows are purged."""
        with self._db.session() as s, s.begin():
            s.execute(delete(SipBindingRow).where(SipBindingRow.expires_at <= now))
            rows = s.scalars(select(SipBindingRow).order_by(SipBindingRow.aor))
            return [
                StoredBinding(**{f: getattr(r, f) for f in StoredBinding.__slots__}) for r in rows
            ]
