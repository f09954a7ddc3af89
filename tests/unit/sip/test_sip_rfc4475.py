"""The 49 RFC 4475 torture messages at parser level (see INDEX.md beside them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_response
from hotline.sip.msg_parse import SipParseError, parse_message
from hotline.sip.uri import AbsoluteUri, SipUri

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "testdata" / "sip" / "rfc4475"

VALID = [
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq",
    "semiuri", "transports", "mpart01", "unreason", "noreason",
    # §3.1.2 rows where INDEX.md allows leniency and we chose it:
    "baddate", "regbadct",
    # §3.2-3.4: syntactically valid (semantics are the UAS's business):
    "badbranch", "unksm2", "bext01", "invut", "regaut01", "bcast", "zeromf",
    "cparam01", "cparam02", "regescrt", "sdp01", "inv2543",
]  # fmt: skip

# file -> (status_hint, a word the reason must contain)
INVALID = {
    "badinv01": (400, "Via"),
    "clerr": (400, "Content-Length"),
    "ncl": (400, "Content-Length"),
    "scalar02": (400, "CSeq"),
    "scalarlg": (400, "CSeq"),
    "quotbal": (400, "To"),
    "ltgtruri": (400, "Request-URI"),
    "lwsruri": (400, "request line"),
    "lwsstart": (400, "request line"),
    "trws": (400, "request line"),
    "escruri": (400, "Request-URI"),
    "badaspec": (400, "To"),
    "baddn": (400, "From"),
    "badvers": (505, "version"),
    "mismatch01": (400, "CSeq"),
    "mismatch02": (400, "CSeq"),
    "bigcode": (400, "status code"),
    "insuf": (400, "Call-ID"),
    "unkscm": (416, "scheme"),
    "novelsc": (416, "scheme"),
    "multi01": (400, "more than once"),
    "mcl01": (400, "Content-Length"),
}


def load(name: str) -> bytes:
    return (CORPUS / f"{name}.sip").read_bytes()


def request(name: str) -> SipRequest:
    message = parse_message(load(name))
    assert isinstance(message, SipRequest)
    return message


def test_corpus_is_complete() -> None:
    names = {path.stem for path in CORPUS.glob("*.sip")}
    assert len(names) == 49
    assert names == set(VALID) | set(INVALID)


@pytest.mark.parametrize("name", VALID)
def test_valid_message_parses_and_round_trips(name: str) -> None:
    message = parse_message(load(name))
    again = parse_message(bytes(message))
    if name == "inv2543":  # no Content-Length: serialising adds one
        assert again.headers.get("Content-Length") == str(len(message.body))
        again.headers.remove("Content-Length")
    assert again == message
    assert bytes(again) == bytes(message) or name == "inv2543"


@pytest.mark.parametrize(("name", "expected"), sorted(INVALID.items()))
def test_invalid_message_is_rejected(name: str, expected: tuple[int, str]) -> None:
    status, word = expected
    with pytest.raises(SipParseError) as info:
        parse_message(load(name))
    assert info.value.status_hint == status
    assert word.lower() in str(info.value).lower()


@pytest.mark.parametrize(
    "name",
    ["badinv01", "clerr", "ncl", "scalar02", "quotbal", "ltgtruri", "badvers", "unkscm", "insuf"],
)
def test_rejected_request_keeps_enough_to_answer(name: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load(name))
    partial = info.value.partial
    assert partial is not None
    response = make_response(partial, info.value.status_hint)
    assert response.headers.get_all("Via") == partial.headers.get_all("Via")
    assert response.headers.get("CSeq") == partial.headers.get("CSeq")
    assert response.status == info.value.status_hint
    if name in ("clerr", "ncl", "ltgtruri", "badvers", "unkscm"):  # the rest copy bad headers
        reply = parse_message(bytes(response))
        assert isinstance(reply, SipResponse)
        assert reply.status == info.value.status_hint
        assert reply.call_id == partial.call_id


@pytest.mark.parametrize("name", ["scalarlg", "bigcode"])
def test_rejected_response_has_no_partial(name: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(load(name))
    assert info.value.partial is None


def test_wsinv_folding_and_lws() -> None:
    message = request("wsinv")
    assert message.max_forwards == 68
    assert (message.cseq.number, message.cseq.method) == (9, "INVITE")
    vias = message.via()
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert not message.top_via.has_rfc3261_branch
    assert message.headers.get("Subject") == ""
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert message.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.to.tag == "1918181833n"
    assert message.from_.display_name == 'J Rosenberg \\"'
    assert message.from_.tag == "98asjd8"
    (contact,) = message.contacts()
    assert contact.display_name == 'Quoted string ""'
    assert contact.params.get("newparam") == "newvalue"
    assert contact.params.has("secondparam")
    assert contact.q == pytest.approx(0.33)
    assert isinstance(message.uri, SipUri)
    assert message.uri.params.has("unknownparam")
    assert len(message.body) == 150
    (route,) = message.route()
    assert isinstance(route.uri, SipUri)
    assert route.uri.lr


def test_intmeth_unknown_method_and_odd_bytes() -> None:
    data = load("intmeth")
    message = request("intmeth")
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert message.cseq.method == message.method
    assert isinstance(message.uri, SipUri)
    assert message.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert message.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert message.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert message.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert message.from_.tag == "_token~1'+`*%!-."
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    wire = bytes(message)  # every odd byte of the values survives
    assert b'To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:' in wire
    assert "extensionHeader-!.%*+_`'~: \ufeff大停電".encode() in wire
    assert data.split(b"\r\n")[3] in wire  # the From line with its UTF-8 parameter


def test_esc01_unescapes_once() -> None:
    message = request("esc01")
    assert isinstance(message.uri, SipUri)
    assert message.uri.user == "sips:user@example.com"
    assert isinstance(message.to.uri, SipUri)
    assert message.to.uri.user == "user"
    assert isinstance(message.from_.uri, SipUri)
    assert message.from_.uri.user == "I have spaces"
    (contact,) = message.contacts()
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.user == "caller"
    assert contact.uri.params.items == (("lr", None), ("name", "value%41"))
    assert str(contact.uri) == "sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"


def test_escnull_two_contacts_with_nul() -> None:
    message = request("escnull")
    assert isinstance(message.to.uri, SipUri)
    assert message.to.uri.user == "null-\x00-null"
    users = [c.uri.user for c in message.contacts() if isinstance(c.uri, SipUri)]
    assert users == ["\x00", "\x00\x00"]


def test_esc02_method_is_not_register() -> None:
    message = request("esc02")
    assert message.method == "RE%47IST%45R"
    assert message.from_.display_name == "%Z%45"
    assert len(message.contacts()) == 2
    assert message.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_lwsdisp_display_name_without_space() -> None:
    source = request("lwsdisp").from_
    assert source.display_name == "caller"
    assert str(source.uri) == "sip:caller@example.com"
    assert source.tag == "323"


def test_longreq_long_values_and_34_vias() -> None:
    data = load("longreq")
    assert len(data) == 3515
    message = request("longreq")
    assert len(message.via()) == 34
    assert message.top_via.branch is None
    assert message.from_.tag is not None
    assert len(message.from_.tag) > 150
    assert message.to.display_name is not None
    assert message.to.display_name.endswith("extreme proportion")
    assert isinstance(message.to.uri, SipUri)
    assert message.to.uri.port == 6000


def test_dblreq_trailing_bytes_ignored() -> None:
    message = request("dblreq")
    assert message.method == "REGISTER"
    assert message.body == b""
    assert message.call_id == "dblreq.0ha0isndaksdj99sdfafnl3lk233412"


def test_semiuri_user_has_semicolon() -> None:
    uri = request("semiuri").uri
    assert isinstance(uri, SipUri)
    assert uri.user == "user;par=u@example.net"
    assert uri.host == "example.com"
    assert len(uri.params) == 0


def test_transports_five_vias() -> None:
    vias = request("transports").via()
    assert [v.transport for v in vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_binary_body_framed_by_length() -> None:
    message = request("mpart01")
    assert len(message.body) == 553
    assert b"\x00" in message.body
    assert message.top_via.has_rport
    assert message.top_via.rport is None
    assert message.body == load("mpart01")[-553:]


def test_unreason_utf8_reason_phrase() -> None:
    message = parse_message(load("unreason"))
    assert isinstance(message, SipResponse)
    assert message.status == 200
    assert message.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    assert len(message.body) == 154


def test_noreason_empty_reason() -> None:
    message = parse_message(load("noreason"))
    assert isinstance(message, SipResponse)
    assert (message.status, message.reason) == (100, "")
    assert bytes(message).startswith(b"SIP/2.0 100 \r\n")


def test_lenient_choices() -> None:
    assert request("baddate").headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"
    registration = request("regbadct")  # accepted; its Contact fails when asked for
    with pytest.raises(Exception, match="Contact") as info:
        registration.contacts()
    assert getattr(info.value, "status_hint", None) == 400
    assert request("badbranch").top_via.branch == "z9hG4bK"
    assert not request("badbranch").top_via.has_rfc3261_branch


def test_application_layer_files() -> None:
    unksm2 = request("unksm2")
    assert isinstance(unksm2.to.uri, AbsoluteUri)
    assert str(unksm2.to.uri) == "isbn:2983792873"
    assert str(unksm2.from_.uri) == "http://www.example.com"
    assert str(unksm2.contacts()[0].uri) == "name:John_Smith"
    assert request("bext01").require() == ("nothingSupportsThis", "nothingSupportsThisEither")
    assert request("bext01").proxy_require() == (
        "noProxiesSupportThis",
        "norDoAnyProxiesSupportThis",
    )
    assert request("invut").content_type == "application/unknownformat"
    assert request("regaut01").headers.get("Authorization") == (
        "NoOneKnowsThisScheme opaque-data=here"
    )
    assert request("zeromf").max_forwards == 0
    inv2543 = request("inv2543")
    assert inv2543.max_forwards is None
    assert inv2543.top_via.branch is None
    assert inv2543.from_.tag is None
    assert inv2543.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")


def test_bcast_response_parses() -> None:
    message = parse_message(load("bcast"))
    assert isinstance(message, SipResponse)
    assert message.via()[1].host == "255.255.255.255"


def test_contact_params_inside_and_outside_brackets() -> None:
    (outside,) = request("cparam01").contacts()
    assert outside.params.has("unknownparam")
    assert isinstance(outside.uri, SipUri)
    assert not outside.uri.params.has("unknownparam")
    (inside,) = request("cparam02").contacts()
    assert not inside.params.has("unknownparam")
    assert isinstance(inside.uri, SipUri)
    assert inside.uri.params.has("unknownparam")


def test_regescrt_keeps_escaped_route_header() -> None:
    (contact,) = request("regescrt").contacts()
    assert isinstance(contact, NameAddr)
    assert isinstance(contact.uri, SipUri)
    assert contact.uri.headers == (("Route", "<sip:sip.example.com>"),)
    assert str(contact.uri) == "sip:user@example.com?Route=%3Csip:sip.example.com%3E"
    assert str(contact.uri.without_headers()) == "sip:user@example.com"


def test_archive_variants_are_rejected() -> None:
    for name in ("baddn.rfc-archive-raw", "test.rfc-archive-extra"):
        with pytest.raises(SipParseError) as info:
            parse_message((CORPUS / "variants" / f"{name}.sip").read_bytes())
        assert info.value.status_hint == 400
