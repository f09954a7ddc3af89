"""Events an :class:`~hotline.sip.dlg_session.InviteSession` reports to its transaction user.

Facts are frozen, slotted dataclasses named in the past tense; the few that
ask the TU to act now (:class:`RefreshDue`, :class:`GlareRetryDue`,
:class:`PrackNeeded`) say so in their name.  SDP bodies travel as ``bytes``
exactly as received: the TU reads them with :mod:`hotline.sdp`.

Who ended a call is in :class:`DialogTerminated`: ``reason`` (an enum),
``by_remote``, the SIP ``status`` when a response ended it, and the peer's
``Reason`` header (RFC 3326) when it sent one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hotline.sip.dlg_headers import ReasonHeader, ReferTo, Replaces, SipfragStatus
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipResponse

__all__ = [
    "AckReceived",
    "AuthenticationRequired",
    "ByeReceived",
    "DialogConfirmed",
    "DialogTerminated",
    "GlareRetryDue",
    "HoldChanged",
    "InfoReceived",
    "InviteReceived",
    "ModifyCompleted",
    "NotifyReceived",
    "PrackNeeded",
    "ProvisionalReceived",
    "ReInviteReceived",
    "ReferAnswered",
    "ReferReceived",
    "RefreshDue",
    "RequestAnswered",
    "SessionEvent",
    "SessionExpired",
    "TerminationReason",
    "UpdateReceived",
]


class TerminationReason(enum.StrEnum):
    """Why a dialog (and the call leg on it) ended."""

    LOCAL_BYE = "local-bye"
    """We hung up with BYE (RFC 3261 §15.1.1)."""
    REMOTE_BYE = "remote-bye"
    """The peer hung up with BYE (§15.1.2)."""
    LOCAL_CANCEL = "local-cancel"
    """We cancelled our INVITE before it was answered (§9.1)."""
    REMOTE_CANCEL = "remote-cancel"
    """The caller cancelled before we answered (§9.2); we sent 487."""
    REJECTED = "rejected"
    """Our INVITE got a final non-2xx response (``status`` says which)."""
    DECLINED = "declined"
    """We answered the peer's INVITE with a final non-2xx (``status``)."""
    ACK_TIMEOUT = "ack-timeout"
    """No ACK came for our 2xx within 64*T1 (§13.3.1.4); we sent BYE."""
    SESSION_EXPIRED = "session-expired"
    """No session refresh came in time (RFC 4028 §10); we sent BYE."""
    DIALOG_GONE = "dialog-gone"
    """An in-dialog request got 481 or 408, or timed out (§12.2.1.2)."""
    REQUEST_TIMEOUT = "request-timeout"
    """Our INVITE got no final response (Timer B, §17.1.1.2)."""
    REPLACED = "replaced"
    """Another dialog took this one's place (RFC 3891 §3); we sent BYE."""
    BAD_ANSWER = "bad-answer"
    """The ACK did not carry the answer to our offer in the 2xx (§13.3.1.4); we sent BYE."""


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Base class of every event of this package."""


@dataclass(frozen=True, slots=True)
class InviteReceived(SessionEvent):
    """A new INVITE passed our checks; the TU now rings, answers or rejects.

    ``offer`` is the SDP body, or None for an INVITE without an offer (we
    then offer in the 2xx and the answer comes in the ACK, RFC 3261 §13.2.1).
    """

    offer: bytes | None
    replaces: Replaces | None
    referred_by: NameAddr | None


@dataclass(frozen=True, slots=True)
class ProvisionalReceived(SessionEvent):
    """Our INVITE got a 1xx (not 100) on the early dialog ``remote_tag``.

    ``body`` is early media SDP when present; ``reliable`` marks RFC 3262.
    """

    status: int
    reason: str
    remote_tag: str | None
    body: bytes | None
    reliable: bool


@dataclass(frozen=True, slots=True)
class PrackNeeded(SessionEvent):
    """A reliable 1xx carried an SDP offer: call ``send_prack(answer)`` (RFC 3262 §5)."""

    rseq: int
    offer: bytes


@dataclass(frozen=True, slots=True)
class DialogConfirmed(SessionEvent):
    """The INVITE dialog is confirmed (UAC: 2xx received; UAS: ACK received).

    For the UAC ``body`` is the SDP of the 2xx (the answer to our offer, or
    the peer's offer when our INVITE had none: then call ``send_ack(answer)``);
    ``needs_ack_body`` says which.  For the UAS ``body`` is the SDP of the
    ACK (the answer to the offer we put in our 2xx) or None.
    """

    remote_tag: str
    body: bytes | None
    needs_ack_body: bool = False


@dataclass(frozen=True, slots=True)
class AckReceived(SessionEvent):
    """The ACK for our 2xx to a re-INVITE arrived, with the answer if our 2xx offered."""

    body: bytes | None


@dataclass(frozen=True, slots=True)
class ReInviteReceived(SessionEvent):
    """The peer sent a re-INVITE (RFC 3261 §14.2): answer with ``accept_modify``/``reject_modify``.

    ``offer`` is None for a re-INVITE without SDP (we offer in the 2xx).
    ``on_hold`` is the hold state the offer asks for (None without SDP).
    """

    offer: bytes | None
    on_hold: bool | None


@dataclass(frozen=True, slots=True)
class UpdateReceived(SessionEvent):
    """The peer sent an UPDATE with an SDP offer (RFC 3311 §5.2): answer with ``accept_modify``.

    An UPDATE without a body (a session refresh) is answered 200 by the
    session itself and produces no event.
    """

    offer: bytes
    on_hold: bool | None


@dataclass(frozen=True, slots=True)
class ModifyCompleted(SessionEvent):
    """Our re-INVITE or UPDATE got its final response.

    ``answer`` is the SDP of a 2xx.  After a non-2xx the session is as it
    was before the request (RFC 3261 §14.1): undo the local offer.
    ``refresh`` marks a request sent by :meth:`InviteSession.refresh`.
    """

    method: str
    status: int
    answer: bytes | None
    refresh: bool


@dataclass(frozen=True, slots=True)
class HoldChanged(SessionEvent):
    """The hold state changed (RFC 3264 §8.4): ``by_remote`` says who held or resumed."""

    on_hold: bool
    by_remote: bool


@dataclass(frozen=True, slots=True)
class ByeReceived(SessionEvent):
    """The peer sent BYE (answered 200 already); ``cause`` is its Reason header."""

    cause: ReasonHeader | None


@dataclass(frozen=True, slots=True)
class InfoReceived(SessionEvent):
    """An INFO arrived (answered 200): e.g. ``application/dtmf-relay`` digits."""

    content_type: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class ReferReceived(SessionEvent):
    """A REFER arrived and was accepted with 202 (RFC 3515 §2.4.2).

    Report progress with ``notify_refer(refer_id, status)``; ``refer_id``
    is the ``id`` of the implicit subscription (the REFER's CSeq number).
    ``subscription`` is False when the peer sent ``Refer-Sub: false``
    (RFC 4488): then no NOTIFY is sent.
    """

    refer_id: str
    refer_to: ReferTo
    replaces: Replaces | None
    referred_by: NameAddr | None
    subscription: bool


@dataclass(frozen=True, slots=True)
class ReferAnswered(SessionEvent):
    """Our REFER got its final response (202 Accepted, or a refusal)."""

    refer_id: str
    status: int


@dataclass(frozen=True, slots=True)
class NotifyReceived(SessionEvent):
    """A NOTIFY for our REFER: the progress of the referenced request (RFC 3515 §2.4.5)."""

    refer_id: str | None
    sipfrag: SipfragStatus
    terminated: bool


@dataclass(frozen=True, slots=True)
class RequestAnswered(SessionEvent):
    """Another in-dialog request of ours (INFO, OPTIONS, NOTIFY...) got its final response."""

    method: str
    status: int


@dataclass(frozen=True, slots=True)
class AuthenticationRequired(SessionEvent):
    """Our INVITE was challenged (401/407): resend with ``resend_invite(headers)`` or hang up."""

    response: SipResponse


@dataclass(frozen=True, slots=True)
class RefreshDue(SessionEvent):
    """We are the session-timer refresher and half the interval passed (RFC 4028 §10).

    Call :meth:`InviteSession.refresh` (UPDATE without SDP when the peer
    allows UPDATE, else a re-INVITE repeating our last SDP).
    """

    interval_s: int


@dataclass(frozen=True, slots=True)
class SessionExpired(SessionEvent):
    """No refresh came before the session expired (RFC 4028 §10); BYE has been sent."""

    interval_s: int


@dataclass(frozen=True, slots=True)
class GlareRetryDue(SessionEvent):
    """The §14.1 retry time after our re-INVITE/UPDATE got 491 has come: send it again."""

    method: str


@dataclass(frozen=True, slots=True)
class DialogTerminated(SessionEvent):
    """The dialog is over; nothing more will happen on it."""

    reason: TerminationReason
    by_remote: bool
    status: int | None = None
    cause: ReasonHeader | None = None
