"""Audio codecs behind one small interface, and a registry looked up by name.

G.711 (ITU-T Rec. G.711, 1988) A-law ("PCMA", static payload type 8) and
µ-law ("PCMU", static payload type 0) at 8 kHz (RFC 3551 §4.5.14, §6).

Encoding and decoding are lookups in tables computed once at import with numpy
(never :mod:`audioop`, which is gone from Python 3.13):

- encode: a 65,536-entry table indexed by the 16-bit sample viewed as unsigned,
  giving the code byte (G.711 uses the top 13 bits for A-law and the top
  14 bits for µ-law; the tables fold the truncation in);
- decode: a 256-entry table of int16 samples;
- A-law ↔ µ-law transcoding: 256-byte tables applied with :meth:`bytes.translate`,
  so a relay between a PCMA and a PCMU leg never goes through linear samples.
"""

from __future__ import annotations

from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from hotline.core.errors import HotlineError, LocalProtocolError

__all__ = [
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
]

Int16Array = npt.NDArray[np.int16]
_UInt8Array = npt.NDArray[np.uint8]


class UnknownCodecError(HotlineError):
    """No codec is registered under the requested name or payload type."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown codec: {name!r}")
        self.name = name


class Codec(Protocol):
    """One audio codec: mono int16 samples in, RTP payload bytes out and back."""

    name: str
    payload_type: int
    clock_rate_hz: int

    def encode(self, pcm: Int16Array) -> bytes:
        """Encode mono int16 samples into one RTP payload."""
        ...

    def decode(self, payload: bytes) -> Int16Array:
        """Decode one RTP payload into mono int16 samples."""
        ...


# --- table construction (runs once, at import) -------------------------------------------

_ALL_SAMPLES: Final = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
_SEGMENT_SHIFT: Final = np.arange(8, dtype=np.int32)


def _build_alaw_decode() -> Int16Array:
    """Reconstruction level of every A-law code (G.711 Table 1a), scaled to 16 bits.

    The code's even bits are inverted on the line (XOR 0x55); bit 7 set means
    positive.  Segment 0 has the same step as segment 1; a level sits in the
    middle of its interval.
    """
    code = np.arange(256, dtype=np.int32) ^ 0x55
    mantissa = code & 0x0F
    segment = (code >> 4) & 0x07
    # 13-bit magnitude: segment 0 → 2m+1, segment s ≥ 1 → (2m+33) << (s-1).
    magnitude13 = np.where(
        segment == 0,
        2 * mantissa + 1,
        (2 * mantissa + 33) << np.maximum(segment - 1, 0),
    )
    magnitude16 = magnitude13 << 3
    out: Int16Array = np.where(code & 0x80, magnitude16, -magnitude16).astype(np.int16)
    return out


def _build_alaw_encode() -> _UInt8Array:
    """A-law code of every 16-bit sample (13-bit quantiser, G.711 Table 1a)."""
    x13 = _ALL_SAMPLES >> 3  # arithmetic shift: floor towards -inf
    negative = x13 < 0
    magnitude = np.where(negative, -x13 - 1, x13)  # one's complement for negatives
    # Segment s ≥ 1 covers [32 << (s-1), 64 << (s-1)); segment 0 covers [0, 32).
    segment = np.searchsorted(
        np.array([32, 64, 128, 256, 512, 1024, 2048], dtype=np.int32), magnitude, side="right"
    ).astype(np.int32)
    mantissa = np.where(segment == 0, magnitude >> 1, magnitude >> segment) & 0x0F
    code = (segment << 4) | mantissa
    sign_and_inversion = np.where(negative, 0x55, 0xD5)
    out: _UInt8Array = (code ^ sign_and_inversion).astype(np.uint8)
    return out


def _build_ulaw_decode() -> Int16Array:
    """Reconstruction level of every µ-law code (G.711 Table 2a), scaled to 16 bits.

    All bits are inverted on the line; bit 7 set (after inversion: clear) is
    positive.  Magnitude in 14-bit units is ((2m + 33) << s) - 33.
    """
    code = (~np.arange(256, dtype=np.int32)) & 0xFF
    mantissa = code & 0x0F
    segment = (code >> 4) & 0x07
    magnitude14 = ((2 * mantissa + 33) << segment) - 33
    magnitude16 = magnitude14 << 2
    out: Int16Array = np.where(code & 0x80, -magnitude16, magnitude16).astype(np.int16)
    return out


def _build_ulaw_encode() -> _UInt8Array:
    """µ-law code of every 16-bit sample (14-bit quantiser with bias 33, G.711 Table 2a)."""
    x14 = _ALL_SAMPLES >> 2
    negative = x14 < 0
    # Clip to the largest biased magnitude that still fits segment 7 (code 0x7F before inversion).
    magnitude = np.minimum(np.where(negative, -x14, x14) + 33, 8191)
    # Biased magnitude: segment 0 is [33, 64), segment s ≥ 1 is [64 << (s-1), 128 << (s-1)).
    segment = np.searchsorted(
        np.array([64, 128, 256, 512, 1024, 2048, 4096], dtype=np.int32), magnitude, side="right"
    ).astype(np.int32)
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    code = (segment << 4) | mantissa
    inversion = np.where(negative, 0x7F, 0xFF)
    out: _UInt8Array = (code ^ inversion).astype(np.uint8)
    return out


def _freeze(array: npt.NDArray[np.generic]) -> None:
    array.flags.writeable = False


_ALAW_DECODE: Final[Int16Array] = _build_alaw_decode()
_ALAW_ENCODE: Final[_UInt8Array] = _build_alaw_encode()
_ULAW_DECODE: Final[Int16Array] = _build_ulaw_decode()
_ULAW_ENCODE: Final[_UInt8Array] = _build_ulaw_encode()
for _table in (_ALAW_DECODE, _ALAW_ENCODE, _ULAW_DECODE, _ULAW_ENCODE):
    _freeze(_table)
del _table

# Transcoding: decode with one law, re-quantise with the other.
_ALAW_TO_ULAW: Final[bytes] = _ULAW_ENCODE[_ALAW_DECODE.view(np.uint16)].tobytes()
_ULAW_TO_ALAW: Final[bytes] = _ALAW_ENCODE[_ULAW_DECODE.view(np.uint16)].tobytes()


def _checked_samples(pcm: Int16Array) -> npt.NDArray[np.uint16]:
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise LocalProtocolError(
            f"G.711 encodes mono int16 samples, got dtype={pcm.dtype} ndim={pcm.ndim}"
        )
    return pcm.view(np.uint16)


class G711ALaw:
    """G.711 A-law, RTP name ``PCMA``, static payload type 8 (RFC 3551 §4.5.14)."""

    __slots__ = ("clock_rate_hz", "name", "payload_type")

    def __init__(self) -> None:
        self.name = "PCMA"
        self.payload_type = 8
        self.clock_rate_hz = 8000

    def encode(self, pcm: Int16Array) -> bytes:
        """One code byte per sample."""
        return _ALAW_ENCODE.take(_checked_samples(pcm)).tobytes()

    def decode(self, payload: bytes) -> Int16Array:
        """One int16 sample per code byte."""
        return _ALAW_DECODE.take(np.frombuffer(payload, dtype=np.uint8))

    def __repr__(self) -> str:
        return "G711ALaw()"


class G711MuLaw:
    """G.711 µ-law, RTP name ``PCMU``, static payload type 0 (RFC 3551 §4.5.14)."""

    __slots__ = ("clock_rate_hz", "name", "payload_type")

    def __init__(self) -> None:
        self.name = "PCMU"
        self.payload_type = 0
        self.clock_rate_hz = 8000

    def encode(self, pcm: Int16Array) -> bytes:
        """One code byte per sample."""
        return _ULAW_ENCODE.take(_checked_samples(pcm)).tobytes()

    def decode(self, payload: bytes) -> Int16Array:
        """One int16 sample per code byte."""
        return _ULAW_DECODE.take(np.frombuffer(payload, dtype=np.uint8))

    def __repr__(self) -> str:
        return "G711MuLaw()"


PCMA: Final = G711ALaw()
PCMU: Final = G711MuLaw()


def alaw_to_ulaw(payload: bytes) -> bytes:
    """Transcode an A-law payload to µ-law byte by byte (one table lookup per byte)."""
    return payload.translate(_ALAW_TO_ULAW)


def ulaw_to_alaw(payload: bytes) -> bytes:
    """Transcode a µ-law payload to A-law byte by byte (one table lookup per byte)."""
    return payload.translate(_ULAW_TO_ALAW)


class CodecRegistry:
    """Codecs by case-insensitive encoding name (the SDP ``a=rtpmap`` name)."""

    __slots__ = ("_by_name",)

    def __init__(self, codecs: tuple[Codec, ...] = ()) -> None:
        self._by_name: dict[str, Codec] = {}
        for codec in codecs:
            self.register(codec)

    def register(self, codec: Codec) -> None:
        """Add ``codec``; registering another codec under a taken name is a bug."""
        key = codec.name.upper()
        existing = self._by_name.get(key)
        if existing is not None and existing is not codec:
            raise LocalProtocolError(f"codec {codec.name!r} is already registered")
        self._by_name[key] = codec

    def get(self, name: str) -> Codec:
        """The codec called ``name`` (any case); :class:`UnknownCodecError` if none."""
        codec = self._by_name.get(name.upper())
        if codec is None:
            raise UnknownCodecError(name)
        return codec

    def get_static(self, payload_type: int) -> Codec:
        """The codec with static ``payload_type`` (RFC 3551 §6), e.g. 0 → PCMU."""
        for codec in self._by_name.values():
            if codec.payload_type == payload_type:
                return codec
        raise UnknownCodecError(f"payload type {payload_type}")

    def names(self) -> tuple[str, ...]:
        """Registered names, upper case, in registration order."""
        return tuple(self._by_name)


default_registry: Final = CodecRegistry((PCMA, PCMU))


def get_codec(name: str) -> Codec:
    """Look ``name`` up (case-insensitively) in the default registry."""
    return default_registry.get(name)


def register_codec(codec: Codec) -> None:
    """Add ``codec`` to the default registry."""
    default_registry.register(codec)
