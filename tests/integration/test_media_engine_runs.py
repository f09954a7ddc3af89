"""The engine's recording path with reordered, late and lost packets (runs of payloads).

The engine hands the recorder runs of up to ten contiguous payloads; anything
out of order ends a run.  Sent over loopback with reordering, loss and a
pause, the caller's tone must land in its channel with each packet's audio
exactly where its timestamp puts it: gaps as silence, nothing dropped as late.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from test_media_engine import PORTS, RATE, Events, FarEnd, rtp_packet, tone_frames

from hotline.core.clock import SystemClock
from hotline.media.codecs import PCMA
from hotline.media.eng_events import CallRecordingStored, EngineConfig
from hotline.media.engine import MediaEngine

pytestmark = pytest.mark.integration


@pytest.fixture
async def phone() -> AsyncIterator[FarEnd]:
    loop = asyncio.get_running_loop()
    _transport, far = await loop.create_datagram_endpoint(FarEnd, local_addr=("127.0.0.1", 0))
    try:
        yield far
    finally:
        far.close()


async def test_reordered_lost_and_paused_packets_land_where_their_timestamps_say(
    tmp_path: Path, phone: FarEnd
) -> None:
    events = Events()
    async with MediaEngine(
        SystemClock(),
        PORTS,
        "127.0.0.1",
        tmp_path / "rec",
        on_event=events,
        config=EngineConfig(quarantine_s=0.2, rtcp_interval_s=60.0),
    ) as engine:
        caller = await engine.create_leg(codec="PCMA", remote=phone.addr)
        operator = await engine.create_leg(codec="PCMA")
        engine.bridge(caller.leg_id, operator.leg_id)
        engine.start_recording(caller.leg_id, operator.leg_id, recording_id="runs")
        await asyncio.sleep(0.1)  # nothing can be placed before the recording's start
        frames = tone_frames(PCMA, 1000.0, 120)
        lost = {17, 18, 55}
        order = [i for i in range(120) if i not in lost]
        for i in range(0, len(order) - 1, 9):  # every ninth pair arrives swapped
            order[i], order[i + 1] = order[i + 1], order[i]
        dest = ("127.0.0.1", caller.rtp_port)
        assert phone.transport is not None
        start = asyncio.get_running_loop().time()
        for i in order:
            # Packets 60..79 come 150 ms late (a delay spike), the others on time.
            due = start + i * 0.02 + (0.15 if 60 <= i < 80 else 0.0)
            await asyncio.sleep(max(due - asyncio.get_running_loop().time(), 0.0))
            phone.transport.sendto(rtp_packet(8, 500 + i, 8000 + 160 * i, 0x51, frames[i]), dest)
        await asyncio.sleep(0.3)
        engine.stop_recording("runs")
        stored = (await events.wait_for(CallRecordingStored))[0]
    with wave.open(stored.stored.path, "rb") as wav:
        left = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)[:, 0]
    assert not np.frombuffer(wav_right(stored.stored.path), dtype="<i2").any()
    first = int(np.flatnonzero(left)[0])
    sent = np.concatenate([PCMA.decode(frame) for frame in frames])
    placed = left[first : first + len(sent)]  # A-law has no zero: the tone starts at `first`
    for i in range(120):
        chunk = placed[i * 160 : (i + 1) * 160]
        if i in lost:
            assert not chunk.any(), f"packet {i} was lost: silence expected"
        else:
            assert np.array_equal(chunk, sent[i * 160 : (i + 1) * 160]), f"packet {i} misplaced"
    assert len(left) / RATE >= 120 * 0.02


def wav_right(path: str) -> bytes:
    with wave.open(path, "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")[1::2].tobytes()
