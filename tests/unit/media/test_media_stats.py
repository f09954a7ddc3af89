"""Per-stream receive statistics (RFC 3550 §6.4.1, A.3, A.8) and SR/RR building."""

from __future__ import annotations

import pytest

from hotline.media.rtcp import ReceiverReport, SenderReport, ntp_from_unix, parse_rtcp
from hotline.media.seq import SeqVerdict
from hotline.media.stats import ReceiveStats, SendStats, build_report

RATE = 8000
PTIME_S = 0.02
SAMPLES = 160
SSRC = 0x1234


def _feed(
    stats: ReceiveStats,
    seqs: list[int],
    *,
    start_seq: int = 1000,
    start_ts: int = 5000,
    t0: float = 100.0,
    delays: dict[int, float] | None = None,
    ssrc: int = SSRC,
) -> list[SeqVerdict]:
    """Packets with index i in ``seqs`` (offset from start) sent every 20 ms."""
    verdicts = []
    for index in seqs:
        now = t0 + index * PTIME_S + (delays or {}).get(index, 0.0)
        verdicts.append(
            stats.receive(
                ssrc,
                (start_seq + index) & 0xFFFF,
                (start_ts + index * SAMPLES) & 0xFFFFFFFF,
                now,
                payload_size=160,
            )
        )
    return verdicts


def test_perfect_stream_has_no_loss_and_no_jitter() -> None:
    stats = ReceiveStats(RATE)
    verdicts = _feed(stats, list(range(50)))
    assert verdicts[0] is SeqVerdict.PROBATION
    assert set(verdicts[1:]) == {SeqVerdict.IN_ORDER}
    assert (stats.received, stats.expected, stats.lost) == (49, 49, 0)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    assert stats.jitter_ms == pytest.approx(0.0, abs=1e-6)
    assert stats.invalid == 1
    assert stats.bytes_received == 49 * 160


def test_loss_counts_and_fraction() -> None:
    stats = ReceiveStats(RATE, min_sequential=1)
    lost = {5, 6, 20, 33}
    _feed(stats, [i for i in range(100) if i not in lost])
    assert stats.expected == 100
    assert stats.received == 96
    assert stats.lost == 4
    assert stats.fraction_lost_total == pytest.approx(0.04)
    assert stats.extended_highest_sequence == 1099


def test_duplicates_and_late_packets() -> None:
    stats = ReceiveStats(RATE, min_sequential=1)
    verdicts = _feed(stats, [0, 1, 3, 2, 2, 4, 4])
    assert verdicts == [
        SeqVerdict.IN_ORDER,
        SeqVerdict.IN_ORDER,
        SeqVerdict.IN_ORDER,
        SeqVerdict.LATE,
        SeqVerdict.DUPLICATE,
        SeqVerdict.IN_ORDER,
        SeqVerdict.DUPLICATE,
    ]
    assert stats.late == 1
    assert stats.duplicates == 2
    # RFC 3550 §6.4.1: duplicates count as received, so "lost" goes negative.
    assert (stats.expected, stats.received, stats.lost) == (5, 7, -2)
    assert stats.fraction_lost_total == 0.0
    assert stats.bytes_received == 5 * 160  # duplicates carry no new payload


def test_jitter_converges_to_constant_alternating_delay() -> None:
    # Every other packet is 10 ms late: |D| is 80 timestamp units each time, so the
    # estimate converges towards 80 (RFC 3550 A.8: J += (|D| - J) / 16).
    stats = ReceiveStats(RATE, min_sequential=1)
    delays = {i: 0.010 for i in range(1, 400, 2)}
    _feed(stats, list(range(400)), delays=delays)
    assert stats.jitter == pytest.approx(80.0, rel=1e-3)
    assert stats.jitter_ms == pytest.approx(10.0, rel=1e-3)


def test_jitter_single_step_matches_the_formula() -> None:
    stats = ReceiveStats(RATE, min_sequential=1)
    stats.receive(SSRC, 1, 0, 10.0)
    stats.receive(SSRC, 2, 160, 10.025)  # 5 ms late: D = 200 - 160 = 40 units
    assert stats.jitter == pytest.approx(40 / 16)
    stats.receive(SSRC, 3, 320, 10.040)  # 5 ms early relative to the last: D = -40
    assert stats.jitter == pytest.approx(40 / 16 + (40 - 40 / 16) / 16)


