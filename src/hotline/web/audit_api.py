"""Writing the audit log from routes (R13), and the auditors' API.

Routes that do something auditable call :func:`record` (or
:func:`record_recording_access`, which insists on a reason) *after* the action
succeeded::

    await record(request, who, AuditAction.CONFIG_CHANGED, object=f"queue:{qid}",
                 details={"changed": ["sl_norm_s"]})

The auditors read the chain with ``GET /api/v1/audit`` (period, actor,
action; newest first, paged by ``before``) and check it with
``GET /api/v1/audit/verify``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from hotline.store.audit import AuditAction, AuditEntry, ChainCheck
from hotline.web.auth import Principal, client_address, context_of, require
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.permissions import Permission

__all__ = [
    "AuditItem",
    "AuditListing",
    "ChainReport",
    "audit_router",
    "chain_report",
    "reason_of",
    "record",
    "record_recording_access",
]

MAX_REASON_CHARS: Final = 500
MIN_REASON_CHARS: Final = 3


async def record(
    request: Request,
    who: Principal | None,
    action: AuditAction | str,
    *,
    object: str = "",
    details: Mapping[str, Any] | None = None,
    reason: str | None = None,
    actor: str | None = None,
) -> AuditEntry:
    """Append one audit record for this request (``who`` None: an anonymous actor)."""
    ctx = context_of(request)
    return await asyncio.to_thread(
        ctx.audit.append,
        at=ctx.clock.utcnow(),
        actor=actor if actor is not None else (who.username if who else ""),
        role=who.role if who else "",
        action=str(action),
        object=object,
        details=details,
        source=client_address(request),
        reason=reason,
    )


def reason_of(reason: str | None) -> str:
    """A mandatory reason, trimmed; ``reason_required`` (400) when missing or too short."""
    text = (reason or "").strip()
    if len(text) < MIN_REASON_CHARS:
        raise ApiError(ErrorCode.REASON_REQUIRED)
    return text[:MAX_REASON_CHARS]


async def record_recording_access(
    request: Request,
    who: Principal,
    recording_id: str,
    reason: str | None,
    *,
    download: bool,
) -> AuditEntry:
    """Audit playing or downloading a recording; refuses (400) without a reason."""
    action = AuditAction.RECORDING_DOWNLOADED if download else AuditAction.RECORDING_PLAYED
    return await record(
        request, who, action, object=f"recording:{recording_id}", reason=reason_of(reason)
    )


class AuditItem(BaseModel):
    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    object: str
    details: dict[str, Any]
    source: str
    reason: str
    prev_hash: str
    hash: str


class AuditListing(BaseModel):
    items: list[AuditItem]
    next_before: int | None


class ChainReport(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    first_broken_seq: int | None
    problem: str | None


def _item(e: AuditEntry) -> AuditItem:
    return AuditItem(
        seq=e.seq,
        at=e.at,
        actor=e.actor,
        role=e.role,
        action=e.action,
        object=e.object,
        details=dict(e.details),
        source=e.source,
        reason=e.reason,
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


def chain_report(check: ChainCheck) -> ChainReport:
    return ChainReport(
        ok=check.ok,
        checked=check.checked,
        head_seq=check.head_seq,
        head_hash=check.head_hash,
        first_broken_seq=check.first_broken_seq,
        problem=check.problem,
    )


audit_router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
_AUDITOR = Depends(require(Permission.AUDIT_READ))


@audit_router.get("", response_model=AuditListing, summary="Audit records, newest first")
async def list_audit(
    request: Request,
    who: Annotated[Principal, _AUDITOR],
    since: Annotated[datetime | None, Query(description="from (inclusive), ISO 8601")] = None,
    until: Annotated[datetime | None, Query(description="to (exclusive), ISO 8601")] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditListing:
    for ts in (since, until):
        if ts is not None and ts.tzinfo is None:
            raise ApiError(ErrorCode.VALIDATION_FAILED, status=422)
    page = await asyncio.to_thread(
        context_of(request).audit.query,
        since=since,
        until=until,
        actor=actor,
        action=action,
        before=before,
        limit=limit,
    )
    return AuditListing(items=[_item(e) for e in page.items], next_before=page.next_before)


@audit_router.get("/verify", response_model=ChainReport, summary="Verify the hash chain")
async def verify_audit(request: Request, who: Annotated[Principal, _AUDITOR]) -> ChainReport:
    check = await asyncio.to_thread(context_of(request).audit.verify)
    return chain_report(check)
