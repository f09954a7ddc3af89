"""The operator desk's REST API (issue 8, item 4): ``/api/v1/desk/...``.

Every route needs ``calls.control`` and acts for the operator account of the
logged-in user (409 ``conflict`` when the user has none).  The controls act
on the operator's own call only (another call answers 404), through
:class:`~hotline.calls.api.CallActions` and
:class:`~hotline.calls.api.QueueActions`; a refusal becomes 404/409 with a
Russian message (:mod:`hotline.web.errors`).  Viewing a call card (the
caller's number and history) is audited as ``personal_data.viewed``.

The wrap-up form stores a record (:mod:`hotline.store.wrapups`; flagged
proposals feed the R12e register) and ends the operator's wrap-up.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from hotline.calls.api import (
    ActionRefusal,
    CallActionError,
    LiveCall,
    OperatorSnapshot,
    TransferTarget,
)
from hotline.core.ids import CallId, OperatorId
from hotline.store.audit import AuditAction
from hotline.store.event_queries import EventQueries
from hotline.store.wrapups import WrapupInput, WrapupRepository
from hotline.web.audit_api import record
from hotline.web.auth import Principal, context_of, require
from hotline.web.desk_card import card_data, search_answers, search_organisations
from hotline.web.desk_models import (
    AnswerOut,
    CallCardOut,
    DialIn,
    DialOut,
    LiveCallOut,
    OperatorOut,
    OrganisationOut,
    StateIn,
    TargetIn,
    TargetsOut,
    WrapupIn,
    WrapupOut,
    live_call_out,
    operator_out,
)
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.masking import may_see_topic
from hotline.web.no_content import NO_CONTENT, no_content, post_no_content
from hotline.web.permissions import Permission
from hotline.web.workplace import (
    apply_operator_state,
    call_actions,
    queue_actions,
    require_operator,
    workplace_of,
)

__all__ = ["DeskStateOut", "build_card", "desk_router", "operator_snapshot"]

_CONTROL = Depends(require(Permission.CALLS_CONTROL))
_Q = Annotated[str | None, Query(max_length=100)]
_TOPIC = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]

desk_router = APIRouter(prefix="/api/v1/desk", tags=["desk"])


class DeskStateOut(BaseModel):
    """The operator's state, the current call and the desk's lists (codes)."""

    operator: OperatorOut
    call: LiveCallOut | None
    reasons: list[str]
    outcomes: list[str]


def operator_snapshot(request: Request, operator_id: OperatorId) -> OperatorSnapshot:
    """The operator's live state (404 when the ACD does not know it)."""
    for op in queue_actions(request).operators():
        if op.operator_id == operator_id:
            return op
    raise ApiError(ErrorCode.NOT_FOUND)


def _current_call(request: Request, op: OperatorSnapshot) -> LiveCall | None:
    calls = call_actions(request)
    if op.call_id is not None:
        found = calls.live_call(op.call_id)
        if found is not None:
            return found
    mine = [c for c in calls.live_calls() if c.operator_id == op.operator_id]
    return mine[0] if mine else None


async def _state(request: Request, who: Principal, operator_id: OperatorId) -> DeskStateOut:
    op = operator_snapshot(request, operator_id)
    call = _current_call(request, op)
    settings = workplace_of(request).settings
    now = context_of(request).clock.utcnow()
    return DeskStateOut(
        operator=operator_out(op, now),
        call=live_call_out(who.permissions, call) if call is not None else None,
        reasons=list(settings.not_ready_reasons),
        outcomes=list(settings.outcome_codes),
    )


async def _own_call(
    request: Request, who: Principal, call_id: str, *, control: bool = False
) -> LiveCall:
    """The live call ``call_id`` if it is the operator's (offered or answered), else 404.

    ``control``: the call must be connected to the operator right now.  The
    call the operator wraps up after a transfer is still "theirs" to view
    (the ACD names it until wrap-up ends) but it waits in another queue or
    talks with someone else: controls on it answer 404.
    """
    operator_id = await require_operator(request, who)
    call = call_actions(request).live_call(CallId(call_id))
    if call is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    if call.operator_id == operator_id:
        return call
    if control or operator_snapshot(request, operator_id).call_id != call.call_id:
        raise ApiError(ErrorCode.NOT_FOUND)
    return call


