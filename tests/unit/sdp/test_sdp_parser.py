"""SDP parser and serialiser (RFC 8866): real-world fixtures, errors, limits, fuzz."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.sdp.model import (
    AddressType,
    Attribute,
    Connection,
    Direction,
    Origin,
    RtcpAttribute,
    RtpMap,
    SessionDescription,
)
from hotline.sdp.parser import SdpLimits, parse_sdp

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.sdp"))
MINIMAL = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize("module", ["model", "parser", "codecs", "negotiation", "session"])
def test_public_surface_exists(module: str) -> None:
    loaded = importlib.import_module(f"hotline.sdp.{module}")
    assert loaded.__all__
    for name in loaded.__all__:
        assert hasattr(loaded, name), name


def test_fixtures_are_present() -> None:
    assert len(FIXTURE_NAMES) == 8


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_serialises_back_to_the_same_bytes(name: str) -> None:
    data = load(name)
    assert bytes(parse_sdp(data)) == data


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_round_trip_is_stable(name: str) -> None:
    description = parse_sdp(load(name))
    assert parse_sdp(bytes(description)) == description
    assert parse_sdp(description.to_text()) == description


def test_sipp_uac_fields() -> None:
    sdp = parse_sdp(load("sipp_uac.sdp"))
    assert sdp.origin == Origin("user1", "53655765", 2353687637, AddressType.IP4, "127.0.0.1")
    assert sdp.connection == Connection(AddressType.IP4, "127.0.0.1")
    assert len(sdp.media) == 1
    audio = sdp.media[0]
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        6000,
        "RTP/AVP",
        ("0",),
    )
    assert audio.payload_types == (0,)
    assert audio.rtpmaps == {0: RtpMap(0, "PCMU", 8000)}
    assert sdp.media_direction(audio) is Direction.SENDRECV


def test_baresip_many_codecs() -> None:
    sdp = parse_sdp(load("baresip.sdp"))
    audio = sdp.media[0]
    assert audio.payload_types == (111, 9, 0, 8, 101)
    assert audio.rtpmaps[111] == RtpMap(111, "opus", 48000, 2)
    assert audio.fmtp(111) == "stereo=1;sprop-stereo=1"
    assert audio.fmtp(101) == "0-15"
    assert audio.fmtp(8) is None
    assert audio.ptime_ms == 20
    assert audio.bandwidths[0].bandwidth_type == "AS"
    assert audio.bandwidths[0].value == 96
    assert sdp.attributes == (Attribute("tool", "baresip 1.0.0"),)
    assert audio.attribute_values("ssrc") == (
        "1528932121 cname:3f5b0f0c-6d6e-4d4b-9d3d-7f5c7b0f9a11",
    )


def test_linphone_session_attributes_and_static_types_without_rtpmap() -> None:
    sdp = parse_sdp(load("linphone.sdp"))
    assert sdp.session_name == "Talk"
    assert [a.name for a in sdp.attributes] == ["rtcp-xr", "record"]
    audio = sdp.media[0]
    assert 0 not in audio.rtpmaps  # static type, no a=rtpmap
    assert audio.fmtp(18) == "annexb=yes"
    assert audio.rtpmaps[100] == RtpMap(100, "telephone-event", 8000)


def test_video_phone_media_sections() -> None:
    sdp = parse_sdp(load("video_phone.sdp"))
    assert [m.media for m in sdp.media] == ["video", "audio", "application"]
    audio = sdp.media[1]
    assert sdp.media_connection(audio) == Connection(AddressType.IP4, "203.0.113.11")
    assert sdp.media_connection(sdp.media[0]) == Connection(AddressType.IP4, "203.0.113.10")
    assert audio.rtcp == RtcpAttribute(54405, Connection(AddressType.IP4, "203.0.113.12"))
    assert audio.ptime_ms == 30
    application = sdp.media[2]
    assert application.formats == ("*",)
    assert application.payload_types == ()
    assert not application.is_rtp


def test_ipv6_and_maxptime() -> None:
    sdp = parse_sdp(load("ipv6.sdp"))
    assert sdp.origin.address_type is AddressType.IP6
    assert sdp.connection == Connection(AddressType.IP6, "2001:db8::10")
    assert sdp.media[0].maxptime_ms == 150
    assert sdp.media[0].ptime_ms is None


def test_rfc2543_hold_connection_is_null() -> None:
    sdp = parse_sdp(load("rfc2543_hold.sdp"))
    assert sdp.connection is not None
    assert sdp.connection.is_null


def test_every_session_line_type_and_media_override() -> None:
    sdp = parse_sdp(load("trunk_session_attrs.sdp"))
    assert sdp.information == "Provider trunk"
    assert sdp.uri == "http://example.net/sdp"
    assert sdp.emails == ("noc@example.net",)
    assert sdp.phones == ("+7 495 000-00-00",)
    assert sdp.timings[0].start == 3724394400
    assert sdp.timings[0].repeats == ("7d 1h 0 25h",)
    assert sdp.zone_adjustments == "2882844526 -1h 2898848070 0"
    assert sdp.direction is Direction.SENDONLY
    audio = sdp.media[0]
    assert (audio.port, audio.port_count, audio.title) == (20000, 2, "main audio")
    assert audio.direction is Direction.RECVONLY
    assert sdp.media_direction(audio) is Direction.RECVONLY  # media level wins
    assert audio.attribute_values("x-unknown-vendor") == ("1 2 3",)


def test_lf_only_and_blank_lines_are_accepted_and_written_with_crlf() -> None:
    text = "v=0\no=- 1 1 IN IP4 192.0.2.1\ns=-\n\nt=0 0\nm=audio 4000 RTP/AVP 8\n\n"
    sdp = parse_sdp(text.encode())
    assert bytes(sdp) == (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n"
    )


def test_missing_s_and_t_get_defaults() -> None:
    sdp = parse_sdp(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 8\r\n")
    assert sdp.session_name == "-"
    assert len(sdp.timings) == 1
    assert (sdp.timings[0].start, sdp.timings[0].stop) == (0, 0)


def test_non_utf8_session_name_survives_the_round_trip() -> None:
    data = MINIMAL.replace(b"s=-", "s=Звонок".encode("cp1251"))
    assert bytes(parse_sdp(data)) == data


def test_typed_views_ignore_malformed_values() -> None:
    data = MINIMAL + (
        b"m=audio 4000 RTP/AVP 8 300 abc\r\n"
        b"a=rtpmap:8 PCMA/8000\r\na=rtpmap:x PCMA\r\na=rtpmap:200 X/8000\r\n"
        b"a=ptime:abc\r\na=maxptime:0\r\na=rtcp:99999\r\na=fmtp:zz q\r\n"
    )
    audio = parse_sdp(data).media[0]
    assert audio.rtpmaps == {8: RtpMap(8, "PCMA", 8000)}
    assert audio.payload_types == (8,)
    assert audio.ptime_ms is None
    assert audio.maxptime_ms is None
    assert audio.rtcp is None
    assert audio.fmtp(8) is None


def test_rtcp_port_only() -> None:
    audio = parse_sdp(MINIMAL + b"m=audio 4000 RTP/AVP 8\r\na=rtcp:4005\r\n").media[0]
    assert audio.rtcp == RtcpAttribute(4005)


def test_session_level_direction_applies_to_media_without_one() -> None:
    sdp = parse_sdp(MINIMAL + b"a=inactive\r\nm=audio 4000 RTP/AVP 8\r\n")
    assert sdp.media_direction(sdp.media[0]) is Direction.INACTIVE


def test_media_without_formats_is_kept() -> None:
    sdp = parse_sdp(MINIMAL + b"m=video 0 RTP/AVP\r\n")
    assert sdp.media[0].formats == ()
    assert sdp.media[0].is_rejected
    assert parse_sdp(bytes(sdp)) == sdp


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"garbage", "not a <type>=<value>"),
        (b"o=- 1 1 IN IP4 192.0.2.1\r\nv=0\r\n", "first line must be v="),
        (b"v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\n", "unsupported SDP version"),
        (b"v=0\r\ns=-\r\nt=0 0\r\n", "without an o= line"),
        (b"v=0\r\no=- 1 IN IP4 192.0.2.1\r\n", "o= needs 6 fields"),
        (b"v=0\r\no=- 1 x IN IP4 192.0.2.1\r\n", "session version is not a number"),
        (b"v=0\r\no=- 1 1 IN IP5 192.0.2.1\r\n", "unsupported address type"),
        (MINIMAL + b"v=0\r\n", "v= may only be the first line"),
        (MINIMAL + b"c=IN IP4 192.0.2.2\r\n", "more than one c="),
        (MINIMAL + b"c=IN IP4\r\n", "more than one c="),
        (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4\r\n", "c= needs 3 fields"),
        (b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nr=7d 1h 0\r\n", "r= without a preceding t="),
        (MINIMAL + b"t=0\r\n", "t= needs 2 fields"),
        (MINIMAL + b"t=now later\r\n", "start time is not a number"),
        (MINIMAL + b"b=AS\r\n", "b= needs"),
        (MINIMAL + b"b=AS:lots\r\n", "bandwidth is not a number"),
        (MINIMAL + b"x=unknown\r\n", "unknown line type x="),
        (MINIMAL + b"A=upper\r\n", "not a <type>=<value>"),
        (MINIMAL + b"a=\r\n", "attribute name is not a token"),
        (MINIMAL + b"a=bad name:1\r\n", "attribute name is not a token"),
        (MINIMAL + b"a=rtpmap:8 PCMA/8000\x00\r\n", "control character"),
        (MINIMAL + b"s=a\rb\r\n", "control character"),
        (MINIMAL + b"m=audio 4000\r\n", "m= needs"),
        (MINIMAL + b"m=audio 70000 RTP/AVP 8\r\n", "port out of range"),
        (MINIMAL + b"m=audio -1 RTP/AVP 8\r\n", "port is not a number"),
        (MINIMAL + b"m=audio 4000/x RTP/AVP 8\r\n", "port count is not a number"),
        (
            MINIMAL + b"m=audio 4000 RTP/AVP 8\r\no=- 1 1 IN IP4 192.0.2.1\r\n",
            "not allowed in a media",
        ),
        (MINIMAL + b"m=audio 4000 RTP/AVP 8\r\nt=0 0\r\n", "not allowed in a media"),
        (MINIMAL + b"m=audio 4000 RTP/AVP 8\r\nq=1\r\n", "unknown line type q="),
        (MINIMAL + b"m=audio 4000 RTP/AVP 8\r\ni=a\r\ni=b\r\n", "more than one i="),
        (MINIMAL + b"m=audio 4000 RTP/AVP 8\r\nc=IN IP9 x\r\n", "unsupported address type"),
    ],
)
def test_malformed_sdp_is_a_400(data: bytes, fragment: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_sdp(data)
    assert info.value.status_hint == 400
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("data", "limits"),
    [
        (MINIMAL + b"a=x\r\n" * 10, SdpLimits(max_size_bytes=80)),
        (MINIMAL + b"a=x\r\n" * 10, SdpLimits(max_lines=10)),
        (MINIMAL + b"a=" + b"x" * 100 + b"\r\n", SdpLimits(max_line_length=50)),
        (MINIMAL + b"m=audio 1 RTP/AVP 8\r\n" * 3, SdpLimits(max_media=2)),
        (MINIMAL + b"m=audio 1 RTP/AVP 1 2 3 4\r\n", SdpLimits(max_formats=3)),
        (MINIMAL + b"a=x\r\n" * 4, SdpLimits(max_attributes=3)),
        (MINIMAL + b"m=audio 1 RTP/AVP 8\r\n" + b"a=x\r\n" * 4, SdpLimits(max_attributes=3)),
        (MINIMAL + b"t=0 0\r\n" * 3, SdpLimits(max_timings=3)),
    ],
)
def test_limits_raise_limit_exceeded(data: bytes, limits: SdpLimits) -> None:
    with pytest.raises(LimitExceededError) as info:
        parse_sdp(data, limits)
    assert info.value.status_hint == 400


def test_default_limits_reject_a_huge_body() -> None:
    with pytest.raises(LimitExceededError):
        parse_sdp(MINIMAL + b"a=" + b"x" * 40_000 + b"\r\n")


def test_serialising_a_line_break_is_refused() -> None:
    description = SessionDescription(
        origin=Origin("-", "1", 1, AddressType.IP4, "192.0.2.1"),
        session_name="evil\r\na=injected",
    )
    with pytest.raises(LocalProtocolError):
        bytes(description)


def test_serialising_a_stray_surrogate_is_refused() -> None:
    description = SessionDescription(
        origin=Origin("-", "1", 1, AddressType.IP4, "192.0.2.1"), session_name="\ud800"
    )
    with pytest.raises(LocalProtocolError):
        bytes(description)


def test_direction_helpers() -> None:
    assert Direction.SENDONLY.mirrored() is Direction.RECVONLY
    assert Direction.RECVONLY.mirrored() is Direction.SENDONLY
    assert Direction.INACTIVE.mirrored() is Direction.INACTIVE
    assert Direction.SENDRECV.mirrored() is Direction.SENDRECV
    assert Direction.from_flags(sends=False, receives=False) is Direction.INACTIVE


def parse_or_status(data: bytes) -> SessionDescription | int:
    try:
        return parse_sdp(data)
    except RemoteProtocolError as exc:
        return exc.status_hint


def check_parse_or_400(data: bytes) -> None:
    """Either a 400 or a description that survives serialise → parse unchanged."""
    outcome = parse_or_status(data)
    if isinstance(outcome, int):
        assert outcome == 400
    else:
        assert parse_sdp(bytes(outcome)) == outcome


_LINE_TYPES = st.sampled_from(list("vosiuepcbtrzkamxA"))
_LINE_VALUES = st.sampled_from(
    [
        "0",
        "- 1 1 IN IP4 192.0.2.1",
        "IN IP4 0.0.0.0",
        "IN IP6 ::1",
        "audio 4000 RTP/AVP 8 0 101",
        "video 0 RTP/AVP 96",
        "audio 4000/2 RTP/AVP",
        "rtpmap:8 PCMA/8000",
        "rtpmap:101 telephone-event/8000",
        "fmtp:101 0-15",
        "ptime:20",
        "sendonly",
        "rtcp:4001 IN IP4 192.0.2.9",
        "AS:64",
        "0 0",
        "7d 1h 0 25h",
        "",
        " ",
        "x y z",
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.tuples(_LINE_TYPES, _LINE_VALUES).map(lambda t: f"{t[0]}={t[1]}"),
            st.text(max_size=30),
        ),
        max_size=25,
    ),
    st.sampled_from(["\r\n", "\n"]),
)
def test_fuzz_structured_lines_parse_or_fail_with_400(lines: list[str], eol: str) -> None:
    data = ("v=0" + eol + eol.join(lines)).encode("utf-8", "surrogatepass")
    check_parse_or_400(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_parse_or_fail_with_400(data: bytes) -> None:
    check_parse_or_400(MINIMAL + data)
