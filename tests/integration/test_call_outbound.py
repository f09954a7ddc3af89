"""Click-to-call live (R8b): baresip operator first, then a SIPp UAS as the called party.

The node is ``test_call_callback``'s (outbound desks, a trunk to 127.0.0.3).
The operator is set READY, the desk's ``dial_out`` rings its phone (baresip
auto-answers), the number, written as a person types it, is normalised and
dialled through the trunk presenting 122; the called party answers, talks
3 s and hangs up.  The call is recorded and reported as outbound.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest
from test_call_callback import OPERATOR, UAS_ANSWER_AND_BYE, outbound_node, phone_sipp
from test_call_path import phone

from hotline.acd.agent import OperatorState
from hotline.calls.api import ActionRefusal, CallActionError
from hotline.reports.events import Direction, EventKind
from support.peers import free_udp_port, require

pytestmark = pytest.mark.integration


async def test_click_to_call_rings_the_operator_then_dials_out_as_122(tmp_path: Path) -> None:
    require("sipp")
    phone_port = free_udp_port()
    phonedir = tmp_path / "phone"
    phonedir.mkdir()
    async with outbound_node(tmp_path, phone_port) as node:
        callee = phone_sipp(phonedir, phone_port, UAS_ANSWER_AND_BYE, calls=1, trace=True)
        with phone(tmp_path, "1001", node.port, auto=True) as op:
            assert await node.wait_for(lambda: bool(node.phones.contacts(OPERATOR)))
            node.actions.set_operator_state(OPERATOR, "ready")
            with pytest.raises(CallActionError) as refused:
                node.actions.dial_out(OPERATOR, "112")
            assert refused.value.refusal is ActionRefusal.NOT_ALLOWED  # emergency: never
            call_id = node.actions.dial_out(OPERATOR, "8 (916) 123-45-67")
            live = node.actions.live_call(call_id)
            assert live is not None and live.direction == "outbound"
            assert live.caller_number == "+79161234567"
            assert await node.wait_for(
                lambda: node.acd.operator_state(OPERATOR) is OperatorState.TALKING
            )
            result = await callee
            assert result.successful == 1, (
                f"phone SIPp: {result.stdout[-2000:]}\n{op.log()[-2000:]}"
            )
            assert await node.wait_for(lambda: bool(node.events.of(EventKind.RECORDING_STORED)))
            assert await node.wait_for(
                lambda: node.acd.operator_state(OPERATOR) is OperatorState.READY
            )
        await node.wait_idle()
    kinds = [e.kind for e in node.events.events if e.call_id == call_id]
    assert kinds[:2] == [EventKind.OUTBOUND_DIALED, EventKind.OUTBOUND_ANSWERED]
    assert set(kinds[2:]) == {EventKind.CALL_ENDED, EventKind.RECORDING_STORED}
    (dialed,) = node.events.of(EventKind.OUTBOUND_DIALED)
    assert dialed.payload == {"number": "+79161234567"} and dialed.operator_id == "1001"
    assert dialed.direction is Direction.OUTBOUND
    (answered,) = node.events.of(EventKind.OUTBOUND_ANSWERED)
    assert answered.trunk == "local-test"
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "caller" and ended.text("cause") == "completed"
    (stored,) = node.events.of(EventKind.RECORDING_STORED)
    with wave.open(str(Path(str(stored.payload["path"])))) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() > 8000
    invites = [
        m
        for m in "".join(p.read_text() for p in phonedir.glob("*messages.log")).split("\n\n")
        if m.lstrip().startswith("INVITE ")
    ]
    assert invites and "From: <sip:122@" in invites[0]  # the 122 presentation
    assert "P-Asserted-Identity: <sip:122@" in invites[0]


async def test_click_to_call_refusals(tmp_path: Path) -> None:
    async with outbound_node(tmp_path, free_udp_port()) as node:
        with pytest.raises(CallActionError) as unknown:
            node.actions.dial_out(OPERATOR, "not a number")
        assert unknown.value.refusal is ActionRefusal.NOT_ALLOWED
        node.actions.set_operator_state(OPERATOR, "ready")
        with pytest.raises(CallActionError) as no_phone:
            node.actions.dial_out(OPERATOR, "+79161234567")  # no phone registered
        assert no_phone.value.refusal is ActionRefusal.TARGET_UNAVAILABLE
        assert node.acd.operator_state(OPERATOR) is OperatorState.READY  # reservation undone
        await asyncio.sleep(0)
    assert node.events.of(EventKind.OUTBOUND_DIALED) == []
