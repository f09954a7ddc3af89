"""In-band DTMF detection over 8 kHz int16 audio (ITU-T Q.23 frequencies, Q.24 timing).

For each analysis block the detector measures the power at the eight DTMF
frequencies.  The Goertzel recurrence computes, for one frequency, the squared
magnitude of the block's discrete-time Fourier transform at that frequency;
here the same quantity is computed for all eight frequencies and all blocks of
a frame at once as one small matrix product (cosine and sine projections),
which numpy does far faster than a per-sample Python loop.  The decision for
each block (a handful per 20 ms frame) is plain Python: cheaper than numpy's
per-call overhead at that size.

A block holds a digit when:

- the strongest row (low group) and column (high group) tones are each above
  ``min_level_dbfs``;
- the twist between them is within limits (low group at most
  ``max_low_over_high_db`` above the high group, high group at most
  ``max_high_over_low_db`` above the low group);
- each is ``relative_peak_db`` above the other tones of its group;
- the two tones carry at least ``min_tone_ratio`` of the block's energy (this
  is what rejects speech, music and single tones such as 1 kHz).

Blocks of 102 samples (12.75 ms) overlap by half.  A digit is reported once,
when it is over (``min_gap_ms`` without it, or another digit), if it lasted at
least ``min_duration_ms``; short dropouts inside a tone are bridged.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import numpy as np
import numpy.typing as npt

from hotline.core.errors import LocalProtocolError
from hotline.media.dtmf import DtmfReceived, DtmfSource

__all__ = ["DTMF_COL_HZ", "DTMF_KEYPAD", "DTMF_ROW_HZ", "GoertzelDtmfDetector"]

DTMF_ROW_HZ: Final = (697.0, 770.0, 852.0, 941.0)
DTMF_COL_HZ: Final = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYPAD: Final = ("123A", "456B", "789C", "*0#D")
_DIGITS: Final = "".join(DTMF_KEYPAD)  # index = row * 4 + column
_FULL_SCALE: Final = 32767.0


def _db(ratio_db: float) -> float:
    return float(10.0 ** (ratio_db / 10.0))


class GoertzelDtmfDetector:
    """Feed mono int16 frames with :meth:`process`; read digits with :meth:`next_event`."""

    __slots__ = (
        "_active",
        "_basis",
        "_blocks_done",
        "_buffer",
        "_events",
        "_gap_blocks",
        "_hits",
        "_min_blocks",
        "_min_power",
        "_misses",
        "_span",
        "_start_block",
        "block_size",
        "hop",
        "max_high_over_low",
        "max_low_over_high",
        "min_tone_ratio",
        "relative_peak",
        "sample_rate_hz",
    )

    def __init__(
        self,
        sample_rate_hz: int = 8000,
        *,
        block_size: int = 102,
        min_duration_ms: float = 40.0,
        min_gap_ms: float = 40.0,
        min_level_dbfs: float = -36.0,
        max_low_over_high_db: float = 8.0,
        max_high_over_low_db: float = 4.0,
        relative_peak_db: float = 8.0,
        min_tone_ratio: float = 0.6,
    ) -> None:
        if block_size < 32 or sample_rate_hz < 4000:
            raise LocalProtocolError("block size ≥ 32 and sample rate ≥ 4 kHz")
        self.sample_rate_hz = sample_rate_hz
        self.block_size = block_size
        self.hop = block_size // 2
        n = np.arange(block_size, dtype=np.float64)
        omega = 2.0 * np.pi * np.array(DTMF_ROW_HZ + DTMF_COL_HZ) / sample_rate_hz
        # One matrix product gives the cosine and sine projections of every block.
        self._basis: npt.NDArray[np.float64] = np.ascontiguousarray(
            np.hstack((np.cos(np.outer(n, omega)), np.sin(np.outer(n, omega))))
        )
        amplitude = _FULL_SCALE * 10.0 ** (min_level_dbfs / 20.0)
        self._min_power = (amplitude * block_size / 2.0) ** 2
        self.max_low_over_high = _db(max_low_over_high_db)
        self.max_high_over_low = _db(max_high_over_low_db)
        self.relative_peak = _db(relative_peak_db)
        self.min_tone_ratio = min_tone_ratio
        # A tone of L samples fills about L / hop - 1 half-overlapping blocks (the edge
        # blocks count when the tone covers most of them).
        min_samples = min_duration_ms * sample_rate_hz / 1000.0
        gap_samples = min_gap_ms * sample_rate_hz / 1000.0
        self._min_blocks = max(2, int(min_samples // self.hop) - 1)
        self._gap_blocks = max(1, int(gap_samples // self.hop) - 1)
        self._buffer: npt.NDArray[np.float64] = np.zeros(0, dtype=np.float64)
        self._events: deque[DtmfReceived] = deque()
        self._blocks_done = 0
        self._active = -1  # digit index being tracked, -1 = none
        self._hits = 0
        self._misses = 0
        self._span = 0
        self._start_block = 0

    def process(self, samples: npt.NDArray[np.int16]) -> None:
        """Analyse one frame (any length) of mono int16 samples."""
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise LocalProtocolError("in-band DTMF detection takes mono int16 samples")
        buffer = np.concatenate((self._buffer, samples.astype(np.float64)))
        size, hop = self.block_size, self.hop
        if len(buffer) < size:
            self._buffer = buffer
            return
        count = (len(buffer) - size) // hop + 1
        stride = buffer.strides[0]
        blocks = np.lib.stride_tricks.as_strided(
            buffer, shape=(count, size), strides=(hop * stride, stride), writeable=False
        )
        projection = blocks @ self._basis
        power = projection[:, :8] ** 2 + projection[:, 8:] ** 2
        energy = np.einsum("ij,ij->i", blocks, blocks)
        for block_power, block_energy in zip(power.tolist(), energy.tolist(), strict=True):
            self._step(self._classify(block_power, block_energy))
        self._buffer = buffer[count * hop :].copy()

    def _classify(self, power: list[float], energy: float) -> int:
        """Digit index (row × 4 + column) of one block, −1 where no digit is present."""
        rows = power[:4]
        cols = power[4:]
        row_power = max(rows)
        col_power = max(cols)
        if row_power < self._min_power or col_power < self._min_power:
            return -1
        if row_power > col_power * self.max_low_over_high:
            return -1
        if col_power > row_power * self.max_high_over_low:
            return -1
        row = rows.index(row_power)
        col = cols.index(col_power)
        peak = self.relative_peak
        for index in range(4):
            if index != row and rows[index] * peak > row_power:
                return -1
            if index != col and cols[index] * peak > col_power:
                return -1
        # 2|X|²/N is the energy of a sinusoid at that frequency over the block.
        if 2.0 * (row_power + col_power) < self.min_tone_ratio * self.block_size * energy:
            return -1
        return row * 4 + col

    def _step(self, digit: int) -> None:
        block = self._blocks_done
        self._blocks_done += 1
        if self._active >= 0:
            if digit == self._active:
                self._hits += 1
                self._span += self._misses + 1
                self._misses = 0
                return
            self._misses += 1
            if digit < 0 and self._misses < self._gap_blocks:
                return
            self._end()
        if digit >= 0:
            self._active = digit
            self._hits = 1
            self._span = 1
            self._misses = 0
            self._start_block = block

    def _end(self) -> None:
        # The blocks holding the digit span its length minus most of one block at the edges,
        # where a block counts once the tone covers ``min_tone_ratio`` of it: add one hop.
        if self._active >= 0 and self._hits >= self._min_blocks:
            self._events.append(
                DtmfReceived(
                    digit=_DIGITS[self._active],
                    duration_ms=round((self._span + 1) * self.hop * 1000 / self.sample_rate_hz),
                    source=DtmfSource.INBAND,
                    rtp_timestamp=self._start_block * self.hop,
                )
            )
        self._active = -1
        self._hits = self._misses = self._span = 0

    def flush(self) -> None:
        """Finish a digit still sounding (end of the stream)."""
        self._end()

    def next_event(self) -> DtmfReceived | None:
        """The next detected digit, or None."""
        return self._events.popleft() if self._events else None
