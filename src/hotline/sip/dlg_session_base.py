"""Shared machinery of :class:`~hotline.sip.dlg_session.InviteSession`: states, table, outputs.

The session's call-level states and their transitions are one table,
:data:`SESSION_TRANSITIONS` (RFC 3261 §13, §15; the early/confirmed dialog
states of §12).  A (state, input) pair outside the table raises
``LocalProtocolError``: callers check :meth:`_SessionBase._allowed` first for
inputs that come from the peer.

Outputs are data: :class:`SendRequest` (open a client transaction; an ACK
goes straight to the transport, §13.2.2.4) and :class:`SendResponse` (send
through the server transaction that delivered ``request``).
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.dialog import Dialog
from hotline.sip.dlg_events import (
    DialogTerminated,
    GlareRetryDue,
    HoldChanged,
    SessionEvent,
    TerminationReason,
)
from hotline.sip.dlg_headers import ReasonHeader, parse_reason
from hotline.sip.dlg_offer_answer import OfferAnswer, sdp_hold_state
from hotline.sip.dlg_prack import ReliableReceiver, ReliableSender
from hotline.sip.dlg_refer import ReferSubscriptions
from hotline.sip.dlg_session_timer import SessionTimer, SessionTimerConfig
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipMessage, SipRequest, SipResponse
from hotline.sip.msg_build import make_response

__all__ = [
    "DEFAULT_ALLOW",
    "DEFAULT_SUPPORTED",
    "MAX_PENDING_REQUESTS",
    "SESSION_TRANSITIONS",
    "SendRequest",
    "SendResponse",
    "SessionConfig",
    "SessionInput",
    "SessionOutput",
    "SessionState",
    "capability_headers",
    "glare_retry_delay_s",
]

#: Methods we accept in an INVITE dialog (Allow, RFC 3261 §20.5).
DEFAULT_ALLOW = (
    "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "UPDATE", "PRACK", "REFER", "NOTIFY",
)  # fmt: skip
#: Extensions we understand (Supported, §20.37; RFC 3262, 4028, 3891, 4488).
DEFAULT_SUPPORTED = ("100rel", "timer", "replaces", "norefersub")
#: Our in-dialog requests awaiting a final response that the session remembers.
MAX_PENDING_REQUESTS = 32


class SessionState(enum.Enum):
    """Call-level state of an INVITE session, from the UAC or the UAS view."""

    OUTGOING_CALLING = "outgoing-calling"
    """UAC: INVITE sent, no early dialog yet."""
    INCOMING_RINGING = "incoming-ringing"
    """UAS: INVITE received, not answered yet (an early dialog once we sent a 1xx)."""
    EARLY = "early"
    """UAC: a 1xx with a To tag created an early dialog."""
    CONFIRMED = "confirmed"
    """2xx sent or received: the call is up."""
    TERMINATING = "terminating"
    """We sent BYE or CANCEL and wait for its outcome."""
    TERMINATED = "terminated"
    """Over."""


class SessionInput(enum.Enum):
    """What moves a session between states."""

    PROVISIONAL_RECEIVED = "provisional-received"
    SUCCESS_RECEIVED = "success-received"
    FAILURE_RECEIVED = "failure-received"
    CHALLENGE_RECEIVED = "challenge-received"
    CANCEL_SENT = "cancel-sent"
    PROVISIONAL_SENT = "provisional-sent"
    SUCCESS_SENT = "success-sent"
    FAILURE_SENT = "failure-sent"
    CANCEL_RECEIVED = "cancel-received"
    BYE_SENT = "bye-sent"
    BYE_RECEIVED = "bye-received"
    BYE_COMPLETED = "bye-completed"
    DIALOG_FAILED = "dialog-failed"


_S = SessionState
_I = SessionInput

#: (state, input) -> next state.
SESSION_TRANSITIONS: Mapping[tuple[SessionState, SessionInput], SessionState] = MappingProxyType(
    {
        (_S.OUTGOING_CALLING, _I.PROVISIONAL_RECEIVED): _S.EARLY,
        (_S.OUTGOING_CALLING, _I.SUCCESS_RECEIVED): _S.CONFIRMED,
        (_S.OUTGOING_CALLING, _I.FAILURE_RECEIVED): _S.TERMINATED,
        (_S.OUTGOING_CALLING, _I.CHALLENGE_RECEIVED): _S.OUTGOING_CALLING,
        (_S.OUTGOING_CALLING, _I.CANCEL_SENT): _S.TERMINATING,
        (_S.EARLY, _I.PROVISIONAL_RECEIVED): _S.EARLY,
        (_S.EARLY, _I.SUCCESS_RECEIVED): _S.CONFIRMED,
        (_S.EARLY, _I.FAILURE_RECEIVED): _S.TERMINATED,
        (_S.EARLY, _I.CHALLENGE_RECEIVED): _S.OUTGOING_CALLING,
        (_S.EARLY, _I.CANCEL_SENT): _S.TERMINATING,
        (_S.EARLY, _I.BYE_RECEIVED): _S.TERMINATED,
        (_S.INCOMING_RINGING, _I.PROVISIONAL_SENT): _S.INCOMING_RINGING,
        (_S.INCOMING_RINGING, _I.SUCCESS_SENT): _S.CONFIRMED,
        (_S.INCOMING_RINGING, _I.FAILURE_SENT): _S.TERMINATED,
        (_S.INCOMING_RINGING, _I.CANCEL_RECEIVED): _S.TERMINATED,
        (_S.INCOMING_RINGING, _I.BYE_RECEIVED): _S.TERMINATED,
        (_S.CONFIRMED, _I.SUCCESS_RECEIVED): _S.CONFIRMED,
        (_S.CONFIRMED, _I.BYE_SENT): _S.TERMINATING,
        (_S.CONFIRMED, _I.BYE_RECEIVED): _S.TERMINATED,
        (_S.CONFIRMED, _I.DIALOG_FAILED): _S.TERMINATED,
        (_S.TERMINATING, _I.PROVISIONAL_RECEIVED): _S.TERMINATING,
        (_S.TERMINATING, _I.SUCCESS_RECEIVED): _S.TERMINATING,
        (_S.TERMINATING, _I.FAILURE_RECEIVED): _S.TERMINATED,
        (_S.TERMINATING, _I.CHALLENGE_RECEIVED): _S.TERMINATED,
        (_S.TERMINATING, _I.BYE_SENT): _S.TERMINATING,
        (_S.TERMINATING, _I.BYE_RECEIVED): _S.TERMINATED,
        (_S.TERMINATING, _I.BYE_COMPLETED): _S.TERMINATED,
        (_S.TERMINATING, _I.DIALOG_FAILED): _S.TERMINATED,
    }
)


@dataclass(frozen=True, slots=True)
class SendRequest:
    """Send ``request``: through a new client transaction, or directly for an ACK."""

    request: SipRequest


@dataclass(frozen=True, slots=True)
class SendResponse:
    """Send ``response`` through the server transaction that delivered ``request``."""

    request: SipRequest
    response: SipResponse


SessionOutput = SendRequest | SendResponse


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Per-endpoint settings of INVITE sessions.

    ``via_sent_by`` (``host[:port]``) and ``via_transport`` make the top Via
    of every request we build (the transaction layer fills in nothing else).
    """

    via_sent_by: str
    via_transport: str = "UDP"
    session_timer: SessionTimerConfig = field(default_factory=SessionTimerConfig)
    t1_s: float = 0.5
    allow: tuple[str, ...] = DEFAULT_ALLOW
    supported: tuple[str, ...] = DEFAULT_SUPPORTED
    user_agent: str | None = None


