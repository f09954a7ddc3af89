"""RFC 4733 telephone-events in and out, and SIP INFO DTMF bodies."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.media.dtmf import (
    DTMF_DIGITS,
    DtmfReceived,
    DtmfSource,
    TelephoneEvent,
    TelephoneEventFrame,
    TelephoneEventReceiver,
    digit_to_event,
    event_to_digit,
    parse_sip_info_dtmf,
    telephone_event_frames,
)

SSRC = 0x0E05384E
T0 = 1000.0


def _payload(event: int, duration: int, *, end: bool = False, volume: int = 10) -> bytes:
    return bytes(TelephoneEvent(event, end, volume, duration))


def _press(
    event: int, timestamp: int, total: int, *, step: int = 160
) -> list[tuple[int, bytes, float]]:
    """(timestamp, payload, offset_s) for one press: updates every step, then 3 end packets."""
    packets = [
        (timestamp, _payload(event, elapsed), elapsed / 8000)
        for elapsed in range(step, total, step)
    ]
    packets += [
        (timestamp, _payload(event, total, end=True), total / 8000 + i * 0.02) for i in range(3)
    ]
    return packets


def _events(receiver: TelephoneEventReceiver) -> list[DtmfReceived]:
    out = []
    while (event := receiver.next_event()) is not None:
        out.append(event)
    return out


def _run(
    packets: list[tuple[int, bytes, float]], receiver: TelephoneEventReceiver | None = None
) -> tuple[TelephoneEventReceiver, list[DtmfReceived]]:
    receiver = receiver or TelephoneEventReceiver(8000)
    for timestamp, payload, offset in packets:
        receiver.receive(SSRC, timestamp, payload, T0 + offset)
    return receiver, _events(receiver)


def test_digit_mapping() -> None:
    assert [event_to_digit(code) for code in range(16)] == list("0123456789*#ABCD")
    assert digit_to_event("#") == 11
    assert digit_to_event("d") == 15
    for bad in ("E", "", "12", " "):
        with pytest.raises(LocalProtocolError):
            digit_to_event(bad)
    with pytest.raises(LocalProtocolError):
        event_to_digit(16)


def test_payload_wire_format() -> None:
    assert _payload(1, 0x8C0, end=True) == bytes.fromhex("018a08c0")
    assert TelephoneEvent.parse(bytes.fromhex("018a08c0")) == TelephoneEvent(1, True, 10, 2240)
    assert TelephoneEvent.parse(bytes.fromhex("0b3f00000c000000")) == TelephoneEvent(
        11, False, 63, 0
    )
    for bad in (b"", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05"):
        with pytest.raises(RemoteProtocolError):
            TelephoneEvent.parse(bad)
    for event in (TelephoneEvent(256, False, 0, 0), TelephoneEvent(1, False, 64, 0)):
        with pytest.raises(LocalProtocolError):
            bytes(event)
    with pytest.raises(LocalProtocolError):
        bytes(TelephoneEvent(1, False, 10, 0x10000))


def test_one_clean_press() -> None:
    receiver, events = _run(_press(5, 16000, 800))
    assert events == [
        DtmfReceived("5", 100, DtmfSource.RFC4733, True, rtp_timestamp=16000, volume_dbm0=10)
    ]
    assert receiver.duplicates == 2
    assert receiver.get_timer() is None


def test_every_digit() -> None:
    packets = []
    for code in range(16):
        packets += [(ts, p, o + code) for ts, p, o in _press(code, 8000 * (code + 1), 480)]
    _, events = _run(packets)
    assert "".join(event.digit for event in events) == DTMF_DIGITS
    assert {event.duration_ms for event in events} == {60}


def test_first_packets_lost_event_starts_midway() -> None:
    packets = _press(7, 320, 1600)[4:]  # the first four updates are lost
    _, events = _run(packets)
    assert [(e.digit, e.duration_ms, e.end_seen) for e in events] == [("7", 200, True)]


def test_only_an_end_packet_arrives() -> None:
    _, events = _run([(320, _payload(3, 640, end=True), 0.0)])
    assert [(e.digit, e.duration_ms) for e in events] == [("3", 80)]


def test_all_end_packets_lost_finishes_on_timer() -> None:
    packets = [p for p in _press(9, 0, 960) if not TelephoneEvent.parse(p[1]).end]
    receiver, events = _run(packets)
    assert events == []
    deadline = receiver.get_timer()
    last_packet_at = T0 + packets[-1][2]
    assert deadline == pytest.approx(last_packet_at + 0.3)
    receiver.handle_timer(last_packet_at + 0.1)  # too early: nothing
    assert receiver.next_event() is None
    assert deadline is not None
    receiver.handle_timer(deadline)
    (event,) = _events(receiver)
    assert (event.digit, event.end_seen) == ("9", False)
    assert event.duration_ms == 800 * 1000 // 8000  # the last update said 800 units
    assert receiver.get_timer() is None


def test_all_end_packets_lost_finishes_on_next_event() -> None:
    first = [p for p in _press(1, 0, 800) if not TelephoneEvent.parse(p[1]).end]
    second = [(ts, p, o + 0.3) for ts, p, o in _press(2, 2400, 480)]
    _, events = _run(first + second)
    assert [(e.digit, e.end_seen) for e in events] == [("1", False), ("2", True)]
    assert events[0].duration_ms == 80  # 640 units: the last update of the first press


def test_late_end_packet_of_a_timed_out_event_is_a_duplicate() -> None:
    packets = _press(4, 0, 800)
    updates = [p for p in packets if not TelephoneEvent.parse(p[1]).end]
    ends = [p for p in packets if TelephoneEvent.parse(p[1]).end]
    receiver, _ = _run(updates)
    receiver.handle_timer(T0 + 10.0)
    assert len(_events(receiver)) == 1
    _run([(ts, p, 10.5) for ts, p, _ in ends], receiver)
    assert receiver.next_event() is None
    assert receiver.duplicates == 3


def test_reordering_within_an_event() -> None:
    packets = _press(0, 0, 960)
    reordered = [packets[2], packets[0], packets[1], packets[-1], packets[3], packets[4]]
    receiver, events = _run(reordered)
    assert [(e.digit, e.duration_ms, e.end_seen) for e in events] == [("0", 120, True)]
    assert receiver.duplicates == 2  # two updates arrived after the end


def test_late_packet_of_an_older_unreported_event_is_dropped() -> None:
    _, events = _run(_press(6, 8000, 480))
    receiver = TelephoneEventReceiver()
    _run(_press(6, 8000, 480), receiver)
    _run([(4000, _payload(8, 160), 1.0)], receiver)  # older timestamp, never seen
    assert receiver.next_event() is None
    assert receiver.late == 1
    assert len(events) == 1


def test_same_digit_pressed_twice() -> None:
    packets = _press(5, 0, 800) + [(ts, p, o + 0.5) for ts, p, o in _press(5, 4000, 800)]
    _, events = _run(packets)
    assert [e.digit for e in events] == ["5", "5"]
    assert [e.rtp_timestamp for e in events] == [0, 4000]


def test_different_ssrc_and_sequence_space_are_accepted() -> None:
    receiver = TelephoneEventReceiver()
    receiver.receive(0x1111, 50, _payload(1, 160), T0)
    receiver.receive(0x1111, 50, _payload(1, 800, end=True), T0 + 0.1)
    receiver.receive(0x2222, 10, _payload(2, 800, end=True), T0 + 1.0)  # another SSRC, older ts
    assert [e.digit for e in _events(receiver)] == ["1", "2"]


def test_non_dtmf_events_are_ignored() -> None:
    receiver, events = _run([(0, _payload(16, 800, end=True), 0.0)])  # flash-hook
    assert events == []
    assert receiver.ignored == 1


def test_conflicting_event_code_with_the_same_timestamp_is_ignored() -> None:
    receiver, _ = _run([(0, _payload(1, 160), 0.0), (0, _payload(2, 320), 0.02)])
    assert receiver.ignored == 1
    receiver.flush()
    assert [e.digit for e in _events(receiver)] == ["1"]


def test_long_event_in_segments() -> None:
    # RFC 4733 §2.5.1.3: near 0xFFFF the sender starts a new segment whose timestamp is the
    # previous timestamp plus the previous segment's duration.
    packets = [
        (0, _payload(10, 0xFFFF), 8.19),
        (0xFFFF, _payload(10, 1600), 8.39),
        (0xFFFF, _payload(10, 1600, end=True), 8.4),
    ]
    _, events = _run(packets)
    assert [(e.digit, e.duration_ms) for e in events] == [("*", round((0xFFFF + 1600) / 8))]
    assert events[0].rtp_timestamp == 0  # the press started with the first segment


def test_long_event_segment_ending_below_the_maximum_with_its_last_update_lost() -> None:
    packets = [
        (1000, _payload(0, 65280), 8.16),  # the 65440 update of this segment is lost
        (1000 + 65440, _payload(0, 800), 8.28),
        (1000 + 65440, _payload(0, 960, end=True), 8.3),
    ]
    _, events = _run(packets)
    assert [(e.digit, e.duration_ms) for e in events] == [("0", (65440 + 960) // 8)]


def test_short_events_of_the_same_digit_are_not_merged_as_segments() -> None:
    packets = [(0, _payload(5, 800), 0.1), (960, _payload(5, 800, end=True), 0.3)]
    receiver, events = _run(packets)
    receiver.flush()
    events += _events(receiver)
    assert [(e.digit, e.end_seen) for e in events] == [("5", False), ("5", True)]


def test_timestamp_wrap_between_events() -> None:
    packets = _press(1, 0xFFFFFF00, 480) + [(ts, p, o + 1) for ts, p, o in _press(2, 0x100, 480)]
    _, events = _run(packets)
    assert [e.digit for e in events] == ["1", "2"]


def test_state_follows_the_press() -> None:
    receiver = TelephoneEventReceiver()
    assert receiver.state == "idle"
    receiver.flush()  # nothing to finish
    receiver.receive(SSRC, 0, _payload(1, 160), T0)
    assert receiver.state == "active"
    receiver.receive(SSRC, 0, _payload(1, 320, end=True), T0 + 0.02)
    assert receiver.state == "idle"
    assert [e.digit for e in _events(receiver)] == ["1"]


def test_malformed_payload_raises() -> None:
    receiver = TelephoneEventReceiver()
    with pytest.raises(RemoteProtocolError):
        receiver.receive(SSRC, 0, b"\x01\x02", T0)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(DTMF_DIGITS),
    st.integers(40, 2000),
    st.randoms(use_true_random=False),
    st.floats(0.0, 0.6),
)
def test_sender_to_receiver_with_loss_and_reordering(
    digit: str, duration_ms: int, rng: random.Random, loss: float
) -> None:
    frames = telephone_event_frames(digit, 101, duration_ms=duration_ms)
    kept = [frame for frame in frames if rng.random() >= loss]
    if not kept:
        return
    # Reorder neighbours now and then.
    for index in range(len(kept) - 1):
        if rng.random() < 0.2:
            kept[index], kept[index + 1] = kept[index + 1], kept[index]
    receiver = TelephoneEventReceiver()
    for frame in kept:
        receiver.receive(SSRC, 12345, frame.payload, T0 + frame.offset_samples / 8000)
    receiver.handle_timer(T0 + 100)
    events = _events(receiver)
    assert len(events) == 1
    assert events[0].digit == digit
    assert 0 <= events[0].duration_ms <= duration_ms
    if any(frame.end for frame in kept):
        assert events[0].duration_ms == duration_ms
        assert events[0].end_seen


# --- sender -------------------------------------------------------------------------------------


def test_sender_frames_shape() -> None:
    frames = telephone_event_frames("1", 101, duration_ms=100)
    assert all(isinstance(frame, TelephoneEventFrame) for frame in frames)
    assert [frame.marker for frame in frames] == [True] + [False] * 6
    assert [frame.end for frame in frames] == [False] * 4 + [True] * 3
    assert {frame.payload_type for frame in frames} == {101}
    parsed = [TelephoneEvent.parse(frame.payload) for frame in frames]
    assert [p.duration for p in parsed] == [160, 320, 480, 640, 800, 800, 800]
    assert {p.event for p in parsed} == {1}
    assert {p.volume for p in parsed} == {10}
    assert [frame.offset_samples for frame in frames] == [160, 320, 480, 640, 800, 960, 1120]
    assert frames[-1].payload == frames[-2].payload == frames[-3].payload


def test_sender_short_press_and_options() -> None:
    frames = telephone_event_frames("#", 96, duration_ms=20, volume=0, end_repeats=1)
    assert len(frames) == 1
    assert frames[0].marker and frames[0].end
    assert frames[0].payload == bytes.fromhex("0b8000a0")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"digit": "E"},
        {"payload_type": 128},
        {"duration_ms": 0},
        {"duration_ms": 9000},
        {"interval_samples": 0},
        {"end_repeats": 0},
    ],
)
def test_sender_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    arguments: dict[str, object] = {"digit": "1", "payload_type": 101}
    arguments.update(kwargs)
    digit = arguments.pop("digit")
    payload_type = arguments.pop("payload_type")
    with pytest.raises(LocalProtocolError):
        telephone_event_frames(digit, payload_type, **arguments)  # type: ignore[arg-type]


# --- SIP INFO -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "digit", "duration_ms"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5", 160),
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160", "5", 160),
        ("Application/DTMF-Relay; charset=ascii", b"signal= *\nduration = 250\n", "*", 250),
        ("application/dtmf-relay", b"Signal=#\r\n", "#", 250),
        ("application/dtmf-relay", b"Signal=11\r\nDuration=100\r\n", "#", 100),
        ("application/dtmf-relay", b"Signal=d\r\nDuration=100\r\n", "D", 100),
        ("application/dtmf", b"5", "5", 250),
        ("application/dtmf", b"  7\r\n", "7", 250),
        ("application/dtmf", b"10", "*", 250),
    ],
)
def test_sip_info_bodies(content_type: str, body: bytes, digit: str, duration_ms: int) -> None:
    assert parse_sip_info_dtmf(content_type, body) == DtmfReceived(
        digit, duration_ms, DtmfSource.SIP_INFO
    )


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/dtmf-relay", b"Duration=160", 400),
        ("application/dtmf-relay", b"Signal=E", 400),
        ("application/dtmf-relay", b"Signal=16", 400),
        ("application/dtmf-relay", b"Signal=5\r\nDuration=-1", 400),
        ("application/dtmf-relay", b"Signal=5\r\nDuration=99999999", 400),
        ("application/dtmf-relay", "Signal=٥".encode(), 400),
        ("application/dtmf", b"", 400),
        ("application/dtmf", b"55", 400),
        ("text/plain", b"5", 415),
    ],
)
def test_sip_info_bad_bodies(content_type: str, body: bytes, status: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_sip_info_dtmf(content_type, body)
    assert info.value.status_hint == status


def test_sip_info_body_limit() -> None:
    with pytest.raises(LimitExceededError):
        parse_sip_info_dtmf("application/dtmf-relay", b"Signal=5\r\n" + b"x" * 2000)
