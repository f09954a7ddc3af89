"""Recording files written off the event loop, in order, with bounded memory.

A :class:`~hotline.media.recorder.CallRecorder` turns packets into
:class:`~hotline.media.wav.FileWrite` records; the engine collects them once
per pacer tick and hands the batch of all recordings to
:class:`RecordingWriter`, which applies it on one worker thread (one thread
keeps every file's writes in order).  Opening, writing, the final header and
closing all happen there: the event loop never touches the disk.

Memory stays bounded on a slow or stalled disk: data handed over and not yet
written is counted, and past ``max_pending_bytes`` new sample chunks are
dropped (they become silence in the file: each write carries its offset)
and counted.  Headers and the final write always go through.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Final

import structlog

from hotline.media.eng_events import (
    CallRecordingStored,
    MediaEngineError,
    MediaEngineMetrics,
    RecordingFailed,
)
from hotline.media.eng_leg import RECORDER_WINDOW_MS, RUN_IDLE_S, LegContext, MediaLeg
from hotline.media.recorder import CallRecorder, RecordingChannel, RecordingStored
from hotline.media.wav import WAV_HEADER_BYTES, FileWrite

__all__ = ["CHUNK_MS", "WRITE_EVERY_TICKS", "Recording", "RecordingBook", "RecordingWriter"]

log = structlog.get_logger("hotline.media.engine")

_RECORDING_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_O_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_ZEROS: Final = bytes(64 * 1024)
CHUNK_MS: Final = 1000
"""Each recorder emits its samples in 1 s chunks (32 KB): one write(2) per call per second."""
WRITE_EVERY_TICKS: Final = 5
"""File writes go to the writer thread in one batch per 100 ms (fewer thread hand-offs)."""


class Recording:
    """One recording of a bridge: the recorder (loop side) and its file (writer side)."""

    __slots__ = (
        "caller",
        "digest",
        "dropped_bytes",
        "failed",
        "fd",
        "hashed_to",
        "operator",
        "path",
        "recorder",
        "recording_id",
        "stored",
    )

    def __init__(
        self,
        recording_id: str,
        path: str,
        recorder: CallRecorder,
        caller: MediaLeg,
        operator: MediaLeg,
    ) -> None:
        self.recording_id = recording_id
        self.path = path
        self.recorder = recorder
        self.caller = caller
        self.operator = operator
        self.stored: RecordingStored | None = None
        self.failed = False
        self.dropped_bytes = 0
        """Sample data dropped under memory pressure (silence in the file and in its SHA-256)."""
        # Touched only by the writer thread: the open file and the SHA-256 of its sample data.
        self.fd: int | None = None
        self.digest = hashlib.sha256()
        self.hashed_to = WAV_HEADER_BYTES
        """File offset up to which the sample data has been hashed."""


_Batch = list[tuple[Recording, list[FileWrite], bool]]
"""(recording, its writes, whether this is its final batch)."""


_MAX_IOV: Final = 64
"""Buffers per pwritev(2) call (well under any system's IOV_MAX)."""


def _pwrite_all(fd: int, buffers: list[bytes], offset: int) -> None:
    """Write ``buffers`` back to back at ``offset``, retrying short writes."""
    total = sum(len(buffer) for buffer in buffers)
    done = os.pwritev(fd, buffers, offset)
    if done < total:  # rare on a regular file (a full disk fails the retry with ENOSPC)
        rest = memoryview(b"".join(buffers))[done:]
        while rest:
            count = os.pwrite(fd, rest, offset + done)
            done += count
            rest = rest[count:]


def _write_runs(fd: int, writes: list[FileWrite]) -> int:
    """Apply ``writes`` in order, each run of contiguous ones with one pwritev(2); returns bytes.

    Every system call releases the GIL and must win it back from a busy event
    loop: a few large calls keep the writer thread from falling behind.
    """
    written = 0
    index, count = 0, len(writes)
    while index < count:
        first = writes[index]
        buffers = [first.data]
        end = first.offset + len(first.data)
        index += 1
        while index < count and writes[index].offset == end and len(buffers) < _MAX_IOV:
            data = writes[index].data
            buffers.append(data)
            end += len(data)
            index += 1
        _pwrite_all(fd, buffers, first.offset)
        written += end - first.offset
    return written


def _hash_samples(recording: Recording, writes: list[FileWrite]) -> None:
    """Fold the sample data of ``writes`` into the recording's SHA-256, in file order.

    Chunks dropped under memory pressure left a hole in the file, which reads
    as zeros: the digest takes zeros for them too, so it is the digest of the
    file's sample data as stored.  Headers (written below the data) are skipped.
    """
    digest = recording.digest
    for write in writes:
        offset = write.offset
        if offset < recording.hashed_to:
            continue
        gap = offset - recording.hashed_to
        while gap > 0:
            step = min(gap, len(_ZEROS))
            digest.update(_ZEROS[:step])
            gap -= step
        digest.update(write.data)  # releases the GIL for a large chunk
        recording.hashed_to = offset + len(write.data)


def _apply(batch: _Batch) -> tuple[int, list[tuple[Recording, str]]]:
    """Writer thread: apply every write; returns the bytes written and the failures."""
    written = 0
    failures: list[tuple[Recording, str]] = []
    for recording, writes, final in batch:
        if recording.failed:
            continue
        try:
            if recording.fd is None:
                recording.fd = os.open(
                    recording.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | _O_CLOEXEC, 0o644
                )
            written += _write_runs(recording.fd, writes)
            _hash_samples(recording, writes)
            if final:
                fd, recording.fd = recording.fd, None
                os.close(fd)
        except OSError as exc:
            failures.append((recording, f"{type(exc).__name__}: {exc}"))
            if recording.fd is not None:
                fd, recording.fd = recording.fd, None
                try:
                    os.close(fd)
                except OSError:
                    log.warning("recording file close failed", path=recording.path)
    return written, failures


class RecordingWriter:
    """Applies batches of recording writes on one worker thread; bounded in flight."""

    __slots__ = (
        "_executor",
        "_loop",
        "_max_pending",
        "_metrics",
        "_on_failed",
        "_on_stored",
        "_pending",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        metrics: MediaEngineMetrics,
        *,
        max_pending_bytes: int,
        on_stored: Callable[[Recording], None],
        on_failed: Callable[[Recording, str], None],
    ) -> None:
        self._loop = loop
        self._metrics = metrics
        self._max_pending = max_pending_bytes
        self._on_stored = on_stored
        self._on_failed = on_failed
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="hotline-recording"
        )
        self._pending: set[asyncio.Future[tuple[int, list[tuple[Recording, str]]]]] = set()

    @property
    def in_flight(self) -> int:
        """Batches handed to the thread and not finished."""
        return len(self._pending)

    def submit(self, batch: _Batch) -> None:
        """Hand ``batch`` to the writer thread, dropping sample data past the memory bound."""
        metrics = self._metrics
        kept: _Batch = []
        size = 0
        for recording, writes, final in batch:
            if recording.failed:
                continue
            keep: list[FileWrite] = []
            for write in writes:
                length = len(write.data)
                if (
                    write.offset != 0
                    and not final
                    and metrics.pending_write_bytes + size + length > self._max_pending
                ):
                    metrics.recording_bytes_dropped += length
                    recording.dropped_bytes += length
                    continue
                keep.append(write)
                size += length
            if keep or final:
                kept.append((recording, keep, final))
        if not kept:
            return
        metrics.pending_write_bytes += size
        future = self._loop.run_in_executor(self._executor, _apply, kept)
        self._pending.add(future)
        future.add_done_callback(functools.partial(self._done, kept, size))

    def _done(
        self,
        batch: _Batch,
        size: int,
        future: asyncio.Future[tuple[int, list[tuple[Recording, str]]]],
    ) -> None:
        self._pending.discard(future)
        metrics = self._metrics
        metrics.pending_write_bytes -= size
        if future.cancelled():
            failures = [(recording, "cancelled") for recording, _w, _f in batch]
            written = 0
        elif (exc := future.exception()) is not None:
            log.error("recording writer failed", error=repr(exc), exc_info=exc)
            metrics.internal_errors += 1
            failures = [(recording, repr(exc)) for recording, _w, _f in batch]
            written = 0
        else:
            written, failures = future.result()
        metrics.bytes_recorded += written
        for recording, reason in failures:
            if not recording.failed:
                recording.failed = True
                self._on_failed(recording, reason)
        for recording, _writes, final in batch:
            if final and not recording.failed:
                self._on_stored(recording)

    async def drain(self) -> None:
        """Wait until every batch handed over so far is written."""
        while self._pending:
            await asyncio.wait(set(self._pending))

    async def close(self) -> None:
        """Drain, then stop the worker thread."""
        await self.drain()
        self._executor.shutdown(wait=True)


