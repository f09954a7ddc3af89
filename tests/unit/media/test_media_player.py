"""Player queues, barge-in, music on hold and the batched PlayerSet tick."""

from __future__ import annotations

import numpy as np
import pytest

from hotline.core.errors import LocalProtocolError
from hotline.media import player as player_module
from hotline.media.codecs import PCMA, PCMU
from hotline.media.player import (
    PlaybackFinished,
    PlaybackInterrupted,
    PlaybackItem,
    PlaybackStarted,
    PlaybackStopped,
    Player,
    PlayerSet,
    PromptPart,
    SilencePart,
    TonePart,
    music_on_hold,
)
from hotline.media.prompts import EncodedPrompt, encode_frames
from hotline.media.tones import BUSY, RINGBACK, Cadence, ToneFrameCache, ToneSegment

TICK = 0.02


def prompt(frames: int, codec_name: str = "PCMA", value: int = 1000) -> EncodedPrompt:
    """A prompt whose frame i decodes to a constant ``value + i`` (so frames can be told apart)."""
    codec = PCMA if codec_name == "PCMA" else PCMU
    pcm = np.concatenate([np.full(160, value + 64 * i, dtype=np.int16) for i in range(frames)])
    return EncodedPrompt("/prompts/p.wav", codec_name, encode_frames(pcm, codec), frames * 0.02)


def events(source: Player | PlayerSet) -> list[object]:
    out: list[object] = []
    while (event := source.next_event()) is not None:
        out.append(event)
    return out


def run(player: Player, ticks: int, start: float = 0.0) -> list[bytes | None]:
    return [player.next_frame(start + i * TICK) for i in range(ticks)]


def new_player(codec: object = PCMA) -> Player:
    return Player("leg-1", codec, ToneFrameCache())  # type: ignore[arg-type]


def test_public_surface() -> None:
    assert {
        "Player",
        "PlayerSet",
        "PlaybackItem",
        "PlaybackFinished",
        "PlaybackInterrupted",
    } <= set(player_module.__all__)
    assert all(hasattr(player_module, name) for name in player_module.__all__)


def test_prompt_plays_every_frame_then_finishes() -> None:
    p = prompt(5)
    player = new_player()
    player.enqueue(PlaybackItem("greeting", (PromptPart(p),)))
    out = run(player, 7)
    assert out[:5] == list(p.frames)
    assert out[5:] == [None, None]
    assert events(player) == [
        PlaybackStarted("leg-1", "greeting"),
        PlaybackFinished("leg-1", "greeting"),
    ]
    assert not player.active


def test_sequence_of_parts_and_queue_order() -> None:
    a, b = prompt(2, value=100), prompt(3, value=5000)
    player = new_player()
    player.enqueue(PlaybackItem("menu", (PromptPart(a), SilencePart(40), PromptPart(b))))
    player.enqueue(PlaybackItem("tone", (TonePart(BUSY, duration_ms=100),)))
    out = run(player, 12)
    silence = PCMA.encode(np.zeros(160, dtype=np.int16))
    assert out[:7] == [*a.frames, silence, silence, *b.frames]
    busy = [PCMA.decode(f) for f in out[7:12] if f is not None]
    assert len(busy) == 5
    assert events(player) == [
        PlaybackStarted("leg-1", "menu"),
        PlaybackFinished("leg-1", "menu"),
        PlaybackStarted("leg-1", "tone"),
        PlaybackFinished("leg-1", "tone"),
    ]
    assert np.abs(np.concatenate(busy)).max() > 5000  # 425 Hz at -10 dBm0


def test_ringback_plays_until_stopped_and_follows_the_cadence() -> None:
    player = new_player()
    player.enqueue(PlaybackItem("ring", (TonePart(RINGBACK),)))
    out = run(player, 500)  # 10 s
    assert all(frame is not None for frame in out)
    level = [np.abs(PCMA.decode(f)).max() for f in out if f is not None]
    on = [lvl > 1000 for lvl in level]
    assert sum(on) == 100  # 2 × 1 s on out of 10 s
    assert on[:50] == [True] * 50
    assert on[50:250] == [False] * 200
    player.stop()
    assert events(player) == [PlaybackStarted("leg-1", "ring"), PlaybackStopped("leg-1", "ring")]
    assert player.next_frame(10.0) is None


def test_one_shot_tone_ends_by_itself() -> None:
    beep = Cadence("beep", (ToneSegment(100, (1000.0,)),), repeat=False)
    player = new_player()
    player.enqueue(PlaybackItem("beep", (TonePart(beep),)))
    assert sum(f is not None for f in run(player, 10)) == 5


