"""Our side of one SDP session over a dialog: ``o=`` line, version, hold state.

RFC 3264 §8: every SDP we send in a dialog keeps the same ``o=`` line except
the session version, which grows by one when, and only when, the
description changed.  An unchanged re-offer (a session refresh, or an offer
asked for by an INVITE without SDP) repeats the previous version, which
tells the peer nothing changed.

:class:`LocalSdpSession` produces our offers (initial, hold, resume,
re-INVITE) and answers, and remembers the offer it is waiting an answer for.
It is pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hotline.core.errors import LocalProtocolError
from hotline.sdp.codecs import DEFAULT_AUDIO_CODECS, DEFAULT_TELEPHONE_EVENT_PT, CodecSpec
from hotline.sdp.model import Direction, SessionDescription
from hotline.sdp.negotiation import (
    DEFAULT_PTIME_MS,
    AnswerResult,
    NegotiatedMedia,
    answer_offer,
    build_offer,
    process_answer,
)

__all__ = ["LocalSdpSession"]


class LocalSdpSession:
    """Offers and answers for our audio stream in one dialog (RFC 3264 §5-§8).

    ``direction`` is what we want to do: ``sendrecv`` normally, ``sendonly``
    while we hold the peer with music, ``inactive`` while we hold in silence.
    """

    def __init__(
        self,
        local_ip: str,
        rtp_port: int,
        session_id: int,
        *,
        initial_version: int = 0,
        codecs: Sequence[CodecSpec] = DEFAULT_AUDIO_CODECS,
        telephone_event_pt: int | None = DEFAULT_TELEPHONE_EVENT_PT,
        ptime_ms: int = DEFAULT_PTIME_MS,
    ) -> None:
        self._local_ip = local_ip
        self._rtp_port = rtp_port
        self._session_id = session_id
        self._version = initial_version
        self._codecs = tuple(codecs)
        self._telephone_event_pt = telephone_event_pt
        self._ptime_ms = ptime_ms
        self._direction = Direction.SENDRECV
        self._committed_direction = Direction.SENDRECV
        self._last_sent: SessionDescription | None = None
        self._pending_offer: SessionDescription | None = None

    @property
    def session_id(self) -> int:
        """The ``<sess-id>`` of our ``o=`` line, fixed for the dialog."""
        return self._session_id

    @property
    def version(self) -> int:
        """The ``<sess-version>`` of the last SDP we produced."""
        return self._version

    @property
    def direction(self) -> Direction:
        """What we want to do with media (hold sets ``sendonly`` or ``inactive``)."""
        return self._direction

    @property
    def last_sent(self) -> SessionDescription | None:
        """The last offer or answer we produced, None before the first."""
        return self._last_sent

    @property
    def pending_offer(self) -> SessionDescription | None:
        """Our offer still waiting for its answer, None if there is none."""
        return self._pending_offer

    def set_media_address(self, local_ip: str, rtp_port: int) -> None:
        """Move our media (a new address or port); the next SDP gets a new version."""
        self._local_ip = local_ip
        self._rtp_port = rtp_port

    def create_offer(self) -> SessionDescription:
        """An offer for the current state (initial INVITE, re-INVITE, 200 to an empty INVITE)."""
        offer = self._stamp(
            lambda version: build_offer(
                self._local_ip,
                self._rtp_port,
                self._session_id,
                version,
                codecs=self._codecs,
                direction=self._direction,
                telephone_event_pt=self._telephone_event_pt,
                ptime_ms=self._ptime_ms,
            )
        )
        self._pending_offer = offer
        return offer

    def hold(self, *, music: bool = True) -> SessionDescription:
        """A re-offer holding the peer (RFC 3264 §8.4): ``sendonly``, or ``inactive``."""
        self._direction = Direction.SENDONLY if music else Direction.INACTIVE
        return self.create_offer()

    def resume(self) -> SessionDescription:
        """A re-offer taking the peer off hold: ``sendrecv``."""
        self._direction = Direction.SENDRECV
        return self.create_offer()

    def answer(self, offer: SessionDescription) -> AnswerResult:
        """Answer the peer's (re-)offer with our current direction (RFC 3264 §6, §8).

        Raises SdpNegotiationError (488) when nothing is acceptable; our
        version does not move then.
        """
        results: list[AnswerResult] = []

        def build(version: int) -> SessionDescription:
            result = answer_offer(
                offer,
                self._local_ip,
                self._rtp_port,
                session_id=self._session_id,
                version=version,
                codecs=self._codecs,
                direction=self._direction,
                telephone_event=self._telephone_event_pt is not None,
                ptime_ms=self._ptime_ms,
            )
            results.append(result)
            return result.answer

        answer = self._stamp(build)
        self._pending_offer = None
        self._committed_direction = self._direction
        return AnswerResult(answer, results[-1].media)

    def process_answer(self, answer: SessionDescription) -> NegotiatedMedia:
        """Read the answer to our pending offer (RFC 3264 §7).

        Raises LocalProtocolError if no offer of ours is pending, and the
        errors of :func:`hotline.sdp.negotiation.process_answer`.
        """
        if self._pending_offer is None:
            raise LocalProtocolError("an SDP answer arrived but no offer of ours is pending")
        offer = self._pending_offer
        media = process_answer(offer, answer, codecs=self._codecs)
        self._pending_offer = None
        self._committed_direction = self._direction
        return media

    def cancel_offer(self) -> None:
        """Forget the pending offer: the re-INVITE carrying it failed (RFC 3261 §14.1).

        The session stays as it was before that offer, so a hold or resume
        that was not accepted is undone.  The version never goes back: the
        next offer is compared with the failed one (RFC 3264 §8).
        """
        self._pending_offer = None
        self._direction = self._committed_direction

    def _stamp(self, build: Callable[[int], SessionDescription]) -> SessionDescription:
        """Build with the current version; bump the version if the content changed."""
        description = build(self._version)
        if self._last_sent is not None and description != self._last_sent:
            self._version += 1
            description = build(self._version)
        self._last_sent = description
        return description