class RecordingBook:
    """The recordings in progress of one engine, and what they feed and report."""

    __slots__ = ("_batch", "_ctx", "_ticks", "directory", "recordings", "writer")

    def __init__(self, ctx: LegContext, directory: Path) -> None:
        self._ctx = ctx
        self.directory = directory
        self.recordings: dict[str, Recording] = {}
        self.writer: RecordingWriter | None = None
        self._ticks = 0
        self._batch: _Batch = []
        """File writes collected over the ticks of one write period, in order."""

    def open_writer(self, loop: asyncio.AbstractEventLoop, max_pending_bytes: int) -> None:
        """Start the writer thread (the engine is starting)."""
        self.writer = RecordingWriter(
            loop,
            self._ctx.metrics,
            max_pending_bytes=max_pending_bytes,
            on_stored=self._stored,
            on_failed=self._failed,
        )

    def start(
        self, caller: MediaLeg, operator: MediaLeg, recording_id: str | None, now: float
    ) -> str:
        """Record ``caller`` on the left channel and ``operator`` on the right; returns the id."""
        if caller is operator:
            raise MediaEngineError("a recording needs two different legs")
        if caller.recorder is not None or operator.recorder is not None:
            raise MediaEngineError("one of the legs is being recorded already")
        recording_id = recording_id or secrets.token_hex(8)
        if not _RECORDING_ID.fullmatch(recording_id) or recording_id in self.recordings:
            raise MediaEngineError(f"bad or duplicate recording id {recording_id!r}")
        path = str(self.directory / f"{recording_id}.wav")
        recorder = CallRecorder(
            path, now, chunk_ms=CHUNK_MS, reorder_window_ms=RECORDER_WINDOW_MS, digest=False
        )
        self.recordings[recording_id] = Recording(recording_id, path, recorder, caller, operator)
        for leg, channel in (
            (caller, RecordingChannel.CALLER),
            (operator, RecordingChannel.OPERATOR),
        ):
            recorder.set_codec(channel, leg.codec, payload_type=leg.audio_pt)
            leg.recorder = recorder
            leg.recording_channel = channel
            leg.recording_id = recording_id
        self._ctx.metrics.recordings_started += 1
        return recording_id

    def stop(self, recording_id: str, now: float) -> None:
        """Finish the file; CallRecordingStored follows once it is on disk."""
        recording = self.recordings.pop(recording_id, None)
        if recording is None:
            raise MediaEngineError(f"no recording {recording_id!r} in progress")
        self._detach(recording)
        recorder = recording.recorder
        recorder.finish(now)
        recording.stored = recorder.next_event()
        if self.writer is not None:
            batch, self._batch = self._batch, []
            # The writes collected so far go first: one thread applies batches in order.
            batch.append((recording, recorder.pending_writes(), True))
            self.writer.submit(batch)

    @staticmethod
    def _detach(recording: Recording) -> None:
        for leg in (recording.caller, recording.operator):
            if leg.recording_id == recording.recording_id:
                leg.flush_run()
                leg.recorder = None
                leg.recording_id = None

    def flush(self, now: float) -> None:
        """Pacer tick: for one :data:`WRITE_EVERY_TICKS`-th of the recordings (each one every
        100 ms, the work spread evenly over the ticks) hand idle packet runs to the recorder
        and run its flush timer; every :data:`WRITE_EVERY_TICKS` ticks the file writes
        collected go to the thread in one batch.

        A run waits at most 200 ms to fill and 100 ms more to be found idle: inside the
        recorders' reorder window (:data:`~hotline.media.eng_leg.RECORDER_WINDOW_MS`)."""
        if not self.recordings or self.writer is None:
            return
        idle = now - RUN_IDLE_S
        phase = self._ticks % WRITE_EVERY_TICKS
        self._ticks += 1
        batch = self._batch
        for index, recording in enumerate(self.recordings.values()):
            if index % WRITE_EVERY_TICKS == phase:
                caller, operator = recording.caller, recording.operator
                if caller.run and caller.run_now < idle:
                    caller.flush_run()
                if operator.run and operator.run_now < idle:
                    operator.flush_run()
                recorder = recording.recorder
                due = recorder.get_timer()
                if due is not None and due <= now:
                    recorder.handle_timer(now)
                writes = recorder.pending_writes()
                if writes:
                    batch.append((recording, writes, False))
        if phase == WRITE_EVERY_TICKS - 1 and batch:
            self._batch = []
            self.writer.submit(batch)

    def _stored(self, recording: Recording) -> None:
        if recording.stored is None:
            return
        # The writer thread hashed the samples as it wrote them (its last batch is done).
        stored = dataclasses.replace(recording.stored, sha256=recording.digest.hexdigest())
        self._ctx.metrics.recordings_stored += 1
        self._ctx.events.append(
            CallRecordingStored(
                recording.recording_id,
                recording.caller.leg_id,
                recording.operator.leg_id,
                stored,
                recording.dropped_bytes,
            )
        )

    def _failed(self, recording: Recording, reason: str) -> None:
        log.error("recording failed", recording_id=recording.recording_id, reason=reason)
        self._ctx.metrics.recordings_failed += 1
        if self.recordings.pop(recording.recording_id, None) is not None:
            self._detach(recording)
        self._ctx.events.append(RecordingFailed(recording.recording_id, reason))

    async def close(self, now: float) -> None:
        """Finish every recording, wait for the files, stop the writer thread."""
        for recording_id in list(self.recordings):
            self.stop(recording_id, now)
        if self.writer is not None:
            await self.writer.close()
