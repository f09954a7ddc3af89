"""SDP offer/answer (RFC 3264): negotiation tables over real-world offers, hold, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sdp.codecs import (
    DEFAULT_AUDIO_CODECS,
    PCMA,
    PCMU,
    STATIC_PAYLOAD_TYPES,
    CodecSpec,
    resolve_rtpmap,
)
from hotline.sdp.model import AddressType, Direction, RtpMap, SessionDescription
from hotline.sdp.negotiation import (
    NegotiatedMedia,
    SdpNegotiationError,
    answer_offer,
    build_offer,
    process_answer,
)
from hotline.sdp.parser import parse_sdp

FIXTURES = Path(__file__).parent / "fixtures"
LOCAL_IP = "192.0.2.100"
LOCAL_PORT = 40_000


def fixture(name: str) -> SessionDescription:
    return parse_sdp((FIXTURES / name).read_bytes())


def text_offer(body: str) -> SessionDescription:
    return parse_sdp(body.replace("\n", "\r\n").encode())


def answer(
    offer: SessionDescription,
    *,
    direction: Direction = Direction.SENDRECV,
    codecs: tuple[CodecSpec, ...] = DEFAULT_AUDIO_CODECS,
    telephone_event: bool = True,
) -> tuple[SessionDescription, NegotiatedMedia]:
    result = answer_offer(
        offer,
        LOCAL_IP,
        LOCAL_PORT,
        session_id=7,
        version=1,
        codecs=codecs,
        direction=direction,
        telephone_event=telephone_event,
    )
    return result.answer, result.media


# name, payload type, codec, telephone-event PT, remote address, RTP port, RTCP address, RTCP port,
# ptime, index of the audio m= line
NEGOTIATION_TABLE = [
    ("sipp_uac.sdp", 0, "PCMU", None, "127.0.0.1", 6000, "127.0.0.1", 6001, 20, 0),
    # offerer's order wins (RFC 3264 §6.1): PCMU is listed before PCMA
    ("baresip.sdp", 0, "PCMU", 101, "192.168.1.20", 10312, "192.168.1.20", 10313, 20, 0),
    # static PT 0 without a=rtpmap; telephone-event at 8000 Hz is PT 100, not 101 (48000 Hz)
    ("linphone.sdp", 0, "PCMU", 100, "192.168.1.30", 7078, "192.168.1.30", 7079, 20, 0),
    ("deskphone.sdp", 8, "PCMA", 101, "10.10.1.50", 11796, "10.10.1.50", 11797, 20, 0),
    ("video_phone.sdp", 8, "PCMA", 101, "203.0.113.11", 54400, "203.0.113.12", 54405, 30, 1),
    ("ipv6.sdp", 0, "PCMU", 101, "2001:db8::10", 30000, "2001:db8::10", 30001, 20, 0),
    ("rfc2543_hold.sdp", 8, "PCMA", 101, "0.0.0.0", 11796, "0.0.0.0", 11797, 20, 0),
    (
        "trunk_session_attrs.sdp",
        8,
        "PCMA",
        101,
        "198.51.100.7",
        20000,
        "198.51.100.7",
        20001,
        20,
        0,
    ),
]


@pytest.mark.parametrize(
    ("name", "pt", "codec", "te", "address", "port", "rtcp_address", "rtcp_port", "ptime", "index"),
    NEGOTIATION_TABLE,
)
def test_negotiation_table(
    name: str,
    pt: int,
    codec: str,
    te: int | None,
    address: str,
    port: int,
    rtcp_address: str,
    rtcp_port: int,
    ptime: int,
    index: int,
) -> None:
    offer = fixture(name)
    sdp, media = answer(offer)
    assert (media.payload_type, media.codec_name, media.clock_rate_hz) == (pt, codec, 8000)
    assert media.telephone_event_pt == te
    assert (media.remote_address, media.remote_rtp_port) == (address, port)
    assert (media.remote_rtcp_address, media.remote_rtcp_port) == (rtcp_address, rtcp_port)
    assert media.ptime_ms == ptime
    assert media.media_index == index
    # the answer has the offer's m= lines in the same order (RFC 3264 §6)
    assert [m.media for m in sdp.media] == [m.media for m in offer.media]
    accepted = sdp.media[index]
    assert accepted.port == LOCAL_PORT
    expected_formats = (str(pt),) if te is None else (str(pt), str(te))
    assert accepted.formats == expected_formats
    assert parse_sdp(bytes(sdp)) == sdp


def test_full_answer_bytes_for_a_deskphone_offer() -> None:
    sdp, _ = answer(fixture("deskphone.sdp"))
    assert bytes(sdp) == (
        b"v=0\r\n"
        b"o=- 7 1 IN IP4 192.0.2.100\r\n"
        b"s=-\r\n"
        b"c=IN IP4 192.0.2.100\r\n"
        b"t=0 0\r\n"
        b"m=audio 40000 RTP/AVP 8 101\r\n"
        b"a=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-15\r\n"
        b"a=ptime:20\r\n"
        b"a=sendrecv\r\n"
    )


def test_video_and_application_lines_are_rejected_in_place() -> None:
    offer = fixture("video_phone.sdp")
    sdp, _ = answer(offer)
    video, audio, application = sdp.media
    assert (video.media, video.port, video.proto, video.formats) == (
        "video",
        0,
        "RTP/AVP",
        ("96", "97"),
    )
    assert video.attributes == ()
    assert (application.media, application.port, application.formats) == ("application", 0, ("*",))
    assert audio.port == LOCAL_PORT
    assert sdp.origin.address_type is AddressType.IP4


def test_ipv6_local_address_gives_ip6_lines() -> None:
    offer = fixture("ipv6.sdp")
    result = answer_offer(offer, "2001:db8::1", 5004, session_id=1, version=1)
    assert result.answer.connection is not None
    assert result.answer.connection.address_type is AddressType.IP6
    assert result.answer.origin.address_type is AddressType.IP6
    assert result.media.remote_address_type is AddressType.IP6


SIMPLE_OFFER = """v=0
o=- 1 1 IN IP4 198.51.100.1
s=-
c=IN IP4 198.51.100.1
t=0 0
m=audio 5000 RTP/AVP 8 0 101
a=rtpmap:101 telephone-event/8000
{extra}"""


# offer's direction line, offer connection, our wish, expected remote, expected answer, on_hold
HOLD_TABLE = [
    ("", "198.51.100.1", Direction.SENDRECV, Direction.SENDRECV, Direction.SENDRECV, False),
    (
        "a=sendrecv",
        "198.51.100.1",
        Direction.SENDRECV,
        Direction.SENDRECV,
        Direction.SENDRECV,
        False,
    ),
    (
        "a=sendonly",
        "198.51.100.1",
        Direction.SENDRECV,
        Direction.SENDONLY,
        Direction.RECVONLY,
        True,
    ),
    (
        "a=inactive",
        "198.51.100.1",
        Direction.SENDRECV,
        Direction.INACTIVE,
        Direction.INACTIVE,
        True,
    ),
    (
        "a=recvonly",
        "198.51.100.1",
        Direction.SENDRECV,
        Direction.RECVONLY,
        Direction.SENDONLY,
        False,
    ),
    ("", "0.0.0.0", Direction.SENDRECV, Direction.SENDONLY, Direction.RECVONLY, True),
    ("a=sendonly", "0.0.0.0", Direction.SENDRECV, Direction.SENDONLY, Direction.RECVONLY, True),
    ("a=recvonly", "0.0.0.0", Direction.SENDRECV, Direction.INACTIVE, Direction.INACTIVE, True),
    # we hold the peer (music: sendonly; silence: inactive)
    ("", "198.51.100.1", Direction.SENDONLY, Direction.SENDRECV, Direction.SENDONLY, False),
    ("", "198.51.100.1", Direction.INACTIVE, Direction.SENDRECV, Direction.INACTIVE, False),
    (
        "a=sendonly",
        "198.51.100.1",
        Direction.SENDONLY,
        Direction.SENDONLY,
        Direction.INACTIVE,
        True,
    ),
]


@pytest.mark.parametrize(("line", "address", "wish", "remote", "local", "on_hold"), HOLD_TABLE)
def test_hold_table(
    line: str,
    address: str,
    wish: Direction,
    remote: Direction,
    local: Direction,
    on_hold: bool,
) -> None:
    body = SIMPLE_OFFER.format(extra=line + "\n" if line else "").replace("198.51.100.1", address)
    sdp, media = answer(text_offer(body), direction=wish)
    assert media.remote_direction is remote
    assert media.local_direction is local
    assert media.on_hold is on_hold
    assert sdp.media[0].direction is local


def test_session_level_sendonly_is_hold() -> None:
    body = SIMPLE_OFFER.format(extra="").replace("t=0 0\n", "t=0 0\na=sendonly\n")
    _, media = answer(text_offer(body))
    assert media.remote_direction is Direction.SENDONLY
    assert media.on_hold


def test_second_audio_stream_is_rejected() -> None:
    body = SIMPLE_OFFER.format(extra="m=audio 5002 RTP/AVP 8\n")
    sdp, media = answer(text_offer(body))
    assert media.media_index == 0
    assert [m.port for m in sdp.media] == [LOCAL_PORT, 0]


def test_first_audio_stream_without_common_codec_is_skipped() -> None:
    body = SIMPLE_OFFER.format(extra="").replace("RTP/AVP 8 0 101", "RTP/AVP 18")
    body += "m=audio 5002 RTP/AVP 0\n"
    sdp, media = answer(text_offer(body))
    assert media.media_index == 1
    assert media.remote_rtp_port == 5002
    assert [m.port for m in sdp.media] == [0, LOCAL_PORT]


def test_codecs_restrict_the_choice() -> None:
    _, media = answer(fixture("baresip.sdp"), codecs=(PCMA,))
    assert (media.payload_type, media.codec_name) == (8, "PCMA")


def test_telephone_event_can_be_disabled() -> None:
    sdp, media = answer(fixture("deskphone.sdp"), telephone_event=False)
    assert media.telephone_event_pt is None
    assert sdp.media[0].formats == ("8",)
    assert sdp.media[0].fmtp(101) is None


def test_codec_names_match_case_insensitively_on_dynamic_payload_types() -> None:
    body = SIMPLE_OFFER.format(extra="a=rtpmap:96 pcma/8000\n").replace("8 0 101", "96 101")
    sdp, media = answer(text_offer(body))
    assert (media.payload_type, media.codec_name) == (96, "PCMA")
    assert sdp.media[0].formats == ("96", "101")


def test_maxptime_caps_the_packetisation() -> None:
    body = SIMPLE_OFFER.format(extra="a=ptime:40\na=maxptime:20\n")
    _, media = answer(text_offer(body))
    assert media.ptime_ms == 20


def test_absurd_ptime_falls_back_to_default() -> None:
    _, media = answer(text_offer(SIMPLE_OFFER.format(extra="a=ptime:5000\n")))
    assert media.ptime_ms == 20


def test_rtcp_port_only_attribute_keeps_the_media_address() -> None:
    _, media = answer(text_offer(SIMPLE_OFFER.format(extra="a=rtcp:6007\n")))
    assert (media.remote_rtcp_address, media.remote_rtcp_port) == ("198.51.100.1", 6007)


@pytest.mark.parametrize(
    "body",
    [
        SIMPLE_OFFER.format(extra="").replace("8 0 101", "18 9"),  # G.729 and G.722 only
        SIMPLE_OFFER.format(extra="").replace("m=audio 5000", "m=audio 0"),  # audio disabled
        SIMPLE_OFFER.format(extra="").replace("RTP/AVP", "RTP/SAVP"),  # SRTP only
        SIMPLE_OFFER.format(extra="").replace("m=audio", "m=video"),  # no audio at all
        SIMPLE_OFFER.format(extra="")
        .replace("8 0 101", "96")
        .replace("telephone-event/8000", "PCMA/16000"),
        "v=0\no=- 1 1 IN IP4 198.51.100.1\ns=-\nt=0 0\n",  # no m= line
    ],
)
def test_no_acceptable_audio_is_488(body: str) -> None:
    with pytest.raises(SdpNegotiationError) as info:
        answer(text_offer(body))
    assert info.value.status_hint == 488
    assert isinstance(info.value, RemoteProtocolError)


def test_audio_without_connection_is_400() -> None:
    body = SIMPLE_OFFER.format(extra="").replace("c=IN IP4 198.51.100.1\n", "")
    with pytest.raises(RemoteProtocolError) as info:
        answer(text_offer(body))
    assert info.value.status_hint == 400
    assert not isinstance(info.value, SdpNegotiationError)


def test_build_offer_default_bytes() -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1234, 5)
    assert bytes(offer) == (
        b"v=0\r\n"
        b"o=- 1234 5 IN IP4 192.0.2.100\r\n"
        b"s=-\r\n"
        b"c=IN IP4 192.0.2.100\r\n"
        b"t=0 0\r\n"
        b"m=audio 40000 RTP/AVP 8 0 101\r\n"
        b"a=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-15\r\n"
        b"a=ptime:20\r\n"
        b"a=sendrecv\r\n"
    )


def test_build_offer_options() -> None:
    offer = build_offer(
        "2001:db8::1",
        5004,
        1,
        2,
        codecs=(PCMU,),
        direction=Direction.SENDONLY,
        telephone_event_pt=None,
        ptime_ms=30,
    )
    audio = offer.media[0]
    assert offer.origin.address_type is AddressType.IP6
    assert audio.formats == ("0",)
    assert audio.direction is Direction.SENDONLY
    assert audio.ptime_ms == 30


def test_build_offer_assigns_dynamic_payload_types_around_telephone_event() -> None:
    wideband = CodecSpec("L16", 8000)
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 1, codecs=(wideband, PCMA), telephone_event_pt=96)
    audio = offer.media[0]
    assert audio.formats == ("97", "8", "96")
    assert audio.rtpmaps[97] == RtpMap(97, "L16", 8000)


@pytest.mark.parametrize(
    ("local_ip", "port", "codecs", "te_pt"),
    [
        ("pbx.example.org", 4000, DEFAULT_AUDIO_CODECS, 101),
        (LOCAL_IP, 0, DEFAULT_AUDIO_CODECS, 101),
        (LOCAL_IP, 70_000, DEFAULT_AUDIO_CODECS, 101),
        (LOCAL_IP, 4000, (), 101),
        (LOCAL_IP, 4000, DEFAULT_AUDIO_CODECS, 8),
    ],
)
def test_build_offer_rejects_bad_local_settings(
    local_ip: str, port: int, codecs: tuple[CodecSpec, ...], te_pt: int
) -> None:
    with pytest.raises(LocalProtocolError):
        build_offer(local_ip, port, 1, 1, codecs=codecs, telephone_event_pt=te_pt)


def test_negative_session_id_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        build_offer(LOCAL_IP, 4000, -1, 1)


def test_offer_answer_between_two_hotline_engines() -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 1)
    result = answer_offer(offer, "198.51.100.9", 6000, session_id=2, version=1)
    ours = process_answer(offer, result.answer)
    assert (result.media.payload_type, result.media.codec_name) == (8, "PCMA")
    assert (ours.payload_type, ours.codec_name, ours.telephone_event_pt) == (8, "PCMA", 101)
    assert (ours.remote_address, ours.remote_rtp_port) == ("198.51.100.9", 6000)
    assert result.media.remote_rtp_port == LOCAL_PORT


ANSWER_TEMPLATE = """v=0
o=peer 9 9 IN IP4 198.51.100.20
s=-
c=IN IP4 198.51.100.20
t=0 0
m=audio 7000 RTP/AVP {formats}
{extra}"""


def peer_answer(formats: str, extra: str = "") -> SessionDescription:
    return text_offer(ANSWER_TEMPLATE.format(formats=formats, extra=extra))


def test_process_answer_uses_the_answerers_codec_order() -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 1)
    media = process_answer(offer, peer_answer("0 8 101", "a=rtpmap:101 telephone-event/8000\n"))
    assert (media.payload_type, media.codec_name, media.telephone_event_pt) == (0, "PCMU", 101)
    assert (media.remote_address, media.remote_rtp_port, media.remote_rtcp_port) == (
        "198.51.100.20",
        7000,
        7001,
    )


def test_process_answer_without_telephone_event() -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 1)
    assert process_answer(offer, peer_answer("8")).telephone_event_pt is None


def test_process_answer_ignores_telephone_event_we_did_not_offer() -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 1, telephone_event_pt=None)
    media = process_answer(offer, peer_answer("8 101", "a=rtpmap:101 telephone-event/8000\n"))
    assert media.telephone_event_pt is None


def test_process_answer_when_we_hold() -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 2, direction=Direction.SENDONLY)
    media = process_answer(offer, peer_answer("8", "a=recvonly\n"))
    assert media.local_direction is Direction.SENDONLY
    assert media.remote_direction is Direction.RECVONLY
    assert not media.on_hold


def test_process_answer_detects_peer_hold_in_answer() -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 2)
    media = process_answer(offer, peer_answer("8", "a=inactive\n"))
    assert media.local_direction is Direction.INACTIVE
    assert media.on_hold


@pytest.mark.parametrize(
    "answer_sdp",
    [
        ANSWER_TEMPLATE.format(formats="8", extra="").replace("m=audio 7000", "m=audio 0"),
        ANSWER_TEMPLATE.format(formats="18", extra=""),  # G.729: never offered
        ANSWER_TEMPLATE.format(formats="8", extra="").replace("RTP/AVP", "RTP/SAVP"),
    ],
)
def test_process_answer_without_usable_audio(answer_sdp: str) -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 1)
    with pytest.raises(SdpNegotiationError):
        process_answer(offer, text_offer(answer_sdp))


def test_process_answer_refuses_a_codec_we_did_not_offer() -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 1, codecs=(PCMA,))
    with pytest.raises(SdpNegotiationError):
        process_answer(offer, peer_answer("0"))


@pytest.mark.parametrize(
    "answer_sdp",
    [
        ANSWER_TEMPLATE.format(formats="8", extra="m=video 0 RTP/AVP 96\n"),  # extra m= line
        ANSWER_TEMPLATE.format(formats="8", extra="").replace("m=audio", "m=video"),
    ],
)
def test_process_answer_with_mismatched_lines_is_a_protocol_error(answer_sdp: str) -> None:
    offer = build_offer(LOCAL_IP, LOCAL_PORT, 1, 1)
    with pytest.raises(RemoteProtocolError) as info:
        process_answer(offer, text_offer(answer_sdp))
    assert info.value.status_hint == 400


def test_static_payload_table() -> None:
    assert STATIC_PAYLOAD_TYPES[8] == RtpMap(8, "PCMA", 8000)
    assert STATIC_PAYLOAD_TYPES[18] == RtpMap(18, "G729", 8000)
    assert STATIC_PAYLOAD_TYPES[10] == RtpMap(10, "L16", 44100, 2)
    assert resolve_rtpmap({}, 0) == RtpMap(0, "PCMU", 8000)
    assert resolve_rtpmap({}, 2) is None
    assert resolve_rtpmap({}, 96) is None
    assert resolve_rtpmap({8: RtpMap(8, "X", 8000)}, 8) == RtpMap(8, "X", 8000)
