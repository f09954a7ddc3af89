"""Per-stream receive statistics and RTCP report building (RFC 3550 §6.4, A.1, A.3, A.8).

:class:`ReceiveStats` follows one remote source: packets received and expected,
cumulative and interval loss, interarrival jitter, duplicates and late packets.
The caller passes the arrival time ``now`` (monotonic seconds); nothing here
reads a clock.  A new SSRC on the same stream resets the statistics (the
previous source is gone, RFC 3550 §8.2) and is counted in ``ssrc_changes``.

Feed only one payload format's packets (the audio): RFC 3550 §6.4.1 computes
jitter per clock rate, and telephone-events reuse timestamps (RFC 4733 §2.5.1.1).

:class:`SendStats` counts what we send, for the sender info of an SR, and
:func:`build_report` makes an SR or RR from both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from hotline.media.rtcp import ReceiverReport, ReportBlock, SenderReport, ntp_middle32
from hotline.media.seq import (
    MAX_DROPOUT,
    MIN_SEQUENTIAL,
    SequenceTracker,
    SeqVerdict,
    ts_diff,
)

__all__ = ["ReceiveStats", "SendStats", "build_report"]

_CUMULATIVE_MAX: Final = (1 << 23) - 1
_CUMULATIVE_MIN: Final = -(1 << 23)
_HISTORY_MASK: Final = (1 << 256) - 1
"""The duplicate window of :class:`~hotline.media.seq.SequenceTracker` (its last 256 numbers)."""


class ReceiveStats:
    """Receive statistics for one RTP stream (one remote SSRC at a time)."""

    __slots__ = (
        "_expected_prior",
        "_last_arrival",
        "_last_timestamp",
        "_received_prior",
        "_tracker",
        "bytes_received",
        "clock_rate_hz",
        "invalid",
        "jitter",
        "last_sr_arrival",
        "last_sr_ntp",
        "late",
        "min_sequential",
        "ssrc",
        "ssrc_changes",
    )

    def __init__(self, clock_rate_hz: int, *, min_sequential: int = MIN_SEQUENTIAL) -> None:
        self.clock_rate_hz = clock_rate_hz
        self.min_sequential = min_sequential
        self.ssrc: int | None = None
        self.ssrc_changes = 0
        self._reset()

    def _reset(self) -> None:
        self._tracker: SequenceTracker | None = None
        self._expected_prior = 0
        self._received_prior = 0
        self._last_arrival = 0.0
        self._last_timestamp: int | None = None
        self.jitter = 0.0
        """Interarrival jitter estimate in timestamp units (RFC 3550 A.8), as a float."""
        self.late = 0
        self.invalid = 0
        """Packets held back by probation or an unconfirmed sequence jump."""
        self.bytes_received = 0
        self.last_sr_ntp: int | None = None
        self.last_sr_arrival = 0.0

    # --- per packet --------------------------------------------------------------------------

    def receive(
        self, ssrc: int, sequence_number: int, timestamp: int, now: float, payload_size: int = 0
    ) -> SeqVerdict:
        """Account for one packet that arrived at ``now``; returns the sequence verdict."""
        tracker = self._tracker
        if ssrc == self.ssrc and tracker is not None and not tracker.probation:
            # The per-packet common case, inlined: the next packet of a validated source,
            # in order (RFC 3550 A.1 update_seq, udelta < MAX_DROPOUT; the same arithmetic
            # as SequenceTracker.update), then the A.8 jitter update.  Plain ints only.
            max_seq = tracker.max_seq
            udelta = (sequence_number - max_seq) & 0xFFFF
            last_ts = self._last_timestamp
            if 0 < udelta < MAX_DROPOUT and last_ts is not None:
                if sequence_number < max_seq:
                    tracker.cycles += 0x10000
                tracker.max_seq = sequence_number
                tracker.history = ((tracker.history << udelta) | 1) & _HISTORY_MASK
                tracker.received += 1
                self.bytes_received += payload_size
                transit_delta = (now - self._last_arrival) * self.clock_rate_hz - (
                    ((timestamp - last_ts + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                )
                jitter = self.jitter
                self.jitter = (
                    jitter
                    + ((-transit_delta if transit_delta < 0 else transit_delta) - jitter) / 16.0
                )
                self._last_arrival = now
                self._last_timestamp = timestamp
                return SeqVerdict.IN_ORDER
        if ssrc != self.ssrc:
            if self.ssrc is not None:
                self.ssrc_changes += 1
                self._reset()
            self.ssrc = ssrc
            tracker = None
        if tracker is None:
            tracker = self._tracker = SequenceTracker(
                sequence_number, min_sequential=self.min_sequential
            )
        verdict = tracker.update(sequence_number)
        if verdict is SeqVerdict.IN_ORDER:
            pass  # the common case first: identity checks, no Enum hashing per packet
        elif verdict is SeqVerdict.PROBATION or verdict is SeqVerdict.JUMP:
            self.invalid += 1
            return verdict
        elif verdict is SeqVerdict.RESTART:
            self._expected_prior = 0
            self._received_prior = 0
            self._last_timestamp = None
        elif verdict is SeqVerdict.DUPLICATE:
            return verdict
        elif verdict is SeqVerdict.LATE:
            self.late += 1
        self.bytes_received += payload_size
        # RFC 3550 A.8: D(i-1,i) = (R_i - R_{i-1}) - (S_i - S_{i-1}); J += (|D| - J) / 16.
        last_ts = self._last_timestamp
        if last_ts is not None:
            transit_delta = (now - self._last_arrival) * self.clock_rate_hz - ts_diff(
                last_ts, timestamp
            )
            self.jitter += (abs(transit_delta) - self.jitter) / 16.0
        self._last_arrival = now
        self._last_timestamp = timestamp
        return verdict

    # --- figures -------------------------------------------------------------------------------

    @property
    def received(self) -> int:
        """Packets counted by RFC 3550 A.1, including late ones and duplicates."""
        return 0 if self._tracker is None else self._tracker.received

    @property
    def duplicates(self) -> int:
        """Packets whose sequence number had been seen already (within the last 256)."""
        return 0 if self._tracker is None else self._tracker.duplicates

    @property
    def expected(self) -> int:
        """Extended highest sequence number − first sequence number + 1 (RFC 3550 A.3)."""
        return 0 if self._tracker is None else self._tracker.expected

    @property
    def lost(self) -> int:
        """Cumulative packets lost: expected − received; negative with duplicates (§6.4.1)."""
        return self.expected - self.received

    @property
    def extended_highest_sequence(self) -> int:
        """Cycles × 65536 + highest sequence number; 0 before validation."""
        if self._tracker is None or not self._tracker.validated:
            return 0
        return self._tracker.extended_max

    @property
    def fraction_lost_total(self) -> float:
        """Share of expected packets lost since the stream started (0.0–1.0)."""
        expected = self.expected
        return max(self.lost, 0) / expected if expected else 0.0

    @property
    def jitter_ms(self) -> float:
        """Interarrival jitter in milliseconds."""
        return self.jitter * 1000.0 / self.clock_rate_hz

    # --- RTCP -------------------------------------------------------------------------------

    def on_sender_report(self, ntp_timestamp: int, now: float) -> None:
        """Remember an SR from this source for the LSR/DLSR fields (RFC 3550 §6.4.1)."""
        self.last_sr_ntp = ntp_timestamp
        self.last_sr_arrival = now

    def report_block(self, now: float) -> ReportBlock | None:
        """A reception report for the current source, closing the interval (A.3).

        ``None`` until the source has been validated.  Each call starts a new
        interval for the fraction lost.
        """
        tracker = self._tracker
        if tracker is None or not tracker.validated or self.ssrc is None:
            return None
        expected = tracker.expected
        received = tracker.received
        expected_interval = expected - self._expected_prior
        received_interval = received - self._received_prior
        self._expected_prior = expected
        self._received_prior = received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = min((lost_interval << 8) // expected_interval, 255)
        lsr = dlsr = 0
        if self.last_sr_ntp is not None:
            lsr = ntp_middle32(self.last_sr_ntp)
            dlsr = min(int((now - self.last_sr_arrival) * 65536), 0xFFFFFFFF)
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            cumulative_lost=min(max(expected - received, _CUMULATIVE_MIN), _CUMULATIVE_MAX),
            highest_sequence=tracker.extended_max & 0xFFFFFFFF,
            jitter=int(self.jitter),
            lsr=lsr,
            dlsr=dlsr,
        )


class SendStats:
    """What one local source has sent, for the sender info of an SR (RFC 3550 §6.4.1)."""

    __slots__ = ("last_rtp_timestamp", "octet_count", "packet_count")

    def __init__(self) -> None:
        self.packet_count = 0
        self.octet_count = 0
        """Payload octets only: no header, no padding."""
        self.last_rtp_timestamp = 0

    def on_sent(self, payload_size: int, rtp_timestamp: int) -> None:
        """Count one packet sent."""
        self.packet_count += 1
        self.octet_count += payload_size
        self.last_rtp_timestamp = rtp_timestamp


def build_report(
    ssrc: int,
    streams: Sequence[ReceiveStats],
    now: float,
    *,
    sender: SendStats | None = None,
    ntp_timestamp: int = 0,
    rtp_timestamp: int | None = None,
) -> SenderReport | ReceiverReport:
    """An SR when ``sender`` has sent anything, else an RR (RFC 3550 §6.4).

    ``ntp_timestamp`` is the wall clock at ``now`` (see
    :func:`~hotline.media.rtcp.ntp_from_unix`) and ``rtp_timestamp`` the same
    instant on the media clock (default: the last timestamp sent).  At most 31
    report blocks are included (RFC 3550 §6.4: the rest would go in further
    reports).
    """
    blocks = tuple(
        block for block in (stream.report_block(now) for stream in streams) if block is not None
    )[:31]
    if sender is not None and sender.packet_count:
        return SenderReport(
            ssrc=ssrc,
            ntp_timestamp=ntp_timestamp,
            rtp_timestamp=(sender.last_rtp_timestamp if rtp_timestamp is None else rtp_timestamp),
            packet_count=sender.packet_count,
            octet_count=sender.octet_count,
            reports=blocks,
        )
    return ReceiverReport(ssrc=ssrc, reports=blocks)
