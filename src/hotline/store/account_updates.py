"""Changes to users, operators and trunks made from the web administration.

:class:`~hotline.store.accounts.AccountsRepository` creates and lists
accounts; this repository changes them in place (disable, reset a password,
new extra permissions, an operator's skills or SIP credentials, a trunk's
settings).  Only hashes are ever stored: argon2id for users' passwords, the
digest HA1 (RFC 8760: MD5 and SHA-256) for SIP passwords.  Layer L2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from hotline.store.accounts import (
    Operator,
    Trunk,
    User,
    operator_of,
    trunk_of,
    trunk_row,
    user_of,
)
from hotline.store.db import Database
from hotline.store.models import OperatorRow, TrunkRow, UserRow

__all__ = ["AccountUpdates"]


class AccountUpdates:
    """In-place changes of accounts; each method returns False when the id is unknown."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def user(self, user_id: str) -> User | None:
        with self._db.session() as s:
            row = s.get(UserRow, user_id)
            if row is None:
                return None
            return user_of(row)

    def update_user(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        role: str | None = None,
        permissions: Sequence[str] | None = None,
        is_active: bool | None = None,
        password_hash: str | None = None,
    ) -> bool:
        with self._db.session() as s, s.begin():
            row = s.get(UserRow, user_id)
            if row is None:
                return False
            if display_name is not None:
                row.display_name = display_name
            if role is not None:
                row.role = role
            if permissions is not None:
                row.permissions = list(permissions)
            if is_active is not None:
                row.is_active = is_active
            if password_hash is not None:
                row.password_hash = password_hash
            return True

    def operator(self, operator_id: str) -> Operator | None:
        with self._db.session() as s:
            row = s.get(OperatorRow, operator_id)
            if row is None:
                return None
            return operator_of(row)

    def update_operator(
        self,
        operator_id: str,
        *,
        name: str | None = None,
        user_id: str | None = None,
        skills: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
        ha1: tuple[str, str] | None = None,
    ) -> bool:
        """``ha1`` is (MD5 HA1, SHA-256 HA1) of a new SIP password."""
        with self._db.session() as s, s.begin():
            row = s.get(OperatorRow, operator_id)
            if row is None:
                return False
            if name is not None:
                row.name = name
            if user_id is not None:
                row.user_id = user_id or None
            if skills is not None:
                row.skills = dict(skills)
            if enabled is not None:
                row.enabled = enabled
            if ha1 is not None:
                row.ha1_md5, row.ha1_sha256 = ha1
            return True

    def trunk(self, trunk_id: str) -> Trunk | None:
        with self._db.session() as s:
            row = s.scalar(select(TrunkRow).where(TrunkRow.id == trunk_id))
            if row is None:
                return None
            return trunk_of(row)

    def save_trunk(self, trunk: Trunk) -> None:
        """Insert or replace one trunk."""
        with self._db.session() as s, s.begin():
            s.merge(trunk_row(trunk))
