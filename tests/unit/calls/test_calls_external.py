"""The redirect to an organisation (R7): menu → trunk INVITE → bridge, record; failover; endings.

Real pieces around in-memory SIP (``LoopUA``: real InviteSessions both ways),
a recording media fake, the real controller, ACD and voice-menu runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from test_calls_controller_fakes import (
    GENERAL,
    EventList,
    LoopUA,
    Phones,
    RecordingMedia,
    caller_offer,
    phone_answer_to,
)

from hotline.acd.model import QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.calls.call import CallPhase
from hotline.calls.controller import CallController
from hotline.calls.ctl_external import (
    DirectoryMap,
    ExternalRedirector,
    RedirectFailure,
    resolve_target,
)
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.calls.trunks import OutboundPolicy, TrunkConfig, TrunkTable
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, TopicId
from hotline.ivr.flow_nodes import ExternalTarget
from hotline.ivr.flow_yaml import load_flow_yaml
from hotline.ivr.ivr_events import TransferExternal
from hotline.ivr.runner import IvrRunner
from hotline.media.dtmf import DtmfReceived, DtmfSource
from hotline.media.eng_events import CallRecordingStored, LegDtmfReceived
from hotline.media.player import PlaybackFinished
from hotline.media.recorder import RecordingStored
from hotline.media.timeouts import MediaTimeout
from hotline.reports.events import EventKind
from hotline.sip.dlg_events import ByeReceived, DialogTerminated, TerminationReason
from hotline.sip.useragent import Leg

FLOW = """
name: redirect-test
start: main
operator: {node: operator}
nodes:
  - id: main
    kind: menu
    prompts: [{text: "Нажмите 1 для МФЦ, 2 для номера."}]
    branches: {1: mfc, 2: direct}
  - id: mfc
    kind: external
    organisation: mfc
    fallback: operator
    fallback_prompts: [{text: "Организация не отвечает."}]
  - id: direct
    kind: external
    number: "+74950000000"
    fallback: operator
  - id: operator
    kind: queue
    queue: general
