"""The VAD hysteresis state machine on synthetic frame scores (no engine, no clock)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.bot import vad
from hotline.bot.ports import FRAME_BYTES, VadEvent, VadEventKind
from hotline.bot.vad import (
    MAX_FEED_BYTES,
    TRANSITIONS,
    FrameClass,
    ScoredVad,
    UtteranceTracker,
    VadConfig,
    VadEngine,
    VadState,
)
from hotline.core.errors import (
    ConfigurationError,
    LimitExceededError,
    LocalProtocolError,
    RemoteProtocolError,
)

STARTED = VadEventKind.SPEECH_STARTED
ENDED = VadEventKind.SPEECH_ENDED


def run(scores: Sequence[float], config: VadConfig | None = None) -> list[tuple[VadEventKind, int]]:
    tracker = UtteranceTracker(config)
    events = [tracker.push(score) for score in scores]
    return [(e.kind, e.at_ms) for e in events if e is not None]


def test_public_surface() -> None:
    assert sorted(vad.__all__) == sorted(
        [
            "MAX_FEED_BYTES",
            "TRANSITIONS",
            "FrameClass",
            "FrameScorer",
            "ScoredVad",
            "UtteranceTracker",
            "VadConfig",
            "VadEngine",
            "VadEngineUnavailableError",
            "VadState",
        ]
    )


def test_transition_table_is_complete() -> None:
    assert set(TRANSITIONS) == {(s, c) for s in VadState for c in FrameClass}


def test_one_utterance_boundaries_and_decision_times() -> None:
    # 1 s silence, 1 s speech, 1 s silence: frames of 20 ms.
    scores = [0.0] * 50 + [0.9] * 50 + [0.0] * 50
    tracker = UtteranceTracker()
    seen: list[tuple[int, VadEvent]] = []
    for index, score in enumerate(scores):
        event = tracker.push(score)
        if event is not None:
            seen.append((index, event))
    assert [(i, e.kind, e.at_ms) for i, e in seen] == [
        (54, STARTED, 1000),  # decided after 100 ms of speech, reported at the onset
        (134, ENDED, 2000),  # decided after 700 ms of silence, reported at the end of speech
    ]
    assert tracker.position_ms == 3000
    assert tracker.state is VadState.SILENCE


def test_a_click_shorter_than_min_speech_is_ignored() -> None:
    assert run([0.0] * 10 + [1.0] * 4 + [0.0] * 100) == []
    assert run([0.0] * 10 + [1.0] * 5 + [0.0] * 100) == [(STARTED, 200), (ENDED, 300)]


def test_unsure_frames_drop_an_onset_but_hold_an_utterance() -> None:
    assert run([0.9, 0.9, 0.4, 0.9, 0.9, 0.4] + [0.0] * 60) == []
    # Speech, then 2 s of unsure: the utterance holds; the first silence frame ends it,
    # with the end at the last speech frame.
    events = run([0.9] * 10 + [0.4] * 100 + [0.0] * 5)
    assert events == [(STARTED, 0), (ENDED, 200)]


def test_short_pause_does_not_end_the_utterance() -> None:
    scores = [0.9] * 20 + [0.0] * 34 + [0.9] * 20 + [0.0] * 40
    assert run(scores) == [(STARTED, 0), (ENDED, 1480)]


def test_end_silence_is_configurable() -> None:
    config = VadConfig(end_silence_ms=300)
    scores = [0.9] * 20 + [0.0] * 16 + [0.9] * 20 + [0.0] * 40
    assert run(scores, config) == [(STARTED, 0), (ENDED, 400), (STARTED, 720), (ENDED, 1120)]


def test_max_utterance_forces_an_end_and_speech_restarts() -> None:
    config = VadConfig(max_utterance_ms=1000)
    events = run([0.9] * 80, config)
    assert events == [(STARTED, 0), (ENDED, 1000), (STARTED, 1000)]


def test_lookback_over_weak_frames_before_the_onset() -> None:
    # 0.2 is above the activity threshold, below the silence threshold.
    scores = [0.0] * 10 + [0.2] * 3 + [0.9] * 10 + [0.0] * 40
    assert run(scores) == [(STARTED, 200), (ENDED, 460)]
    long_weak = [0.0] * 10 + [0.2] * 30 + [0.9] * 10 + [0.0] * 40
    assert run(long_weak)[0] == (STARTED, 800 - 200)  # at most max_lookback_ms
    assert run(scores, VadConfig(max_lookback_ms=0))[0] == (STARTED, 260)


def test_lookback_never_reaches_before_a_forced_end() -> None:
    config = VadConfig(max_utterance_ms=1000, min_speech_ms=100)
    scores = [0.9] * 50 + [0.2] * 2 + [0.9] * 10
    assert run(scores, config) == [(STARTED, 0), (ENDED, 1000), (STARTED, 1000)]


def test_reset_forgets_the_utterance_but_not_the_position() -> None:
    tracker = UtteranceTracker()
    for _ in range(10):
        tracker.push(0.9)
    before = tracker.state
    tracker.reset()
    assert (before, tracker.state) == (VadState.SPEECH, VadState.SILENCE)
    assert tracker.position_ms == 200
    assert [tracker.push(0.0) for _ in range(50)] == [None] * 50


@pytest.mark.parametrize("score", [-0.1, 1.5, float("nan"), float("inf")])
def test_bad_score_is_our_bug(score: float) -> None:
    with pytest.raises(LocalProtocolError):
        UtteranceTracker().push(score)


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"speech_threshold": 0.0}, "HOTLINE_BOT__VAD_SPEECH_THRESHOLD"),
        ({"silence_threshold": 0.6}, "HOTLINE_BOT__VAD_SILENCE_THRESHOLD"),
        ({"activity_threshold": 0.4}, "HOTLINE_BOT__VAD_ACTIVITY_THRESHOLD"),
        ({"max_lookback_ms": 30}, "HOTLINE_BOT__VAD_MAX_LOOKBACK_MS"),
        ({"end_silence_ms": 710}, "HOTLINE_BOT__END_SILENCE_MS"),
        ({"min_speech_ms": 0}, "HOTLINE_BOT__VAD_MIN_SPEECH_MS"),
        ({"max_utterance_ms": 500}, "HOTLINE_BOT__VAD_MAX_UTTERANCE_MS"),
    ],
)
def test_config_checks_name_the_setting(kwargs: dict[str, float], setting: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        VadConfig(**kwargs)  # type: ignore[arg-type]
    assert info.value.setting == setting


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=600))
def test_events_alternate_and_move_forward(scores: list[float]) -> None:
    tracker = UtteranceTracker(VadConfig(max_utterance_ms=2000))
    events = [e for e in (tracker.push(s) for s in scores) if e is not None]
    kinds = [e.kind for e in events]
    assert kinds == [STARTED, ENDED] * (len(kinds) // 2) + [STARTED] * (len(kinds) % 2)
    times = [e.at_ms for e in events]
    assert times == sorted(times)
    assert all(0 <= t <= tracker.position_ms for t in times)
    for start, end in zip(times[::2], times[1::2], strict=False):
        assert 0 < end - start <= 2000
    assert tracker.in_utterance == (len(kinds) % 2 == 1)


class ScriptedScorer:
    """A frame scorer that replays scores and records the frames it saw."""

    def __init__(self, scores: Sequence[float]) -> None:
        self.scores = list(scores)
        self.frames: list[bytes] = []
        self.resets = 0

    def score(self, frame: bytes) -> float:
        self.frames.append(frame)
        return self.scores[len(self.frames) - 1]

    def reset(self) -> None:
        self.resets += 1


def test_scored_vad_splits_frames_and_reports_events() -> None:
    scorer = ScriptedScorer([0.9] * 10 + [0.0] * 40)
    detector = ScoredVad(scorer, engine=VadEngine.WEBRTC)
    pcm = b"".join(bytes([i]) * FRAME_BYTES for i in range(50))
    events = detector.feed(pcm[: 25 * FRAME_BYTES])
    assert events == [VadEvent(STARTED, 0)]
    events = detector.feed(pcm[25 * FRAME_BYTES :])
    assert events == [VadEvent(ENDED, 200)]
    assert [f[0] for f in scorer.frames] == list(range(50))
    assert all(len(f) == FRAME_BYTES for f in scorer.frames)
    assert detector.feed(b"") == []
    detector.reset()
    assert scorer.resets == 1 and detector.engine is VadEngine.WEBRTC


def test_scored_vad_rejects_partial_frames_and_huge_feeds() -> None:
    detector = ScoredVad(ScriptedScorer([0.0]), engine=VadEngine.SILERO)
    with pytest.raises(RemoteProtocolError):
        detector.feed(b"\0" * (FRAME_BYTES + 1))
    with pytest.raises(LimitExceededError):
        detector.feed(b"\0" * (MAX_FEED_BYTES + FRAME_BYTES))