def glare_retry_delay_s(rng: random.Random, *, owns_call_id: bool) -> float:
    """The §14.1 wait after a 491, in 10 ms units: 2.1-4 s for the Call-ID owner, else 0-2 s."""
    if owns_call_id:
        return rng.randint(210, 400) / 100
    return rng.randint(0, 200) / 100


def capability_headers(config: SessionConfig) -> list[tuple[str, str]]:
    """Allow, Supported and User-Agent for INVITEs, their 2xx and OPTIONS answers."""
    headers = [("Allow", ", ".join(config.allow)), ("Supported", ", ".join(config.supported))]
    if config.user_agent:
        headers.append(("User-Agent", config.user_agent))
    return headers


def _reason_of(message: SipMessage) -> ReasonHeader | None:
    values = message.headers.values("Reason")
    if not values:
        return None
    try:
        return parse_reason(values[0])
    except RemoteProtocolError:
        return None


class _SessionBase:
    """State, queues, timers and helpers shared by the session's UAC, UAS and in-dialog parts."""

    __slots__ = (
        "_ack_cache",
        "_ack_needs_answer",
        "_ack_wanted",
        "_answered_tag",
        "_awaiting_ack",
        "_bye_after_ack",
        "_cancel_pending",
        "_challenged",
        "_client_modify",
        "_config",
        "_dialog",
        "_early",
        "_early_answer",
        "_events",
        "_glare_at",
        "_glare_method",
        "_got_provisional",
        "_invite",
        "_is_uac",
        "_last_local_sdp",
        "_local_contact",
        "_local_hold",
        "_local_tag",
        "_oa",
        "_out",
        "_peer_allows_update",
        "_pending",
        "_prack_offer",
        "_prack_rx",
        "_refer",
        "_reliable",
        "_remote_hold",
        "_reported_end",
        "_rng",
        "_server_modify",
        "_server_modify_offer",
        "_state",
        "_timer",
    )  # fmt: skip

    def __init__(
        self,
        *,
        config: SessionConfig,
        is_uac: bool,
        invite: SipRequest,
        local_tag: str,
        local_contact: NameAddr,
        state: SessionState,
        rng: random.Random | None,
    ) -> None:
        self._config = config
        self._is_uac = is_uac
        self._invite = invite
        self._local_tag = local_tag
        self._local_contact = local_contact
        self._state = state
        self._rng = rng or random.Random()
        self._dialog: Dialog | None = None
        self._early: dict[str, Dialog] = {}
        self._early_answer: tuple[str, bytes] | None = None
        self._oa = OfferAnswer()
        self._timer = SessionTimer(config.session_timer)
        self._reliable = ReliableSender(config.t1_s, self._rng)
        self._prack_rx = ReliableReceiver()
        self._prack_offer: tuple[Dialog, SipResponse] | None = None
        self._refer = ReferSubscriptions()
        self._events: deque[SessionEvent] = deque()
        self._out: list[SessionOutput] = []
        self._pending: dict[tuple[str, int, str], tuple[SipRequest, bool]] = {}
        self._ack_cache: dict[int, SipRequest] = {}
        self._ack_wanted: tuple[Dialog, int, bytes] | None = None
        self._answered_tag: str | None = None
        self._bye_after_ack: tuple[ReasonHeader | None, TerminationReason] | None = None
        self._challenged = False
        self._client_modify: tuple[SipRequest, bool, bytes | None] | None = None
        self._server_modify: SipRequest | None = None
        self._server_modify_offer: bytes | None = None
        self._awaiting_ack: int | None = None
        self._ack_needs_answer = False
        self._cancel_pending = False
        self._got_provisional = False
        self._glare_at: float | None = None
        self._glare_method = "INVITE"
        self._local_hold = False
        self._remote_hold = False
        self._last_local_sdp: bytes | None = None
        self._peer_allows_update = False
        self._reported_end = False

    # -- public read side ------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The call-level state."""
        return self._state

    @property
    def is_uac(self) -> bool:
        """True for an outgoing call (we sent the INVITE)."""
        return self._is_uac

    @property
    def dialog(self) -> Dialog | None:
        """The confirmed dialog, or the latest early one; None before any."""
        return self._dialog

    @property
    def call_id(self) -> str:
        """The Call-ID of the INVITE."""
        return self._invite.call_id

    @property
    def invite(self) -> SipRequest:
        """The initial INVITE (for a UAC: the latest one sent, after an auth or 422 retry)."""
        return self._invite

    @property
    def offer_answer(self) -> OfferAnswer:
        """The offer/answer state machine (read it; the session drives it)."""
        return self._oa

    @property
    def session_timer(self) -> SessionTimer:
        """The RFC 4028 state."""
        return self._timer

    @property
    def local_hold(self) -> bool:
        """True while we hold the peer (our last accepted offer was sendonly/inactive)."""
        return self._local_hold

    @property
    def remote_hold(self) -> bool:
        """True while the peer holds us."""
        return self._remote_hold

    @property
    def finished(self) -> bool:
        """True once TERMINATED: the driver may forget the session."""
        return self._state is SessionState.TERMINATED

    def can_modify(self) -> bool:
        """True when a re-INVITE or UPDATE may be sent now (§14.1)."""
        return (
            self._state is SessionState.CONFIRMED
            and self._client_modify is None
            and self._server_modify is None
            and self._awaiting_ack is None
            and self._oa.can_offer()
        )

    def next_event(self) -> SessionEvent | None:
        """The next event for the TU, or None."""
        return self._events.popleft() if self._events else None

    def messages_to_send(self) -> list[SessionOutput]:
        """Everything to send since the last call, in order."""
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline of the session (reliable 1xx, glare retry, session timer)."""
        deadlines = [
            t
            for t in (self._reliable.get_timer(), self._glare_at, self._timer.get_timer())
            if t is not None
        ]
        return min(deadlines) if deadlines else None

    # -- helpers -----------------------------------------------------------------------

    def _allowed(self, event: SessionInput) -> bool:
        return (self._state, event) in SESSION_TRANSITIONS

    def _transition(self, event: SessionInput) -> None:
        key = (self._state, event)
        if key not in SESSION_TRANSITIONS:
            raise LocalProtocolError(f"{event.value} is not allowed in state {self._state.value}")
        self._state = SESSION_TRANSITIONS[key]
        if self._state is SessionState.TERMINATED:
            self._stop_timers()
            if self._dialog is not None:
                self._dialog.terminate()

    def _stop_timers(self) -> None:
        self._timer.stop()
        self._reliable.stop()
        self._glare_at = None

    def _emit(self, event: SessionEvent) -> None:
        self._events.append(event)

    def _end(
        self,
        reason: TerminationReason,
        *,
        by_remote: bool,
        status: int | None = None,
        cause: ReasonHeader | None = None,
    ) -> None:
        """Report the end of the call once, and stop every timer."""
        self._stop_timers()
        if not self._reported_end:
            self._reported_end = True
            self._emit(DialogTerminated(reason, by_remote, status, cause))

    def _capabilities(self) -> list[tuple[str, str]]:
        return capability_headers(self._config)

    def _respond(
        self,
        request: SipRequest,
        status: int,
        *,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        copy_record_route: bool = False,
    ) -> SipResponse:
        """Answer ``request``; the To tag is ours when the request has none (§8.2.6.2)."""
        extra = list(headers)
        if body:
            extra.append(("Content-Type", content_type or "application/sdp"))
        response = make_response(
            request,
            status,
            reason,
            to_tag=self._local_tag,
            headers=extra,
            body=body,
            copy_record_route=copy_record_route,
        )
        self._out.append(SendResponse(request, response))
        return response

    def _send(self, request: SipRequest, *, refresh: bool = False) -> None:
        self._out.append(SendRequest(request))
        if request.method in ("ACK", "CANCEL"):
            return
        if len(self._pending) >= MAX_PENDING_REQUESTS:
            del self._pending[next(iter(self._pending))]
        remote_tag = request.to.tag or ""
        self._pending[(remote_tag, request.cseq.number, request.method)] = (request, refresh)

    def _create(
        self,
        dialog: Dialog,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        cseq: int | None = None,
    ) -> SipRequest:
        return dialog.create_request(
            method,
            body=body,
            content_type=(content_type or "application/sdp") if body else None,
            extra_headers=headers,
            cseq=cseq,
        )

    def _send_bye(self, dialog: Dialog, cause: ReasonHeader | None = None) -> None:
        headers = [] if cause is None else [("Reason", str(cause))]
        self._send(self._create(dialog, "BYE", headers=headers))

    def _exchange_completed(
        self, offer: bytes | None, *, offered_by_remote: bool, report: bool = True
    ) -> None:
        """An offer/answer exchange finished: note (and report) a hold change of the offerer.

        RFC 3264 §8.4; the initial exchange sets the state without an event.
        """
        if offer is None:
            return
        held = sdp_hold_state(offer)
        if held is None:
            return
        before = self._remote_hold if offered_by_remote else self._local_hold
        if held == before:
            return
        if offered_by_remote:
            self._remote_hold = held
        else:
            self._local_hold = held
        if report:
            self._emit(HoldChanged(held, by_remote=offered_by_remote))

    def _schedule_glare_retry(self, method: str, now: float) -> None:
        owns = self._dialog is not None and self._dialog.is_uac
        self._glare_at = now + glare_retry_delay_s(self._rng, owns_call_id=owns)
        self._glare_method = method

    def _glare_timer(self, now: float) -> None:
        if self._glare_at is not None and now >= self._glare_at:
            self._glare_at = None
            if self._state is SessionState.CONFIRMED:
                self._emit(GlareRetryDue(self._glare_method))

    def _retry_after_s(self) -> str:
        """§14.2: a Retry-After between 0 and 10 s for a 500 to an overlapping INVITE."""
        return str(self._rng.randint(0, 10))

    @staticmethod
    def _reason_of(message: SipMessage) -> ReasonHeader | None:
        return _reason_of(message)
