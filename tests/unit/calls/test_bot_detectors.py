"""DetectorPool: detectors reused between calls, reset, bounded (fake scorer, no model)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hotline.bot.ports import FRAME_BYTES, VadEvent, VadEventKind
from hotline.bot.vad import ScoredVad, VadConfig, VadEngine
from hotline.calls.bot_detectors import DetectorPool

LOUD = b"\x00\x40" * (FRAME_BYTES // 2)
QUIET = bytes(FRAME_BYTES)


class LevelScorer:
    """Speech when the frame is not all zeros; counts resets."""

    def __init__(self) -> None:
        self.resets = 0

    def score(self, frame: bytes) -> float:
        return 1.0 if any(frame) else 0.0

    def reset(self) -> None:
        self.resets += 1


class Factory:
    def __init__(self) -> None:
        self.made: list[ScoredVad] = []
        self.lock = threading.Lock()

    def __call__(self) -> ScoredVad:
        detector = ScoredVad(LevelScorer(), VadConfig(), engine=VadEngine.WEBRTC)
        with self.lock:
            self.made.append(detector)
        return detector


def speak(detector: ScoredVad, speech_frames: int, silence_frames: int) -> list[VadEvent]:
    return list(detector.feed(LOUD * speech_frames + QUIET * silence_frames))


def test_a_released_detector_is_reset_and_reused() -> None:
    factory = Factory()
    pool = DetectorPool(factory, max_idle=2)
    first = pool.acquire()
    speak(first, 10, 0)  # the call ends while the caller speaks
    assert first.tracker.in_utterance
    pool.release(first)
    assert not first.tracker.in_utterance and pool.idle == 1
    again = pool.acquire()
    assert again is first and pool.created == 1 and len(factory.made) == 1
    kinds = [e.kind for e in speak(again, 10, 40)]
    assert kinds == [VadEventKind.SPEECH_STARTED, VadEventKind.SPEECH_ENDED]


def test_an_empty_pool_makes_a_new_detector_per_concurrent_call() -> None:
    factory = Factory()
    pool = DetectorPool(factory, max_idle=4)
    a, b = pool.acquire(), pool.acquire()
    assert a is not b and pool.created == 2 and pool.idle == 0


def test_at_most_max_idle_are_kept() -> None:
    pool = DetectorPool(Factory(), max_idle=2)
    detectors = [pool.acquire() for _ in range(5)]
    for detector in detectors:
        pool.release(detector)
    assert pool.idle == 2
    assert {id(pool.acquire()), id(pool.acquire())} <= {id(d) for d in detectors[:2]}
    assert pool.acquire() not in detectors and pool.created == 6


def test_max_idle_zero_keeps_nothing() -> None:
    pool = DetectorPool(Factory(), max_idle=0)
    pool.release(pool.acquire())
    pool.prewarm(3)
    assert pool.idle == 0 and pool.created == 1


def test_prewarm_fills_up_to_the_count_once() -> None:
    factory = Factory()
    pool = DetectorPool(factory, max_idle=3)
    pool.prewarm(2)
    pool.prewarm(2)
    assert pool.idle == 2 and pool.created == 2
    pool.prewarm(10)  # bounded by max_idle
    assert pool.idle == 3 and len(factory.made) == 3
    taken = [pool.acquire() for _ in range(3)]
    assert len({id(d) for d in taken}) == 3 and pool.created == 3


def test_a_foreign_detector_is_not_kept() -> None:
    class Other:
        def feed(self, pcm: bytes) -> list[VadEvent]:
            return []

        def reset(self) -> None:
            raise AssertionError("not ours: not touched")

    pool = DetectorPool(Factory(), max_idle=2)
    pool.release(Other())
    assert pool.idle == 0


def test_negative_max_idle_is_refused() -> None:
    with pytest.raises(ValueError, match="max_idle"):
        DetectorPool(Factory(), max_idle=-1)


def test_threads_never_share_a_detector() -> None:
    pool = DetectorPool(Factory(), max_idle=8)
    pool.prewarm(8)

    def borrow(_: int) -> int:
        detector = pool.acquire()
        ident = id(detector)
        speak(detector, 3, 3)
        pool.release(detector)
        return ident

    with ThreadPoolExecutor(8) as executor:
        held: set[int] = set()
        barrier = threading.Barrier(8)

        def hold(_: int) -> int:
            detector = pool.acquire()
            barrier.wait(timeout=10)  # all eight held at once: each must be distinct
            ident = id(detector)
            pool.release(detector)
            return ident

        held.update(executor.map(hold, range(8)))
        assert len(held) == 8
        list(executor.map(borrow, range(200)))
    assert pool.created == 8 and pool.idle == 8


def test_a_detector_that_cannot_reset_is_dropped() -> None:
    from hotline.core.errors import HotlineError

    class Stuck(LevelScorer):
        def reset(self) -> None:
            raise HotlineError("the engine cannot start afresh")

    pool = DetectorPool(
        lambda: ScoredVad(Stuck(), VadConfig(), engine=VadEngine.WEBRTC), max_idle=2
    )
    detector = pool.acquire()
    pool.release(detector)  # no exception reaches the call's clean-up
    assert pool.idle == 0 and pool.acquire() is not detector
