"""Supervisor monitoring of a live call: listen, whisper, barge (R8d, issue 6 item 8; L3).

:meth:`CallMonitors.start` rings the supervisor's registered phone (a SIP
account like an operator's; the registrar's bindings give its contact) with
an INVITE offering the call's codec (RFC 3264 §5); on the 2xx the phone's
media leg joins the call through the media engine's three-party mixer
(:meth:`~hotline.media.engine.MediaEngine.monitor`):

``listen``
    the supervisor hears caller and operator, nobody hears the supervisor;
``whisper``
    the operator hears the supervisor too, the caller does not;
``barge``
    everybody hears everybody.

Calling :meth:`CallMonitors.start` again for the same supervisor and call
changes the mode of the joined session (or :meth:`CallMonitors.set_mode`).
The session follows the call (:class:`~hotline.calls.ctl_dialog.CallObserver`):
while the call is held or in a consultation the mixer is left
(``suspended``: the caller and the operator are bridged directly again, the
supervisor hears nothing) and re-joined on resume; when the operator leaves
the call (a transfer) or the call ends, the session ends (BYE to the
supervisor's phone, media leg closed).  The supervisor's hang-up ends it too.

Every session is audited (:class:`MonitorAudit`): ``monitor.started`` when
the supervisor joins, ``monitor.mode_changed``, and ``monitor.ended`` with
the reason, each naming the supervisor, the call, its operator, the mode and
the session.  :class:`StoredMonitorAudit` (the default of
:func:`wire_monitors`) writes them as events of the call through the
:class:`~hotline.calls.ctl_events.CallEventWriter` (so they are stored with
the call's other events), logs them and keeps the last ones in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import secrets
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol, runtime_checkable

import structlog

from hotline.calls.api import ActionRefusal, CallActionError, MonitorMode
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_consult import CallLookup
from hotline.calls.ctl_dialog import CallDialogs
from hotline.calls.ctl_events import CallEventWriter
from hotline.calls.ctl_phone_leg import PhoneLeg, invite_phone, read_answer
from hotline.calls.ctl_ports import Clock, MediaPort, PhoneDirectory, Signalling
from hotline.calls.ctl_transfer import CallTransfers
from hotline.core.errors import HotlineError, LocalProtocolError, RemoteProtocolError
from hotline.core.ids import CallId, OperatorId
from hotline.media.mixer import MonitorMode as MixMode
from hotline.reports.events import EventKind, PayloadValue
from hotline.sip.dlg_events import DialogConfirmed, DialogTerminated, SessionEvent
from hotline.sip.useragent import Leg

__all__ = [
    "DEFAULT_MONITOR_RING_S",
    "CallMonitors",
    "LoggedMonitorAudit",
    "MonitorAction",
    "MonitorAudit",
    "MonitorMedia",
    "MonitorRecord",
    "MonitorState",
    "StoredMonitorAudit",
    "wire_monitors",
]

log = structlog.get_logger("hotline.calls.monitor")
audit_log = structlog.get_logger("hotline.audit")

DEFAULT_MONITOR_RING_S: Final = 30.0
"""How long the supervisor's phone rings before the session gives up (CANCEL)."""
MAX_SESSIONS: Final = 1000


@runtime_checkable
class MonitorMedia(MediaPort, Protocol):
    """The media engine with its monitor mixer (:class:`~hotline.media.engine.MediaEngine`)."""

    def monitor(self, supervisor_leg_id: str, operator_leg_id: str, mode: MixMode) -> None: ...

    def stop_monitor(self, supervisor_leg_id: str) -> None: ...


class MonitorState(enum.Enum):
    """Where a monitoring session stands."""

    RINGING = "ringing"  # the supervisor's phone rings
    JOINED = "joined"  # mixed into the call
    SUSPENDED = "suspended"  # answered, but the call is held or in a consultation
    ENDED = "ended"


