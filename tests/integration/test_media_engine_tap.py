"""MediaEngine.tap_audio on loopback: a UDP socket plays the phone, the tap hears decoded PCM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from test_media_engine import (
    PORTS,
    Events,
    FarEnd,
    rtp_packet,
    send_stream,
    tone_frames,
    tone_power,
)

from hotline.core.clock import SystemClock
from hotline.media.codecs import PCMA, PCMU
from hotline.media.dtmf import telephone_event_frames
from hotline.media.eng_events import EngineConfig, LegDtmfReceived, UnknownLegError
from hotline.media.engine import MediaEngine

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[MediaEngine, Events]]:
    events = Events()
    engine = MediaEngine(
        SystemClock(),
        PORTS,
        "127.0.0.1",
        tmp_path / "recordings",
        on_event=events,
        config=EngineConfig(quarantine_s=0.2, rtcp_interval_s=60.0),
    )
    await engine.start()
    try:
        yield engine, events
    finally:
        await engine.close()
        assert engine.ports.in_use == 0
        assert engine.metrics.internal_errors == 0


@pytest.fixture
async def phone() -> AsyncIterator[FarEnd]:
    loop = asyncio.get_running_loop()
    _transport, far = await loop.create_datagram_endpoint(FarEnd, local_addr=("127.0.0.1", 0))
    try:
        yield far
    finally:
        far.close()


async def test_tap_hears_the_bridged_caller_as_pcm_and_not_the_digits(
    engine: tuple[MediaEngine, Events], phone: FarEnd, tmp_path: Path
) -> None:
    media, events = engine
    caller = await media.create_leg(codec="PCMU", remote=phone.addr)
    operator = await media.create_leg(codec="PCMA")
    media.bridge(caller.leg_id, operator.leg_id)
    recording = media.start_recording(caller.leg_id, operator.leg_id)
    heard: list[bytes] = []
    media.tap_audio(caller.leg_id, heard.append)
    frames = tone_frames(PCMU, 1000.0, 25)
    dest = ("127.0.0.1", caller.rtp_port)
    await send_stream(phone, dest, 0, frames, ssrc=0x42)
    assert phone.transport is not None
    for i, frame in enumerate(telephone_event_frames("5", 101)):
        phone.transport.sendto(rtp_packet(101, 2000 + i, 90_000, 0x43, frame.payload), dest)
    await events.wait_for(LegDtmfReceived)
    media.tap_audio(caller.leg_id, None)
    await send_stream(phone, dest, 0, frames[:5], ssrc=0x42, seq0=1025, ts0=50_000 + 25 * 160)
    await asyncio.sleep(0.05)
    assert len(heard) == 25  # the digit's packets and the audio after removal are not tapped
    pcm = np.frombuffer(b"".join(heard), dtype="<i2")
    expected = np.concatenate([PCMU.decode(frame) for frame in frames])
    assert np.array_equal(pcm, expected)
    assert tone_power(pcm.astype(np.float64), 1000.0) > 0.9
    media.stop_recording(recording)


async def test_tap_is_removed_with_the_leg_and_by_a_raising_sink(
    engine: tuple[MediaEngine, Events], phone: FarEnd
) -> None:
    media, _events = engine
    leg = await media.create_leg(codec="PCMA", remote=phone.addr)
    seen: list[int] = []

    def broken(pcm: bytes) -> None:
        seen.append(len(pcm))
        raise ValueError("consumer bug")

    media.tap_audio(leg.leg_id, broken)
    await send_stream(phone, ("127.0.0.1", leg.rtp_port), 8, tone_frames(PCMA, 600.0, 5), ssrc=9)
    await asyncio.sleep(0.05)
    assert seen == [320]
    assert media.metrics.tap_errors == 1
    assert media.leg_stats(leg.leg_id).packets_in == 5
    media.close_leg(leg.leg_id)
    with pytest.raises(UnknownLegError):
        media.tap_audio(leg.leg_id, [b""].append)
