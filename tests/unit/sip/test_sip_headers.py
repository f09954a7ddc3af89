"""Header container and typed header values (RFC 3261 §7.3, §20, §25; RFC 3581)."""

from __future__ import annotations

import pytest

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.hdr_types import (
    CSeq,
    NameAddr,
    Via,
    is_valid_name_addr,
    parse_call_id,
    parse_cseq,
    parse_name_addr,
    parse_token_list,
    parse_uint,
    parse_via,
)
from hotline.sip.headers import COMPACT_FORMS, Headers, canonical_name, header_key
from hotline.sip.msg_grammar import Params, parse_params, quote_string, split_list
from hotline.sip.uri import SipUri

# -- the container -------------------------------------------------------------


def test_compact_forms_of_rfc3261() -> None:
    expected = {
        "i": "Call-ID", "m": "Contact", "e": "Content-Encoding", "l": "Content-Length",
        "c": "Content-Type", "f": "From", "s": "Subject", "k": "Supported", "t": "To", "v": "Via",
    }  # fmt: skip
    for short, full in expected.items():
        assert COMPACT_FORMS[short] == full
        assert header_key(short.upper()) == full.lower()
    assert header_key("o") == "event"
    assert header_key("x") == "session-expires"
    assert canonical_name("cseq") == "CSeq"
    assert canonical_name("v") == "Via"
    assert canonical_name("X-Custom") == "X-Custom"


def test_lookup_is_case_insensitive_and_keeps_spelling() -> None:
    headers = Headers([("v", "SIP/2.0/UDP a"), ("VIA", "SIP/2.0/UDP b"), ("X-Odd", "1")])
    assert headers.get("Via") == "SIP/2.0/UDP a"
    assert headers.get_all("via") == ["SIP/2.0/UDP a", "SIP/2.0/UDP b"]
    assert headers.count("V") == 2
    assert "x-odd" in headers
    assert "Route" not in headers
    assert list(headers) == [("v", "SIP/2.0/UDP a"), ("VIA", "SIP/2.0/UDP b"), ("X-Odd", "1")]
    assert headers.get("Route") is None


def test_values_split_list_headers_only() -> None:
    headers = Headers(
        [
            ("Contact", '"Doe, John" <sip:j@h;a=1,2>;q=0.5, <sip:k@h>'),
            ("Contact", "sip:l@h"),
            ("Subject", "Hello, world"),
            ("Supported", ""),
        ]
    )
    assert headers.values("m") == ['"Doe, John" <sip:j@h;a=1,2>;q=0.5', "<sip:k@h>", "sip:l@h"]
    assert headers.values("Subject") == ["Hello, world"]
    assert headers.values("Supported") == []
    with pytest.raises(RemoteProtocolError, match="Require"):
        Headers([("Require", "a,,b")]).values("Require")


def test_split_list_rejects_unterminated() -> None:
    with pytest.raises(RemoteProtocolError, match="unterminated quoted string"):
        split_list('"abc, <sip:x>', "Contact")
    with pytest.raises(RemoteProtocolError, match="unterminated <"):
        split_list("<sip:x, y", "Route")
    assert split_list('a;b="x;y";c', "X", ";") == ["a", 'b="x;y"', "c"]


def test_mutations() -> None:
    headers = Headers(
        [("Via", "SIP/2.0/UDP a, SIP/2.0/UDP b"), ("To", "<sip:x@h>"), ("X", "1"), ("x", "2")]
    )
    headers.prepend("Via", "SIP/2.0/TCP top")
    assert headers.get_all("Via")[0] == "SIP/2.0/TCP top"
    assert headers.pop_first_value("Via") == "SIP/2.0/TCP top"
    assert headers.pop_first_value("Via") == "SIP/2.0/UDP a"
    assert headers.get_all("Via") == ["SIP/2.0/UDP b"]
    headers.replace_first_value("Via", "SIP/2.0/UDP b;received=1.2.3.4")
    assert headers.get("Via") == "SIP/2.0/UDP b;received=1.2.3.4"
    headers.set("x", "3")
    assert headers.get_all("X") == ["3"]
    assert headers.remove("X") == 1
    assert headers.remove("X") == 0
    headers.add("Route", "  <sip:p>  ")
    assert headers.get("Route") == "<sip:p>"
    headers.prepend("Call-ID", "c@h")  # no Call-ID yet: goes to the top
    assert next(iter(headers)) == ("Call-ID", "c@h")
    copy = headers.copy()
    copy.add("Y", "1")
    assert "Y" not in headers
    assert copy != headers
    assert Headers(list(headers)) == headers
    assert headers.pop_first_value("Nope") is None
    with pytest.raises(LocalProtocolError):
        headers.replace_first_value("Nope", "x")


