"""Administration of the organisations directory, the standard answers and the proposals register.

The proposals register (R12e) shows two sources as one list: proposals the
operators flagged on the wrap-up form (:mod:`hotline.store.wrapups`, ids
``w-<n>``) and proposals entered here by hand (:mod:`hotline.store.proposals`,
ids ``m-<hex>``).  Both move through the same statuses
(:data:`~hotline.store.proposals.TRANSITIONS`); a refused step answers 409.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from hotline.core.errors import ConfigurationError
from hotline.store.audit import AuditAction
from hotline.store.kb import StandardAnswersRepository, StoredAnswer
from hotline.store.organisations import OrganisationsRepository, StoredOrganisation
from hotline.store.proposals import TRANSITIONS, Proposal, ProposalsRepository, ProposalStatus
from hotline.store.wrapups import WrapupRepository
from hotline.web.admin_common import ADMIN_CONFIG, Applied, blocking, invalid
from hotline.web.admin_live import live_of
from hotline.web.audit_api import record
from hotline.web.auth import Principal, context_of
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.masking import mask_numbers_in_text, may_see_topic
from hotline.web.permissions import Permission

__all__ = [
    "AnswerIn",
    "AnswerOut",
    "OrganisationIn",
    "OrganisationOut",
    "ProposalIn",
    "ProposalOut",
    "StatusIn",
    "admin_directory_router",
    "register_entries",
]

ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
TOPIC_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_REGISTER: Final = 500


class OrganisationOut(BaseModel):
    organisation_id: str
    name: str
    number: str
    topics: list[str]
    hours: str
    enabled: bool


class OrganisationIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    number: str = Field(pattern=r"^\+?[0-9]{2,20}$")
    topics: list[Annotated[str, Field(pattern=TOPIC_PATTERN)]] = Field(
        default_factory=list, max_length=32
    )
    hours: str = Field(default="", max_length=500)
    enabled: bool = True


class AnswerOut(BaseModel):
    id: str
    topic: str
    title: str
    questions: list[str]
    answer: str
    escalate: bool
    enabled: bool
    updated_by: str | None


class AnswerIn(BaseModel):
    topic: str = Field(pattern=TOPIC_PATTERN)
    title: str = Field(min_length=1, max_length=200)
    questions: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        min_length=1, max_length=50
    )
    answer: str = Field(min_length=1, max_length=4000)
    escalate: bool = False
    enabled: bool = True


class ProposalOut(BaseModel):
    id: str
    created_at: datetime
    status: ProposalStatus
    topic: str
    text: str
    call_id: str | None
    source: str
    author: str
    resolution: str


class ProposalIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    topic: str = Field(default="general", pattern=TOPIC_PATTERN)


class StatusIn(BaseModel):
    status: ProposalStatus
    resolution: str = Field(default="", max_length=4000)


admin_directory_router = APIRouter(prefix="/api/v1/admin", tags=["admin"])
ItemId = Annotated[str, Path(pattern=ID_PATTERN)]


# -- organisations -----------------------------------------------------------------------


@admin_directory_router.get(
    "/organisations", response_model=list[OrganisationOut], summary="Organisations directory"
)
async def list_organisations(
    request: Request, who: Annotated[Principal, ADMIN_CONFIG]
) -> list[OrganisationOut]:
    found = await blocking(OrganisationsRepository(context_of(request).db).all)
    return [
        OrganisationOut(
            organisation_id=o.organisation_id,
            name=o.name,
            number=o.number,
            topics=list(o.topics),
            hours=o.hours,
            enabled=o.enabled,
        )
        for o in found
    ]


@admin_directory_router.put(
    "/organisations/{organisation_id}", response_model=Applied, summary="Create or change one"
)
async def put_organisation(
    request: Request,
    organisation_id: ItemId,
    body: OrganisationIn,
    who: Annotated[Principal, ADMIN_CONFIG],
) -> Applied | JSONResponse:
    try:
        org = StoredOrganisation(
            organisation_id=organisation_id,
            name=body.name,
            number=body.number,
            topics=tuple(body.topics),
            hours=body.hours,
            enabled=body.enabled,
        )
    except ConfigurationError as exc:
        return invalid(request, exc)
    await blocking(OrganisationsRepository(context_of(request).db).save, org)
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"organisation:{organisation_id}",
        details=body.model_dump(mode="json"),
    )
    # The operator desk reads the directory from the database; redirects re-read it.
    return Applied(applied=True, restart_needed=not await _reload_directory(request))


@admin_directory_router.delete(
    "/organisations/{organisation_id}", response_model=Applied, summary="Remove one"
)
async def delete_organisation(
    request: Request, organisation_id: ItemId, who: Annotated[Principal, ADMIN_CONFIG]
) -> Applied:
    removed = await blocking(
        OrganisationsRepository(context_of(request).db).delete, organisation_id
    )
    if not removed:
        raise ApiError(ErrorCode.NOT_FOUND)
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"organisation:{organisation_id}",
        details={"deleted": True},
    )
    return Applied(applied=True, restart_needed=not await _reload_directory(request))


async def _reload_directory(request: Request) -> bool:
    """The running node's redirects take the directory as stored now (False: no node)."""
    live = live_of(request)
    return await blocking(live.reload_directory) if live is not None else False


