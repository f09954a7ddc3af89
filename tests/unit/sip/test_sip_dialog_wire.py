"""Wire fixtures for the dialog tests: messages as SIPp, baresip, Asterisk and a Yealink phone send them.

Texts use LF and ``{name}`` placeholders for values only known at run time
(our tags, branches, CSeq numbers); :func:`wire` fills them in, turns line
ends into CRLF and sets Content-Length to the body's real length.  The other
dialog test modules import this one (pytest puts this directory on sys.path).
"""

from __future__ import annotations

import random

import pytest

from hotline.sip.dlg_session import InviteSession
from hotline.sip.dlg_session_base import SendRequest, SessionConfig, SessionOutput
from hotline.sip.dlg_session_timer import SessionTimerConfig
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_parse import parse_message
from hotline.sip.uri import SipUri

# -- our side ------------------------------------------------------------------------

CONFIG = SessionConfig(via_sent_by="10.0.0.1:5060", user_agent="Hotline122/test")
NO_TIMER = SessionConfig(
    via_sent_by="10.0.0.1:5060", session_timer=SessionTimerConfig(enabled=False)
)
OUR_CONTACT = NameAddr(SipUri("10.0.0.1", "hotline", port=5060))
OUR_TAG = "hl7e3a91c2"

# -- SDP bodies ------------------------------------------------------------------------

SDP_SIPP = """v=0
o=user1 53655765 2353687637 IN IP4 127.0.1.1
s=-
c=IN IP4 127.0.1.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""

SDP_ASTERISK = """v=0
o=root 1925536478 1925536478 IN IP4 198.51.100.20
s=Asterisk PBX 18.10.0
c=IN IP4 198.51.100.20
t=0 0
m=audio 14592 RTP/AVP 8 0 101
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
"""

SDP_YEALINK = """v=0
o=- 20024 {version} IN IP4 10.0.0.50
s=SDP data
c=IN IP4 {address}
t=0 0
m=audio 11796 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a={direction}
"""

SDP_OURS = """v=0
o=hotline 4242 {version} IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=audio 40000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a={direction}
"""


def sdp(template: str, **values: object) -> bytes:
    """An SDP body with CRLF line ends."""
    return template.format(**values).replace("\n", "\r\n").encode()


def yealink_sdp(
    direction: str = "sendrecv", version: int = 20024, address: str = "10.0.0.50"
) -> bytes:
    return sdp(SDP_YEALINK, direction=direction, version=version, address=address)


def our_sdp(direction: str = "sendrecv", version: int = 1) -> bytes:
    return sdp(SDP_OURS, direction=direction, version=version)


# -- requests and responses ------------------------------------------------------------

SIPP_UAC_INVITE = """INVITE sip:service@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 127.0.1.1:5061;branch=z9hG4bK-12345-1-0
From: sipp <sip:sipp@127.0.1.1:5061>;tag=12345SIPpTag001
To: service <sip:service@10.0.0.1:5060>
Call-ID: 1-12345@127.0.1.1
CSeq: 1 INVITE
Contact: sip:sipp@127.0.1.1:5061
Max-Forwards: 70
Subject: Performance Test
Content-Type: application/sdp
Content-Length: 0

"""

BARESIP_INVITE_NO_SDP = """INVITE sip:122@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK8a5c0e3b6f7d2c1a;rport
Contact: <sip:operator1-0x55d1@10.0.0.7:5060;transport=udp>
Max-Forwards: 70
To: <sip:122@10.0.0.1>
From: "Operator 1" <sip:operator1@10.0.0.1>;tag=2f1c3b8a0e9d7c65
Call-ID: 7c3e1a5f2b8d4e60
CSeq: 41523 INVITE
User-Agent: baresip v1.0.0 (x86_64/linux)
Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,REFER,UPDATE,PRACK
Supported: replaces,norefersub,100rel
Content-Length: 0

"""

ASTERISK_INVITE = """INVITE sip:122@10.0.0.1:5060 SIP/2.0
Record-Route: <sip:192.0.2.5;lr;ftag=as6d3b2f1c;did=1a2.b3c>
Record-Route: <sip:10.1.1.1;r2=on;lr>
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK7c2e.5d1a2b3c4d5e6f70.0
Via: SIP/2.0/UDP 198.51.100.20:5060;rport=5060;branch=z9hG4bK2a3b4c5d
Max-Forwards: 69
From: "79161234567" <sip:79161234567@198.51.100.20>;tag=as6d3b2f1c
To: <sip:122@10.0.0.1>
Contact: <sip:79161234567@198.51.100.20:5060>
Call-ID: 3c5d2a7b1e9f4a0c8d6e2b1a@198.51.100.20:5060
CSeq: 102 INVITE
User-Agent: Asterisk PBX 18.10.0
Date: Mon, 02 Dec 2024 09:15:01 GMT
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, SUBSCRIBE, NOTIFY, INFO, PUBLISH, MESSAGE
Supported: replaces, timer
Session-Expires: {session_expires}
Min-SE: 90
Content-Type: application/sdp
Content-Length: 0