@pytest.mark.parametrize(
    ("name", "value"), [("Bad Name", "x"), ("", "x"), ("X", "a\r\nInjected: 1"), ("X", "a\nb")]
)
def test_header_injection_refused(name: str, value: str) -> None:
    with pytest.raises(LocalProtocolError):
        Headers().add(name, value)


def test_memo_dropped_on_change() -> None:
    headers = Headers([("CSeq", "1 INVITE")])
    headers.remember("cseq", CSeq(1, "INVITE"))
    assert headers.memo("cseq") == CSeq(1, "INVITE")
    headers.add("X", "y")
    assert headers.memo("cseq") is None


def test_single_rejects_duplicates() -> None:
    headers = Headers([("Call-ID", "a"), ("i", "b")])
    with pytest.raises(RemoteProtocolError, match="Call-ID header: appears more than once"):
        headers.single("call-id", "Call-ID")
    assert Headers().single("call-id", "Call-ID") is None


# -- parameters ----------------------------------------------------------------


def test_params() -> None:
    params = parse_params(' ; tag = "a;b" ;LR; expires=60', "Contact")
    assert params.items == (("tag", '"a;b"'), ("LR", None), ("expires", "60"))
    assert params.get("TAG") == "a;b"
    assert params.raw("tag") == '"a;b"'
    assert params.get("lr") == ""
    assert params.has("lr")
    assert params.get("nope") is None
    assert str(params) == ';tag="a;b";LR;expires=60'
    assert str(params.with_param("lr", "x").without("expires")) == ';tag="a;b";LR=x'
    assert str(Params().with_param("q", "1")) == ";q=1"
    assert quote_string('a"b\\c') == '"a\\"b\\\\c"'


@pytest.mark.parametrize("text", [";", ";;", ";=x", ";a=", ";a b", "x;a=1", ';a="x', ";a=b c"])
def test_bad_params(text: str) -> None:
    with pytest.raises(RemoteProtocolError, match="Via"):
        parse_params(text, "Via")


# -- name-addr -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "display", "uri", "tag"),
    [
        (
            '"Alice \\"A\\"" <sip:alice@atlanta.com>;tag=1928',
            'Alice "A"',
            "sip:alice@atlanta.com",
            "1928",
        ),
        ("Bob <sips:bob@biloxi.com>", "Bob", "sips:bob@biloxi.com", None),
        ("caller<sip:caller@example.com>;tag=323", "caller", "sip:caller@example.com", "323"),
        ("<sip:+7912@gw;user=phone>;tag=x", None, "sip:+7912@gw;user=phone", "x"),
        ("sip:carol@chicago.com;tag=887s", None, "sip:carol@chicago.com", "887s"),
        ("sip:carol@chicago.com ; tag = 9", None, "sip:carol@chicago.com", "9"),
        ("<tel:+74951234567>", None, "tel:+74951234567", None),
        ('"" <sip:x@y>', "", "sip:x@y", None),
        ("A  B\tC <sip:x@y>", "A  B\tC", "sip:x@y", None),
    ],
)
def test_name_addr(value: str, display: str | None, uri: str, tag: str | None) -> None:
    parsed = parse_name_addr(value, "From")
    assert (parsed.display_name, str(parsed.uri), parsed.tag) == (display, uri, tag)
    assert parse_name_addr(str(parsed), "From") == parsed


@pytest.mark.parametrize(
    "value",
    [
        '"unterminated <sip:a@b>',
        "Bell, Alexander <sip:a@b>",
        "< sip:a@b >",
        "<sip:a@b",
        '"x" sip:a@b',
        "sip:a@b?Route=x",
        "sip:a@b, sip:c@d",
        "<sip:a@b> junk",
        "",
        "<>",
        "<sip:a@b>;tag",  # valueless tag is allowed: see below
    ][:-1],
)
def test_bad_name_addr(value: str) -> None:
    assert not is_valid_name_addr(value)
    with pytest.raises(RemoteProtocolError, match="To"):
        parse_name_addr(value, "To")


def test_valid_check_agrees_with_parser() -> None:
    for value in ('"A" <sip:a@b:5060;lr>;tag=1', "sip:a@b;tag=2", "A <sip:a@b>"):
        assert is_valid_name_addr(value)
        parse_name_addr(value, "To")
    assert not is_valid_name_addr("sip:a@b:70000")