# -- standard answers --------------------------------------------------------------------


def _answer_out(a: StoredAnswer) -> AnswerOut:
    return AnswerOut(
        id=a.id,
        topic=a.topic,
        title=a.title,
        questions=list(a.questions),
        answer=a.answer,
        escalate=a.escalate,
        enabled=a.enabled,
        updated_by=a.updated_by,
    )


@admin_directory_router.get("/answers", response_model=list[AnswerOut], summary="Standard answers")
async def list_answers(
    request: Request,
    who: Annotated[Principal, ADMIN_CONFIG],
    topic: Annotated[str | None, Query(pattern=TOPIC_PATTERN)] = None,
) -> list[AnswerOut]:
    found = await blocking(StandardAnswersRepository(context_of(request).db).list, topic=topic)
    return [_answer_out(a) for a in found]


@admin_directory_router.put(
    "/answers/{answer_id}", response_model=Applied, summary="Create or change a standard answer"
)
async def put_answer(
    request: Request, answer_id: ItemId, body: AnswerIn, who: Annotated[Principal, ADMIN_CONFIG]
) -> Applied | JSONResponse:
    ctx = context_of(request)
    try:
        answer = StoredAnswer(
            id=answer_id,
            topic=body.topic,
            title=body.title,
            questions=tuple(body.questions),
            answer=body.answer,
            escalate=body.escalate,
            enabled=body.enabled,
        )
    except ConfigurationError as exc:
        return invalid(request, exc)
    repo = StandardAnswersRepository(ctx.db)
    await blocking(repo.upsert, answer, updated_by=who.username, now=ctx.clock.utcnow())
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"answer:{answer_id}",
        details={"topic": body.topic, "title": body.title, "enabled": body.enabled},
    )
    # The desk searches the database; the voice assistant's matcher is rebuilt.
    return Applied(applied=True, restart_needed=not _reload_answers(request))


@admin_directory_router.post(
    "/answers/{answer_id}/disable", response_model=Applied, summary="Take an answer out of use"
)
async def disable_answer(
    request: Request, answer_id: ItemId, who: Annotated[Principal, ADMIN_CONFIG]
) -> Applied:
    ctx = context_of(request)
    repo = StandardAnswersRepository(ctx.db)
    done = await blocking(repo.disable, answer_id, updated_by=who.username, now=ctx.clock.utcnow())
    if not done:
        raise ApiError(ErrorCode.NOT_FOUND)
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"answer:{answer_id}",
        details={"enabled": False},
    )
    return Applied(applied=True, restart_needed=not _reload_answers(request))


def _reload_answers(request: Request) -> bool:
    """Ask the running node to rebuild the assistant's matcher (in the background)."""
    live = live_of(request)
    return live.reload_answers() if live is not None else False


# -- proposals register ------------------------------------------------------------------


def _manual_out(p: Proposal) -> ProposalOut:
    """The register entry of a manually registered proposal."""
    return ProposalOut(
        id=f"m-{p.id}",
        created_at=p.created_at,
        status=p.status,
        topic=p.topic,
        text=p.text,
        call_id=p.call_id,
        source=p.source,
        author=p.author,
        resolution=p.resolution,
    )


