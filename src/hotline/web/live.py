"""The live socket ``/api/v1/live`` (issue 8): events and snapshots as JSON messages.

Permission ``calls.view`` (checked at the handshake by ``require_ws``).  A
connection receives

* ``{"type": "hello", "operator_id", "supervisor", "interval_s"}`` once;
* ``{"type": "event", "kind", "call_id", ...}`` for every call-centre event
  it may see (:mod:`hotline.web.live_events`: supervisors everything,
  operators their own), as soon as the event is published on the bus;
* every ``snapshot_interval_s``: operators a ``desk`` message (their state
  and current call), holders of ``queues.view`` a ``wallboard`` message
  (:func:`hotline.web.wallboard.wallboard`);
* ``{"type": "card", ...}`` when a new call is offered to the operator: the
  call card (:func:`hotline.web.desk_api.build_card`), audited as a view of
  personal data.

Messages carry codes and ids only; the pages render Russian labels.
Callers' numbers are masked per role; the first event that carries a full
number writes one ``personal_data.viewed`` record for the whole connection
(``view: live_events``), not one per message.  The wallboard always shows
masked numbers (it is a shared screen).

The session is checked again on every tick (:func:`hotline.web.auth.revalidate`):
logging out, an administrator revoking the session, disabling the user, the
session's lifetime or idle timeout end the socket with 1008
(``session_expired``); a role or permission change applies at once (losing
``calls.view`` ends it with 1008 ``forbidden``).  What the client sends is
read and ignored.  The bus subscription is named ``live`` for every socket
(``/metrics`` shows no usernames).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from sqlalchemy.exc import SQLAlchemyError
from starlette.status import WS_1008_POLICY_VIOLATION

from hotline.calls.api import CallActionError, LiveCall
from hotline.core.bus import Subscription
from hotline.core.ids import OperatorId
from hotline.store.audit import AuditAction
from hotline.web.auth import Principal, client_address, context_of, require_ws, revalidate
from hotline.web.desk_api import build_card
from hotline.web.desk_models import live_call_out, operator_out
from hotline.web.errors import ApiError, ErrorCode
from hotline.web.live_events import (
    Audience,
    CallEventPublished,
    event_message,
    shows_full_number,
)
from hotline.web.permissions import Permission
from hotline.web.wallboard import wallboard
from hotline.web.workplace import (
    Workplace,
    call_actions,
    operator_of,
    queue_actions,
    workplace_of,
)

__all__ = ["LIVE_PATH", "live_router"]

LIVE_PATH: Final = "/api/v1/live"
SUBSCRIBER_NAME: Final = "live"

log = logging.getLogger(__name__)
live_router = APIRouter()
_LIVE = Depends(require_ws(Permission.CALLS_VIEW))

Send = Callable[[dict[str, Any]], Awaitable[None]]


class _Session:
    """One connection: what it may see and what it has been sent."""

    def __init__(self, websocket: WebSocket, who: Principal, audience: Audience) -> None:
        self.websocket = websocket
        self.who = who
        self.audience = audience
        self.place: Workplace = workplace_of(websocket)
        self.carded: str | None = None  # the call whose card was sent last
        self.numbers_audited = False  # one personal_data.viewed per connection
        self._lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            await self.websocket.send_json(message)

    # -- snapshots -------------------------------------------------------------------------------

    async def desk(self) -> None:
        operator_id = self.audience.operator_id
        if operator_id is None:
            return
        ops = queue_actions(self.websocket).operators()
        op = next((o for o in ops if o.operator_id == operator_id), None)
        if op is None:
            return
        calls = call_actions(self.websocket)
        call = calls.live_call(op.call_id) if op.call_id is not None else None
        now = context_of(self.websocket).clock.utcnow()
        perms = self.who.permissions
        await self.send(
            {
                "type": "desk",
                "at": now.isoformat(),
                "operator": operator_out(op, now).model_dump(mode="json"),
                "call": live_call_out(perms, call).model_dump(mode="json") if call else None,
            }
        )
        if call is not None and call.call_id != self.carded:
            self.audience.own_calls.add(call.call_id)
            await self.card(call)
            self.carded = call.call_id  # after it was sent: a failed card is tried again

    async def card(self, call: LiveCall) -> None:
        card = await build_card(self.websocket, self.who, call)
        await self._audit_viewed(f"call:{call.call_id}", "call_card")
        await self.send({"type": "card", **card.model_dump(mode="json")})

    async def wallboard(self) -> None:
        board = await wallboard(self.websocket, self.who)
        await self.send({"type": "wallboard", **board.model_dump(mode="json")})

    async def tick(self) -> None:
        """One round of snapshots; a failing store read skips this round, not the socket."""
        try:
            if self.audience.everything:
                await self.wallboard()
            await self.desk()
        except (CallActionError, ApiError):
            return
        except SQLAlchemyError as exc:
            log.warning("live snapshot of %s skipped: %s", self.who.username, exc)

    # -- the loops -------------------------------------------------------------------------------

    async def still_allowed(self) -> str | None:
        """Re-check the session (see the module docstring); the close reason, or None."""
        try:
            fresh = await revalidate(self.websocket, self.who)
        except ApiError as exc:
            return exc.code.value
        if not fresh.has(Permission.CALLS_VIEW):
            return ErrorCode.FORBIDDEN.value
        self.who = fresh
        self.audience.permissions = fresh.permissions
        return None

    async def ticks(self) -> None:
        interval = self.place.settings.snapshot_interval_s
        while True:
            try:
                reason = await self.still_allowed()
            except SQLAlchemyError as exc:  # the store is down: keep the socket, retry
                log.warning("live session check of %s skipped: %s", self.who.username, exc)
                reason = None
            if reason is not None:
                break
            await self.tick()
            await asyncio.sleep(interval)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.websocket.close(WS_1008_POLICY_VIOLATION, reason)

    async def audit_numbers(self, call_id: str | None) -> None:
        """The connection's one ``personal_data.viewed`` record for live events."""
        self.numbers_audited = True
        await self._audit_viewed(f"call:{call_id}" if call_id else "live", "live_events")

    async def _audit_viewed(self, obj: str, view: str) -> None:
        """One ``personal_data.viewed`` record of this connection (R13)."""
        ctx = context_of(self.websocket)
        await asyncio.to_thread(
            ctx.audit.append,
            at=ctx.clock.utcnow(),
            actor=self.who.username,
            role=self.who.role,
            action=AuditAction.PERSONAL_DATA_VIEWED.value,
            object=obj,
            details={"view": view, "via": "live"},
            source=client_address(self.websocket),
        )

    async def events(self, sub: Subscription[CallEventPublished]) -> None:
        ctx = context_of(self.websocket)
        day = self.place.day_figures() if self.audience.everything else None
        async for published in sub:
            if day is not None:
                day.feed(published.event, ctx.clock.monotonic())
            message = event_message(published.event, self.audience)
            if message is None:
                continue
            if not self.numbers_audited and shows_full_number(published.event, self.audience):
                await self.audit_numbers(published.event.call_id)
            await self.send(message)

    async def reader(self) -> None:
        """Read (and ignore) what the client sends until it disconnects."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await self.websocket.receive_text()


async def _audience(websocket: WebSocket, who: Principal) -> Audience:
    operator_id: OperatorId | None = None
    if who.has(Permission.CALLS_CONTROL):
        operator_id = await operator_of(websocket, who)
    return Audience(permissions=who.permissions, operator_id=operator_id)


@live_router.websocket(LIVE_PATH, name="live")
async def live(websocket: WebSocket, who: Annotated[Principal, _LIVE]) -> None:
    """Live events and snapshots (see the module docstring)."""
    session = _Session(websocket, who, await _audience(websocket, who))
    bus = session.place.bus
    await websocket.accept()
    await session.send(
        {
            "type": "hello",
            "operator_id": session.audience.operator_id,
            "supervisor": session.audience.everything,
            "interval_s": session.place.settings.snapshot_interval_s,
        }
    )
    sub = None
    if bus is not None:
        sub = bus.subscribe(
            CallEventPublished,
            name=SUBSCRIBER_NAME,
            maxsize=session.place.settings.subscriber_queue,
        )
    tasks = [
        asyncio.create_task(session.reader(), name="live-reader"),
        asyncio.create_task(session.ticks(), name="live-ticks"),
    ]
    if sub is not None:
        tasks.append(asyncio.create_task(session.events(sub), name="live-events"))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if sub is not None:
            sub.close()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, WebSocketDisconnect | asyncio.CancelledError):
                continue
            if isinstance(result, RuntimeError):  # sending on a socket that is closing
                log.debug("live socket of %s ended: %s", who.username, result)
                continue
            if isinstance(result, BaseException):
                raise result
