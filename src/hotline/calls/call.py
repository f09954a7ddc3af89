"""One call as the controller sees it: its legs, where it stands, what it offered.

A call is legs plus one controller (style.md, the sippy B2BUA shape): the
caller's leg (a SIP dialog and a media leg), and while an operator is being
rung or talks, the operator's leg.  :class:`CallPhase` is where the call
stands; the allowed moves are the table :data:`PHASE_MOVES`, and
:meth:`Call.move` refuses any other (a bug in the controller, never silently
ignored).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from hotline.calls.ctl_ports import Route
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import CallId, OperatorId, QueueId
from hotline.sip.useragent import Leg

__all__ = ["PHASE_MOVES", "Call", "CallPhase", "Offer", "Party"]


class CallPhase(enum.Enum):
    """Where a call stands."""

    ANSWERING = "answering"  # ringing back; the media leg is being created
    GREETING = "greeting"  # answered; the greeting (IVR) plays
    QUEUED = "queued"  # in the ACD; music on hold; an operator may be ringing
    TALKING = "talking"  # bridged with an operator, recorded
    ENDED = "ended"


_P = CallPhase
PHASE_MOVES: Final[frozenset[tuple[CallPhase, CallPhase]]] = frozenset(
    {
        (_P.ANSWERING, _P.GREETING),
        (_P.ANSWERING, _P.QUEUED),
        (_P.GREETING, _P.QUEUED),
        (_P.QUEUED, _P.TALKING),
        (_P.TALKING, _P.QUEUED),  # blind transfer to a queue (ctl_transfer)
        (_P.ANSWERING, _P.ENDED),
        (_P.GREETING, _P.ENDED),
        (_P.QUEUED, _P.ENDED),
        (_P.TALKING, _P.ENDED),
    }
)
"""Every allowed (from, to) move of :class:`CallPhase`."""


class Party(enum.Enum):
    """Which side of the call a SIP or media leg belongs to."""

    CALLER = "caller"
    OPERATOR = "operator"


@dataclass(slots=True, eq=False)
class Offer:
    """An operator being rung for the call (ACD ``OfferCall``; several at once for ring-all).

    ``sip_leg`` is None while the operator's media leg is still being created;
    ``withdrawn`` is set when the ACD cancelled the offer or the call ended.
    """

    operator_id: OperatorId
    queue_id: QueueId
    media_leg_id: str | None = None
    sip_leg: Leg | None = None
    offer_sdp: bytes | None = None
    withdrawn: bool = False


@dataclass(slots=True, eq=False)
class Call:
    """A call's state; mutated only by the controller."""

    call_id: CallId
    caller_leg: Leg
    caller_number: str
    called_number: str
    trunk: str | None
    route: Route
    arrived_at: float
    phase: CallPhase = CallPhase.ANSWERING
    queue_id: QueueId | None = None
    caller_media: str | None = None
    codec: str = "PCMA"
    offers: dict[OperatorId, Offer] = field(default_factory=dict)
    operator_id: OperatorId | None = None
    operator_leg: Leg | None = None
    operator_media: str | None = None
    recording_id: str | None = None
    moh_item: str | None = None
    in_acd: bool = False
    position: int | None = None
    media_legs: set[str] = field(default_factory=set)
    bot_transcript: list[str] = field(default_factory=list)  # what the caller told the assistant
    bot_answer_id: str | None = None  # the standard answer the assistant read (R12b)

    def move(self, to: CallPhase) -> None:
        """Take the move ``phase → to`` of :data:`PHASE_MOVES`."""
        if (self.phase, to) not in PHASE_MOVES:
            raise LocalProtocolError(
                f"call {self.call_id}: no move from {self.phase.value} to {to.value}"
            )
        self.phase = to

    @property
    def ended(self) -> bool:
        return self.phase is CallPhase.ENDED