def register_entries(
    request: Request,
    status: ProposalStatus | None,
    permissions: frozenset[Permission] | None = None,
) -> list[ProposalOut]:
    """Manual and wrap-up proposals, newest first (blocking).

    With the viewer's ``permissions`` the wrap-up proposals are filtered as
    every other view of calls is: one from a medical call is left out without
    ``medical_secrecy``; without ``personal_data.view`` its call id is
    withheld and numbers in the operator's notes are masked.  ``None``: the
    unfiltered list (internal use: moving a proposal on).
    """
    ctx = context_of(request)
    entries = [
        _manual_out(p) for p in ProposalsRepository(ctx.db).list(status=status, limit=MAX_REGISTER)
    ]
    until = ctx.clock.utcnow() + timedelta(days=1)
    statuses = [status.value] if status is not None else None
    for w in WrapupRepository(ctx.db).proposals(_EPOCH, until, statuses=statuses):
        raw = w.proposal_status or ProposalStatus.NEW.value
        known = raw in {s.value for s in ProposalStatus}
        personal = permissions is None or Permission.PERSONAL_DATA_VIEW in permissions
        if permissions is not None and not may_see_topic(permissions, w.topic):
            continue
        entries.append(
            ProposalOut(
                id=f"w-{w.id}",
                created_at=w.at,
                status=ProposalStatus(raw) if known else ProposalStatus.NEW,
                topic=w.topic or "",
                text=w.notes if personal else mask_numbers_in_text(w.notes),
                call_id=w.call_id if personal else None,
                source="call",
                author=w.username,
                resolution="",
            )
        )
    entries.sort(key=lambda e: e.created_at.astimezone(UTC), reverse=True)
    return entries[:MAX_REGISTER]


@admin_directory_router.get(
    "/proposals", response_model=list[ProposalOut], summary="The proposals register (R12e)"
)
async def list_proposals(
    request: Request,
    who: Annotated[Principal, ADMIN_CONFIG],
    status: ProposalStatus | None = None,
) -> list[ProposalOut]:
    return await blocking(register_entries, request, status, who.permissions)


@admin_directory_router.post(
    "/proposals", response_model=ProposalOut, status_code=201, summary="Register a proposal"
)
async def add_proposal(
    request: Request, body: ProposalIn, who: Annotated[Principal, ADMIN_CONFIG]
) -> ProposalOut:
    ctx = context_of(request)
    p = await blocking(
        ProposalsRepository(ctx.db).add_proposal,
        text=body.text,
        topic=body.topic,
        author=who.username,
        now=ctx.clock.utcnow(),
    )
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"proposal:m-{p.id}",
        details={"created": True, "topic": p.topic},
    )
    return _manual_out(p)


def _move(request: Request, proposal_id: str, body: StatusIn) -> bool | None:
    """True moved, False refused step, None unknown (blocking)."""
    ctx = context_of(request)
    kind, _, raw = proposal_id.partition("-")
    if kind == "m":
        try:
            moved = ProposalsRepository(ctx.db).set_status(
                raw, body.status, now=ctx.clock.utcnow(), resolution=body.resolution
            )
        except ConfigurationError:
            return False
        return None if moved is None else True
    if kind != "w" or not raw.isdigit() or len(raw) > 18:
        return None
    repo = WrapupRepository(ctx.db)
    current = next((e for e in register_entries(request, None) if e.id == proposal_id), None)
    if current is None:
        return None
    if body.status not in TRANSITIONS[current.status]:
        return False
    return repo.set_proposal_status(int(raw), body.status.value) or None


@admin_directory_router.post(
    "/proposals/{proposal_id}/status", response_model=Applied, summary="Move a proposal on"
)
async def set_proposal_status(
    request: Request,
    proposal_id: Annotated[str, Path(pattern=r"^[mw]-[0-9a-f]{1,18}$")],
    body: StatusIn,
    who: Annotated[Principal, ADMIN_CONFIG],
) -> Applied:
    moved = await blocking(_move, request, proposal_id, body)
    if moved is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    if not moved:
        raise ApiError(ErrorCode.CONFLICT)
    await record(
        request,
        who,
        AuditAction.CONFIG_CHANGED,
        object=f"proposal:{proposal_id}",
        details={"status": body.status.value, "resolution": body.resolution},
    )
    return Applied(applied=True)