_M = MonitorState
MONITOR_MOVES: Final[frozenset[tuple[MonitorState, MonitorState]]] = frozenset(
    {
        (_M.RINGING, _M.JOINED),
        (_M.RINGING, _M.SUSPENDED),
        (_M.JOINED, _M.SUSPENDED),
        (_M.SUSPENDED, _M.JOINED),
        (_M.RINGING, _M.ENDED),
        (_M.JOINED, _M.ENDED),
        (_M.SUSPENDED, _M.ENDED),
    }
)
"""Every allowed (from, to) move of :class:`MonitorState`."""


class MonitorAction(enum.Enum):
    """What an audit record reports."""

    STARTED = "monitor.started"
    MODE_CHANGED = "monitor.mode_changed"
    ENDED = "monitor.ended"


@dataclass(frozen=True, slots=True)
class MonitorRecord:
    """One audited fact of a monitoring session (wall time, aware UTC)."""

    action: MonitorAction
    session_id: str
    call_id: CallId
    supervisor_id: OperatorId
    operator_id: OperatorId | None
    mode: MonitorMode
    at: datetime
    reason: str | None = None


class MonitorAudit(Protocol):
    """Where monitoring facts go (:class:`StoredMonitorAudit`: events of the call)."""

    def monitor_event(self, record: MonitorRecord) -> None: ...


class LoggedMonitorAudit:
    """Audit records as structured log lines (``hotline.audit``), the last ones kept in memory."""

    def __init__(self, keep: int = 1000) -> None:
        self.records: deque[MonitorRecord] = deque(maxlen=keep)

    def monitor_event(self, record: MonitorRecord) -> None:
        self.records.append(record)
        audit_log.info(
            record.action.value,
            session_id=record.session_id,
            call_id=record.call_id,
            supervisor=record.supervisor_id,
            operator=record.operator_id,
            mode=record.mode.value,
            reason=record.reason,
            at=record.at.isoformat(),
        )


_EVENT_KINDS: Final[dict[MonitorAction, EventKind]] = {
    MonitorAction.STARTED: EventKind.MONITOR_STARTED,
    MonitorAction.MODE_CHANGED: EventKind.MONITOR_MODE_CHANGED,
    MonitorAction.ENDED: EventKind.MONITOR_ENDED,
}


class StoredMonitorAudit(LoggedMonitorAudit):
    """Audit records as events of the call (``monitor.*``), also logged and kept in memory.

    The event carries the call's queue, operator, topic and trunk; the payload
    names the supervisor, the mode, the session and (``monitor.ended``) the reason.
    """

    def __init__(
        self,
        events: CallEventWriter,
        call_of: Callable[[CallId], Call | None],
        keep: int = 1000,
    ) -> None:
        super().__init__(keep)
        self._events = events
        self._call_of = call_of

    def monitor_event(self, record: MonitorRecord) -> None:
        super().monitor_event(record)
        call = self._call_of(record.call_id)
        reason = record.reason
        if record.action is MonitorAction.ENDED and not reason:
            reason = "ended"  # the schema requires one
        payload: dict[str, PayloadValue] = {
            "supervisor": record.supervisor_id,
            "mode": record.mode.value,
            "session_id": record.session_id,
            "reason": reason,
        }
        self._events.fact(
            _EVENT_KINDS[record.action],
            call_id=record.call_id,
            queue_id=call.queue_id if call is not None else None,
            operator_id=record.operator_id,
            topic=call.route.topic if call is not None else None,
            trunk=call.trunk if call is not None else None,
            payload=payload,
        )


@dataclass(slots=True, eq=False)
class _Session:
    session_id: str
    call_id: CallId
    supervisor_id: OperatorId
    operator_id: OperatorId | None
    mode: MonitorMode
    phone: PhoneLeg
    state: MonitorState = MonitorState.RINGING
    started: bool = False  # monitor.started written
    timer: asyncio.TimerHandle | None = None

    def move(self, to: MonitorState) -> None:
        if (self.state, to) not in MONITOR_MOVES:
            raise LocalProtocolError(f"monitor {self.session_id}: no move {self.state} → {to}")
        self.state = to