def test_jitter_across_timestamp_and_sequence_wrap() -> None:
    stats = ReceiveStats(RATE, min_sequential=1)
    verdicts = _feed(stats, list(range(10)), start_seq=65530, start_ts=0xFFFFFFFF - 500)
    assert set(verdicts) == {SeqVerdict.IN_ORDER}
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    assert stats.expected == 10
    assert stats.extended_highest_sequence == 65536 + 3


def test_ssrc_change_resets() -> None:
    stats = ReceiveStats(RATE, min_sequential=1)
    _feed(stats, [0, 1, 2, 5])
    assert stats.lost == 2
    _feed(stats, [0, 1, 2], start_seq=40000, ssrc=0x9999, t0=200.0)
    assert stats.ssrc == 0x9999
    assert stats.ssrc_changes == 1
    assert (stats.expected, stats.received, stats.lost) == (3, 3, 0)


def test_report_block_interval_fraction_and_cumulative() -> None:
    stats = ReceiveStats(RATE, min_sequential=1)
    _feed(stats, [i for i in range(100) if i % 4 != 3])  # lose 1 in 4 → 25 packets lost
    block = stats.report_block(now=102.0)
    assert block is not None
    assert block.ssrc == SSRC
    assert block.highest_sequence == 1098  # i = 98 is the last received (99 is lost)
    assert block.cumulative_lost == 24  # i = 99 is lost too, but not expected yet
    assert block.fraction_lost == (24 << 8) // 99
    assert (block.lsr, block.dlsr) == (0, 0)
    # Next interval: 1100..1119 arrive; 1099 (lost earlier) is now expected too.
    _feed(stats, list(range(100, 120)))
    block = stats.report_block(now=103.0)
    assert block is not None
    assert block.fraction_lost == (1 << 8) // 21
    assert block.cumulative_lost == 25
    # An interval without any packet reports no loss.
    block = stats.report_block(now=104.0)
    assert block is not None
    assert (block.fraction_lost, block.cumulative_lost) == (0, 25)


def test_report_block_lsr_dlsr() -> None:
    stats = ReceiveStats(RATE, min_sequential=1)
    _feed(stats, [0, 1])
    ntp = 0xAABBCCDD_EEFF0011
    stats.on_sender_report(ntp, now=50.0)
    block = stats.report_block(now=51.5)
    assert block is not None
    assert block.lsr == 0xCCDDEEFF
    assert block.dlsr == 98304  # 1.5 s in 1/65536 s


def test_no_report_block_before_validation() -> None:
    stats = ReceiveStats(RATE)
    assert stats.report_block(1.0) is None
    stats.receive(SSRC, 10, 0, 1.0)  # probation
    assert stats.report_block(1.0) is None


def test_build_rr_and_sr() -> None:
    a = ReceiveStats(RATE, min_sequential=1)
    b = ReceiveStats(RATE, min_sequential=1)
    _feed(a, [0, 1, 3])
    rr = build_report(0x42, [a, b], now=101.0)
    assert isinstance(rr, ReceiverReport)
    assert [block.ssrc for block in rr.reports] == [SSRC]  # b has no source yet
    assert parse_rtcp(bytes(rr)) == [rr]

    sender = SendStats()
    for index in range(10):
        sender.on_sent(160, 1000 + index * 160)
    ntp = ntp_from_unix(1_700_000_000.25)
    sr = build_report(0x42, [a], now=102.0, sender=sender, ntp_timestamp=ntp)
    assert isinstance(sr, SenderReport)
    assert (sr.packet_count, sr.octet_count, sr.rtp_timestamp) == (10, 1600, 1000 + 9 * 160)
    assert sr.ntp_timestamp == ntp
    assert parse_rtcp(bytes(sr)) == [sr]


def test_sender_restart_resynchronises_after_two_sequential_packets() -> None:
    stats = ReceiveStats(RATE, min_sequential=1)
    _feed(stats, list(range(10)))
    # The sender restarts with a new sequence space but the same SSRC.
    verdicts = _feed(stats, [0, 1, 2], start_seq=30000, start_ts=90000, t0=120.0)
    assert verdicts == [SeqVerdict.JUMP, SeqVerdict.RESTART, SeqVerdict.IN_ORDER]
    assert stats.ssrc_changes == 0
    assert (stats.expected, stats.received, stats.lost) == (2, 2, 0)
    assert stats.extended_highest_sequence == 30002
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)  # the restart is not jitter
    block = stats.report_block(now=121.0)
    assert block is not None
    assert (block.fraction_lost, block.cumulative_lost) == (0, 0)
