"""A desk transfer of a talking call to an organisation (ctl_org_transfer via LiveActions).

The transfer fakes (in-memory SIP with real InviteSessions, a recording media
fake, the real controller, ACD and redirector) stand in for the node.
"""

from __future__ import annotations

import pytest
from test_calls_controller_fakes import phone_answer_to
from test_calls_transfer import OP1, Rig, far_ended, make_rig, talking_with_1001

from hotline.acd.agent import OperatorState
from hotline.calls.actions import LiveActions
from hotline.calls.api import ActionRefusal, CallActionError, TargetKind, TransferTarget
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_external import DirectoryMap, ExternalRedirector
from hotline.calls.ctl_org_transfer import OrganisationTransfers, wire_org_transfers
from hotline.calls.trunks import TrunkConfig, TrunkTable
from hotline.media.eng_events import CallRecordingStored
from hotline.media.recorder import RecordingStored
from hotline.reports.events import EventKind
from hotline.sip.useragent import Leg

MFC_NUMBER = "+78000000303"
MFC = TransferTarget(TargetKind.ORGANISATION, "mfc")


class OrgRig:
    def __init__(self) -> None:
        self.rig: Rig = make_rig()
        rig = self.rig
        self.external = ExternalRedirector(
            media=rig.media,
            trunks=TrunkTable((TrunkConfig(name="org-a", host="10.0.0.70"),)),
            directory=DirectoryMap({"mfc": MFC_NUMBER}),
            events=rig.events,
            clock=rig.clock,
        )
        rig.controller.external = self.external
        self.external.attach(
            rig.ua, menu=_NoMenu(), calls=rig.controller, recordings=rig.controller.events
        )
        orgs = wire_org_transfers(self.external, rig.controller.transfers, rig.acd, rig.controller)
        assert isinstance(orgs, OrganisationTransfers)
        self.orgs = orgs
        self.actions = LiveActions(
            controller=rig.controller, acd=rig.acd, clock=rig.clock, organisations=orgs
        )

    async def settle(self) -> None:
        await self.rig.controller.settle()
        await self.external.settle()

    async def transferring(self) -> tuple[Leg, Leg, Call, Leg]:
        caller, op_leg, call = await talking_with_1001(self.rig)
        self.actions.transfer_blind(call.call_id, MFC)
        await self.settle()
        org = self.rig.ua.placed[-1]
        assert str(org.session.invite.uri) == f"sip:{MFC_NUMBER}@10.0.0.70;user=phone"
        return caller, op_leg, call, org


class _NoMenu:
    def external_failed(self, call_id: str) -> None:
        raise AssertionError("a desk transfer never falls back to the menu")


async def test_the_organisation_answers_the_operator_leaves_and_the_leg_is_a_new_segment() -> None:
    o = OrgRig()
    rig = o.rig
    caller, op_leg, call, org = await o.transferring()
    first_media = call.operator_media
    assert call.recording_id == call.call_id  # the operator's segment
    # While it rings the caller stays with the operator.
    assert call.operator_id == OP1 and not far_ended(rig, op_leg) and o.orgs.pending(call.call_id)
    with pytest.raises(CallActionError) as again:
        o.actions.transfer_blind(call.call_id, MFC)
    assert again.value.refusal is ActionRefusal.WRONG_STATE
    rig.ua.phone_answer(org, phone_answer_to(org))
    # The operator left: its recording stopped, its leg hung up, the ACD wraps it up.
    assert far_ended(rig, op_leg) and call.operator_id is None and call.operator_leg is None
    assert rig.media.stopped_recordings == [call.call_id]  # type: ignore[attr-defined]
    assert first_media in rig.media.closed
    assert rig.acd.operator_state(OP1) is OperatorState.WRAP_UP
    # The caller talks with the organisation, recorded as the next segment.
    org_media = rig.media.bridges[-1][1]
    assert rig.media.bridges[-1] == (call.caller_media, org_media)
    assert rig.media.recordings[-1] == (call.caller_media, org_media, f"{call.call_id}-2")
    assert call.recording_id == f"{call.call_id}-2" and call.phase is CallPhase.TALKING
    (redirected,) = rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.call_id == call.call_id and redirected.payload == {"number": MFC_NUMBER}
    assert not o.orgs.pending(call.call_id) and o.orgs.completed == 1
    # The organisation's segment is stored under the call id, apart from the first one.
    stored = RecordingStored(f"/rec/{call.call_id}-2.wav", 5.0, 80_044, "cd" * 32)
    assert call.caller_media is not None
    rig.controller.on_media_event(
        CallRecordingStored(f"{call.call_id}-2", call.caller_media, org_media, stored)
    )
    (recording,) = rig.events.of(EventKind.RECORDING_STORED)
    assert recording.call_id == call.call_id and recording.payload["path"].endswith("-2.wav")
    # The organisation hangs up: the call ends once, nothing leaks.
    rig.ua.far_of(org).hang_up(rig.clock.monotonic())
    rig.ua.flush(org)
    assert rig.controller.active() == 0 and o.external.active() == 0
    assert far_ended(rig, caller) and rig.media.open_legs() == []
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.payload == {"who_hung_up": "operator", "cause": "external_remote-bye"}
    assert len(rig.events.of(EventKind.QUEUE_ANSWERED)) == 1


