"""The supervisor's REST API (issue 8, item 5): ``/api/v1/supervisor/...``.

* ``GET wallboard`` (``queues.view``): :mod:`hotline.web.wallboard`;
* ``GET calls`` (``queues.view``): live calls (numbers masked per role,
  medical calls only with ``medical_secrecy``);
* queue control (R8d, ``queues.control``): move a waiting call to another
  queue, change its priority, offer it to an operator next, set an
  operator's state;
* monitoring (``monitor``): listen / whisper / barge with the supervisor's
  own phone (the operator account of the logged-in user), and stop it.

Every control and monitoring action is audited after it succeeded; a
refused action answers 404/409 with a Russian message.
"""

from __future__ import annotations

import enum
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from hotline.calls.api import MonitorMode
from hotline.core.ids import CallId, OperatorId, QueueId
from hotline.store.audit import AuditAction
from hotline.web.audit_api import record
from hotline.web.auth import Principal, require
from hotline.web.desk_models import LiveCallOut, live_call_out
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.masking import mask_number, may_see_topic
from hotline.web.no_content import no_content, post_no_content
from hotline.web.permissions import Permission
from hotline.web.wallboard import WallboardOut, wallboard
from hotline.web.workplace import (
    apply_operator_state,
    call_actions,
    queue_actions,
    require_operator,
    workplace_of,
)

__all__ = ["SupervisorAudit", "supervisor_router"]

_VIEW = Depends(require(Permission.QUEUES_VIEW))
MAX_AUDITED_CALLS: Final = 200  # call ids named in one personal_data.viewed record
_CONTROL = Depends(require(Permission.QUEUES_CONTROL))
_MONITOR = Depends(require(Permission.MONITOR))
_ID = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@+-]+$")]

supervisor_router = APIRouter(prefix="/api/v1/supervisor", tags=["supervisor"])


class SupervisorAudit(enum.StrEnum):
    """Audit actions of the supervisor's controls (R13)."""

    CALL_MOVED = "queue.call_moved"
    CALL_PRIORITY = "queue.call_priority"
    CALL_ASSIGNED = "queue.call_assigned"
    OPERATOR_STATE = "operator.state_set"
    MONITOR_STARTED = "call.monitor_started"
    MONITOR_STOPPED = "call.monitor_stopped"


class MoveIn(BaseModel):
    queue_id: _ID


class PriorityIn(BaseModel):
    priority: Annotated[int, Field(ge=0, le=100)]


class AssignIn(BaseModel):
    operator_id: _ID


class OperatorStateIn(BaseModel):
    state: Literal["ready", "not_ready", "logged_out"]
    reason: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$")] | None = (
        None
    )


class MonitorIn(BaseModel):
    mode: MonitorMode


class MonitorOut(BaseModel):
    session_id: str
    call_id: str
    mode: MonitorMode


@supervisor_router.get("/wallboard", response_model=WallboardOut, summary="The live wallboard")
async def get_wallboard(request: Request, who: Annotated[Principal, _VIEW]) -> WallboardOut:
    return await wallboard(request, who)


@supervisor_router.get("/calls", response_model=list[LiveCallOut], summary="Live calls")
async def live_calls(request: Request, who: Annotated[Principal, _VIEW]) -> list[LiveCallOut]:
    """Live calls; full numbers (``personal_data.view``) are audited once per request."""
    visible = [
        c for c in call_actions(request).live_calls() if may_see_topic(who.permissions, c.topic)
    ]
    out = [live_call_out(who.permissions, c) for c in visible]
    full = who.has(Permission.PERSONAL_DATA_VIEW)  # otherwise every number is masked
    shown = [o.call_id for o in out if full and o.number and mask_number(o.number) != o.number]
    if shown:
        await record(
            request,
            who,
            AuditAction.PERSONAL_DATA_VIEWED,
            object="calls",
            details={"view": "live_calls", "calls": shown[:MAX_AUDITED_CALLS]},
        )
    return out


