"""The desk's actions on a real call: SIPp caller, baresip operator, hold/resume/hang-up by API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_call_callback import OPERATOR, outbound_node
from test_call_menu import sipp_dir
from test_call_path import TRUNK_IP, phone

from hotline.acd.agent import OperatorState
from hotline.calls.api import ActionRefusal, CallActionError
from hotline.reports.events import EventKind
from support.peers import free_udp_port, require, run_sipp
from support.scenarios import ANSWER_BYE_STEPS, caller_scenario

pytestmark = pytest.mark.integration


def talk_until_bye() -> str:
    steps = f"""  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>
{ANSWER_BYE_STEPS}"""
    return caller_scenario("talk until the operator hangs up", steps, tag="act")


async def test_hold_resume_and_hang_up_through_the_actions(tmp_path: Path) -> None:
    require("sipp")
    workdir = sipp_dir(tmp_path, "g711a.pcap")
    (workdir / "talk.xml").write_text(talk_until_bye(), encoding="ascii")
    async with outbound_node(tmp_path, free_udp_port()) as node:
        actions = node.actions
        with phone(tmp_path, "1001", node.port, auto=True):
            assert await node.wait_for(lambda: bool(node.phones.contacts(OPERATOR)))
            actions.set_operator_state(OPERATOR, "ready")
            args = ["-sf", "talk.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
            args += ["-i", TRUNK_IP, "-mi", TRUNK_IP]
            caller = asyncio.create_task(
                asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=40)
            )
            assert await node.wait_for(
                lambda: any(c.phase == "talking" for c in actions.live_calls())
            )
            (live,) = actions.live_calls()
            call_id = live.call_id
            assert live.operator_id == "1001" and live.answered_at is not None
            with pytest.raises(CallActionError) as not_held:
                actions.resume(call_id)
            assert not_held.value.refusal is ActionRefusal.WRONG_STATE
            actions.hold(call_id)
            held = actions.live_call(call_id)
            assert held is not None and held.on_hold
            assert node.acd.operator_state(OPERATOR) is OperatorState.HOLD
            with pytest.raises(CallActionError) as twice:
                actions.hold(call_id)
            assert twice.value.refusal is ActionRefusal.WRONG_STATE
            await asyncio.sleep(1.0)  # the caller hears music on hold meanwhile
            actions.resume(call_id)
            resumed = actions.live_call(call_id)
            assert resumed is not None and not resumed.on_hold
            assert node.acd.operator_state(OPERATOR) is OperatorState.TALKING
            await asyncio.sleep(0.5)
            actions.hang_up(call_id)
            result = await caller
            assert result.returncode == 0 and result.successful == 1, (
                f"caller SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}"
            )
            with pytest.raises(CallActionError) as gone:
                actions.hang_up(call_id)
            assert gone.value.refusal is ActionRefusal.NOT_FOUND
        await node.wait_idle()
    (held_event,) = node.events.of(EventKind.CALL_HELD)
    (resumed_event,) = node.events.of(EventKind.CALL_RESUMED)
    assert held_event.call_id == resumed_event.call_id == call_id
    assert held_event.payload == {"by": "operator"} and held_event.operator_id == "1001"
    (ended,) = node.events.of(EventKind.CALL_ENDED)
    assert ended.text("who_hung_up") == "operator" and ended.text("cause") == "desk_hang_up"
