"""Repositories for people and SIP accounts: users, operators, trunks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from hotline.store.db import Database
from hotline.store.models import MetaRow, OperatorRow, TrunkRow, UserRow

__all__ = ["AccountsRepository", "Operator", "Trunk", "User"]


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

    def add_trunk(self, trunk: Trunk) -> None:
        with self._db.session() as s, s.begin():
            s.add(
                TrunkRow(
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
            )

    def users(self) -> list[User]:
        with self._db.session() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]

    def user_by_username(self, username: str) -> User | None:
        with self._db.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.username == username))
            return _user(row) if row is not None else None

    def operators(self) -> list[Operator]:
        with self._db.session() as s:
            rows = s.scalars(select(OperatorRow).order_by(OperatorRow.sip_username))
            return [_operator(r) for r in rows]

    def operator_by_sip_username(self, username: str) -> Operator | None:
        with self._db.session() as s:
            row = s.scalar(select(OperatorRow).where(OperatorRow.sip_username == username))
            return _operator(row) if row is not None else None

    def trunks(self) -> list[Trunk]:
        with self._db.session() as s:
            return [_trunk(r) for r in s.scalars(select(TrunkRow).order_by(TrunkRow.name))]

    def clear(self) -> None:
        """Delete every account (used by ``hotline init --force``)."""
        with self._db.session() as s, s.begin():
            for model in (OperatorRow, UserRow, TrunkRow):
                s.execute(delete(model))

    def set_meta(self, key: str, value: str) -> None:
        with self._db.session() as s, s.begin():
            s.merge(MetaRow(key=key, value=value))

    def get_meta(self, key: str) -> str | None:
        with self._db.session() as s:
            row = s.get(MetaRow, key)
            return row.value if row is not None else None


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


def _operator(r: OperatorRow) -> Operator:
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
    )


def _trunk(r: TrunkRow) -> Trunk:
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
