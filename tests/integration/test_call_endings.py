"""Endings and hold on loopback: SIPp scenarios generated per ending, baresip operators.

Reuses the node of :mod:`test_call_path`.  The caller's scenario is written
into the test's tmp_path (kept with SIPp's logs when a test fails).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import pytest
from test_call_path import call_node, phone, queue, sipp_args

from hotline.acd.agent import OperatorState
from hotline.core.ids import OperatorId
from hotline.reports.events import EventKind
from support.peers import require, run_sipp

pytestmark = pytest.mark.integration

QUEUE_OUTCOMES = frozenset(
    {
        EventKind.QUEUE_ANSWERED,
        EventKind.QUEUE_ABANDONED,
        EventKind.QUEUE_TIMED_OUT,
        EventKind.QUEUE_LEFT_EMPTY,
        EventKind.QUEUE_LEFT_FULL,
    }
)

_SDP = """v=0
o=sipp 1 {version} IN IP4 [media_ip]
s=-
c=IN IP4 {address}
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a={direction}
"""

_INVITE = """
  <send retrans="500">
    <![CDATA[
      INVITE {uri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:79161234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      {to_line}
      Call-ID: [call_id]
      CSeq: {cseq} INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

{sdp}
    ]]>
  </send>
"""

_ACK = """
  <send>
    <![CDATA[
      ACK {uri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:79161234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} ACK
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

_BYE = """
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:79161234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} BYE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""


def _sdp(direction: str, version: int, address: str = "[media_ip]") -> str:
    return _SDP.format(direction=direction, version=version, address=address)


def hold_scenario(talk_ms: int, hold_ms: int) -> str:
    """A caller that talks, holds (sendonly), resumes, holds again (0.0.0.0) and hangs up."""
    steps = [
        _INVITE.format(
            uri="sip:[service]@[remote_ip]:[remote_port]",
            to_line="To: <sip:[service]@[remote_ip]:[remote_port]>",
            cseq=1,
            sdp=_sdp("sendrecv", 1),
        ),
        '  <recv response="100" optional="true"/>\n',
        '  <recv response="180" optional="true"/>\n',
        '  <recv response="200" rrs="true"/>\n',
        _ACK.format(uri="[next_url]", cseq=1),
        f'  <pause milliseconds="{talk_ms}"/>\n',
    ]
    holds = [("sendonly", "[media_ip]", "recvonly"), ("sendrecv", "[media_ip]", "sendrecv")]
    holds.append(("sendrecv", "0.0.0.0", "recvonly"))
    for number, (direction, address, expect) in enumerate(holds, start=2):
        steps += [
            _INVITE.format(
                uri="[next_url]",
                to_line="[last_To:]",
                cseq=number,
                sdp=_sdp(direction, number, address),
            ),
            '  <recv response="100" optional="true"/>\n',
            f'  <recv response="200"><action><ereg regexp="a={expect}" search_in="body" '
            f'check_it="true" assign_to="dir{number}"/></action></recv>\n',
            _ACK.format(uri="[next_url]", cseq=number),
            f'  <pause milliseconds="{hold_ms}"/>\n',
        ]
    steps.append(_BYE.format(cseq=len(holds) + 2))
    names = ",".join(f"dir{n}" for n in range(2, len(holds) + 2))
    steps.append(f'  <Reference variables="{names}"/>\n')
    body = "".join(steps)
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        f'<scenario name="hold">\n{body}</scenario>\n'
    )


async def test_caller_holds_resumes_and_hangs_up_on_hold(tmp_path: Path) -> None:
    require("sipp")
    sipp_dir = tmp_path / "sipp"
    sipp_dir.mkdir()
    (sipp_dir / "hold.xml").write_text(hold_scenario(talk_ms=2500, hold_ms=1500))
    async with call_node(tmp_path, queue(ring_timeout_s=10.0, wrap_up_s=1.0)) as node:
        with phone(tmp_path, "1001", node.port, auto=True) as op:
            await node.wait_ready("1001")
            args = sipp_args(node, "uac")
            args[0:2] = ["-sf", str(sipp_dir / "hold.xml")]
            result = await asyncio.to_thread(run_sipp, args, workdir=sipp_dir, timeout_s=40)
            await node.wait_idle()
            assert result.returncode == 0, (
                f"SIPp failed, logs in {result.workdir}\n{result.stdout[-2000:]}\n"
                f"baresip:\n{op.log()[-3000:]}"
            )
            assert node.controller.active() == 0 and node.media.active() == 0
            assert node.ua.active_legs == 0
            await node.wait_ready("1001")  # wrap-up (1 s) over
            assert node.acd.operator_state(OperatorId("1001")) is OperatorState.READY
    held = node.events.of(EventKind.CALL_HELD)
    resumed = node.events.of(EventKind.CALL_RESUMED)
    assert [e.text("by") for e in held] == ["caller", "caller"]
    assert [e.text("by") for e in resumed] == ["caller"]
    assert all(e.operator_id == "1001" for e in held + resumed)
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller" and ended.text("cause") == "remote-bye"
    assert len(node.events.of(EventKind.QUEUE_ANSWERED)) == 1


def random_endings_scenario() -> str:
    """Each call waits ``[field0]`` ms (in the queue, ringing or talking, by chance), then
    hangs up (``[field1]`` = 0) or holds with ``sendonly``, waits ``[field2]`` ms and hangs
    up on hold (``[field1]`` = 1); the fields come from a seeded injection file."""
    invite = _INVITE.format(
        uri="sip:[service]@[remote_ip]:[remote_port]",
        to_line="To: <sip:[service]@[remote_ip]:[remote_port]>",
        cseq=1,
        sdp=_sdp("sendrecv", 1),
    )
    reinvite = _INVITE.format(
        uri="[next_url]", to_line="[last_To:]", cseq=2, sdp=_sdp("sendonly", 2)
    )
    body = "".join(
        [
            invite,
            '  <recv response="100" optional="true"/>\n',
            '  <recv response="180" optional="true"/>\n',
            '  <recv response="200" rrs="true"/>\n',
            _ACK.format(uri="[next_url]", cseq=1),
            '  <nop><action><assignstr assign_to="w" value="[field0]"/>'
            '<assignstr assign_to="h" value="[field1]"/><assignstr assign_to="k" value="[field2]"/>'
            '<todouble assign_to="wait" variable="w"/><todouble assign_to="held" variable="k"/>'
            '<todouble assign_to="hd" variable="h"/>'
            '<test assign_to="hold" variable="hd" compare="equal" value="1"/></action></nop>\n',
            '  <pause variable="wait"/>\n',
            '  <nop test="hold" next="1"/>\n',
            _BYE.format(cseq=2).replace('<recv response="200" crlf="true"/>',
                                        '<recv response="200" crlf="true" next="9"/>'),
            '  <label id="1"/>\n',
            reinvite,
            '  <recv response="100" optional="true"/>\n',
            '  <recv response="200"><action><ereg regexp="a=recvonly" search_in="body" '
            'check_it="true" assign_to="dir"/></action></recv>\n',
            _ACK.format(uri="[next_url]", cseq=2),
            '  <pause variable="held"/>\n',
            _BYE.format(cseq=3),
            '  <label id="9"/>\n',
            '  <Reference variables="dir"/>\n',
        ]
    )  # fmt: skip
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        f'<scenario name="random endings">\n{body}</scenario>\n'
    )


CALLS = 50
SEED = 122


async def test_fifty_calls_with_random_endings_leave_nothing_behind(tmp_path: Path) -> None:
    require("sipp")
    sipp_dir = tmp_path / "sipp"
    sipp_dir.mkdir()
    (sipp_dir / "endings.xml").write_text(random_endings_scenario())
    rng = random.Random(SEED)
    plan = [
        (rng.randint(100, 4000), int(rng.random() < 0.4), rng.randint(100, 1500))
        for _ in range(CALLS)
    ]
    rows = "".join(f"{wait};{hold};{held}\n" for wait, hold, held in plan)
    (sipp_dir / "plan.csv").write_text("SEQUENTIAL\n" + rows)
    async with call_node(tmp_path, queue(ring_timeout_s=5.0, wrap_up_s=0.5)) as node:
        with (
            phone(tmp_path, "1001", node.port, auto=True),
            phone(tmp_path, "1002", node.port, auto=True),
        ):
            await node.wait_ready("1001")
            await node.wait_ready("1002")
            args = sipp_args(node, "uac")
            args[0:2] = ["-sf", str(sipp_dir / "endings.xml")]
            args[args.index("-m") + 1] = str(CALLS)
            args += ["-l", "10", "-r", "10", "-inf", str(sipp_dir / "plan.csv")]
            result = await asyncio.to_thread(run_sipp, args, workdir=sipp_dir, timeout_s=90)
            await node.wait_idle()
            assert result.returncode == 0, (
                f"SIPp failed, logs in {result.workdir}\n{result.stdout[-2000:]}"
            )
            assert result.successful == CALLS
            assert node.controller.active() == 0 and node.media.active() == 0
            assert node.ua.active_legs == 0 and node.acd.active() == 0
            assert node.controller.internal_errors == 0
            await node.wait_ready("1001")
            await node.wait_ready("1002")
    arrived = node.events.of(EventKind.CALL_ARRIVED)
    assert len(arrived) == CALLS
    ended = Counter(e.call_id for e in node.events.of(EventKind.CALL_ENDED))
    assert set(ended) == {e.call_id for e in arrived} and set(ended.values()) == {1}
    entered = {e.call_id for e in node.events.of(EventKind.QUEUE_ENTERED)}
    outcomes = Counter(e.call_id for e in node.events.events if e.kind in QUEUE_OUTCOMES)
    assert set(outcomes) == entered and set(outcomes.values()) == {1}
    kinds = {e.kind for e in node.events.events if e.kind in QUEUE_OUTCOMES}
    assert {EventKind.QUEUE_ANSWERED, EventKind.QUEUE_ABANDONED} <= kinds  # a real mix
    assert node.events.of(EventKind.CALL_HELD)  # some calls were held while talking
