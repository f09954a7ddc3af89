"""SIP, SIPS, tel and other URIs (RFC 3261 §19.1, RFC 3966)."""

from __future__ import annotations

import dataclasses

import pytest

from hotline.core.errors import RemoteProtocolError
from hotline.sip.msg_grammar import Params
from hotline.sip.uri import AbsoluteUri, SipUri, TelUri, parse_uri


def sip(text: str) -> SipUri:
    return SipUri.parse(text)


def test_full_sip_uri_components() -> None:
    uri = sip(
        "sips:alice:secret@Atlanta.Example.com:5061;transport=tcp;lr;maddr=239.1.1.1?subject=hi&priority=urgent"
    )
    assert uri.scheme == "sips"
    assert uri.secure
    assert (uri.user, uri.password, uri.host, uri.port) == (
        "alice",
        "secret",
        "Atlanta.Example.com",
        5061,
    )
    assert uri.transport == "tcp"
    assert uri.lr
    assert uri.maddr == "239.1.1.1"
    assert uri.headers == (("subject", "hi"), ("priority", "urgent"))
    assert uri.host_port == "Atlanta.Example.com:5061"


def test_minimal_and_uppercase_scheme() -> None:
    uri = sip("SIP:example.com")
    assert (uri.scheme, uri.user, uri.host, uri.port, len(uri.params)) == (
        "sip",
        None,
        "example.com",
        None,
        0,
    )
    assert str(uri) == "SIP:example.com"  # raw form kept


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("sip:alice@[2001:db8::1]:5060", "[2001:db8::1]", 5060),
        ("sip:[::1]", "[::1]", None),
        ("sip:bob@192.0.2.4", "192.0.2.4", None),
    ],
)
def test_hosts(text: str, host: str, port: int | None) -> None:
    uri = sip(text)
    assert (uri.host, uri.port) == (host, port)


def test_escapes_decoded_once_and_raw_kept() -> None:
    text = "sip:%61lice%2540@example.com;n%61me=v%61lue%25%34%31"
    uri = sip(text)
    assert uri.user == "alice%40"
    assert uri.params.items == (("name", "value%41"),)
    assert str(uri) == text


def test_built_uri_is_escaped() -> None:
    uri = SipUri("example.com", user="a b@c", params=Params([("x", "1 2")]))
    assert str(uri) == "sip:a%20b%40c@example.com;x=1%202"
    assert sip(str(uri)) == uri


def test_replace_drops_raw_form() -> None:
    uri = sip("sip:%61lice@example.com")
    changed = dataclasses.replace(uri, port=5070)
    assert str(changed) == "sip:alice@example.com:5070"
    assert str(uri.with_param("transport", "tcp")) == "sip:alice@example.com;transport=tcp"
    assert str(sip("sip:a@h;lr;x=1").without_param("LR")) == "sip:a@h;x=1"


def test_address_of_record() -> None:
    assert sip("sip:%61lice@Example.COM:5060;transport=tcp?x=y").address_of_record() == (
        "sip:alice@example.com:5060"
    )


# RFC 3261 §19.1.4 examples.
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
    ("sip:alice@[2001:db8:0:0:0:0:0:1]", "sip:alice@[2001:db8::1]"),
]
NOT_EQUIVALENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:a@h", "sips:a@h"),
    ("sip:a@h;maddr=1.2.3.4", "sip:a@h"),
]


@pytest.mark.parametrize(("left", "right"), EQUIVALENT)
def test_equivalent(left: str, right: str) -> None:
    assert sip(left).equivalent(sip(right))
    assert sip(right).equivalent(sip(left))


@pytest.mark.parametrize(("left", "right"), NOT_EQUIVALENT)
def test_not_equivalent(left: str, right: str) -> None:
    assert not sip(left).equivalent(sip(right))
    assert not sip(right).equivalent(sip(left))


def test_tel_uri() -> None:
    uri = parse_uri("tel:+7-495-123-45-67;ext=12")
    assert isinstance(uri, TelUri)
    assert uri.is_global
    assert uri.digits == "+74951234567"
    assert uri.params.get("ext") == "12"
    assert str(uri) == "tel:+7-495-123-45-67;ext=12"
    assert uri.equivalent(parse_uri("TEL:+7(495)1234567;EXT=12"))
    assert not uri.equivalent(parse_uri("tel:+74951234567"))
    local = parse_uri("tel:122;phone-context=hotline.example.ru")
    assert isinstance(local, TelUri)
    assert not local.is_global
    assert local.phone_context == "hotline.example.ru"
    assert not uri.equivalent(sip("sip:+74951234567@h"))


def test_absolute_uri() -> None:
    uri = parse_uri("urn:service:sos")
    assert uri == AbsoluteUri("urn", "service:sos")
    assert str(uri) == "urn:service:sos"
    assert uri.equivalent(parse_uri("URN:service:sos"))
    with pytest.raises(RemoteProtocolError, match="not a sip/sips URI"):
        SipUri.parse("urn:service:sos")


@pytest.mark.parametrize(
    "text",
    [
        "sip:",
        "sip:@host",
        "sip:user@",
        "sip:host:99999",
        "sip:host:",
        "sip:host;;lr",
        "sip:host;a=b=c",
        "sip:[::g]",
        "sip:[::1",
        "sip:a b@host",
        "sip:host?x",
        "sip:ho^st",
        "sip:%zz@host",
        "tel:",
        "tel:abc$",
        "nocolon",
        "1sip:host",
        "http:",
        "http:with space",
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_uri(text, "Contact")
    assert info.value.status_hint == 400
    assert "Contact" in str(info.value)
