"""Sending DTMF on a leg: RFC 4733 telephone-events, or in-band tones without them.

RFC 4733 §2.5.1: all packets of one event carry the event's start timestamp;
the first has the marker bit, updates grow the duration every 20 ms, and the
end packet is sent three times.  The packets go out on the leg's continuous
outgoing stream (one per pacer tick), so sequence numbers continue those of
the audio; while a digit is being sent, relayed audio and player frames for
that leg are held back.

Without a negotiated telephone-event payload type the digits are played as
ITU-T Q.23 tone pairs through the leg's player.
"""

from __future__ import annotations

from typing import Final

from hotline.core.errors import LocalProtocolError
from hotline.media.dtmf import DTMF_DIGITS, telephone_event_frames
from hotline.media.eng_leg import FRAME_S, MediaLeg
from hotline.media.goertzel import DTMF_COL_HZ, DTMF_KEYPAD, DTMF_ROW_HZ
from hotline.media.player import PlaybackItem, TonePart
from hotline.media.tones import Cadence, ToneSegment

__all__ = ["dtmf_step", "inband_dtmf_item"]

_DTMF_LEVEL_DBM0: Final = -9.0
"""Per-frequency level of generated DTMF (ITU-T Q.23 asks for about −6 to −10 dBm0)."""
_KEYPAD: Final = "".join(DTMF_KEYPAD)
"""Row-major keypad: index // 4 is the row (low group), index % 4 the column (high group)."""


def dtmf_step(leg: MediaLeg, now: float, gap_ticks: int) -> bool:
    """Send the next RFC 4733 packet of the leg's queued digits; False when none is left."""
    if leg.dtmf_wait > 0:
        leg.dtmf_wait -= 1
        return True
    frame_samples = leg.codec.clock_rate_hz // 50
    frames = leg.dtmf_frames
    if not frames:
        if not leg.dtmf_queue or leg.te_pt is None:
            leg.dtmf_queue.clear()
            leg.update_busy()
            return False
        digit, duration_ms = leg.dtmf_queue.popleft()
        frames = leg.dtmf_frames = telephone_event_frames(
            digit,
            leg.te_pt,
            duration_ms=duration_ms,
            clock_rate_hz=leg.codec.clock_rate_hz,
            interval_samples=frame_samples,
        )
        leg.dtmf_index = 0
        leg.dtmf_start = now
    index = leg.dtmf_index
    frame = frames[index]
    last = index == len(frames) - 1
    # The timeline does not advance until the last packet, which moves it past the whole
    # event.  The send times given to the stream are exact ticks, so that a late pacer tick
    # cannot split the event into two.
    packet = leg.stream.frame(
        frame.payload,
        leg.dtmf_start + index * FRAME_S,
        samples=len(frames) * frame_samples if last else 0,
        marker=frame.marker,
        payload_type=frame.payload_type,
    )
    leg.send(packet)
    if last:
        leg.dtmf_frames = ()
        leg.ctx.metrics.dtmf_sent += 1
        if leg.dtmf_queue:
            leg.dtmf_wait = gap_ticks
    else:
        leg.dtmf_index = index + 1
    return True


def inband_dtmf_item(item_id: str, digits: str, duration_ms: int, gap_ms: int) -> PlaybackItem:
    """DTMF as tones (ITU-T Q.23 pairs) for a leg without telephone-event: a playback item."""
    parts: list[TonePart] = []
    for digit in digits.upper():
        if digit not in DTMF_DIGITS:
            raise LocalProtocolError(f"not a DTMF digit: {digit!r}")
        position = _KEYPAD.index(digit)
        row, col = DTMF_ROW_HZ[position // 4], DTMF_COL_HZ[position % 4]
        cadence = Cadence(
            f"dtmf-{digit}-{duration_ms}-{gap_ms}",
            (ToneSegment(duration_ms, (row, col)), ToneSegment(gap_ms)),
            repeat=False,
            level_dbm0=_DTMF_LEVEL_DBM0,
        )
        parts.append(TonePart(cadence))
    return PlaybackItem(item_id, tuple(parts))