async def test_the_caller_hanging_up_while_it_rings_cancels_the_organisation() -> None:
    o = OrgRig()
    rig = o.rig
    caller, op_leg, _call, org = await o.transferring()
    rig.ua.phone_ring(org)
    rig.ua.far_hang_up(caller)
    assert rig.controller.active() == 0 and o.external.active() == 0
    assert far_ended(rig, org) and far_ended(rig, op_leg)
    assert rig.media.open_legs() == []
    assert [e.payload["who_hung_up"] for e in rig.events.of(EventKind.CALL_ENDED)] == ["caller"]


async def test_an_organisation_refusing_leaves_the_caller_with_the_operator() -> None:
    o = OrgRig()
    rig = o.rig
    _caller, op_leg, call, org = await o.transferring()
    rig.ua.phone_reject(org, 486)
    await o.settle()
    assert call.operator_id == OP1 and call.operator_leg is op_leg and not far_ended(rig, op_leg)
    assert call.recording_id == call.call_id and rig.media.stopped_recordings == []  # type: ignore[attr-defined]
    assert not o.orgs.pending(call.call_id) and o.orgs.failed == 1
    assert rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL) == []
    assert rig.acd.operator_state(OP1) is OperatorState.TALKING
    o.actions.hang_up(call.call_id)  # the desk can go on with the call
    assert rig.controller.active() == 0 and rig.media.open_legs() == []


async def test_refusals() -> None:
    o = OrgRig()
    _caller, _op_leg, call = await talking_with_1001(o.rig)
    with pytest.raises(CallActionError) as unknown:
        o.actions.transfer_blind(call.call_id, TransferTarget(TargetKind.ORGANISATION, "nobody"))
    assert unknown.value.refusal is ActionRefusal.NOT_FOUND
    for bad in ("", "a b", "x" * 65):
        with pytest.raises(CallActionError) as malformed:
            o.actions.transfer_blind(call.call_id, TransferTarget(TargetKind.ORGANISATION, bad))
        assert malformed.value.refusal is ActionRefusal.NOT_FOUND, bad
    bare = LiveActions(controller=o.rig.controller, acd=o.rig.acd, clock=o.rig.clock)
    with pytest.raises(CallActionError) as absent:
        bare.transfer_blind(call.call_id, MFC)
    assert absent.value.refusal is ActionRefusal.NOT_ALLOWED
    assert o.rig.ua.placed[-1] is call.operator_leg  # nothing was dialled
    with pytest.raises(CallActionError) as missing:
        o.actions.transfer_blind("no-such-call", MFC)  # type: ignore[arg-type]
    assert missing.value.refusal is ActionRefusal.NOT_FOUND