async def build_card(conn: HTTPConnection, who: Principal, call: LiveCall) -> CallCardOut:
    """The call card of ``call`` for ``who`` (store reads in a thread)."""
    ctx = context_of(conn)
    settings = workplace_of(conn).settings
    data = await asyncio.to_thread(
        card_data,
        ctx.db,
        call,
        now=ctx.clock.utcnow(),
        history_days=settings.history_days,
        history_limit=settings.history_limit,
        may_see=lambda topic: may_see_topic(who.permissions, topic),
    )
    return CallCardOut(
        call=live_call_out(who.permissions, call),
        wait_s=data.wait_s,
        via_assistant=data.via_assistant,
        transcript=data.transcript,
        earlier_calls=list(data.earlier_calls),
        callbacks=list(data.callbacks),
        answers=list(data.answers),
    )


@desk_router.get("/state", response_model=DeskStateOut, summary="The operator's state")
async def get_state(request: Request, who: Annotated[Principal, _CONTROL]) -> DeskStateOut:
    return await _state(request, who, await require_operator(request, who))


@desk_router.post("/state", response_model=DeskStateOut, summary="Set ready / not ready / out")
async def set_state(
    request: Request, body: StateIn, who: Annotated[Principal, _CONTROL]
) -> DeskStateOut:
    operator_id = await require_operator(request, who)
    reason: str | None = None
    if body.state == "not_ready":
        if body.reason not in workplace_of(request).settings.not_ready_reasons:
            raise ApiError(ErrorCode.VALIDATION_FAILED)
        reason = body.reason
    apply_operator_state(request, operator_id, body.state, reason)  # the same state: a no-op
    return await _state(request, who, operator_id)


async def _card_of(request: Request, who: Principal, call: LiveCall) -> CallCardOut:
    card = await build_card(request, who, call)
    await record(
        request, who, AuditAction.PERSONAL_DATA_VIEWED, object=f"call:{call.call_id}",
        details={"view": "call_card"},
    )  # fmt: skip
    return card


@desk_router.get("/call", response_model=CallCardOut, summary="The card of the current call")
async def current_card(request: Request, who: Annotated[Principal, _CONTROL]) -> CallCardOut:
    operator_id = await require_operator(request, who)
    call = _current_call(request, operator_snapshot(request, operator_id))
    if call is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    return await _card_of(request, who, call)


@desk_router.get("/calls/{call_id}", response_model=CallCardOut, summary="One own call's card")
async def call_card(
    request: Request, call_id: str, who: Annotated[Principal, _CONTROL]
) -> CallCardOut:
    return await _card_of(request, who, await _own_call(request, who, call_id))


def _control(name: str, summary: str) -> None:
    async def action(request: Request, call_id: str, who: Principal = _CONTROL) -> Response:
        call = await _own_call(request, who, call_id, control=True)
        calls = call_actions(request)
        {
            "hold": calls.hold,
            "resume": calls.resume,
            "hangup": calls.hang_up,
            "consult/complete": calls.complete_transfer,
            "consult/cancel": calls.cancel_consult,
        }[name](call.call_id)
        return no_content()

    action.__name__ = f"desk_{name.replace('/', '_')}"
    desk_router.add_api_route(
        f"/calls/{{call_id}}/{name}",
        action,
        methods=["POST"],
        status_code=NO_CONTENT,
        response_class=Response,
        summary=summary,
    )


_control("hold", "Put the caller on hold")
_control("resume", "Take the caller off hold")
_control("hangup", "Hang up the call")
_control("consult/complete", "Attended transfer: join the caller with the consulted party")
_control("consult/cancel", "Attended transfer: drop the consultation")


