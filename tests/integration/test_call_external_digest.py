"""External redirect through a trunk that challenges (401) to an organisation taking PCMU only.

Reuses the node of ``test_call_external``, with credentials on its trunk.
A SIPp UAS stands in for trunk and organisation at once: every INVITE is
challenged (RFC 3261 §22.2), the answer is checked with SIPp's
``verifyauth``; an A-law offer then gets 488, a µ-law one is answered with
PCMU and its audio echoed.  The caller (A-law) must be bridged with the
organisation through the engine's A-law ↔ µ-law transcoding, and recorded.
"""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from test_call_external import _call_the_organisation, _org_args, external_node
from test_call_menu import sipp_dir

from hotline.calls.trunks import TrunkConfig, TrunkCredentials
from hotline.reports.events import EventKind
from support.peers import free_udp_port, require
from support.scenarios import ack_then_answer_bye

pytestmark = pytest.mark.integration

USER, PASSWORD = "hotline122", "trunk-secret-pw"
ORG_IP = "127.0.0.3"

_OK_HEADERS = """      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagOrg[call_number]
      [last_Call-ID:]
      [last_CSeq:]"""

UAS_DIGEST_PCMU = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="trunk with digest, organisation with PCMU only">
  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 401 Unauthorized
{_OK_HEADERS}
      WWW-Authenticate: Digest realm="org.example", nonce="n[pid][call_number]", algorithm=MD5, qop="auth"
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="{USER}" password="{PASSWORD}"/>
      <ereg regexp="PCMU/8000" search_in="body" check_it="false" assign_to="pcmu"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="authorised"/>
  <send>
    <![CDATA[
      SIP/2.0 403 Forbidden
{_OK_HEADERS}
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" next="end"/>
  <label id="authorised"/>
  <nop hide="true" test="pcmu" next="answer"/>
  <send>
    <![CDATA[
      SIP/2.0 488 Not Acceptable Here
{_OK_HEADERS}
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" next="end"/>
  <label id="answer"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
{_OK_HEADERS}
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=org 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000

    ]]>
  </send>
{ack_then_answer_bye(30000)}  <label id="end"/>
</scenario>
"""


async def test_challenged_trunk_and_mulaw_organisation_are_bridged(tmp_path: Path) -> None:
    require("sipp")
    org_port = free_udp_port()
    workdir = sipp_dir(tmp_path, "g711a.pcap", "dtmf_2833_1.pcap")
    orgdir = tmp_path / "org"
    orgdir.mkdir()
    (orgdir / "uas.xml").write_text(UAS_DIGEST_PCMU, encoding="ascii")
    async with external_node(tmp_path, org_port) as node:
        node.trunks.reconfigure(
            [
                TrunkConfig(
                    name="org-trunk",
                    host=ORG_IP,
                    port=org_port,
                    credentials=TrunkCredentials(USER, PASSWORD),
                )
            ]
        )
        args = _org_args(org_port, "-sf", "uas.xml", "-rtp_echo")
        args[args.index("-m") + 1] = "2"  # the A-law INVITE, then the µ-law one
        await _call_the_organisation(
            node, workdir, orgdir, args, talk_ms=5000, org_calls=2, org_log_chars=3000
        )
    (redirected,) = node.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.trunk == "org-trunk"
    assert node.events.of(EventKind.QUEUE_ENTERED) == []  # no fallback to the operators
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller"
    (stored,) = node.events.of(EventKind.RECORDING_STORED)
    with wave.open(str(stored.payload["path"])) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() > 16000  # > 2 s, caller | org