"""

ASTERISK_ACK = """ACK sip:hotline@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK7c2e.9f8e7d6c5b4a3210.0
Via: SIP/2.0/UDP 198.51.100.20:5060;rport=5060;branch=z9hG4bK6f1e2d3c
Max-Forwards: 69
From: "79161234567" <sip:79161234567@198.51.100.20>;tag=as6d3b2f1c
To: <sip:122@10.0.0.1>;tag={tag}
Contact: <sip:79161234567@198.51.100.20:5060>
Call-ID: 3c5d2a7b1e9f4a0c8d6e2b1a@198.51.100.20:5060
CSeq: 102 ACK
User-Agent: Asterisk PBX 18.10.0
Content-Length: 0

"""

ASTERISK_BYE = """BYE sip:hotline@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.5;branch=z9hG4bK7c2e.0a1b2c3d4e5f6789.0
Via: SIP/2.0/UDP 198.51.100.20:5060;rport=5060;branch=z9hG4bK0c4d8e2f
Max-Forwards: 69
From: "79161234567" <sip:79161234567@198.51.100.20>;tag=as6d3b2f1c
To: <sip:122@10.0.0.1>;tag={tag}
Call-ID: 3c5d2a7b1e9f4a0c8d6e2b1a@198.51.100.20:5060
CSeq: {cseq} BYE
User-Agent: Asterisk PBX 18.10.0
X-Asterisk-HangupCause: Normal Clearing
X-Asterisk-HangupCauseCode: 16
Reason: Q.850;cause=16;text="Normal Clearing"
Content-Length: 0

"""

# A request from the peer of a session we hold: SIPp, baresip or Asterisk as the caller.
IN_DIALOG_REQUEST = """{method} sip:hotline@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP {peer_host};branch=z9hG4bK{branch};rport
Max-Forwards: 70
From: {peer_from};tag={peer_tag}
To: {our_to};tag={tag}
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: <sip:peer@{peer_host}>
{headers}Content-Length: 0

"""

# Responses from the callee of our outgoing call: a Yealink desk phone behind two proxies.
YEALINK_RESPONSE = """SIP/2.0 {status} {reason}
Via: {via}
Record-Route: <sip:10.0.0.2;lr>
Record-Route: <sip:10.0.0.3;lr>
From: {from_}
To: <sip:201@10.0.0.1>{to_tag}
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: <sip:201@10.0.0.50:5062>
Supported: replaces,100rel,timer
Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, PUBLISH, UPDATE, MESSAGE
User-Agent: Yealink SIP-T46S 66.86.0.15
{headers}Content-Length: 0

"""

# Requests from the Yealink callee inside our outgoing call's dialog.
YEALINK_REQUEST = """{method} sip:hotline@10.0.0.1:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.50:5062;branch=z9hG4bK{branch}
Route: <sip:10.0.0.3;lr>
Route: <sip:10.0.0.2;lr>
From: <sip:201@10.0.0.1>;tag=1857326741
To: "Hotline 122" <sip:hotline@10.0.0.1>;tag={tag}
Call-ID: {call_id}
CSeq: {cseq} {method}
Contact: <sip:201@10.0.0.50:5062>
Max-Forwards: 70
User-Agent: Yealink SIP-T46S 66.86.0.15
{headers}Content-Length: 0

