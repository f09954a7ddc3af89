"""The offer/answer state of an INVITE session (RFC 3264, RFC 3261 §13.2.1, RFC 6337 §2).

:class:`OfferAnswer` only tracks *whose* SDP is outstanding; the SDP
content is the TU's (it uses :mod:`hotline.sdp`).  Its transitions are one
table, :data:`TRANSITIONS`; a pair that is not in it raises
``LocalProtocolError`` (our bug) — callers check :meth:`OfferAnswer.can_offer`
and :attr:`OfferAnswer.state` before feeding a peer's message, and answer
491 or 500 themselves (RFC 3261 §14.2, RFC 3311 §5.2).

Which message may carry what (RFC 6337 §2.1, Table 1):

- INVITE with SDP: offer; the answer is in the 2xx (or the first reliable 1xx).
- INVITE without SDP: the offer is in the 2xx (or first reliable 1xx), the
  answer in the ACK (or PRACK).
- UPDATE with SDP: offer; answer in its 2xx.

Also here: :func:`sdp_body` (the SDP of a message, inside ``multipart/mixed``
as SIP-T trunks send it) and :func:`sdp_hold_state` (is the writer of an SDP
putting the other side on hold: ``sendonly``, ``inactive`` or ``c=0.0.0.0``,
RFC 3264 §8.4).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from types import MappingProxyType

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sdp.parser import parse_sdp
from hotline.sip.message import SipMessage

__all__ = [
    "MAX_MULTIPART_PARTS",
    "TRANSITIONS",
    "OaInput",
    "OfferAnswer",
    "OfferAnswerState",
    "is_sdp",
    "sdp_body",
    "sdp_hold_state",
]

#: A multipart body with more parts than this is not searched for SDP.
MAX_MULTIPART_PARTS = 8

_BOUNDARY_RE = re.compile(r';\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))', re.I)


class OfferAnswerState(enum.Enum):
    """Who owes what in the offer/answer exchange."""

    NO_SESSION = "no-session"
    """No offer has been made yet (an INVITE without SDP, before our 2xx)."""
    LOCAL_OFFER = "local-offer"
    """We sent an offer and wait for the answer."""
    REMOTE_OFFER = "remote-offer"
    """The peer sent an offer; we owe the answer."""
    STABLE = "stable"
    """The last offer was answered; either side may offer again."""


class OaInput(enum.Enum):
    """What happened to the offer/answer exchange."""

    SEND_OFFER = "send-offer"
    RECEIVE_OFFER = "receive-offer"
    SEND_ANSWER = "send-answer"
    RECEIVE_ANSWER = "receive-answer"
    OFFER_FAILED = "offer-failed"
    """The request that carried the outstanding offer failed (non-2xx, timeout, rejection)."""


_S = OfferAnswerState
_I = OaInput

#: (state, input) -> next state; ``None`` means "back to the state before the offer".
TRANSITIONS: Mapping[tuple[OfferAnswerState, OaInput], OfferAnswerState | None] = MappingProxyType(
    {
        (_S.NO_SESSION, _I.SEND_OFFER): _S.LOCAL_OFFER,
        (_S.NO_SESSION, _I.RECEIVE_OFFER): _S.REMOTE_OFFER,
        (_S.STABLE, _I.SEND_OFFER): _S.LOCAL_OFFER,
        (_S.STABLE, _I.RECEIVE_OFFER): _S.REMOTE_OFFER,
        (_S.LOCAL_OFFER, _I.RECEIVE_ANSWER): _S.STABLE,
        (_S.LOCAL_OFFER, _I.OFFER_FAILED): None,
        (_S.REMOTE_OFFER, _I.SEND_ANSWER): _S.STABLE,
        (_S.REMOTE_OFFER, _I.OFFER_FAILED): None,
    }
)


class OfferAnswer:
    """The offer/answer state machine of one session (see :data:`TRANSITIONS`)."""

    __slots__ = ("_before", "_state")

    def __init__(self) -> None:
        self._state = OfferAnswerState.NO_SESSION
        self._before = OfferAnswerState.NO_SESSION

    @property
    def state(self) -> OfferAnswerState:
        """The current state."""
        return self._state

    def can_offer(self) -> bool:
        """True when nothing is outstanding, so a new offer (ours or the peer's) may start."""
        return self._state in (OfferAnswerState.NO_SESSION, OfferAnswerState.STABLE)

    def apply(self, event: OaInput) -> OfferAnswerState:
        """Move by ``event``; ``LocalProtocolError`` for a pair outside the table."""
        key = (self._state, event)
        if key not in TRANSITIONS:
            raise LocalProtocolError(
                f"offer/answer: {event.value} is not allowed in state {self._state.value}"
            )
        target = TRANSITIONS[key]
        if event in (OaInput.SEND_OFFER, OaInput.RECEIVE_OFFER):
            self._before = self._state
        self._state = self._before if target is None else target
        return self._state


def is_sdp(content_type: str | None) -> bool:
    """True for ``application/sdp`` (parameters and case ignored)."""
    if content_type is None:
        return False
    return content_type.partition(";")[0].strip().lower() == "application/sdp"


def _multipart_sdp(content_type: str, body: bytes) -> bytes | None:
    match = _BOUNDARY_RE.search(content_type)
    if match is None:
        return None
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("ascii", "replace")
    parts = body.split(delimiter)
    for part in parts[1 : MAX_MULTIPART_PARTS + 1]:
        if part.startswith(b"--"):
            break
        head, sep, content = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            head, sep, content = part.lstrip(b"\n").partition(b"\n\n")
        for line in head.splitlines():
            name, colon, value = line.partition(b":")
            if (
                colon
                and name.strip().lower() in (b"content-type", b"c")
                and is_sdp(value.decode("latin-1"))
            ):
                # RFC 2046 §5.1.1: the line end before a boundary belongs to the boundary.
                if content.endswith(b"\r\n"):
                    return content[:-2]
                return content.removesuffix(b"\n")
    return None


def sdp_body(message: SipMessage) -> bytes | None:
    """The SDP a message carries: its body if ``application/sdp``, or the SDP part of a multipart.

    A body without Content-Type is taken as SDP (RFC 3261 §7.4.1 makes the
    header mandatory, but some gateways leave it out); an empty body is None.
    """
    body = message.body
    if not body:
        return None
    content_type = message.content_type
    if content_type is None or is_sdp(content_type):
        return body
    if content_type.lower().lstrip().startswith("multipart/"):
        return _multipart_sdp(content_type, body)
    return None


def sdp_hold_state(body: bytes) -> bool | None:
    """True when the writer of ``body`` puts the other side on hold (RFC 3264 §8.4).

    The first audio stream that is not rejected decides: its direction does
    not receive (``sendonly``, ``inactive``) or its connection address is
    null (``0.0.0.0``, RFC 2543 style).  None when the body is not readable
    SDP or has no active audio stream.
    """
    try:
        description = parse_sdp(body)
    except RemoteProtocolError:
        return None
    for media in description.media:
        if media.media.lower() != "audio" or media.is_rejected:
            continue
        connection = description.media_connection(media)
        if connection is not None and connection.is_null:
            return True
        return not description.media_direction(media).receives
    return None
