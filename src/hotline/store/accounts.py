"""Repositories for people and SIP accounts: users, operators, trunks.

An operator may have a fixed contact URI (a desk phone that does not
register, R4 "fixed SIP URIs"): kept in ``operator_contacts``, one row per
such operator (registered on :data:`Base.metadata` by importing this module;
migration 0013).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.db import Database
from hotline.store.models import Base, MetaRow, OperatorRow, TrunkRow, UserRow

__all__ = [
    "MAX_CONTACT_URI_CHARS",
    "AccountsRepository",
    "Operator",
    "OperatorContactRow",
    "Trunk",
    "User",
    "operator_of",
    "trunk_of",
    "trunk_row",
    "user_of",
]

MAX_CONTACT_URI_CHARS = 255


class OperatorContactRow(Base):
    """The fixed contact URI of an operator whose phone does not register."""

    __tablename__ = "operator_contacts"
    operator_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    contact_uri: Mapped[str] = mapped_column(String(MAX_CONTACT_URI_CHARS))


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    display_name: str
    role: str
    permissions: tuple[str, ...]
    password_hash: str
    is_active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Operator:
    id: str
    name: str
    user_id: str | None
    sip_username: str
    sip_realm: str
    ha1_md5: str
    ha1_sha256: str
    skills: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    contact_uri: str | None = None  # a fixed SIP URI, used when the phone has no registration


@dataclass(frozen=True, slots=True)
class Trunk:
    id: str
    name: str
    host: str
    port: int
    transport: str
    trusted_networks: tuple[str, ...]
    inbound_numbers: tuple[str, ...]
    max_calls: int
    enabled: bool = True


class AccountsRepository:
    """Reads and writes users, operators and trunks; returns plain dataclasses."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add_user(self, user: User) -> None:
        with self._db.session() as s, s.begin():
            s.add(
                UserRow(
                    id=user.id,
                    username=user.username,
                    display_name=user.display_name,
                    role=user.role,
                    permissions=list(user.permissions),
                    password_hash=user.password_hash,
                    is_active=user.is_active,
                    created_at=user.created_at,
                )
            )

    def add_operator(self, op: Operator) -> None:
        with self._db.session() as s, s.begin():
            s.add(
                OperatorRow(
                    id=op.id,
                    name=op.name,
                    user_id=op.user_id,
                    sip_username=op.sip_username,
                    sip_realm=op.sip_realm,
                    ha1_md5=op.ha1_md5,
                    ha1_sha256=op.ha1_sha256,
                    skills=dict(op.skills),
                    enabled=op.enabled,
                )
            )
            if op.contact_uri is not None:
                s.flush()  # the operator's row first: the contact refers to it
                s.add(OperatorContactRow(operator_id=op.id, contact_uri=op.contact_uri))

    def set_operator_contact(self, operator_id: str, contact_uri: str | None) -> bool:
        """Set (or with None clear) an operator's fixed contact URI; False: no such operator."""
        with self._db.session() as s, s.begin():
            if s.get(OperatorRow, operator_id) is None:
                return False
            row = s.get(OperatorContactRow, operator_id)
            if contact_uri is None:
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(OperatorContactRow(operator_id=operator_id, contact_uri=contact_uri))
            else:
                row.contact_uri = contact_uri
            return True

    def add_trunk(self, trunk: Trunk) -> None:
        with self._db.session() as s, s.begin():
            s.add(trunk_row(trunk))

    def users(self) -> list[User]:
        with self._db.session() as s:
            return [user_of(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]

    def user_by_username(self, username: str) -> User | None:
        with self._db.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username))
            return user_of(row) if row is not None else None

    def operators(self) -> list[Operator]:
        with self._db.session() as s:
            contacts = {c.operator_id: c.contact_uri for c in s.scalars(select(OperatorContactRow))}
            rows = s.scalars(select(OperatorRow).order_by(OperatorRow.sip_username))
            return [operator_of(r, contacts.get(r.id)) for r in rows]

    def operator_by_sip_username(self, username: str) -> Operator | None:
        with self._db.session() as s:
            row = s.scalar(select(OperatorRow).where(OperatorRow.sip_username == username))
            if row is None:
                return None
            contact = s.get(OperatorContactRow, row.id)
            return operator_of(row, contact.contact_uri if contact is not None else None)

    def trunks(self) -> list[Trunk]:
        with self._db.session() as s:
            return [trunk_of(r) for r in s.scalars(select(TrunkRow).order_by(TrunkRow.name))]

    def clear(self) -> None:
        """Delete every account (used by ``hotline init --force``)."""
        with self._db.session() as s, s.begin():
            for model in (OperatorContactRow, OperatorRow, UserRow, TrunkRow):
                s.execute(delete(model))

    def set_meta(self, key: str, value: str) -> None:
        with self._db.session() as s, s.begin():
            s.merge(MetaRow(key=key, value=value))

    def get_meta(self, key: str) -> str | None:
        with self._db.session() as s:
            row = s.get(MetaRow, key)
            return row.value if row is not None else None


def user_of(r: UserRow) -> User:
    """The plain record of a user row."""
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


def operator_of(r: OperatorRow, contact_uri: str | None = None) -> Operator:
    """The plain record of an operator row (with its fixed contact URI, if any)."""
    return Operator(
        id=r.id,
        name=r.name,
        user_id=r.user_id,
        sip_username=r.sip_username,
        sip_realm=r.sip_realm,
        ha1_md5=r.ha1_md5,
        ha1_sha256=r.ha1_sha256,
        skills=dict(r.skills),
        enabled=r.enabled,
        contact_uri=contact_uri,
    )


def trunk_of(r: TrunkRow) -> Trunk:
    """The plain record of a trunk row."""
    return Trunk(
        id=r.id,
        name=r.name,
        host=r.host,
        port=r.port,
        transport=r.transport,
        trusted_networks=tuple(r.trusted_networks),
        inbound_numbers=tuple(r.inbound_numbers),
        max_calls=r.max_calls,
        enabled=r.enabled,
    )


def trunk_row(trunk: Trunk) -> TrunkRow:
    """The row that stores ``trunk``."""
    return TrunkRow(
        id=trunk.id,
        name=trunk.name,
        host=trunk.host,
        port=trunk.port,
        transport=trunk.transport,
        trusted_networks=list(trunk.trusted_networks),
        inbound_numbers=list(trunk.inbound_numbers),
        max_calls=trunk.max_calls,
        enabled=trunk.enabled,
    )