"""

YEALINK_TAG = "1857326741"


def wire(template: str, body: bytes = b"", **values: object) -> bytes:
    """Fill ``template``, use CRLF line ends and a correct Content-Length, append ``body``."""
    text = template.format(**values) if values else template
    head, _, _ = text.partition("\n\n")
    lines = []
    for line in head.split("\n"):
        if line.lower().startswith("content-length:"):
            line = f"Content-Length: {len(body)}"
        lines.append(line)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def parse_request(data: bytes) -> SipRequest:
    message = parse_message(data)
    assert isinstance(message, SipRequest)
    return message


def parse_response(data: bytes) -> SipResponse:
    message = parse_message(data)
    assert isinstance(message, SipResponse)
    return message


def reparse(message: SipRequest | SipResponse) -> SipRequest | SipResponse:
    """Serialise and parse again: what the peer would see."""
    return parse_message(bytes(message))


# -- driving sessions --------------------------------------------------------------------


def drain(session: InviteSession) -> tuple[list[SipRequest], list[SipResponse]]:
    """Everything the session wants sent, split into requests and responses (re-parsed)."""
    requests: list[SipRequest] = []
    responses: list[SipResponse] = []
    for output in session.messages_to_send():
        message = reparse(output.request if isinstance(output, SendRequest) else output.response)
        if isinstance(message, SipRequest):
            requests.append(message)
        else:
            responses.append(message)
    return requests, responses


def outputs(session: InviteSession) -> list[SessionOutput]:
    return session.messages_to_send()


def events(session: InviteSession) -> list[object]:
    found: list[object] = []
    while (event := session.next_event()) is not None:
        found.append(event)
    return found


def asterisk_invite(session_expires: int = 1800, body: bytes | None = None) -> SipRequest:
    return parse_request(
        wire(
            ASTERISK_INVITE,
            sdp(SDP_ASTERISK) if body is None else body,
            session_expires=session_expires,
        )
    )


def incoming(invite: SipRequest, config: SessionConfig = CONFIG, seed: int = 1) -> InviteSession:
    return InviteSession.incoming(
        invite, now=0.0, config=config, local_contact=OUR_CONTACT, local_tag=OUR_TAG,
        rng=random.Random(seed),
    )  # fmt: skip


def answered_asterisk_call(config: SessionConfig = CONFIG, seed: int = 1) -> InviteSession:
    """An Asterisk call we answered and that Asterisk acknowledged; outputs and events drained."""
    session = incoming(asterisk_invite(), config, seed)
    session.answer(0.5, our_sdp())
    session.receive_request(parse_request(wire(ASTERISK_ACK, tag=OUR_TAG)), 0.6)
    drain(session)
    events(session)
    return session


def asterisk_request(
    method: str, cseq: int, *, headers: str = "", body: bytes = b"", branch: str = "a1"
) -> SipRequest:
    """An in-dialog request from the Asterisk caller."""
    return parse_request(
        wire(
            IN_DIALOG_REQUEST, body, method=method, cseq=cseq, branch=branch, tag=OUR_TAG,
            peer_host="198.51.100.20:5060",
            peer_from='"79161234567" <sip:79161234567@198.51.100.20>', peer_tag="as6d3b2f1c",
            our_to="<sip:122@10.0.0.1>", call_id="3c5d2a7b1e9f4a0c8d6e2b1a@198.51.100.20:5060",
            headers=headers,
        )
    )  # fmt: skip


def outgoing(
    body: bytes | None = None, config: SessionConfig = CONFIG, seed: int = 3
) -> InviteSession:
    """Our call to the Yealink operator phone 201."""
    return InviteSession.outgoing(
        now=0.0, config=config, request_uri=SipUri("10.0.0.1", "201"),
        from_=NameAddr(SipUri("10.0.0.1", "hotline"), "Hotline 122"),
        to=NameAddr(SipUri("10.0.0.1", "201")), contact=OUR_CONTACT, body=body,
        call_id="0f3c9b2a6d1e4c7b@10.0.0.1", local_tag=OUR_TAG, rng=random.Random(seed),
    )  # fmt: skip


def yealink_response(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    tag: str | None = YEALINK_TAG,
    headers: str = "",
    body: bytes = b"",
) -> SipResponse:
    """The Yealink phone's response to ``request`` (as received, Via copied)."""
    return parse_response(
        wire(
            YEALINK_RESPONSE, body, status=status, reason=reason,
            via=request.headers.values("Via")[0], from_=request.headers.get("From"),
            to_tag="" if tag is None else f";tag={tag}", call_id=request.call_id,
            cseq=request.cseq.number, method=request.cseq.method, headers=headers,
        )
    )  # fmt: skip


def yealink_request(
    method: str, cseq: int, *, headers: str = "", body: bytes = b"", branch: str = "1519437302"
) -> SipRequest:
    return parse_request(
        wire(
            YEALINK_REQUEST, body, method=method, cseq=cseq, branch=branch, tag=OUR_TAG,
            call_id="0f3c9b2a6d1e4c7b@10.0.0.1", headers=headers,
        )
    )  # fmt: skip


def connected_yealink_call(
    config: SessionConfig = CONFIG, seed: int = 3
) -> tuple[InviteSession, SipRequest]:
    """Our call to the Yealink phone, answered and acknowledged; returns (session, INVITE)."""
    session = outgoing(our_sdp(), config, seed)
    (invite,), _ = drain(session)
    ok = yealink_response(
        invite, 200, "OK", body=yealink_sdp(),
        headers="Session-Expires: 1800;refresher=uac\nRequire: timer\nContent-Type: application/sdp\n",
    )  # fmt: skip
    session.receive_response(ok, 1.0)
    drain(session)
    events(session)
    return session, invite


# -- the fixtures themselves parse ---------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        wire(SIPP_UAC_INVITE, sdp(SDP_SIPP)),
        wire(BARESIP_INVITE_NO_SDP),
        wire(ASTERISK_INVITE, sdp(SDP_ASTERISK), session_expires=1800),
        wire(ASTERISK_ACK, tag=OUR_TAG),
        wire(ASTERISK_BYE, tag=OUR_TAG, cseq=103),
        wire(YEALINK_REQUEST, yealink_sdp("sendonly"), method="INVITE", cseq=2, branch="1", tag=OUR_TAG,
             call_id="c@h", headers="Content-Type: application/sdp\n"),
    ],
)  # fmt: skip
def test_fixtures_parse_and_keep_their_length(data: bytes) -> None:
    message = parse_message(data)
    assert message.content_length == len(message.body)
    assert bytes(message) == data
