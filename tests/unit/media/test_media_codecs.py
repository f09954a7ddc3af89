"""G.711 codecs: every 16-bit input against a bit-level reference, error bounds, registry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hotline.core.errors import HotlineError, LocalProtocolError
from hotline.media import codecs
from hotline.media.codecs import (
    PCMA,
    PCMU,
    Codec,
    CodecRegistry,
    UnknownCodecError,
    alaw_to_ulaw,
    get_codec,
    register_codec,
    ulaw_to_alaw,
)

# --- reference: the classic scalar bit-level algorithm (one sample at a time) ------------------


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for index, end in enumerate(ends):
        if value <= end:
            return index
    return len(ends)


_A_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)
_U_SEG_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def ref_linear2alaw(sample: int) -> int:
    value = sample >> 3
    if value >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        value = -value - 1
    seg = _segment(value, _A_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    aval |= ((value >> 1) if seg < 2 else (value >> seg)) & 0x0F
    return aval ^ mask


def ref_alaw2linear(code: int) -> int:
    code ^= 0x55
    t = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if code & 0x80 else -t


def ref_linear2ulaw(sample: int) -> int:
    value = sample >> 2
    if value < 0:
        value = -value
        mask = 0x7F
    else:
        mask = 0xFF
    value = min(value, 8159) + (0x84 >> 2)
    seg = _segment(value, _U_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    uval = (seg << 4) | ((value >> (seg + 1)) & 0x0F)
    return uval ^ mask


def ref_ulaw2linear(code: int) -> int:
    code = ~code & 0xFF
    t = ((code & 0x0F) << 3) + 0x84
    t <<= (code & 0x70) >> 4
    return (0x84 - t) if code & 0x80 else (t - 0x84)


ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


# --- exhaustive comparison ----------------------------------------------------------------------


def test_alaw_encode_matches_reference_for_all_65536_inputs() -> None:
    expected = bytes(ref_linear2alaw(s) for s in range(-32768, 32768))
    assert PCMA.encode(ALL_SAMPLES) == expected


def test_ulaw_encode_matches_reference_for_all_65536_inputs() -> None:
    expected = bytes(ref_linear2ulaw(s) for s in range(-32768, 32768))
    assert PCMU.encode(ALL_SAMPLES) == expected


def test_alaw_decode_matches_reference_for_all_codes() -> None:
    assert PCMA.decode(ALL_CODES).tolist() == [ref_alaw2linear(c) for c in range(256)]


def test_ulaw_decode_matches_reference_for_all_codes() -> None:
    assert PCMU.decode(ALL_CODES).tolist() == [ref_ulaw2linear(c) for c in range(256)]


@pytest.mark.parametrize(
    ("sample", "alaw", "ulaw"),
    [
        # Well-known code points: silence is 0xD5 (A-law) and 0xFF (µ-law); full scale
        # positive is 0xAA / 0x80, full scale negative 0x2A / 0x00.
        (0, 0xD5, 0xFF),
        (32767, 0xAA, 0x80),
        (-32768, 0x2A, 0x00),
    ],
)
def test_known_code_points(sample: int, alaw: int, ulaw: int) -> None:
    pcm = np.array([sample], dtype=np.int16)
    assert PCMA.encode(pcm) == bytes([alaw])
    assert PCMU.encode(pcm) == bytes([ulaw])


# --- round trip error bounds ----------------------------------------------------------------------


def _round_trip_error(codec: Codec) -> tuple[np.ndarray, np.ndarray]:
    decoded = codec.decode(codec.encode(ALL_SAMPLES)).astype(np.int32)
    original = ALL_SAMPLES.astype(np.int32)
    return np.abs(decoded - original), np.abs(original)


def test_alaw_round_trip_error_bounds() -> None:
    error, magnitude = _round_trip_error(PCMA)
    # 4-bit mantissa with mid-interval reconstruction: error ≤ half a step ≤ |x|/32, and the
    # smallest step (segments 0 and 1) is 16 at 16-bit scale → error ≤ 8 near zero.
    assert np.all(error <= np.maximum(8, magnitude / 32))
    assert int(error[magnitude < 256].max()) == 8
    assert int(error.max()) == 512  # half the top segment's step (1024)


def test_ulaw_round_trip_error_bounds() -> None:
    error, magnitude = _round_trip_error(PCMU)
    # µ-law: same 4-bit mantissa; the bias of 33 adds a constant, and the smallest step is 8
    # at 16-bit scale plus 2 truncated bits → |x|/32 + 8.
    assert np.all(error <= magnitude / 32 + 8)
    assert int(error[magnitude < 64].max()) <= 7
    # Clipping: the largest level is 32124; 32767 is off by 643 at most.
    assert int(error.max()) == 32767 - 32124 + 1


def test_decode_then_encode_is_identity_except_negative_zero() -> None:
    # Every A-law code decodes to a level that encodes back to itself.
    assert PCMA.encode(PCMA.decode(ALL_CODES)) == ALL_CODES
    # µ-law has two zeros (0x7F and 0xFF): both decode to 0, which encodes as 0xFF.
    expected = bytearray(ALL_CODES)
    expected[0x7F] = 0xFF
    assert PCMU.encode(PCMU.decode(ALL_CODES)) == bytes(expected)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.int16, st.integers(0, 400)))
def test_round_trip_preserves_length_and_sign(pcm: np.ndarray) -> None:
    for codec in (PCMA, PCMU):
        payload = codec.encode(pcm)
        assert len(payload) == len(pcm)
        decoded = codec.decode(payload)
        assert decoded.dtype == np.int16
        assert len(decoded) == len(pcm)
        # No sign flips beyond the zero levels.
        assert not np.any((pcm > 8) & (decoded < 0))
        assert not np.any((pcm < -8) & (decoded > 0))


def test_encode_rejects_wrong_dtype_and_shape() -> None:
    with pytest.raises(LocalProtocolError):
        PCMA.encode(np.zeros(160, dtype=np.float32))
    with pytest.raises(LocalProtocolError):
        PCMU.encode(np.zeros((2, 80), dtype=np.int16))


def test_encode_accepts_non_contiguous_view() -> None:
    stereo = np.arange(320, dtype=np.int16).reshape(160, 2)
    left = stereo[:, 0]
    assert PCMA.encode(left) == PCMA.encode(left.copy())


def test_decode_empty_payload() -> None:
    assert PCMA.decode(b"").shape == (0,)
    assert PCMU.encode(np.zeros(0, dtype=np.int16)) == b""


# --- transcoding --------------------------------------------------------------------------------


def test_alaw_to_ulaw_is_decode_then_reencode() -> None:
    expected = PCMU.encode(PCMA.decode(ALL_CODES))
    assert alaw_to_ulaw(ALL_CODES) == expected
    assert ulaw_to_alaw(ALL_CODES) == PCMA.encode(PCMU.decode(ALL_CODES))


def test_transcoding_error_is_within_one_step() -> None:
    a_levels = PCMA.decode(ALL_CODES).astype(np.int32)
    via_u = PCMU.decode(alaw_to_ulaw(ALL_CODES)).astype(np.int32)
    # µ-law step at 16-bit scale is 8 << segment; the worst case is one step at 32768 (1024).
    assert np.all(np.abs(via_u - a_levels) <= np.maximum(np.abs(a_levels) // 16, 16))
    # A-law has no zero level: its smallest (±8) maps to µ-law's ±8 (0xFE / 0x7E), like the
    # G.711 conversion table; µ-law zero maps to A-law's smallest positive level.
    silence_a = bytes([0xD5]) * 160
    assert alaw_to_ulaw(silence_a) == bytes([0xFE]) * 160
    assert ulaw_to_alaw(bytes([0xFF]) * 160) == silence_a
    assert ulaw_to_alaw(bytes([0xFE, 0x7E])) == bytes([0xD5, 0x55])


def test_alaw_ulaw_alaw_round_trip_is_close() -> None:
    back = ulaw_to_alaw(alaw_to_ulaw(ALL_CODES))
    original = PCMA.decode(ALL_CODES).astype(np.int32)
    again = PCMA.decode(back).astype(np.int32)
    assert np.all(np.abs(again - original) <= np.maximum(np.abs(original) // 16, 16))


# --- registry -------------------------------------------------------------------------------------


def test_get_codec_is_case_insensitive() -> None:
    assert get_codec("pcma") is PCMA
    assert get_codec("PCMU") is PCMU
    assert get_codec("PcMu").payload_type == 0
    assert get_codec("PCMA").payload_type == 8
    assert get_codec("PCMA").clock_rate_hz == 8000


def test_unknown_codec_raises_hotline_error_not_key_error() -> None:
    with pytest.raises(UnknownCodecError) as info:
        get_codec("opus")
    assert isinstance(info.value, HotlineError)
    assert not isinstance(info.value, KeyError)
    assert info.value.name == "opus"


class _FakeL16:
    """A tiny codec satisfying the protocol (big-endian linear 16, RFC 3551 §4.5.11)."""

    def __init__(self) -> None:
        self.name = "L16"
        self.payload_type = 11
        self.clock_rate_hz = 8000

    def encode(self, pcm: np.ndarray) -> bytes:
        return pcm.astype(">i2").tobytes()

    def decode(self, payload: bytes) -> np.ndarray:
        return np.frombuffer(payload, dtype=">i2").astype(np.int16)


def test_instance_registry_register_and_lookup() -> None:
    registry = CodecRegistry((PCMA,))
    fake = _FakeL16()
    registry.register(fake)
    registry.register(fake)  # same object again: harmless
    assert registry.get("l16") is fake
    assert registry.get_static(11) is fake
    assert registry.get_static(8) is PCMA
    assert registry.names() == ("PCMA", "L16")
    with pytest.raises(LocalProtocolError):
        registry.register(_FakeL16())
    with pytest.raises(UnknownCodecError):
        registry.get_static(0)


def test_register_codec_on_default_registry_rejects_duplicate_name() -> None:
    register_codec(PCMA)  # idempotent for the same object
    with pytest.raises(LocalProtocolError):
        register_codec(codecs.G711ALaw())
    assert codecs.default_registry.names()[:2] == ("PCMA", "PCMU")


def test_public_surface() -> None:
    assert set(codecs.__all__) == {
        "PCMA",
        "PCMU",
        "Codec",
        "CodecRegistry",
        "G711ALaw",
        "G711MuLaw",
        "UnknownCodecError",
        "alaw_to_ulaw",
        "default_registry",
        "get_codec",
        "register_codec",
        "ulaw_to_alaw",
    }
