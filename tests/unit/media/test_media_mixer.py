"""Mix-minus conferencing, supervisor modes and the relay transcoder."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

from hotline.core.errors import LocalProtocolError
from hotline.media import mixer as mixer_module
from hotline.media.codecs import PCMA, PCMU, Codec, alaw_to_ulaw
from hotline.media.mixer import Mixer, MonitorMode, mix_minus, relay_payload

RATE = 8000
FREQS = {"caller": 500.0, "operator": 1000.0, "supervisor": 2000.0}


def sine(freq: float, frame: int, amp: float = 8000.0) -> npt.NDArray[np.int16]:
    n = np.arange(frame * 160, (frame + 1) * 160)
    return np.round(amp * np.sin(2 * np.pi * freq * n / RATE)).astype(np.int16)


def heard(pcm: npt.NDArray[np.int16]) -> set[str]:
    """Which participants' tones are present in ``pcm`` (single-bin DFT per tone)."""
    x = pcm.astype(np.float64)
    n = np.arange(len(x))
    found = set()
    for name, freq in FREQS.items():
        level = 2 * abs(np.dot(x, np.exp(-2j * np.pi * freq * n / RATE))) / len(x)
        if level > 2000:
            found.add(name)
    return found


def conference(mode: MonitorMode | None) -> dict[str, set[str]]:
    mixer = Mixer()
    mixer.add("caller", PCMA)
    mixer.add("operator", PCMU)
    mixer.add("supervisor", PCMA)
    if mode is not None:
        mixer.set_monitor("supervisor", "operator", mode)
    outputs: dict[str, list[npt.NDArray[np.int16]]] = {name: [] for name in FREQS}
    codecs: dict[str, Codec] = {"caller": PCMA, "operator": PCMU, "supervisor": PCMA}
    for frame in range(10):
        for name, freq in FREQS.items():
            mixer.push(name, codecs[name].encode(sine(freq, frame)))
        for name, payload in mixer.tick():
            outputs[name].append(codecs[name].decode(payload))
    return {name: heard(np.concatenate(chunks)) for name, chunks in outputs.items()}


def test_public_surface() -> None:
    assert set(mixer_module.__all__) == {
        "Mixer",
        "MixerStats",
        "MonitorMode",
        "mix_minus",
        "relay_payload",
    }


def test_everybody_hears_everybody_but_themselves() -> None:
    assert conference(None) == {
        "caller": {"operator", "supervisor"},
        "operator": {"caller", "supervisor"},
        "supervisor": {"caller", "operator"},
    }


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            MonitorMode.LISTEN,
            {"caller": {"operator"}, "operator": {"caller"}, "supervisor": {"caller", "operator"}},
        ),
        (
            MonitorMode.WHISPER,
            {
                "caller": {"operator"},
                "operator": {"caller", "supervisor"},
                "supervisor": {"caller", "operator"},
            },
        ),
        (
            MonitorMode.BARGE,
            {
                "caller": {"operator", "supervisor"},
                "operator": {"caller", "supervisor"},
                "supervisor": {"caller", "operator"},
            },
        ),
    ],
)
def test_supervisor_modes(mode: MonitorMode, expected: dict[str, set[str]]) -> None:
    assert conference(mode) == expected


def test_saturates_instead_of_wrapping() -> None:
    frames = np.full((3, 160), 30000, dtype=np.int16)
    frames[2] = -30000
    hears = ~np.eye(3, dtype=np.bool_)
    out = mix_minus(frames, hears)
    assert (out[0] == 0).all()  # 30000 - 30000
    assert (out[2] == 32767).all()  # 60000 clipped
    frames[:] = -30000
    assert (mix_minus(frames, hears) == -32768).all()


@settings(max_examples=100, deadline=None)
@given(
    frames=hnp.arrays(np.int16, (3, 160)),
    hears=hnp.arrays(np.bool_, (3, 3)),
)
def test_mix_minus_matches_reference(
    frames: npt.NDArray[np.int16], hears: npt.NDArray[np.bool_]
) -> None:
    np.fill_diagonal(hears, False)
    out = mix_minus(frames, hears)
    for i in range(3):
        ref = sum(
            (frames[j].astype(np.int64) for j in range(3) if hears[i, j]), np.zeros(160, np.int64)
        )
        assert np.array_equal(out[i], np.clip(ref, -32768, 32767))


def test_buffering_underrun_and_overflow() -> None:
    mixer = Mixer(buffer_ms=60)
    mixer.add("a", PCMA)
    mixer.add("b", PCMA)
    # No input at all: silence out (A-law silence decodes to +/-8), underruns counted.
    out = dict(mixer.tick_pcm())
    assert np.abs(out["a"]).max() == 0
    assert mixer.stats.underruns == 2
    # 30 ms packets are re-framed into 20 ms ticks.
    mixer.push_pcm("b", np.full(240, 1000, dtype=np.int16))
    assert (mixer.tick_pcm()["a"] == 1000).all()
    second = mixer.tick_pcm()["a"]
    assert (second[:80] == 1000).all()
    assert (second[80:] == 0).all()
    # Five frames into a 60 ms buffer: the oldest are dropped.
    for value in range(5):
        mixer.push_pcm("b", np.full(160, value, dtype=np.int16))
    assert mixer.stats.overflow_samples == 320
    assert (mixer.tick_pcm()["a"] == 2).all()


def test_membership_changes() -> None:
    mixer = Mixer()
    mixer.add("a", PCMA)
    mixer.add("b", PCMA)
    mixer.add("c", PCMA)
    mixer.set_hears("a", "c", False)
    mixer.remove("b")
    assert mixer.participants == ("a", "c")
    assert not mixer.hears("a", "c")
    assert mixer.hears("c", "a")
    mixer.remove("nobody")
    with pytest.raises(LocalProtocolError):
        mixer.add("a", PCMA)
    with pytest.raises(LocalProtocolError):
        mixer.set_hears("a", "a", True)


def test_relay_payload() -> None:
    payload = PCMA.encode(sine(1000.0, 0))
    assert relay_payload(payload, "PCMA", "pcma") is payload
    assert relay_payload(payload, "PCMA", "PCMU") == alaw_to_ulaw(payload)
    back = relay_payload(relay_payload(payload, "PCMA", "PCMU"), "PCMU", "PCMA")
    ref = PCMA.decode(payload).astype(np.int64)
    # Re-quantising twice costs at most about one A-law step (1/16 of the magnitude).
    assert (np.abs(PCMA.decode(back).astype(np.int64) - ref) <= np.abs(ref) // 16 + 16).all()
