"""Our accounts at the providers: a trunk's digest credentials and its registration.

Kept in ``trunk_credentials``, one row per trunk (migration 0014), apart from
``trunks`` so that every reader of trunks for other uses (inbound matching,
the administration's list) never carries the password.  Only
:meth:`TrunkCredentialsRepository.secrets` returns passwords, for the call
path's trunk table (``hotline.app.stored_config.stored_trunks``); the
administration reads :meth:`TrunkCredentialsRepository.logins`, which say
whether a password is set but not which.

The password is stored as given: a client answering a digest challenge
(RFC 3261 §22.2, RFC 8760) needs the password itself, not a hash of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from sqlalchemy import Boolean, ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.db import Database
from hotline.store.models import Base, TrunkRow

__all__ = [
    "DEFAULT_REGISTER_EXPIRES_S",
    "MAX_TRUNK_PASSWORD_CHARS",
    "MAX_TRUNK_USERNAME_CHARS",
    "StoredTrunkCredentials",
    "TrunkCredentialsRepository",
    "TrunkCredentialsRow",
    "TrunkLogin",
]

MAX_TRUNK_USERNAME_CHARS: Final = 128
MAX_TRUNK_PASSWORD_CHARS: Final = 256
MAX_TRUNK_REALM_CHARS: Final = 255
DEFAULT_REGISTER_EXPIRES_S: Final = 600


class TrunkCredentialsRow(Base):
    """Our user name and password at a trunk's provider, and whether we register there."""

    __tablename__ = "trunk_credentials"
    trunk_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("trunks.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(MAX_TRUNK_USERNAME_CHARS))
    password: Mapped[str] = mapped_column(String(MAX_TRUNK_PASSWORD_CHARS))
    realm: Mapped[str | None] = mapped_column(String(MAX_TRUNK_REALM_CHARS), nullable=True)
    register: Mapped[bool] = mapped_column(Boolean, default=False)
    register_expires_s: Mapped[int] = mapped_column(Integer, default=DEFAULT_REGISTER_EXPIRES_S)


@dataclass(frozen=True, slots=True)
class StoredTrunkCredentials:
    """A trunk's credentials with the password (for the call path only; never shown)."""

    trunk_id: str
    username: str
    password: str = field(repr=False)
    realm: str | None = None
    register: bool = False
    register_expires_s: int = DEFAULT_REGISTER_EXPIRES_S


@dataclass(frozen=True, slots=True)
class TrunkLogin:
    """What the administration may show of a trunk's credentials: no password."""

    trunk_id: str
    username: str
    has_password: bool
    realm: str | None
    register: bool
    register_expires_s: int


class TrunkCredentialsRepository:
    """Sets, clears and reads the trunks' credentials; returns plain dataclasses."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def set(self, credentials: StoredTrunkCredentials) -> bool:
        """Insert or replace a trunk's credentials; False: no such trunk."""
        with self._db.session() as s, s.begin():
            if s.get(TrunkRow, credentials.trunk_id) is None:
                return False
            s.merge(
                TrunkCredentialsRow(
                    trunk_id=credentials.trunk_id,
                    username=credentials.username,
                    password=credentials.password,
                    realm=credentials.realm,
                    register=credentials.register,
                    register_expires_s=credentials.register_expires_s,
                )
            )
            return True

    def clear(self, trunk_id: str) -> bool:
        """Remove a trunk's credentials (it neither answers challenges nor registers).

        True when there were some.
        """
        with self._db.session() as s, s.begin():
            row = s.get(TrunkCredentialsRow, trunk_id)
            if row is None:
                return False
            s.delete(row)
            return True

    def get(self, trunk_id: str) -> StoredTrunkCredentials | None:
        """One trunk's credentials with the password (the call path; blocking)."""
        with self._db.session() as s:
            row = s.get(TrunkCredentialsRow, trunk_id)
            return _secret(row) if row is not None else None

    def secrets(self) -> dict[str, StoredTrunkCredentials]:
        """Every trunk's credentials with the password, by trunk id (the call path only)."""
        with self._db.session() as s:
            return {r.trunk_id: _secret(r) for r in s.scalars(select(TrunkCredentialsRow))}

    def logins(self) -> dict[str, TrunkLogin]:
        """Every trunk's credentials without the password, by trunk id (the administration)."""
        with self._db.session() as s:
            return {r.trunk_id: _login(r) for r in s.scalars(select(TrunkCredentialsRow))}


def _secret(r: TrunkCredentialsRow) -> StoredTrunkCredentials:
    return StoredTrunkCredentials(
        trunk_id=r.trunk_id,
        username=r.username,
        password=r.password,
        realm=r.realm,
        register=r.register,
        register_expires_s=r.register_expires_s,
    )


def _login(r: TrunkCredentialsRow) -> TrunkLogin:
    return TrunkLogin(
        trunk_id=r.trunk_id,
        username=r.username,
        has_password=bool(r.password),
        realm=r.realm,
        register=r.register,
        register_expires_s=r.register_expires_s,
    )
