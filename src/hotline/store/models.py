"""ORM models (typed ``Mapped`` columns).  Schema changes go through Alembic
migrations in ``hotline/store/migrations``; a test checks that the models and
the migrations agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "MetaRow", "OperatorRow", "QueueRow", "SipBindingRow", "TrunkRow", "UserRow"]


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[str]: JSON}


class MetaRow(Base):
    """Small facts about the installation (schema flags, demo loaded, ...)."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class UserRow(Base):
    """A person who logs in to the web workplace."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    permissions: Mapped[list[str]] = mapped_column(default=list)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OperatorRow(Base):
    """An operator: a SIP account for the phone, skills, and the web user."""

    __tablename__ = "operators"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    sip_username: Mapped[str] = mapped_column(String(64), unique=True)
    sip_realm: Mapped[str] = mapped_column(String(128))
    # Digest HA1 hashes (RFC 8760): passwords themselves are never stored.
    ha1_md5: Mapped[str] = mapped_column(String(32))
    ha1_sha256: Mapped[str] = mapped_column(String(64))
    skills: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class TrunkRow(Base):
    """A SIP trunk of a telecom operator (or the demo's local test trunk)."""

    __tablename__ = "trunks"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8))
    trusted_networks: Mapped[list[str]] = mapped_column(default=list)
    inbound_numbers: Mapped[list[str]] = mapped_column(default=list)
    max_calls: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class SipBindingRow(Base):
    """A registered contact of an operator's phone (survives a restart)."""

    __tablename__ = "sip_bindings"
    aor: Mapped[str] = mapped_column(String(128), primary_key=True)
    contact: Mapped[str] = mapped_column(String(512), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float)  # epoch seconds
    call_id: Mapped[str] = mapped_column(String(255))
    cseq: Mapped[int] = mapped_column(Integer)
    q: Mapped[float | None] = mapped_column(Float, nullable=True)
    source_transport: Mapped[str] = mapped_column(String(8))
    source_host: Mapped[str] = mapped_column(String(64))
    source_port: Mapped[int] = mapped_column(Integer)
    user_agent: Mapped[str | None] = mapped_column(String(255), nullable=True)


class QueueRow(Base):
    """A queue's ACD configuration, kept as the mapping ``acd.sim_config`` validates."""

    __tablename__ = "queues"
    queue_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