def test_contact_expires_and_q() -> None:
    contact = parse_name_addr("<sip:a@b>;expires=280297596632815;q=0.7", "Contact")
    assert contact.expires == 2**32 - 1
    assert contact.q == pytest.approx(0.7)
    with pytest.raises(RemoteProtocolError, match="q value"):
        _ = parse_name_addr("<sip:a@b>;q=1.5", "Contact").q
    with pytest.raises(RemoteProtocolError, match="expires"):
        _ = parse_name_addr("<sip:a@b>;expires=soon", "Contact").expires


def test_name_addr_build_and_tag() -> None:
    addr = NameAddr(SipUri("h", user="a"), 'Иван "И"').with_tag("t1")
    assert str(addr) == '"Иван \\"И\\"" <sip:a@h>;tag=t1'
    assert parse_name_addr(str(addr), "From") == addr


# -- Via -----------------------------------------------------------------------


def test_via_parse_and_helpers() -> None:
    via = parse_via("SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport;ttl=16")
    assert (via.transport, via.host, via.port, via.sent_by) == (
        "UDP",
        "pc33.atlanta.com",
        5066,
        "pc33.atlanta.com:5066",
    )
    assert via.branch == "z9hG4bK776asdhds"
    assert via.has_rfc3261_branch
    assert via.has_rport
    assert via.rport is None
    assert via.ttl == 16
    assert via.received is None
    answered = via.with_source("192.0.2.7", 41000)
    assert answered.rport == 41000
    assert answered.received == "192.0.2.7"
    assert str(answered) == (
        "SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport=41000;ttl=16;received=192.0.2.7"
    )


def test_via_received_rules_of_18_2_1() -> None:
    same = parse_via("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKa")
    assert same.with_source("192.0.2.7", 5060) == same
    other = same.with_source("198.51.100.1", 5060)
    assert other.received == "198.51.100.1"
    assert other.rport is None
    assert (
        parse_via("SIP/2.0/TCP [2001:db8::1];branch=z9hG4bKb")
        .with_source("2001:db8::1", 1)
        .received
        is None
    )


def test_via_with_lws_and_ipv6() -> None:
    via = parse_via(
        "SIP  /  2.0 / tcp   [2001:db8::9] : 5061 ;  branch = z9hG4bKx ; received=[2001:db8::1]"
    )
    assert (via.transport, via.host, via.port) == ("TCP", "[2001:db8::9]", 5061)
    assert via.received == "[2001:db8::1]"
    assert str(Via("TLS", "h", 5061)) == "SIP/2.0/TLS h:5061"


@pytest.mark.parametrize(
    "value",
    [
        "SIP/2.0/UDP",
        "SIP/2.0 h",
        "SIP/2.0/UDP h:70000",
        "SIP/2.0/UDP h;;",
        "SIP/2.0/UDP h x",
        "garbage",
    ],
)
def test_bad_via(value: str) -> None:
    with pytest.raises(RemoteProtocolError, match="Via"):
        parse_via(value)


def test_via_bad_rport_and_ttl() -> None:
    with pytest.raises(RemoteProtocolError, match="rport"):
        _ = parse_via("SIP/2.0/UDP h;rport=x").rport
    with pytest.raises(RemoteProtocolError, match="ttl"):
        _ = parse_via("SIP/2.0/UDP h;ttl=300").ttl


# -- scalars -------------------------------------------------------------------


def test_cseq() -> None:
    assert parse_cseq("0009 INVITE") == CSeq(9, "INVITE")
    assert parse_cseq("4294967295   ACK") == CSeq(4294967295, "ACK")
    assert str(CSeq(1, "BYE")) == "1 BYE"
    for bad in ("4294967296 INVITE", "-1 INVITE", "1", "INVITE 1", "1 IN VITE", "٣ INVITE"):
        with pytest.raises(RemoteProtocolError, match="CSeq"):
            parse_cseq(bad)


def test_call_id_uint_and_tokens() -> None:
    assert parse_call_id("a84b4c76e66710@pc33.atlanta.com") == "a84b4c76e66710@pc33.atlanta.com"
    for bad in ("", "a b", "a@b@c"):
        with pytest.raises(RemoteProtocolError, match="Call-ID"):
            parse_call_id(bad)
    assert parse_uint("0068", "Max-Forwards", 255) == 68
    assert parse_uint("99999999999999999999999", "Expires", 2**32 - 1, clamp=True) == 2**32 - 1
    for bad in ("256", "-1", "+1", "1.0", "", "٣"):
        with pytest.raises(RemoteProtocolError, match="Max-Forwards"):
            parse_uint(bad, "Max-Forwards", 255)
    assert parse_token_list(["100rel", "timer"], "Supported") == ("100rel", "timer")
    with pytest.raises(RemoteProtocolError, match="Supported"):
        parse_token_list(["a b"], "Supported")
