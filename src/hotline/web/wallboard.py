"""The supervisor's wallboard (issue 8, item 5): live queues and operators, today's figures, alerts.

Per queue: waiting calls and the longest wait against the norm (live, from
:class:`~hotline.calls.api.QueueActions`), and today's offered / answered /
abandoned / timed-out calls and SL (docs/metrics.md definitions, computed by
:func:`hotline.reports.metrics_snapshot.realtime_snapshot` over today's
events).  Per operator: state and time in state.

Today's figures come from :class:`~hotline.web.workplace.DayFigures`
(today's events kept in memory, fed by the live sockets).

Alerts: a queue whose longest wait reaches ``wait_alert_ratio`` of its norm
(``wait_near_norm``) or the norm itself (``wait_over_norm``), and a queue
whose SL today is below ``sl_target`` (``sl_below_target``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from starlette.requests import HTTPConnection

from hotline.calls.api import QueueSnapshot as LiveQueue
from hotline.reports.metrics_snapshot import QueueSnapshot as DayQueue
from hotline.web.auth import Principal, context_of
from hotline.web.desk_models import OperatorOut, operator_out
from hotline.web.masking import mask_number, may_see_topic
from hotline.web.workplace import (
    WorkplaceSettings,
    call_actions,
    queue_actions,
    workplace_of,
)

__all__ = [
    "AlertOut",
    "QueueBoardOut",
    "WaitingOut",
    "WallboardOut",
    "alerts_for",
    "wallboard",
]

AlertKind = Literal["wait_near_norm", "wait_over_norm", "sl_below_target"]


class QueueBoardOut(BaseModel):
    queue_id: str
    name: str
    waiting: int
    longest_wait_s: float
    norm_s: float
    wait_ratio: float | None  # longest wait ÷ norm
    operators_ready: int
    operators_busy: int
    offered_today: int
    answered_today: int
    abandoned_today: int
    timed_out_today: int
    sl_today: float | None


class WaitingOut(BaseModel):
    call_id: str
    queue_id: str
    position: int
    priority: int
    waited_s: float
    number: str | None
    topic: str | None


class AlertOut(BaseModel):
    """``value`` against ``threshold``: the longest wait and the norm (s), or SL and its target."""

    kind: AlertKind
    queue_id: str
    value: float
    threshold: float


class WallboardOut(BaseModel):
    at: datetime
    sl_target: float
    wait_alert_ratio: float
    queues: list[QueueBoardOut]
    operators: list[OperatorOut]
    waiting: list[WaitingOut]
    alerts: list[AlertOut]


def alerts_for(queues: Sequence[QueueBoardOut], settings: WorkplaceSettings) -> list[AlertOut]:
    """The wallboard's alerts (see the module docstring)."""
    found: list[AlertOut] = []
    for q in queues:
        if q.waiting and q.norm_s > 0:
            ratio = q.longest_wait_s / q.norm_s
            if ratio >= 1:
                found.append(AlertOut(kind="wait_over_norm", queue_id=q.queue_id,
                                      value=round(q.longest_wait_s, 1), threshold=q.norm_s))  # fmt: skip
            elif ratio >= settings.wait_alert_ratio:
                found.append(AlertOut(kind="wait_near_norm", queue_id=q.queue_id,
                                      value=round(q.longest_wait_s, 1), threshold=q.norm_s))  # fmt: skip
        if q.sl_today is not None and q.sl_today < settings.sl_target:
            found.append(AlertOut(kind="sl_below_target", queue_id=q.queue_id,
                                  value=round(q.sl_today, 3), threshold=settings.sl_target))  # fmt: skip
    return found


def _queue(live: LiveQueue, day: DayQueue | None) -> QueueBoardOut:
    norm = live.norm_s
    return QueueBoardOut(
        queue_id=live.queue_id,
        name=live.name,
        waiting=live.waiting,
        longest_wait_s=round(live.longest_wait_s, 1),
        norm_s=norm,
        wait_ratio=round(live.longest_wait_s / norm, 3) if norm > 0 else None,
        operators_ready=live.operators_ready,
        operators_busy=live.operators_busy,
        offered_today=day.offered_today if day else 0,
        answered_today=day.answered_today if day else 0,
        abandoned_today=day.abandoned_today if day else 0,
        timed_out_today=day.timed_out_today if day else 0,
        sl_today=day.service_level_today if day else None,
    )


async def wallboard(conn: HTTPConnection, who: Principal) -> WallboardOut:
    """The whole wallboard for ``who`` (medical calls hidden per role).

    Waiting callers' numbers are always masked, whatever the viewer's
    permissions: a wallboard is a shared screen, often on the wall, and a
    supervisor steers calls by position and call id; the full number is on
    the call list (``GET /api/v1/supervisor/calls``, audited) when needed.
    """
    ctx = context_of(conn)
    place = workplace_of(conn)
    queues = queue_actions(conn)
    calls = call_actions(conn)
    now = ctx.clock.utcnow()
    live_queues = list(queues.queues())
    day = await place.day_figures().figures(
        ctx.db, now, ctx.clock.monotonic(), {q.queue_id: q.norm_s for q in live_queues}
    )
    board = [_queue(q, day.get(q.queue_id)) for q in live_queues]
    waiting = []
    for w in queues.waiting_calls():
        live = calls.live_call(w.call_id)
        topic = live.topic if live is not None else None
        if not may_see_topic(who.permissions, topic if topic is not None else w.queue_id):
            continue
        waiting.append(
            WaitingOut(
                call_id=w.call_id,
                queue_id=w.queue_id,
                position=w.position,
                priority=w.priority,
                waited_s=round(w.waited_s, 1),
                number=mask_number(w.caller_number) if w.caller_number else None,
                topic=topic,
            )
        )
    return WallboardOut(
        at=now,
        sl_target=place.settings.sl_target,
        wait_alert_ratio=place.settings.wait_alert_ratio,
        queues=board,
        operators=[operator_out(op, now) for op in queues.operators()],
        waiting=waiting,
        alerts=alerts_for(board, place.settings),
    )