async def _audited(
    request: Request,
    who: Principal,
    action: SupervisorAudit,
    object_: str,
    details: dict[str, object],
) -> Response:
    """Audit a queue action done by ``who`` and answer 204."""
    await record(request, who, action, object=object_, details=details)
    return no_content()


@post_no_content(supervisor_router, "/calls/{call_id}/move", "Move a waiting call")
async def move_call(
    request: Request, call_id: str, body: MoveIn, who: Annotated[Principal, _CONTROL]
) -> Response:
    queue_actions(request).move_call(CallId(call_id), QueueId(body.queue_id))
    return await _audited(
        request, who, SupervisorAudit.CALL_MOVED, f"call:{call_id}", {"queue_id": body.queue_id}
    )


@post_no_content(supervisor_router, "/calls/{call_id}/priority", "Change a waiting call's priority")
async def set_priority(
    request: Request, call_id: str, body: PriorityIn, who: Annotated[Principal, _CONTROL]
) -> Response:
    queue_actions(request).set_call_priority(CallId(call_id), body.priority)
    return await _audited(
        request, who, SupervisorAudit.CALL_PRIORITY, f"call:{call_id}", {"priority": body.priority}
    )


@post_no_content(
    supervisor_router, "/calls/{call_id}/assign", "Offer a waiting call to an operator next"
)
async def assign_call(
    request: Request, call_id: str, body: AssignIn, who: Annotated[Principal, _CONTROL]
) -> Response:
    queue_actions(request).assign_call(CallId(call_id), OperatorId(body.operator_id))
    return await _audited(
        request,
        who,
        SupervisorAudit.CALL_ASSIGNED,
        f"call:{call_id}",
        {"operator_id": body.operator_id},
    )


@post_no_content(supervisor_router, "/operators/{operator_id}/state", "Set an operator's state")
async def set_operator_state(
    request: Request, operator_id: str, body: OperatorStateIn, who: Annotated[Principal, _CONTROL]
) -> Response:
    reason = body.reason
    if body.state == "not_ready" and reason not in workplace_of(request).settings.not_ready_reasons:
        reason = "supervisor"
    changed = apply_operator_state(request, OperatorId(operator_id), body.state, reason)
    return await _audited(
        request,
        who,
        SupervisorAudit.OPERATOR_STATE,
        f"operator:{operator_id}",
        {"state": body.state, "reason": reason, "changed": changed},
    )


@supervisor_router.post(
    "/calls/{call_id}/monitor", response_model=MonitorOut, summary="Listen, whisper or barge"
)
async def monitor(
    request: Request, call_id: str, body: MonitorIn, who: Annotated[Principal, _MONITOR]
) -> MonitorOut:
    calls = call_actions(request)
    call = calls.live_call(CallId(call_id))
    if call is None or not may_see_topic(who.permissions, call.topic):
        raise ApiError(ErrorCode.NOT_FOUND)
    supervisor_id = await require_operator(request, who)
    session_id = calls.monitor(call.call_id, supervisor_id, body.mode)
    await record(request, who, SupervisorAudit.MONITOR_STARTED, object=f"call:{call_id}",
                 details={"mode": body.mode.value, "session_id": session_id})  # fmt: skip
    return MonitorOut(session_id=session_id, call_id=call.call_id, mode=body.mode)


@post_no_content(supervisor_router, "/monitor/{session_id}/stop", "End a monitoring session")
async def stop_monitor(
    request: Request, session_id: str, who: Annotated[Principal, _MONITOR]
) -> Response:
    if len(session_id) > 128:
        raise ApiError(ErrorCode.NOT_FOUND)
    call_actions(request).stop_monitor(session_id)
    await record(request, who, SupervisorAudit.MONITOR_STOPPED, object=f"monitor:{session_id}")
    return no_content()