"""
MFC_NUMBER = "+78000000303"


@dataclass
class FakeTimer:
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Timers:
    timers: list[FakeTimer] = field(default_factory=list)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(callback)
        self.timers.append(timer)
        return timer


@dataclass
class Rig:
    clock: FakeClock
    ua: LoopUA
    media: RecordingMedia
    events: EventList
    trunks: TrunkTable
    runner: IvrRunner
    external: ExternalRedirector
    controller: CallController

    async def settle(self) -> None:
        await self.controller.settle()
        await self.external.settle()

    async def call_and_press(self, digit: str) -> Leg:
        leg = self.ua.incoming(caller_offer())
        await self.settle()
        (call,) = self.controller.calls()
        assert call.phase is CallPhase.GREETING and call.caller_media == "m1"
        dtmf = DtmfReceived(digit, 120, DtmfSource.RFC4733)
        self.controller.on_media_event(LegDtmfReceived("m1", dtmf))
        await self.settle()
        return leg

    def slots(self) -> dict[str, int]:
        return {t.name: self.trunks.active_calls(t.name) for t in self.trunks.trunks}


def make_rig(*trunks: TrunkConfig) -> Rig:
    clock = FakeClock()
    ua = LoopUA(clock)
    media = RecordingMedia()
    events = EventList()
    acd = AcdService(AcdEngine(seed=1), clock, auto_ready_on_register=True)
    acd.add_queue(QueueConfig(queue_id=GENERAL, name="General", topic=TopicId("general")))
    table = TrunkTable(trunks or (TrunkConfig(name="org-a", host="10.0.0.70"),))
    external = ExternalRedirector(
        media=media,
        trunks=table,
        directory=DirectoryMap({"mfc": MFC_NUMBER}),
        events=events,
        clock=clock,
    )
    runner = IvrRunner(
        load_flow_yaml(FLOW),
        media=media,
        clock=clock,
        call_later=Timers().call_later,
        fallback_queue=GENERAL,
        external=external,
    )
    controller = CallController(
        media=media,
        acd=acd,
        phones=Phones(),
        routing=FixedRouting({"122": Route(GENERAL, TopicId("general"), menu=runner)}),
        events=events,
        clock=clock,
    )
    controller.attach(ua)
    acd.handler = controller
    ua.controller = controller
    runner.attach(controller)
    controller.external = external
    external.attach(ua, menu=runner, calls=controller, recordings=controller.events)
    return Rig(clock, ua, media, events, table, runner, external, controller)


# -- resolving the target ------------------------------------------------------------------
def _transfer(organisation: str | None = None, number: str | None = None) -> TransferExternal:
    return TransferExternal(ExternalTarget(organisation, number), None, None)


def test_an_organisation_resolves_to_its_canonical_number() -> None:
    directory = DirectoryMap({"mfc": "8 (800) 000-03-03"})
    assert resolve_target(_transfer("mfc"), directory).number == MFC_NUMBER
    assert resolve_target(_transfer(number="+74950000000"), directory).number == "+74950000000"


@pytest.mark.parametrize(
    ("transfer", "numbers"),
    [
        (_transfer("nobody"), {"mfc": MFC_NUMBER}),
        (_transfer("mfc"), {"mfc": "not a number"}),
        (_transfer(number="112"), {}),
    ],
)
def test_unknown_organisations_bad_and_emergency_numbers_are_refused(
    transfer: TransferExternal, numbers: dict[str, str]
) -> None:
    with pytest.raises(RedirectFailure):
        resolve_target(transfer, DirectoryMap(numbers))


# -- the redirect end to end ---------------------------------------------------------------
async def test_menu_redirect_invites_through_the_trunk_bridges_records_and_ends() -> None:
    rig = make_rig()
    leg = await rig.call_and_press("1")
    (org,) = rig.ua.placed
    invite = org.session.invite
    assert str(invite.uri) == "sip:+78000000303@10.0.0.70;user=phone"
    assert str(invite.from_.uri) == "sip:122@10.0.0.70;user=phone"
    assert invite.headers.get("P-Asserted-Identity") == "<sip:122@10.0.0.70;user=phone>"
    assert org.peer.host == "10.0.0.70" and org.peer.port == 5060
    assert rig.slots() == {"org-a": 1} and rig.external.active() == 1

    rig.clock.advance(3.0)
    rig.ua.phone_answer(org, phone_answer_to(org))
    (call,) = rig.controller.calls()
    assert rig.media.remotes["m2"] == ("10.0.0.50", 31000)
    assert rig.media.bridges == [("m1", "m2")]
    assert rig.media.recordings == [("m1", "m2", call.call_id)]  # caller left, organisation right
    (redirected,) = rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.payload == {"number": MFC_NUMBER} and redirected.trunk == "org-a"
    assert redirected.call_id == call.call_id

    rig.clock.advance(20.0)
    rig.ua.far_hang_up(leg)  # the caller hangs up
    assert rig.controller.active() == 0 and rig.external.active() == 0
    assert rig.runner.active() == 0
    assert any(isinstance(e, ByeReceived) for e in rig.ua.far_events[org.leg_id])
    assert sorted(rig.media.closed) == ["m1", "m2"] and rig.media.open_legs() == []
    assert rig.slots() == {"org-a": 0}
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.payload["who_hung_up"] == "caller"

    stored = RecordingStored(f"/rec/{call.call_id}.wav", 20.0, 320_044, "ab" * 32)
    rig.controller.on_media_event(CallRecordingStored(call.call_id, "m1", "m2", stored))
    (recording,) = rig.events.of(EventKind.RECORDING_STORED)
    assert recording.call_id == call.call_id and recording.payload["duration_s"] == 20.0


async def test_the_organisation_hanging_up_ends_the_call_and_names_it() -> None:
    rig = make_rig()
    leg = await rig.call_and_press("2")
    (org,) = rig.ua.placed
    assert str(org.session.invite.uri) == "sip:+74950000000@10.0.0.70;user=phone"
    rig.ua.phone_answer(org, phone_answer_to(org))
    rig.ua.far_of(org).hang_up(rig.clock.monotonic())
    rig.ua.flush(org)
    assert rig.controller.active() == 0 and rig.external.active() == 0
    assert any(isinstance(e, ByeReceived) for e in rig.ua.far_events[leg.leg_id])
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.payload == {"who_hung_up": "operator", "cause": "external_remote-bye"}
    assert rig.media.open_legs() == [] and rig.slots() == {"org-a": 0}


async def test_a_5xx_fails_over_to_the_next_trunk() -> None:
    first = TrunkConfig(name="org-a", host="10.0.0.70", outbound=OutboundPolicy(priority=10))
    second = TrunkConfig(name="org-b", host="10.0.0.71", outbound=OutboundPolicy(priority=20))
    rig = make_rig(first, second)
    await rig.call_and_press("1")
    (a,) = rig.ua.placed
    rig.ua.phone_reject(a, 503)
    a_leg, b_leg = rig.ua.placed
    assert b_leg.peer.host == "10.0.0.71"
    assert rig.slots() == {"org-a": 0, "org-b": 1}
    assert b_leg.session.invite.body == a_leg.session.invite.body  # the same media leg
    rig.ua.phone_answer(b_leg, phone_answer_to(b_leg))
    assert rig.media.bridges == [("m1", "m2")]
    (redirected,) = rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.trunk == "org-b"


async def test_a_destination_4xx_falls_back_to_the_operator_queue() -> None:
    first = TrunkConfig(name="org-a", host="10.0.0.70", outbound=OutboundPolicy(priority=10))
    second = TrunkConfig(name="org-b", host="10.0.0.71", outbound=OutboundPolicy(priority=20))
    rig = make_rig(first, second)
    await rig.call_and_press("2")
    (a,) = rig.ua.placed
    rig.ua.phone_reject(a, 486)  # busy: the destination answered, no failover
    assert len(rig.ua.placed) == 1
    (call,) = rig.controller.calls()
    # no fallback message on this node: straight to the queue
    assert call.phase is CallPhase.QUEUED and call.queue_id == GENERAL
    assert rig.media.closed == ["m2"] and rig.slots() == {"org-a": 0, "org-b": 0}
    assert rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL) == []
    assert rig.external.active() == 0 and rig.external.failed == 1


async def test_all_trunks_failing_plays_the_fallback_message_then_queues() -> None:
    rig = make_rig()
    await rig.call_and_press("1")
    (a,) = rig.ua.placed
    rig.ua.phone_reject(a, 500)
    (call,) = rig.controller.calls()
    assert call.phase is CallPhase.GREETING  # the fallback message plays
    leg_id, item_id = rig.media.played[-1]
    assert leg_id == "m1" and rig.external.failed == 1
    rig.controller.on_media_event(PlaybackFinished("m1", item_id))
    assert rig.controller.calls()[0].phase is CallPhase.QUEUED
    assert rig.media.open_legs() == ["m1"] and rig.slots() == {"org-a": 0}


async def test_an_unknown_organisation_falls_back_without_dialling() -> None:
    rig = make_rig()
    rig.external.directory = DirectoryMap({})
    await rig.call_and_press("1")
    assert rig.ua.placed == [] and rig.external.failed == 1
    assert rig.controller.calls()[0].phase is CallPhase.GREETING  # the fallback message
    assert rig.media.open_legs() == ["m1"]


async def test_the_caller_hanging_up_while_the_organisation_rings_cancels_it() -> None:
    rig = make_rig()
    leg = await rig.call_and_press("1")
    (org,) = rig.ua.placed
    rig.ua.phone_ring(org)
    rig.ua.far_hang_up(leg)
    assert any(
        isinstance(e, DialogTerminated) and e.reason is TerminationReason.REMOTE_CANCEL
        for e in rig.ua.far_events[org.leg_id]
    )
    assert rig.controller.active() == 0 and rig.external.active() == 0
    assert rig.media.open_legs() == [] and rig.slots() == {"org-a": 0}
    assert rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL) == []


async def test_an_rtp_timeout_on_the_organisations_leg_ends_the_call() -> None:
    rig = make_rig()
    await rig.call_and_press("1")
    (org,) = rig.ua.placed
    rig.ua.phone_answer(org, phone_answer_to(org))
    rig.controller.on_media_event(MediaTimeout("m2", 30.0))
    assert rig.controller.active() == 0 and rig.media.open_legs() == []
    (ended,) = rig.events.of(EventKind.CALL_ENDED)
    assert ended.payload == {"who_hung_up": "system", "cause": "rtp_timeout"}


async def test_keys_while_redirecting_are_ignored_and_unknown_ends_change_nothing() -> None:
    rig = make_rig()
    leg = await rig.call_and_press("1")
    (org,) = rig.ua.placed
    dtmf = DtmfReceived("2", 120, DtmfSource.RFC4733)
    rig.controller.on_media_event(LegDtmfReceived("m1", dtmf))
    await rig.settle()
    assert rig.ua.placed == [org] and rig.external.active() == 1
    rig.external.end(CallId("not-a-call"))
    assert rig.external.active() == 1 and rig.slots() == {"org-a": 1}
    rig.ua.far_hang_up(leg)
    assert rig.external.active() == 0 and rig.slots() == {"org-a": 0}