def test_barge_in_stops_the_whole_item() -> None:
    player = new_player()
    player.enqueue(
        PlaybackItem("menu", (PromptPart(prompt(10)), PromptPart(prompt(10))), barge_in=True)
    )
    player.enqueue(PlaybackItem("after", (SilencePart(20),)))
    run(player, 3)
    assert player.on_dtmf("5")
    assert player.next_frame(1.0) is not None  # the next item starts right away
    assert events(player) == [
        PlaybackStarted("leg-1", "menu"),
        PlaybackInterrupted("leg-1", "menu", "5"),
        PlaybackStarted("leg-1", "after"),
        PlaybackFinished("leg-1", "after"),
    ]


def test_digit_does_not_stop_a_non_barge_in_item() -> None:
    player = new_player()
    player.enqueue(PlaybackItem("legal", (PromptPart(prompt(3)),), barge_in=False))
    run(player, 1)
    assert not player.on_dtmf("1")
    assert sum(f is not None for f in run(player, 5)) == 2
    assert not player.on_dtmf("1")  # idle: nothing to stop


def test_digit_before_a_queued_barge_in_item_starts_drops_it() -> None:
    player = new_player()
    player.enqueue(PlaybackItem("menu", (PromptPart(prompt(3)),), barge_in=True))
    assert player.on_dtmf("#")
    assert events(player) == [PlaybackInterrupted("leg-1", "menu", "#")]
    assert player.next_frame(0.0) is None


def test_music_on_hold_loops_until_stopped() -> None:
    moh = prompt(4)
    player = new_player()
    player.enqueue(music_on_hold("moh", moh))
    assert run(player, 10) == [*moh.frames, *moh.frames, *moh.frames[:2]]
    assert not player.on_dtmf("1")
    player.stop("moh")
    assert player.next_frame(1.0) is None
    assert events(player)[-1] == PlaybackStopped("leg-1", "moh")


def test_stop_removes_queued_items_too() -> None:
    player = new_player()
    for name in ("a", "b", "c"):
        player.enqueue(PlaybackItem(name, (SilencePart(100),)))
    run(player, 1)
    player.stop("b")
    assert player.queued_item_ids() == ("c",)
    player.stop()
    assert not player.active
    assert events(player)[-2:] == [PlaybackStopped("leg-1", "a"), PlaybackStopped("leg-1", "c")]


def test_empty_items_finish_at_once() -> None:
    player = new_player()
    player.enqueue(PlaybackItem("nothing", (SilencePart(0),), loop=True))
    player.enqueue(PlaybackItem("one", (SilencePart(20),)))
    assert run(player, 2)[1] is None
    assert events(player)[0] == PlaybackFinished("leg-1", "nothing")


def test_misuse_is_refused() -> None:
    player = new_player(PCMU)
    with pytest.raises(LocalProtocolError, match="PCMA"):
        player.enqueue(PlaybackItem("x", (PromptPart(prompt(1, "PCMA")),)))
    with pytest.raises(LocalProtocolError):
        player.on_dtmf("x")
    small = Player("leg", PCMA, ToneFrameCache(), max_queue=1)
    small.enqueue(PlaybackItem("a", (SilencePart(20),)))
    with pytest.raises(LocalProtocolError, match="full"):
        small.enqueue(PlaybackItem("b", (SilencePart(20),)))
    with pytest.raises(ValueError):
        SilencePart(-1)


def test_player_set_ticks_all_legs_in_one_pass() -> None:
    players = PlayerSet()
    a = players.create("a", PCMA)
    b = players.create("b", PCMU)
    players.create("idle", PCMA)
    a.enqueue(PlaybackItem("pa", (PromptPart(prompt(2)),)))
    b.enqueue(PlaybackItem("pb", (TonePart(BUSY, 60),)))
    ticks = [players.tick(i * TICK) for i in range(4)]
    assert [[leg for leg, _ in tick] for tick in ticks] == [["a", "b"], ["a", "b"], ["b"], []]
    assert ticks[0][0][1] == prompt(2).frames[0]
    assert len(ticks[0][1][1]) == 160
    assert events(players) == [
        PlaybackStarted("a", "pa"),
        PlaybackStarted("b", "pb"),
        PlaybackFinished("a", "pa"),
        PlaybackFinished("b", "pb"),
    ]
    assert "a" in players
    players.remove("a")
    assert len(players) == 2
    with pytest.raises(LocalProtocolError):
        players.create("b", PCMA)