@post_no_content(
    desk_router,
    "/calls/{call_id}/transfer",
    "Blind transfer to an operator, a queue or an organisation",
)
async def transfer(
    request: Request, call_id: str, body: TargetIn, who: Annotated[Principal, _CONTROL]
) -> Response:
    call = await _own_call(request, who, call_id, control=True)
    call_actions(request).transfer_blind(call.call_id, TransferTarget(body.kind, body.id))
    return no_content()


@post_no_content(
    desk_router,
    "/calls/{call_id}/consult",
    "Attended transfer: hold the caller and ring the target",
)
async def consult(
    request: Request, call_id: str, body: TargetIn, who: Annotated[Principal, _CONTROL]
) -> Response:
    call = await _own_call(request, who, call_id, control=True)
    call_actions(request).consult(call.call_id, TransferTarget(body.kind, body.id))
    return no_content()


@desk_router.post("/dial", response_model=DialOut, summary="Outbound call from the desk")
async def dial(request: Request, body: DialIn, who: Annotated[Principal, _CONTROL]) -> DialOut:
    operator_id = await require_operator(request, who)
    number = "".join(c for c in body.number if c.isdigit() or c == "+")
    call_id = call_actions(request).dial_out(operator_id, number)
    return DialOut(call_id=call_id)


@desk_router.get("/targets", response_model=TargetsOut, summary="Ready operators and queues")
async def targets(request: Request, who: Annotated[Principal, _CONTROL]) -> TargetsOut:
    operator_id = await require_operator(request, who)
    queues = queue_actions(request)
    now = context_of(request).clock.utcnow()
    ready = [
        operator_out(op, now)
        for op in queues.operators()
        if op.state == "ready" and op.operator_id != operator_id
    ]
    return TargetsOut(operators=ready, queues=[q.queue_id for q in queues.queues()])


@desk_router.get(
    "/organisations", response_model=list[OrganisationOut], summary="Search the directory"
)
async def organisations(
    request: Request, who: Annotated[Principal, _CONTROL], q: _Q = None, topic: _TOPIC = None
) -> list[OrganisationOut]:
    return await asyncio.to_thread(search_organisations, context_of(request).db, q, topic)


@desk_router.get("/answers", response_model=list[AnswerOut], summary="Search standard answers")
async def answers(
    request: Request, who: Annotated[Principal, _CONTROL], q: _Q = None, topic: _TOPIC = None
) -> list[AnswerOut]:
    return await asyncio.to_thread(search_answers, context_of(request).db, q, topic)


def _handled_by(db_events: EventQueries, call_id: str, operator_id: str) -> bool:
    return any(e.operator_id == operator_id for e in db_events.of_calls([call_id]))


@desk_router.post("/wrapup", response_model=WrapupOut, summary="Save the wrap-up form")
async def wrapup(
    request: Request, body: WrapupIn, who: Annotated[Principal, _CONTROL]
) -> WrapupOut:
    ctx = context_of(request)
    operator_id = await require_operator(request, who)
    if body.outcome not in workplace_of(request).settings.outcome_codes:
        raise ApiError(ErrorCode.VALIDATION_FAILED)
    live = call_actions(request).live_call(CallId(body.call_id))
    if live is None or live.operator_id != operator_id:
        handled = await asyncio.to_thread(
            _handled_by, EventQueries(ctx.db), body.call_id, operator_id
        )
        if not handled:
            raise ApiError(ErrorCode.NOT_FOUND)
    form = WrapupInput(
        call_id=body.call_id,
        operator_id=operator_id,
        username=who.username,
        topic=body.topic or (live.topic if live is not None else None),
        outcome=body.outcome,
        notes=body.notes.strip(),
        proposal=body.proposal,
    )
    saved = await asyncio.to_thread(WrapupRepository(ctx.db).add, form, ctx.clock.utcnow())
    ended = True
    try:
        queue_actions(request).wrapup_done(operator_id)
    except CallActionError as exc:  # wrap-up already over (its timer, or a new state)
        if exc.refusal is not ActionRefusal.WRONG_STATE:
            raise
        ended = False
    return WrapupOut(id=saved.id, call_id=saved.call_id, wrapup_ended=ended)
