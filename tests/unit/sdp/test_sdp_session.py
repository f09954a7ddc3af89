"""LocalSdpSession: o= version across re-offers (RFC 3264 §8), hold and resume."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hotline.core.errors import LocalProtocolError
from hotline.sdp.model import Attribute, Direction, SessionDescription
from hotline.sdp.negotiation import SdpNegotiationError, build_offer
from hotline.sdp.parser import parse_sdp
from hotline.sdp.session import LocalSdpSession

LOCAL_IP = "192.0.2.100"

PEER_OFFER = parse_sdp(
    b"v=0\r\n"
    b"o=peer 500 1 IN IP4 198.51.100.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 198.51.100.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 5000 RTP/AVP 8 0 101\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
)


def with_direction(
    offer: SessionDescription, direction: Direction, version: int
) -> SessionDescription:
    audio = offer.media[0]
    audio = replace(audio, attributes=(*audio.attributes, Attribute(str(direction))))
    return replace(offer, media=(audio,), origin=replace(offer.origin, session_version=version))


def peer_answer(direction: Direction = Direction.SENDRECV) -> SessionDescription:
    """The peer's answer to our one-stream offer: PCMA only."""
    text = (
        "v=0\r\no=peer 500 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\n"
        f"t=0 0\r\nm=audio 5000 RTP/AVP 8\r\na={direction}\r\n"
    )
    return parse_sdp(text)


def test_initial_offer_and_unchanged_reoffer_keep_the_version() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 123, initial_version=5)
    first = session.create_offer()
    assert first == build_offer(LOCAL_IP, 40_000, 123, 5)
    again = session.create_offer()
    assert bytes(again) == bytes(first)
    assert session.version == 5
    assert session.session_id == 123
    assert session.pending_offer == again


def test_hold_and_resume_bump_the_version_once_each() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 1)
    session.create_offer()
    session.process_answer(peer_answer())
    held = session.hold()
    assert held.origin.session_version == 1
    assert held.media[0].direction is Direction.SENDONLY
    assert session.direction is Direction.SENDONLY
    media = session.process_answer(peer_answer(Direction.RECVONLY))
    assert media.local_direction is Direction.SENDONLY
    assert session.hold().origin.session_version == 1  # same hold again: unchanged
    resumed = session.resume()
    assert resumed.origin.session_version == 2
    assert resumed.media[0].direction is Direction.SENDRECV
    assert resumed.origin.session_id == held.origin.session_id == "1"


def test_hold_without_music_is_inactive() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 1)
    session.create_offer()
    assert session.hold(music=False).media[0].direction is Direction.INACTIVE


def test_answers_keep_the_version_until_the_answer_changes() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 9, initial_version=9)
    first = session.answer(PEER_OFFER)
    assert first.answer.origin.session_version == 9
    assert first.media.codec_name == "PCMA"
    # session refresh: the same offer again gets the same answer and version
    refresh = session.answer(PEER_OFFER)
    assert refresh.answer == first.answer
    # the peer puts us on hold: our answer changes to recvonly, version + 1
    held = session.answer(with_direction(PEER_OFFER, Direction.SENDONLY, 2))
    assert held.media.on_hold
    assert held.answer.media[0].direction is Direction.RECVONLY
    assert held.answer.origin.session_version == 10
    # and off hold again
    resumed = session.answer(with_direction(PEER_OFFER, Direction.SENDRECV, 3))
    assert not resumed.media.on_hold
    assert resumed.answer.origin.session_version == 11


def test_our_hold_direction_shapes_answers_to_peer_reoffers() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 1)
    session.answer(PEER_OFFER)
    session.hold()
    session.process_answer(peer_answer(Direction.RECVONLY))
    result = session.answer(with_direction(PEER_OFFER, Direction.SENDRECV, 2))
    assert result.answer.media[0].direction is Direction.SENDONLY


def test_moving_media_bumps_the_version() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 1)
    session.create_offer()
    session.set_media_address("192.0.2.101", 40_002)
    moved = session.create_offer()
    assert moved.origin.session_version == 1
    assert moved.media[0].port == 40_002
    assert moved.origin.address == "192.0.2.101"


def test_offer_in_200_for_invite_without_sdp_then_answer_in_ack() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 77)
    offer = session.create_offer()
    assert offer.media[0].formats == ("8", "0", "101")
    media = session.process_answer(peer_answer())
    assert (media.codec_name, media.remote_rtp_port) == ("PCMA", 5000)
    assert session.pending_offer is None


def test_answer_without_pending_offer_is_a_local_error() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 1)
    with pytest.raises(LocalProtocolError):
        session.process_answer(peer_answer())


def test_failed_reoffer_is_undone() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 1)
    session.create_offer()
    session.process_answer(peer_answer())
    session.hold()
    session.cancel_offer()  # e.g. 491 Request Pending
    assert session.direction is Direction.SENDRECV
    assert session.pending_offer is None
    retry = session.create_offer()
    assert retry.media[0].direction is Direction.SENDRECV
    assert retry.origin.session_version == 2  # never reuses the failed offer's version


def test_unacceptable_offer_leaves_the_version_alone() -> None:
    session = LocalSdpSession(LOCAL_IP, 40_000, 1)
    session.answer(PEER_OFFER)
    video_only = replace(PEER_OFFER, media=(replace(PEER_OFFER.media[0], media="video"),))
    with pytest.raises(SdpNegotiationError):
        session.answer(video_only)
    assert session.version == 0
    assert session.answer(PEER_OFFER).answer.origin.session_version == 0
