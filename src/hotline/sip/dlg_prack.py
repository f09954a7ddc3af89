"""Reliable provisional responses (RFC 3262, "100rel") for the INVITE session.

UAC side (§4): :class:`ReliableReceiver` decides which reliable 1xx get a
PRACK: per early dialog, the first one and then only ``RSeq = last + 1``
(others are retransmissions or out of order and are neither acknowledged
nor processed); :func:`rack_for` gives the ``RAck`` value.

UAS side (§3): we only send a provisional reliably when the INVITE has
``Require: 100rel``, or when the TU asks and the INVITE has ``Supported:
100rel``.  :class:`ReliableSender` stamps ``Require: 100rel`` and ``RSeq``
on the response, keeps one unacknowledged response at a time, and has it
retransmitted (T1 doubling) until the matching PRACK, for at most 64*T1;
then the INVITE must be rejected with a 5xx.
"""

from __future__ import annotations

import enum
import random

from hotline.sip.dlg_headers import MAX_RSEQ, RAck, parse_rseq
from hotline.sip.message import SipMessage, SipResponse

__all__ = [
    "MAX_TRACKED_FORKS",
    "ReliableReceiver",
    "ReliableSender",
    "ReliableTimerResult",
    "is_reliable",
    "rack_for",
    "supports_100rel",
]

#: Early dialogs (forks) whose RSeq a UAC follows; more are not PRACKed.
MAX_TRACKED_FORKS = 16


def _tags(values: tuple[str, ...]) -> set[str]:
    return {value.lower() for value in values}


def supports_100rel(message: SipMessage) -> bool:
    """True when ``100rel`` is in Supported or Require."""
    return "100rel" in _tags(message.supported()) | _tags(message.require())


def is_reliable(response: SipResponse) -> bool:
    """True for a 101-199 with ``Require: 100rel`` and an RSeq (RFC 3262 §4)."""
    return (
        101 <= response.status <= 199
        and "100rel" in _tags(response.require())
        and response.headers.get("RSeq") is not None
    )


def rack_for(response: SipResponse) -> RAck:
    """The RAck that acknowledges a reliable provisional ``response`` (§7.2)."""
    rseq_value = response.headers.get("RSeq")
    rseq = parse_rseq(rseq_value if rseq_value is not None else "")
    return RAck(rseq, response.cseq.number, response.cseq.method)


class ReliableReceiver:
    """UAC bookkeeping: the last RSeq acknowledged on each early dialog (§4)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def accept(self, remote_tag: str, rseq: int) -> bool:
        """True when this RSeq must be PRACKed and processed; records it."""
        last = self._last.get(remote_tag)
        if last is None:
            if len(self._last) >= MAX_TRACKED_FORKS:
                return False
        elif rseq != last + 1:
            return False
        self._last[remote_tag] = rseq
        return True


class ReliableTimerResult(enum.Enum):
    """What :meth:`ReliableSender.handle_timer` asks the session to do."""

    RETRANSMIT = "retransmit"
    GIVE_UP = "give-up"


class ReliableSender:
    """UAS side: one unacknowledged reliable provisional response at a time (§3)."""

    __slots__ = ("_give_up_at", "_interval", "_next_at", "_next_rseq", "_pending", "_t1")

    def __init__(self, t1: float, rng: random.Random) -> None:
        self._t1 = t1
        # §3: the first RSeq is chosen between 1 and 2**31 - 1.
        self._next_rseq = rng.randrange(1, MAX_RSEQ // 2)
        self._pending: tuple[SipResponse, int] | None = None
        self._next_at: float | None = None
        self._interval = t1
        self._give_up_at = 0.0

    @property
    def pending(self) -> SipResponse | None:
        """The reliable provisional response still waiting for its PRACK."""
        return None if self._pending is None else self._pending[0]

    def stamp(self, response: SipResponse, now: float) -> None:
        """Make ``response`` reliable (Require: 100rel, RSeq) and start retransmitting it."""
        rseq = self._next_rseq
        self._next_rseq += 1
        response.headers.add("Require", "100rel")
        response.headers.add("RSeq", str(rseq))
        self._pending = (response, rseq)
        self._interval = self._t1
        self._next_at = now + self._t1
        self._give_up_at = now + 64 * self._t1

    def acknowledge(self, rack: RAck) -> bool:
        """True when ``rack`` acknowledges the pending response; stops its retransmission."""
        if self._pending is None:
            return False
        response, rseq = self._pending
        cseq = response.cseq
        if (rack.rseq, rack.cseq, rack.method.upper()) != (rseq, cseq.number, cseq.method):
            return False
        self.stop()
        return True

    def stop(self) -> None:
        """Forget the pending response (acknowledged, or the INVITE got its final response)."""
        self._pending = None
        self._next_at = None

    def get_timer(self) -> float | None:
        """When the pending response must be retransmitted next."""
        return self._next_at

    def handle_timer(self, now: float) -> ReliableTimerResult | None:
        """RETRANSMIT the pending response, or GIVE_UP after 64*T1 without PRACK."""
        if self._next_at is None or now < self._next_at:
            return None
        if now >= self._give_up_at:
            self.stop()
            return ReliableTimerResult.GIVE_UP
        self._interval *= 2
        self._next_at = min(now + self._interval, self._give_up_at)
        return ReliableTimerResult.RETRANSMIT
