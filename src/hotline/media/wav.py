"""RIFF/WAVE layout: reading the chunk layout, writing a streamed file, repairing a cut one.

A WAVE file (Microsoft "Multimedia Programming Interface and Data
Specifications 1.0", 1991, and the WAVE_FORMAT_EXTENSIBLE addendum) is a
``RIFF`` chunk of form ``WAVE`` holding a ``fmt `` chunk and a ``data`` chunk,
each chunk being a four-character id, a little-endian 32-bit size and the body
padded to an even length.  Both the RIFF size and the data size sit in the
first 44 bytes, so a recording streamed to disk gets them right only when it
is finalised: the writer here puts a provisional header (sizes 0) first and
the real one at the end, and :func:`repair_wav` recomputes both from the file
length after a crash.

Writes are data: the recorder core (sans-IO) produces :class:`FileWrite`
records (offset + bytes) and :class:`WavFileSink` applies them to an open
binary file.  The sink does no network, clock or thread work.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO, Final

from hotline.core.errors import LimitExceededError, RemoteProtocolError

__all__ = [
    "MAX_CHUNKS_BEFORE_DATA",
    "WAVE_FORMAT_ALAW",
    "WAVE_FORMAT_EXTENSIBLE",
    "WAVE_FORMAT_IEEE_FLOAT",
    "WAVE_FORMAT_MULAW",
    "WAVE_FORMAT_PCM",
    "WAV_HEADER_BYTES",
    "FileWrite",
    "WavFileSink",
    "WavFormatError",
    "WavLayout",
    "WavRepairResult",
    "read_wav_layout",
    "repair_wav",
    "wav_data_sha256",
    "wav_header",
]

WAVE_FORMAT_PCM: Final = 0x0001
WAVE_FORMAT_IEEE_FLOAT: Final = 0x0003
WAVE_FORMAT_ALAW: Final = 0x0006
WAVE_FORMAT_MULAW: Final = 0x0007
WAVE_FORMAT_EXTENSIBLE: Final = 0xFFFE

WAV_HEADER_BYTES: Final = 44
"""Size of the canonical header :func:`wav_header` writes (RIFF + fmt(16) + data headers)."""

MAX_CHUNKS_BEFORE_DATA: Final = 64
_MAX_FMT_BYTES: Final = 1024
_MAX_CHANNELS: Final = 16
_MAX_RIFF_SIZE: Final = 0xFFFFFFFF
_COPY_BLOCK: Final = 1 << 16
_EXTENSIBLE_GUID_TAIL: Final = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
"""Bytes 2..15 of KSDATAFORMAT_SUBTYPE_* GUIDs; the first two hold the format tag."""


class WavFormatError(RemoteProtocolError):
    """The bytes are not a WAVE file we can read, or its header is inconsistent."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_hint=415)


@dataclass(frozen=True, slots=True)
class WavLayout:
    """Where the samples are and how they are coded.

    ``format_tag`` is the effective tag (the sub-format of an EXTENSIBLE file);
    ``data_size`` is what the header declares, ``available_data`` what the file
    actually holds after ``data_offset``.
    """

    format_tag: int
    channels: int
    sample_rate_hz: int
    bits_per_sample: int
    block_align: int
    data_offset: int
    data_size: int
    riff_size: int
    file_size: int

    @property
    def available_data(self) -> int:
        """Bytes of sample data present in the file (declared size capped by the file)."""
        return max(0, min(self.data_size, self.file_size - self.data_offset))

    @property
    def frames(self) -> int:
        """Whole sample frames present."""
        return self.available_data // self.block_align


@dataclass(frozen=True, slots=True)
class FileWrite:
    """Write ``data`` at byte ``offset`` of the output file."""

    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class WavRepairResult:
    """What :func:`repair_wav` found and did."""

    path: str
    repaired: bool
    data_bytes: int
    duration_s: float


def wav_header(
    *,
    channels: int,
    sample_rate_hz: int,
    bits_per_sample: int,
    data_bytes: int,
    format_tag: int = WAVE_FORMAT_PCM,
) -> bytes:
    """The canonical 44-byte header of a file whose data chunk is last and ``data_bytes`` long."""
    if not 0 < channels <= _MAX_CHANNELS:
        raise ValueError(f"channels {channels} out of 1..{_MAX_CHANNELS}")
    if bits_per_sample not in (8, 16, 24, 32):
        raise ValueError(f"bits per sample {bits_per_sample} not in 8/16/24/32")
    if not 0 <= data_bytes <= _MAX_RIFF_SIZE - 36:
        raise ValueError(f"data size {data_bytes} does not fit a RIFF file")
    block_align = channels * bits_per_sample // 8
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes + (data_bytes & 1),
        b"WAVE",
        b"fmt ",
        16,
        format_tag,
        channels,
        sample_rate_hz,
        sample_rate_hz * block_align,
        block_align,
        bits_per_sample,
        b"data",
        data_bytes,
    )


