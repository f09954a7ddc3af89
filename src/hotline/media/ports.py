"""The RTP/RTCP port pool of a media engine (sans-IO).

RFC 3550 §11: RTP uses an even port and RTCP the next (odd) one; RFC 3264
§5.1 offers the RTP port in ``m=`` and the peer sends RTCP to port + 1 unless
told otherwise (RFC 3605).  :class:`RtpPortPool` hands out such pairs from a
configured inclusive range (``first``/``last``, e.g. the ``rtp_ports`` setting).

A released pair is quarantined for ``quarantine_s`` seconds before it is handed
out again: packets of the old call still in flight (a far end that has not
processed the BYE yet) must not land in a new call.  Free pairs are reused in
FIFO order, which spreads reuse over the whole range.  Every pair is in
exactly one of three places (free, in use, quarantined), so nothing leaks; a
double release is a bug (:class:`~hotline.core.errors.LocalProtocolError`)
and exhaustion raises :class:`PortExhaustedError`.

Nothing here reads a clock: :meth:`RtpPortPool.allocate` and
:meth:`RtpPortPool.release` take ``now`` (monotonic seconds).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, Protocol

from hotline.core.errors import HotlineError, LocalProtocolError

__all__ = [
    "DEFAULT_QUARANTINE_S",
    "PortExhaustedError",
    "PortPair",
    "PortSpan",
    "RtpPortPool",
]

DEFAULT_QUARANTINE_S: Final = 5.0
_MIN_PORT: Final = 1
_MAX_PORT: Final = 65535


class PortExhaustedError(HotlineError):
    """No RTP/RTCP pair is free: all are in use or quarantined."""

    def __init__(self, first: int, last: int, in_use: int, quarantined: int) -> None:
        super().__init__(
            f"no free RTP/RTCP port pair in {first}-{last}: "
            f"{in_use} in use, {quarantined} quarantined after recent calls"
        )
        self.in_use = in_use
        self.quarantined = quarantined


class PortSpan(Protocol):
    """An inclusive port range, e.g. the ``rtp_ports`` setting."""

    @property
    def first(self) -> int: ...

    @property
    def last(self) -> int: ...


@dataclass(frozen=True, slots=True)
class PortPair:
    """An even RTP port and the RTCP port after it (RFC 3550 §11)."""

    rtp: int

    @property
    def rtcp(self) -> int:
        return self.rtp + 1


class RtpPortPool:
    """RTP/RTCP pairs from ``first``..``last`` (inclusive): allocate, release, quarantine."""

    __slots__ = ("_free", "_in_use", "_quarantine", "first", "last", "quarantine_s")

    def __init__(
        self, first: int, last: int, *, quarantine_s: float = DEFAULT_QUARANTINE_S
    ) -> None:
        if not (_MIN_PORT <= first <= _MAX_PORT and _MIN_PORT <= last <= _MAX_PORT):
            raise ValueError(f"ports must lie in {_MIN_PORT}..{_MAX_PORT} (got {first}-{last})")
        if quarantine_s < 0:
            raise ValueError("quarantine_s must be >= 0")
        start = first + (first % 2)
        if start + 1 > last:
            raise ValueError(f"the range {first}-{last} holds no RTP/RTCP pair")
        self.first = first
        self.last = last
        self.quarantine_s = quarantine_s
        self._free: deque[int] = deque(range(start, last, 2))
        self._in_use: set[int] = set()
        # (release time, RTP port); FIFO is release order because quarantine_s is constant.
        self._quarantine: deque[tuple[float, int]] = deque()

    @classmethod
    def from_span(
        cls, span: PortSpan, *, quarantine_s: float = DEFAULT_QUARANTINE_S
    ) -> RtpPortPool:
        """A pool over ``span.first``..``span.last``."""
        return cls(span.first, span.last, quarantine_s=quarantine_s)

    @property
    def capacity(self) -> int:
        """Pairs in the range."""
        return len(self._free) + len(self._in_use) + len(self._quarantine)

    @property
    def in_use(self) -> int:
        """Pairs allocated and not released."""
        return len(self._in_use)

    @property
    def quarantined(self) -> int:
        """Pairs released less than ``quarantine_s`` ago (as of the last call with ``now``)."""
        return len(self._quarantine)

    def available(self, now: float) -> int:
        """Pairs that :meth:`allocate` could hand out at ``now``."""
        self._thaw(now)
        return len(self._free)

    def is_allocated(self, pair: PortPair) -> bool:
        return pair.rtp in self._in_use

    def _thaw(self, now: float) -> None:
        quarantine = self._quarantine
        limit = now - self.quarantine_s
        while quarantine and quarantine[0][0] <= limit:
            self._free.append(quarantine.popleft()[1])

    def allocate(self, now: float) -> PortPair:
        """The next free pair; :class:`PortExhaustedError` when there is none."""
        self._thaw(now)
        if not self._free:
            raise PortExhaustedError(
                self.first, self.last, len(self._in_use), len(self._quarantine)
            )
        port = self._free.popleft()
        self._in_use.add(port)
        return PortPair(port)

    def release(self, pair: PortPair, now: float) -> None:
        """Give ``pair`` back; it is quarantined until ``now + quarantine_s``."""
        try:
            self._in_use.remove(pair.rtp)
        except KeyError:
            raise LocalProtocolError(f"port pair {pair.rtp}/{pair.rtcp} is not allocated") from None
        if self.quarantine_s == 0:
            self._free.append(pair.rtp)
        else:
            self._quarantine.append((now, pair.rtp))
