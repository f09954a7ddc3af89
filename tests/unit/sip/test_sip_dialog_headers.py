"""Parsers of the dialog extensions' headers: known vectors, limits, and property tests."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.errors import LimitExceededError, RemoteProtocolError
from hotline.sip.dlg_headers import (
    MAX_SIPFRAG_BYTES,
    MAX_VALUE_CHARS,
    EventHeader,
    RAck,
    ReasonHeader,
    Replaces,
    SipfragStatus,
    SubscriptionState,
    build_refer_to,
    parse_event,
    parse_rack,
    parse_reason,
    parse_refer_to,
    parse_referred_by,
    parse_replaces,
    parse_rseq,
    parse_sipfrag,
    parse_subscription_state,
)
from hotline.sip.dlg_offer_answer import (
    TRANSITIONS,
    OaInput,
    OfferAnswer,
    OfferAnswerState,
    sdp_hold_state,
)
from hotline.sip.dlg_session_timer import parse_min_se, parse_session_expires
from hotline.sip.msg_grammar import Params
from hotline.sip.uri import SipUri

# -- Replaces (RFC 3891 §6.1 examples) ------------------------------------------------------


def test_replaces_examples_of_rfc_3891() -> None:
    replaces = parse_replaces("98732@sip.example.com;from-tag=r33th4x0r;to-tag=ff87ff")
    assert replaces == Replaces("98732@sip.example.com", "ff87ff", "r33th4x0r")
    assert str(replaces) == "98732@sip.example.com;to-tag=ff87ff;from-tag=r33th4x0r"
    early = parse_replaces("98732@sip.example.com ;from-tag=r33th4x0r ; to-tag=ff87ff;early-only")
    assert early.early_only and str(early).endswith(";early-only")
    other = parse_replaces("a@b;to-tag=1;from-tag=2;x-vendor=7")
    assert other.params == Params((("x-vendor", "7"),)) and str(other).endswith(";x-vendor=7")


@pytest.mark.parametrize(
    "value",
    [
        "98732@sip.example.com;from-tag=r33th4x0r",  # no to-tag
        "98732@sip.example.com;to-tag=a;to-tag=b;from-tag=c",  # two to-tags
        "98732@sip.example.com;to-tag=;from-tag=c",
        "987 32@host;to-tag=a;from-tag=b",  # space in Call-ID
        ";to-tag=a;from-tag=b",
        "a@b;to-tag=1;from-tag=2;early-only=yes",
        "a@b;to-tag=1;from-tag=2;;",
    ],
)
def test_bad_replaces_values_are_400(value: str) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        parse_replaces(value)
    assert caught.value.status_hint == 400


def test_oversized_values_hit_the_limit() -> None:
    huge = "a" * (MAX_VALUE_CHARS + 1)
    for parser in (
        parse_replaces,
        parse_refer_to,
        parse_event,
        parse_subscription_state,
        parse_rack,
    ):
        with pytest.raises(LimitExceededError):
            parser(huge)
    with pytest.raises(LimitExceededError):
        parse_sipfrag(b"SIP/2.0 200 OK\r\n" + b"x" * MAX_SIPFRAG_BYTES)


# -- Refer-To and Referred-By ------------------------------------------------------------------


def test_refer_to_with_embedded_replaces_from_rfc_3891() -> None:
    refer_to = parse_refer_to(
        "<sip:alice@phone2.example.org?Replaces=12345%40phone1.example.org%3Bto-tag%3D12345"
        "%3Bfrom-tag%3D5FFE-3994>"
    )
    assert refer_to.replaces == Replaces("12345@phone1.example.org", "12345", "5FFE-3994")
    assert str(refer_to.uri) == "sip:alice@phone2.example.org"
    assert refer_to.embedded_headers == ()


def test_refer_to_plain_forms() -> None:
    addr_spec = parse_refer_to("sip:alice@atlanta.example.com")
    assert str(addr_spec.uri) == "sip:alice@atlanta.example.com" and addr_spec.replaces is None
    named = parse_refer_to('"Conference" <sip:conf@example.com;method=SUBSCRIBE>;x=1')
    assert named.method == "SUBSCRIBE" and named.address.display_name == "Conference"
    other = parse_refer_to("<sip:bob@example.net?Subject=hello&Priority=urgent>")
    assert other.embedded_headers == (("Subject", "hello"), ("Priority", "urgent"))
    tel = parse_refer_to("<tel:+74951234567>")
    assert str(tel.uri) == "tel:+74951234567" and tel.method == "INVITE"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "<sip:a@b",
        "sip:a@b?Replaces=x",  # headers need <> (RFC 3261 §20.10)
        "<sip:a@b?Replaces=x%3Bto-tag%3D1>",
        "<sip:a@b?Replaces=a%40b%3Bto-tag%3D1%3Bfrom-tag%3D2&Replaces=a%40b%3Bto-tag%3D1%3Bfrom-tag%3D2>",
    ],
)
def test_bad_refer_to_values_are_400(value: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_refer_to(value)


def test_referred_by_keeps_its_cid() -> None:
    referred_by = parse_referred_by(
        '<sip:referrer@atlanta.example.com>;cid="20398823.2UWQFN309shb3@atlanta"'
    )
    assert str(referred_by.uri) == "sip:referrer@atlanta.example.com"
    assert referred_by.params.get("cid") == "20398823.2UWQFN309shb3@atlanta"


# -- Event, Subscription-State, RSeq, RAck, Reason, sipfrag ---------------------------------------


def test_event_and_subscription_state() -> None:
    assert parse_event("refer;id=93809824") == EventHeader("refer", "93809824")
    assert parse_event("Refer") == EventHeader("refer")
    assert str(EventHeader("refer", "7")) == "refer;id=7"
    state = parse_subscription_state("terminated;reason=noresource")
    assert state == SubscriptionState("terminated", "noresource") and state.terminated
    active = parse_subscription_state("Active;expires=60")
    assert active == SubscriptionState("active", expires_s=60) and not active.terminated
    assert str(SubscriptionState("terminated", "timeout", retry_after_s=5)) == (
        "terminated;reason=timeout;retry-after=5"
    )
    for bad in ("refer;id=1;id=2", "re fer", ""):
        with pytest.raises(RemoteProtocolError):
            parse_event(bad)
    with pytest.raises(RemoteProtocolError):
        parse_subscription_state("active;expires=soon")


def test_rseq_and_rack() -> None:
    assert parse_rseq("988789") == 988789
    assert parse_rack("776656 1 INVITE") == RAck(776656, 1, "INVITE")
    assert str(RAck(1, 2, "INVITE")) == "1 2 INVITE"
    for bad in ("0", "2147483648", "x"):
        with pytest.raises(RemoteProtocolError):
            parse_rseq(bad)
    for bad in ("1 INVITE", "1 2", "a 2 INVITE"):
        with pytest.raises(RemoteProtocolError):
            parse_rack(bad)


def test_reason() -> None:
    assert parse_reason('Q.850;cause=16;text="Normal call clearing"') == ReasonHeader(
        "Q.850", 16, "Normal call clearing"
    )
    assert parse_reason('SIP;cause=200;text="Call completed elsewhere"').cause == 200
    assert str(ReasonHeader("SIP", 487, 'say "bye"')) == 'SIP;cause=487;text="say \\"bye\\""'
    with pytest.raises(RemoteProtocolError):
        parse_reason("Q.850;cause=sixteen")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"SIP/2.0 100 Trying\r\n", SipfragStatus(100, "Trying")),
        (b"SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n\r\n", SipfragStatus(200, "OK")),
        (b"\r\nSIP/2.0 603 Declined\n", SipfragStatus(603, "Declined")),
        (b"SIP/2.0 180", SipfragStatus(180, "")),
    ],
)
def test_sipfrag_status_lines(body: bytes, expected: SipfragStatus) -> None:
    assert parse_sipfrag(body) == expected
    assert parse_sipfrag(expected.to_body()) == expected


@pytest.mark.parametrize(
    "body", [b"", b"INVITE sip:a@b SIP/2.0\r\n", b"SIP/2.0 99 Low\r\n", b"HTTP/1.1 200 OK"]
)
def test_sipfrag_without_a_status_line_is_400(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_sipfrag(body)


# -- offer/answer table and hold detection -------------------------------------------------------


def test_offer_answer_table_and_rollback() -> None:
    oa = OfferAnswer()
    assert oa.apply(OaInput.SEND_OFFER) is OfferAnswerState.LOCAL_OFFER
    assert oa.apply(OaInput.OFFER_FAILED) is OfferAnswerState.NO_SESSION
    oa.apply(OaInput.RECEIVE_OFFER)
    assert oa.apply(OaInput.SEND_ANSWER) is OfferAnswerState.STABLE
    oa.apply(OaInput.SEND_OFFER)
    assert oa.apply(OaInput.OFFER_FAILED) is OfferAnswerState.STABLE
    with pytest.raises(Exception, match="not allowed"):
        oa.apply(OaInput.RECEIVE_ANSWER)
    assert len(TRANSITIONS) == 8


@pytest.mark.parametrize(
    ("direction", "address", "held"),
    [("sendrecv", "10.0.0.5", False), ("sendonly", "10.0.0.5", True), ("inactive", "10.0.0.5", True),
     ("recvonly", "10.0.0.5", False), ("sendrecv", "0.0.0.0", True)],
)  # fmt: skip
def test_hold_detection(direction: str, address: str, held: bool) -> None:
    body = (
        f"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
        f"m=audio 4000 RTP/AVP 8\r\na={direction}\r\n"
    ).encode()
    assert sdp_hold_state(body) is held


def test_hold_detection_without_audio_or_sdp() -> None:
    video_only = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=video 4000 RTP/AVP 96\r\n"
    assert sdp_hold_state(video_only) is None
    assert sdp_hold_state(b"not sdp") is None


# -- properties --------------------------------------------------------------------------------

_WORD = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,24}", fullmatch=True)
_TOKEN = st.from_regex(r"[A-Za-z0-9\-.!%*_+`'~]{1,16}", fullmatch=True)
_CALL_ID = st.builds(lambda a, b: f"{a}@{b}" if b else a, _WORD, st.one_of(st.just(""), _WORD))


@st.composite
def replaces_values(draw: st.DrawFn) -> Replaces:
    return Replaces(draw(_CALL_ID), draw(_TOKEN), draw(_TOKEN), draw(st.booleans()))


@settings(max_examples=200, deadline=None)
@given(replaces_values())
def test_replaces_round_trips(replaces: Replaces) -> None:
    assert parse_replaces(str(replaces)) == replaces


@settings(max_examples=200, deadline=None)
@given(replaces_values(), st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True))
def test_replaces_survives_embedding_in_refer_to(replaces: Replaces, user: str) -> None:
    refer_to = build_refer_to(SipUri("pbx.example.net", user), replaces=replaces)
    text = str(refer_to)
    assert ";" not in text.partition("?")[2]  # escaped inside the URI (RFC 3891 §5)
    parsed = parse_refer_to(text)
    assert parsed.replaces == replaces
    assert str(parsed.uri) == f"sip:{user}@pbx.example.net"


_PARSERS: list[Callable[[str], object]] = [
    parse_replaces, parse_refer_to, parse_referred_by, parse_event, parse_subscription_state,
    parse_rack, parse_rseq, parse_reason, parse_session_expires, parse_min_se,
]  # fmt: skip
_NOISE = st.text(
    alphabet=st.sampled_from('abcSIP@:;=<>"%?&,/ .-_~0123456789\t\\tag-from-to-replaces'),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(_NOISE, st.sampled_from(range(len(_PARSERS))))
def test_parsers_only_raise_remote_protocol_errors(text: str, index: int) -> None:
    with contextlib.suppress(RemoteProtocolError):
        _PARSERS[index](text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_sipfrag_parser_only_raises_remote_protocol_errors(data: bytes) -> None:
    try:
        status = parse_sipfrag(data)
    except RemoteProtocolError:
        return
    assert 100 <= status.status <= 699