def _parse_fmt(body: bytes) -> tuple[int, int, int, int, int]:
    if len(body) < 16:
        raise WavFormatError(f"fmt chunk of {len(body)} bytes is shorter than 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise WavFormatError("WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes")
        sub_tag = struct.unpack_from("<H", body, 24)[0]
        if body[26:40] != _EXTENSIBLE_GUID_TAIL:
            raise WavFormatError("WAVE_FORMAT_EXTENSIBLE with a non-standard sub-format GUID")
        tag = sub_tag
    if not 0 < channels <= _MAX_CHANNELS:
        raise WavFormatError(f"{channels} channels (1..{_MAX_CHANNELS} supported)")
    if not 0 < rate <= 384_000:
        raise WavFormatError(f"sample rate {rate} Hz out of range")
    if bits == 0 or block_align == 0:
        raise WavFormatError("zero bits per sample or block align")
    if block_align != channels * ((bits + 7) // 8):
        raise WavFormatError(
            f"block align {block_align} disagrees with {channels} channels of {bits} bits"
        )
    return tag, channels, rate, block_align, bits


def read_wav_layout(file: BinaryIO) -> WavLayout:
    """Walk the chunks of an open WAVE file up to its ``data`` chunk (bounded; seeks past others).

    Raises :class:`WavFormatError` for anything that is not RIFF/WAVE with a
    readable ``fmt `` chunk before ``data``, and :class:`LimitExceededError`
    past :data:`MAX_CHUNKS_BEFORE_DATA` chunks.
    """
    file_size = file.seek(0, os.SEEK_END)
    file.seek(0)
    head = file.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavFormatError("not a RIFF/WAVE file")
    riff_size = struct.unpack_from("<I", head, 4)[0]
    offset = 12
    fmt: tuple[int, int, int, int, int] | None = None
    for _ in range(MAX_CHUNKS_BEFORE_DATA):
        file.seek(offset)
        chunk_head = file.read(8)
        if len(chunk_head) < 8:
            raise WavFormatError("no data chunk before the end of the file")
        chunk_id, size = struct.unpack("<4sI", chunk_head)
        body_offset = offset + 8
        if chunk_id == b"fmt ":
            if size > _MAX_FMT_BYTES:
                raise LimitExceededError(f"fmt chunk of {size} bytes is too large")
            body = file.read(size)
            if len(body) < size:
                raise WavFormatError("fmt chunk cut short")
            fmt = _parse_fmt(body)
        elif chunk_id == b"data":
            if fmt is None:
                raise WavFormatError("data chunk before the fmt chunk")
            tag, channels, rate, block_align, bits = fmt
            return WavLayout(
                format_tag=tag,
                channels=channels,
                sample_rate_hz=rate,
                bits_per_sample=bits,
                block_align=block_align,
                data_offset=body_offset,
                data_size=size,
                riff_size=riff_size,
                file_size=file_size,
            )
        offset = body_offset + size + (size & 1)
    raise LimitExceededError(f"more than {MAX_CHUNKS_BEFORE_DATA} chunks before the data chunk")


class WavFileSink:
    """Applies :class:`FileWrite` records to an open, seekable binary file (no other I/O)."""

    __slots__ = ("_file", "_position")

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._position = file.tell()

    def apply(self, writes: Iterable[FileWrite]) -> None:
        """Write each record at its offset, seeking only when it is not the current position."""
        file = self._file
        for write in writes:
            if write.offset != self._position:
                file.seek(write.offset)
            file.write(write.data)
            self._position = write.offset + len(write.data)

    def flush(self) -> None:
        """Flush Python's buffer to the operating system."""
        self._file.flush()


def repair_wav(path: str | os.PathLike[str]) -> WavRepairResult:
    """Fix the RIFF and data sizes of a WAVE file cut short (e.g. by a crash while recording).

    The data chunk is taken to run to the end of the file, less a trailing
    partial sample frame, which is cut off.  A file whose sizes already agree
    with its length is left untouched (``repaired`` false); so is one whose
    data chunk is followed by further chunks.  Raises :class:`WavFormatError`
    when the file has no readable header.
    """
    name = os.fspath(path)
    with open(name, "r+b") as file:
        layout = read_wav_layout(file)
        present = layout.file_size - layout.data_offset
        whole = present - present % layout.block_align
        whole = min(whole, _MAX_RIFF_SIZE - layout.data_offset)
        declared_end = layout.data_offset + layout.data_size + (layout.data_size & 1)
        consistent = (
            layout.data_size <= present
            and layout.data_size != 0
            and layout.riff_size == max(layout.file_size, declared_end) - 8
        )
        if consistent or (layout.data_size == 0 and whole == 0):
            data = layout.available_data
            return WavRepairResult(name, False, data, _duration(layout, data))
        if 0 < layout.data_size <= present and declared_end < layout.file_size:
            # Chunks follow the data chunk: only the RIFF size can be wrong.
            file.seek(4)
            file.write(struct.pack("<I", layout.file_size - 8))
            data = layout.data_size
            return WavRepairResult(name, True, data, _duration(layout, data))
        file.truncate(layout.data_offset + whole)
        file.seek(4)
        file.write(struct.pack("<I", layout.data_offset + whole - 8))
        file.seek(layout.data_offset - 4)
        file.write(struct.pack("<I", whole))
        return WavRepairResult(name, True, whole, _duration(layout, whole))


def _duration(layout: WavLayout, data_bytes: int) -> float:
    return data_bytes / layout.block_align / layout.sample_rate_hz


def wav_data_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the sample data of a WAVE file (the digest the recorder reports)."""
    digest = hashlib.sha256()
    with open(os.fspath(path), "rb") as file:
        layout = read_wav_layout(file)
        file.seek(layout.data_offset)
        remaining = layout.available_data
        while remaining > 0:
            block = file.read(min(_COPY_BLOCK, remaining))
            if not block:
                break
            digest.update(block)
            remaining -= len(block)
    return digest.hexdigest()