class CallMonitors:
    """Every monitoring session of the node (the web's ``MonitorPort``)."""

    def __init__(
        self,
        *,
        media: MonitorMedia,
        phones: PhoneDirectory,
        call_of: Callable[[CallId], Call | None],
        is_held: Callable[[CallId], bool],
        sig: Callable[[], Signalling],
        spawn: Callable[[Coroutine[Any, Any, None], str], None],
        clock: Clock,
        audit: MonitorAudit | None = None,
        ring_s: float = DEFAULT_MONITOR_RING_S,
    ) -> None:
        self._media = media
        self._phones = phones
        self._call_of = call_of
        self._is_held = is_held
        self._sig = sig
        self._spawn = spawn
        self._clock = clock
        self.audit: MonitorAudit = audit if audit is not None else LoggedMonitorAudit()
        self.ring_s = ring_s
        self._sessions: dict[str, _Session] = {}
        self._by_leg: dict[int, _Session] = {}

    # -- the web's MonitorPort ------------------------------------------------------------

    def start(self, call_id: CallId, supervisor_id: OperatorId, mode: MonitorMode) -> str:
        """Ring the supervisor's phone for ``call_id``; the same supervisor again: change mode."""
        call = self._call_of(call_id)
        if call is None or call.ended:
            raise CallActionError(ActionRefusal.NOT_FOUND, f"no live call {call_id}")
        same = next((s for s in self._sessions.values() if s.supervisor_id == supervisor_id), None)
        if same is not None:
            if same.call_id != call_id:
                raise CallActionError(
                    ActionRefusal.WRONG_STATE, "the supervisor monitors another call"
                )
            self.set_mode(same.session_id, mode)
            return same.session_id
        if call.phase is not CallPhase.TALKING or call.operator_media is None:
            raise CallActionError(ActionRefusal.WRONG_STATE, "the call is not talking")
        if supervisor_id == call.operator_id:
            raise CallActionError(ActionRefusal.NOT_ALLOWED, "the operator cannot monitor itself")
        if len(self._sessions) >= MAX_SESSIONS:
            raise CallActionError(ActionRefusal.BUSY, "too many monitoring sessions")
        if not self._phones.contacts(supervisor_id):
            raise CallActionError(
                ActionRefusal.TARGET_UNAVAILABLE, "the supervisor's phone is not registered"
            )
        session = _Session(
            f"mon-{secrets.token_hex(8)}",
            call_id,
            supervisor_id,
            call.operator_id,
            mode,
            PhoneLeg(call.codec),
        )
        self._sessions[session.session_id] = session
        self._spawn(self._ring(session), f"monitor-{session.session_id}")
        log.info("monitor ringing", call_id=call_id, supervisor=supervisor_id, mode=mode.value)
        return session.session_id

    def set_mode(self, session_id: str, mode: MonitorMode) -> None:
        """Listen, whisper or barge from now on (applied on join while still ringing)."""
        session = self._session(session_id)
        if mode is session.mode:
            return
        session.mode = mode
        if session.state is MonitorState.JOINED:
            call = self._call_of(session.call_id)
            if call is not None and call.operator_media is not None:
                self._mix(session, call.operator_media)
        if session.started:
            self._audit(session, MonitorAction.MODE_CHANGED)

    def stop(self, session_id: str) -> None:
        """The supervisor leaves (BYE to its phone, or CANCEL while it rings)."""
        self._end(self._session(session_id), "stopped")

    # -- queries ----------------------------------------------------------------------------

    def state(self, session_id: str) -> MonitorState | None:
        session = self._sessions.get(session_id)
        return None if session is None else session.state

    def active(self) -> int:
        """Sessions in progress (0 when nothing leaks)."""
        return len(self._sessions)

    def legs(self) -> int:
        """SIP legs of supervisors' phones (0 when nothing leaks)."""
        return len(self._by_leg)

    def _session(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise CallActionError(ActionRefusal.NOT_FOUND, f"no monitoring session {session_id}")
        return session

    # -- ringing the supervisor ------------------------------------------------------------

    async def _ring(self, session: _Session) -> None:
        try:
            info = await self._media.create_leg(codec=session.phone.codec)
        except HotlineError as exc:
            log.warning("no media for the supervisor", call_id=session.call_id, error=str(exc))
            self._end(session, "no_media")
            return
        if session.state is MonitorState.ENDED:
            self._media.close_leg(info.leg_id)
            return
        session.phone.media_leg_id = info.leg_id
        contacts = self._phones.contacts(session.supervisor_id)
        if not contacts:
            self._end(session, "not_registered")
            return
        call = self._call_of(session.call_id)
        caller = call.caller_number if call is not None else "anonymous"
        sip_leg = invite_phone(
            self._sig(),
            self._media,
            session.phone,
            info.rtp_port,
            contacts[0],
            from_user=caller,
            display="Мониторинг",
            to_user=session.supervisor_id,
            extra_headers=(
                ("X-Hotline-Monitor", f"{session.mode.value};call={session.call_id}"),
                ("Call-Info", "<sip:monitor>;answer-after=0"),
            ),
        )
        if sip_leg is None:
            self._end(session, "not_sent")
            return
        self._by_leg[sip_leg.leg_id] = session
        loop = asyncio.get_running_loop()
        session.timer = loop.call_later(self.ring_s, self.ring_timed_out, session.session_id)

    def ring_timed_out(self, session_id: str) -> None:
        """The supervisor did not answer in :attr:`ring_s`: CANCEL."""
        session = self._sessions.get(session_id)
        if session is not None and session.state is MonitorState.RINGING:
            self._end(session, "no_answer")

    def on_leg_event(self, leg: Leg, event: SessionEvent) -> bool:
        """An event of a supervisor's leg; False when the leg is not one."""
        session = self._by_leg.get(leg.leg_id)
        if session is None:
            return False
        if isinstance(event, DialogConfirmed):
            self._answered(session, event)
        elif isinstance(event, DialogTerminated):
            self._by_leg.pop(leg.leg_id, None)
            session.phone.sip_leg = None
            if session.state is MonitorState.RINGING:
                reason = "no_answer" if event.status in (None, 408, 480, 487) else "refused"
            else:
                reason = "supervisor_hung_up" if event.by_remote else "ended"
            self._end(session, reason)
        return True

    def _answered(self, session: _Session, event: DialogConfirmed) -> None:
        if session.state is not MonitorState.RINGING:
            return
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        phone = session.phone
        assert phone.media_leg_id is not None
        try:
            remote, rtcp = read_answer(phone, event)
        except RemoteProtocolError as exc:
            log.info("supervisor's answer refused", call_id=session.call_id, error=str(exc))
            self._end(session, "bad_answer")
            return
        phone.answered = True
        self._media.set_remote(phone.media_leg_id, remote, remote_rtcp=rtcp)
        session.move(MonitorState.SUSPENDED)
        self._join(session)

    # -- joining and leaving the mixer ---------------------------------------------------------

    def _join(self, session: _Session) -> None:
        """SUSPENDED → JOINED when the call is talking, unheld, with its operator."""
        call = self._call_of(session.call_id)
        if call is None or call.ended or call.operator_media is None:
            self._end(session, "call_ended")
            return
        if call.operator_id != session.operator_id:
            self._end(session, "operator_left")
            return
        if call.phase is not CallPhase.TALKING or self._is_held(call.call_id):
            return  # stays SUSPENDED until the call resumes
        if not self._mix(session, call.operator_media):
            return
        session.move(MonitorState.JOINED)
        if not session.started:
            session.started = True
            self._audit(session, MonitorAction.STARTED)
        log.info("monitor joined", call_id=session.call_id, supervisor=session.supervisor_id)

    def _mix(self, session: _Session, operator_media: str) -> bool:
        assert session.phone.media_leg_id is not None
        try:
            self._media.monitor(
                session.phone.media_leg_id, operator_media, MixMode(session.mode.value)
            )
        except HotlineError as exc:  # not in a plain bridge (a consultation, a hold)
            log.info("monitor cannot join now", call_id=session.call_id, error=str(exc))
            return False
        return True

    def _leave_mixer(self, session: _Session) -> None:
        """JOINED → SUSPENDED: the engine bridges caller and operator directly again."""
        if session.state is not MonitorState.JOINED or session.phone.media_leg_id is None:
            return
        with contextlib.suppress(HotlineError):  # the engine ended it already (a leg closed)
            self._media.stop_monitor(session.phone.media_leg_id)
        session.move(MonitorState.SUSPENDED)

    def _of_call(self, call_id: CallId) -> list[_Session]:
        return [s for s in self._sessions.values() if s.call_id == call_id]

    # -- CallObserver (ctl_dialog): the call's media changes ------------------------------------

    def suspend(self, call_id: CallId) -> None:
        """The call is about to be held or to enter a consultation: leave the mixer."""
        for session in self._of_call(call_id):
            self._leave_mixer(session)

    def resume(self, call_id: CallId) -> None:
        """Caller and operator are bridged again: re-join."""
        for session in self._of_call(call_id):
            if session.state is MonitorState.SUSPENDED:
                self._join(session)

    def operator_leaving(self, call_id: CallId) -> None:
        """The monitored operator leaves the call (a transfer): the sessions end."""
        for session in self._of_call(call_id):
            self._end(session, "operator_left")

    def call_ended(self, call_id: CallId) -> None:
        """The call is over: the sessions end."""
        for session in self._of_call(call_id):
            self._end(session, "call_ended")

    # -- endings ------------------------------------------------------------------------------

    def _end(self, session: _Session, reason: str) -> None:
        if session.state is MonitorState.ENDED:
            return
        self._leave_mixer(session)
        session.move(MonitorState.ENDED)
        self._sessions.pop(session.session_id, None)
        if session.timer is not None:
            session.timer.cancel()
            session.timer = None
        phone = session.phone
        if phone.sip_leg is not None:
            self._by_leg.pop(phone.sip_leg.leg_id, None)
            self._sig().hang_up(phone.sip_leg)  # CANCEL while ringing (RFC 3261 §9.1), else BYE
            phone.sip_leg = None
        if phone.media_leg_id is not None:
            self._media.close_leg(phone.media_leg_id)
            phone.media_leg_id = None
        if session.started:
            self._audit(session, MonitorAction.ENDED, reason)
        log.info("monitor ended", call_id=session.call_id, reason=reason)

    def _audit(self, session: _Session, action: MonitorAction, reason: str | None = None) -> None:
        self.audit.monitor_event(
            MonitorRecord(
                action=action,
                session_id=session.session_id,
                call_id=session.call_id,
                supervisor_id=session.supervisor_id,
                operator_id=session.operator_id,
                mode=session.mode,
                at=self._clock.utcnow(),
                reason=reason,
            )
        )


def wire_monitors(
    transfers: CallTransfers | None,
    dialogs: CallDialogs | None,
    calls: CallLookup,
    clock: Clock,
    audit: MonitorAudit | None = None,
) -> CallMonitors | None:
    """The monitoring of a controller (None without a mixing, hold-capable media engine).

    Without an ``audit`` the sessions are stored as events of their calls
    (:class:`StoredMonitorAudit` over the transfers' event writer).
    """
    if transfers is None or dialogs is None or not isinstance(transfers.media, MonitorMedia):
        return None
    if audit is None:
        audit = StoredMonitorAudit(transfers.events, calls.call)
    hooks = transfers.hooks
    monitors = CallMonitors(
        media=transfers.media,
        phones=transfers.phones,
        call_of=calls.call,
        is_held=dialogs.unbridged,
        sig=hooks.sig,
        spawn=hooks.spawn,
        clock=clock,
        audit=audit,
    )
    transfers.leg_handlers.append(monitors.on_leg_event)
    dialogs.observers.append(monitors)
    return monitors
