"""SIPp caller scenarios built from parts: INVITE with PCMA + telephone-event, ACK, then steps."""

from __future__ import annotations

_PARTY = """From: caller <sip:79161234567@[local_ip]:[local_port]>;tag=[pid]{tag}[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq}
Contact: <sip:79161234567@[local_ip]:[local_port]>
Max-Forwards: 70"""

_VIA = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"

_SDP = """v=0
o=caller 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[local_ip_type] [local_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15"""


def _request(method: str, tag: str, cseq: str, *, dialog: bool, body: str = "") -> str:
    party = _PARTY.format(tag=tag, to_tag="[peer_tag_param]" if dialog else "", cseq=cseq)
    head = f"{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n{_VIA}\n{party}\n"
    if body:
        return f"{head}Content-Type: application/sdp\nContent-Length: [len]\n\n{body}\n"
    return f"{head}Content-Length: 0\n"


def caller_scenario(name: str, steps: str, *, tag: str = "call") -> str:
    """INVITE (PCMA, telephone-event) → 200 → ACK, then ``steps`` (SIPp XML), as one scenario."""
    invite = _request("INVITE", tag, "1 INVITE", dialog=False, body=_SDP)
    ack = _request("ACK", tag, "1 ACK", dialog=True)
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
  <send retrans="500"><![CDATA[
{invite}]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
{ack}]]></send>
{steps}
</scenario>
"""


def bye_steps(tag: str = "call") -> str:
    """We hang up: BYE, expect 200."""
    bye = _request("BYE", tag, "2 BYE", dialog=True)
    return f"""  <send retrans="500"><![CDATA[
{bye}]]></send>
  <recv response="200"/>"""


ANSWER_BYE_STEPS = """  <recv request="BYE" timeout="20000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:79161234567@[local_ip]:[local_port]>
Content-Length: 0
]]></send>"""
"""The other side hangs up: wait for its BYE and answer 200."""

_PHONE_REPLY = """SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]{tag}[call_number]
[last_Call-ID:]
[last_CSeq:]"""

_PHONE_CONTACT = "Contact: <sip:[local_ip]:[local_port];transport=[transport]>"

_PHONE_SDP = """v=0
o=phone 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000"""


def phone_answer_and_bye(
    name: str, talk_ms: int, *, ringing: bool = False, retransmit_200: bool = True
) -> str:
    """A SIPp UAS phone: (180 first if ``ringing``) answers PCMA, talks ``talk_ms``, sends BYE.

    ``retransmit_200`` makes SIPp retransmit its 200 OK until the ACK comes.
    """
    retrans = ' retrans="500"' if retransmit_200 else ""
    reply = _PHONE_REPLY.replace("{tag}", "SIPpTagPh")
    ring = ""
    if ringing:
        ring = f"""  <send><![CDATA[
{reply.replace("{status}", "180 Ringing")}
{_PHONE_CONTACT}
Content-Length: 0
]]></send>
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
  <recv request="INVITE">
    <action>
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="peer_contact"/>
    </action>
  </recv>
{ring}  <send{retrans}><![CDATA[
{reply.replace("{status}", "200 OK")}
{_PHONE_CONTACT}
Content-Type: application/sdp
Content-Length: [len]

{_PHONE_SDP}
]]></send>
  <recv request="ACK">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="peer_from"/>
    </action>
  </recv>
  <pause milliseconds="{talk_ms}"/>
  <send retrans="500"><![CDATA[
BYE [$peer_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:phone@[local_ip]:[local_port]>;tag=[pid]SIPpTagPh[call_number]
To: [$peer_from]
[last_Call-ID:]
CSeq: 2 BYE
Max-Forwards: 70
{_PHONE_CONTACT}
Content-Length: 0
]]></send>
  <recv response="200"/>
</scenario>
"""


def phone_final(name: str, status: str, reason: str, *, tag: str) -> str:
    """A SIPp UAS phone answering every INVITE with a final ``status`` (e.g. 486), then ACK."""
    reply = _PHONE_REPLY.replace("{tag}", tag).replace("{status}", f"{status} {reason}")
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="{name}">
  <recv request="INVITE"/>
  <send><![CDATA[
{reply}
Content-Length: 0
]]></send>
  <recv request="ACK"/>
</scenario>
"""


def ack_then_answer_bye(timeout_ms: int) -> str:
    """UAS steps after its 200 OK: take the ACK, wait for the other side's BYE, answer 200."""
    return f"""  <recv request="ACK"/>
  <recv request="BYE" timeout="{timeout_ms}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""
