"""A queue's rule sends a waiting call on to an outside number (ctl_queue_external).

The controller, the ACD and the SIP far ends are the real sans-IO ones of
``test_calls_controller_fakes`` (``LoopUA``: real InviteSessions both ways),
with the real :class:`ExternalRedirector` dialling through a trunk table and
the queue voice of ``test_calls_queue_voice`` (every phrase "rendered").
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from test_calls_controller_fakes import Rig, caller_offer, phone_answer_to
from test_calls_queue_voice import Heard, farewell, got_bye, queue_config, voiced_rig

from hotline.acd.model import EmptyPolicy, ExitAction, ExitKind
from hotline.calls.call import Call, CallPhase
from hotline.calls.ctl_external import DirectoryMap, ExternalRedirector
from hotline.calls.ctl_queue import ExitReason, QueuePhrases, build_queue_phrases
from hotline.calls.ctl_queue_external import QueueExternal, external_target, ringback_item_id
from hotline.calls.trunks import OutboundPolicy, TrunkConfig, TrunkTable
from hotline.core.ids import CallId
from hotline.ivr.flow_checks import FlowError
from hotline.media.eng_events import CallRecordingStored
from hotline.media.recorder import RecordingStored
from hotline.media.timeouts import MediaTimeout
from hotline.reports.events import EventKind
from hotline.sip.dlg_events import ByeReceived, DialogTerminated, TerminationReason
from hotline.sip.useragent import Leg

NUMBER = "+74950000000"
MFC_NUMBER = "+78000000303"
ORG_A = TrunkConfig(name="org-a", host="10.0.0.70", outbound=OutboundPolicy(priority=10))
ORG_B = TrunkConfig(name="org-b", host="10.0.0.71", outbound=OutboundPolicy(priority=20))


@pytest.fixture(scope="module")
def phrases() -> QueuePhrases:
    return build_queue_phrases()


class _NoMenu:
    def external_failed(self, call_id: CallId) -> None:
        raise AssertionError("a queue's exit never falls back to the menu")


@dataclass
class ExtRig:
    rig: Rig
    heard: Heard
    trunks: TrunkTable
    external: ExternalRedirector
    queue_external: QueueExternal

    async def settle(self) -> None:
        await self.rig.controller.settle()
        await self.external.settle()
        await asyncio.sleep(0)  # a refusal before dialling is reported on the next loop turn

    async def waiting(self) -> tuple[Leg, Call]:
        leg = self.rig.ua.incoming(caller_offer())
        await self.settle()
        (call,) = self.rig.controller.calls()
        assert call.phase is CallPhase.QUEUED and call.caller_media == "m1"
        return leg, call

    async def timed_out(self) -> tuple[Leg, Call]:
        leg, call = await self.waiting()
        self.rig.advance(6.0)
        await self.settle()
        return leg, call

    def slots(self) -> dict[str, int]:
        return {t.name: self.trunks.active_calls(t.name) for t in self.trunks.trunks}

    def ended(self) -> list[tuple[str | None, str | None]]:
        return [
            (e.text("who_hung_up"), e.text("cause"))
            for e in self.rig.events.of(EventKind.CALL_ENDED)
        ]


def ext_rig(
    phrases: QueuePhrases,
    target: str = NUMBER,
    *,
    trunks: tuple[TrunkConfig, ...] = (ORG_A,),
    wired: bool = True,
    **queue: object,
) -> ExtRig:
    settings: dict[str, object] = {
        "max_wait_s": 6.0,
        "max_wait_action": ExitAction(ExitKind.EXTERNAL, target),
        "announce_on_entry": False,
    }
    settings.update(queue)
    rig, heard = voiced_rig(phrases, queue_config(**settings))
    table = TrunkTable(trunks)
    external = ExternalRedirector(
        media=rig.media,
        trunks=table,
        directory=DirectoryMap({"mfc": MFC_NUMBER}),
        events=rig.events,
        clock=rig.clock,
    )
    rig.controller.external = external
    external.attach(rig.ua, menu=_NoMenu(), calls=rig.controller, recordings=rig.controller.events)
    queue_external = QueueExternal(external=external, host=rig.controller, media=heard)
    if wired:
        rig.controller.queue_external = queue_external
    return ExtRig(rig, heard, table, external, queue_external)


def phase(call: Call) -> CallPhase:
    """The call's phase now (a call, so the type checker keeps no old narrowing)."""
    return call.phase


def cancelled(rig: Rig, leg: Leg) -> bool:
    return any(
        isinstance(e, DialogTerminated) and e.reason is TerminationReason.REMOTE_CANCEL
        for e in rig.ua.far_events.get(leg.leg_id, [])
    )


# -- the target ----------------------------------------------------------------------------------


def test_the_target_is_read_as_the_menu_reads_it() -> None:
    assert external_target("mfc").organisation == "mfc"
    assert external_target(NUMBER).number == NUMBER
    assert external_target("84950000000").number == "84950000000"
    for bad in ("1", "+7 495", "_x", "-1"):
        with pytest.raises(FlowError):
            external_target(bad)


# -- dialled, answered, bridged ------------------------------------------------------------------


async def test_the_wait_norm_dials_the_number_and_the_answer_bridges_and_records(
    phrases: QueuePhrases,
) -> None:
    x = ext_rig(phrases)
    rig = x.rig
    leg, call = await x.timed_out()
    (org,) = rig.ua.placed
    invite = org.session.invite
    assert str(invite.uri) == f"sip:{NUMBER}@10.0.0.70;user=phone"
    assert str(invite.from_.uri) == "sip:122@10.0.0.70;user=phone"
    assert invite.headers.get("P-Asserted-Identity") == "<sip:122@10.0.0.70;user=phone>"
    assert org.peer.host == "10.0.0.70" and x.slots() == {"org-a": 1}
    # The music stopped; the caller hears the ringing tone, no goodbye.
    ringing = ringback_item_id(call.call_id)
    assert x.heard.log[-2:] == [("stop", f"moh-{call.call_id}", ()), ("play", ringing, ("tone",))]
    assert call.moh_item is None and not call.in_acd and phase(call) is CallPhase.QUEUED
    assert not rig.controller.voice.leaving(call.call_id) and not got_bye(rig, leg)
    assert x.queue_external.pending(call.call_id) and x.queue_external.taken == 1
    (timed_out,) = rig.events.of(EventKind.QUEUE_TIMED_OUT)
    assert timed_out.text("action") == "external" and timed_out.number("wait_s") == 6.0

    rig.ua.phone_ring(org)
    rig.clock.advance(4.0)
    rig.ua.phone_answer(org, phone_answer_to(org))
    assert x.heard.log[-1] == ("stop", ringing, ())
    assert rig.media.bridges == [("m1", "m2")]
    assert rig.media.recordings == [("m1", "m2", call.call_id)]  # its first segment
    assert call.recording_id == call.call_id and phase(call) is CallPhase.TALKING
    assert call.operator_id is None and not x.queue_external.pending(call.call_id)
    (redirected,) = rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.call_id == call.call_id and redirected.payload == {"number": NUMBER}
    assert redirected.trunk == "org-a" and redirected.topic == "general"
    assert x.queue_external.completed == 1

    stored = RecordingStored(f"/rec/{call.call_id}.wav", 30.0, 480_044, "ef" * 32)
    rig.controller.on_media_event(CallRecordingStored(call.call_id, "m1", "m2", stored))
    (recording,) = rig.events.of(EventKind.RECORDING_STORED)
    assert recording.call_id == call.call_id and recording.payload["duration_s"] == 30.0

    rig.ua.far_hang_up(leg)  # the caller hangs up the conversation
    assert any(isinstance(e, ByeReceived) for e in rig.ua.far_events[org.leg_id])
    assert rig.controller.active() == 0 and x.external.active() == 0
    assert rig.media.open_legs() == [] and x.slots() == {"org-a": 0}
    assert x.ended() == [("caller", "remote-bye")]
    assert rig.events.of(EventKind.QUEUE_ABANDONED) == []


async def test_an_organisation_of_the_directory_is_dialled_by_its_number(
    phrases: QueuePhrases,
) -> None:
    x = ext_rig(phrases, "mfc")
    await x.timed_out()
    (org,) = x.rig.ua.placed
    assert str(org.session.invite.uri) == f"sip:{MFC_NUMBER}@10.0.0.70;user=phone"


async def test_a_5xx_fails_over_to_the_next_trunk(phrases: QueuePhrases) -> None:
    x = ext_rig(phrases, trunks=(ORG_A, ORG_B))
    _leg, call = await x.timed_out()
    (a,) = x.rig.ua.placed
    x.rig.ua.phone_reject(a, 503)
    _a, b = x.rig.ua.placed
    assert b.peer.host == "10.0.0.71" and x.slots() == {"org-a": 0, "org-b": 1}
    x.rig.ua.phone_answer(b, phone_answer_to(b))
    assert x.rig.media.bridges == [("m1", "m2")] and call.phase is CallPhase.TALKING
    assert not x.rig.controller.voice.leaving(call.call_id)


# -- failures: the goodbye, then the end ---------------------------------------------------------


async def test_a_refusal_plays_the_goodbye_then_ends(phrases: QueuePhrases) -> None:
    x = ext_rig(phrases, trunks=(ORG_A, ORG_B))
    rig = x.rig
    leg, call = await x.timed_out()
    (org,) = rig.ua.placed
    rig.ua.phone_reject(org, 486)  # busy: the destination answered, no failover
    assert len(rig.ua.placed) == 1 and x.queue_external.failed == 1
    ringing = ringback_item_id(call.call_id)
    assert x.heard.log[-2:] == [
        ("stop", ringing, ()),
        ("play", f"farewell-{call.call_id}", (phrases.messages[ExitReason.TIMED_OUT],)),
    ]
    assert rig.controller.active() == 1 and not got_bye(rig, leg)
    assert rig.media.open_legs() == ["m1"] and x.slots() == {"org-a": 0, "org-b": 0}
    farewell(rig, call)
    assert got_bye(rig, leg) and rig.controller.active() == 0
    assert x.ended() == [("system", "queue_timed_out")]
    assert rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL) == []
    assert rig.media.open_legs() == [] and not x.queue_external.pending(call.call_id)


@pytest.mark.parametrize(
    ("target", "trunks"),
    [
        ("nobody", (ORG_A,)),  # an organisation not in the directory: nothing is dialled
        ("112", (ORG_A,)),  # an emergency number is never a redirect target
        (NUMBER, ()),  # no trunk at all
    ],
)
async def test_no_route_plays_the_goodbye(
    phrases: QueuePhrases, target: str, trunks: tuple[TrunkConfig, ...]
) -> None:
    x = ext_rig(phrases, target, trunks=trunks)
    leg, call = await x.timed_out()
    await x.settle()
    assert x.rig.ua.placed == [] and x.queue_external.failed == 1
    assert x.rig.controller.voice.leaving(call.call_id)
    assert x.heard.said()[-1] == (phrases.messages[ExitReason.TIMED_OUT],)
    farewell(x.rig, call)
    assert got_bye(x.rig, leg) and x.ended() == [("system", "queue_timed_out")]


async def test_a_full_queue_s_failed_exit_says_the_full_queue_goodbye(
    phrases: QueuePhrases,
) -> None:
    full = ExitAction(ExitKind.EXTERNAL, NUMBER)
    x = ext_rig(phrases, max_wait_s=None, max_length=0, full_action=full)
    leg = x.rig.ua.incoming(caller_offer())
    await x.settle()
    (org,) = x.rig.ua.placed
    x.rig.ua.phone_reject(org, 404)
    (call,) = x.rig.controller.calls()
    assert x.heard.said()[-1] == (phrases.messages[ExitReason.FULL],)
    farewell(x.rig, call)
    assert got_bye(x.rig, leg) and x.ended() == [("system", "queue_full")]
    assert len(x.rig.events.of(EventKind.QUEUE_LEFT_FULL)) == 1


async def test_an_empty_queue_may_send_callers_out(phrases: QueuePhrases) -> None:
    out = ExitAction(ExitKind.EXTERNAL, "mfc")
    x = ext_rig(phrases, max_wait_s=None, when_empty=EmptyPolicy.REFUSE, empty_action=out)
    x.rig.ua.incoming(caller_offer())
    await x.settle()
    (org,) = x.rig.ua.placed
    assert str(org.session.invite.uri) == f"sip:{MFC_NUMBER}@10.0.0.70;user=phone"


async def test_without_a_rendered_goodbye_a_failure_ends_at_once(phrases: QueuePhrases) -> None:
    x = ext_rig(phrases)
    x.rig.controller.voice.set_prompts(phrases, _Nothing())
    leg, _call = await x.timed_out()
    (org,) = x.rig.ua.placed
    x.rig.ua.phone_reject(org, 603)
    assert got_bye(x.rig, leg) and x.rig.controller.active() == 0
    assert x.ended() == [("system", "queue_timed_out")] and x.rig.media.open_legs() == []


class _Nothing:
    def get(self, text: str, codec: str) -> None:
        return None


# -- endings -------------------------------------------------------------------------------------


async def test_the_caller_hanging_up_while_it_rings_cancels_it(phrases: QueuePhrases) -> None:
    x = ext_rig(phrases)
    rig = x.rig
    leg, call = await x.timed_out()
    (org,) = rig.ua.placed
    rig.ua.phone_ring(org)
    rig.ua.far_hang_up(leg)
    assert cancelled(rig, org)
    assert rig.controller.active() == 0 and x.external.active() == 0
    assert rig.media.open_legs() == [] and x.slots() == {"org-a": 0}
    assert x.ended() == [("caller", "remote-bye")]
    assert rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL) == []
    assert rig.events.of(EventKind.QUEUE_ABANDONED) == []  # the visit ended as timed out
    assert not x.queue_external.pending(call.call_id) and x.queue_external.failed == 0


async def test_the_destination_hanging_up_ends_the_call_once(phrases: QueuePhrases) -> None:
    x = ext_rig(phrases)
    rig = x.rig
    leg, _call = await x.timed_out()
    (org,) = rig.ua.placed
    rig.ua.phone_answer(org, phone_answer_to(org))
    rig.ua.far_of(org).hang_up(rig.clock.monotonic())
    rig.ua.flush(org)
    assert got_bye(rig, leg) and rig.controller.active() == 0 and x.external.active() == 0
    assert x.ended() == [("operator", "external_remote-bye")]
    assert rig.media.open_legs() == [] and x.slots() == {"org-a": 0}


async def test_an_rtp_timeout_of_the_destination_ends_the_call(phrases: QueuePhrases) -> None:
    x = ext_rig(phrases)
    leg, _call = await x.timed_out()
    (org,) = x.rig.ua.placed
    x.rig.ua.phone_answer(org, phone_answer_to(org))
    x.rig.controller.on_media_event(MediaTimeout("m2", 30.0))
    assert got_bye(x.rig, leg) and x.ended() == [("system", "rtp_timeout")]
    assert any(isinstance(e, ByeReceived) for e in x.rig.ua.far_events[org.leg_id])
    assert x.rig.media.open_legs() == [] and x.slots() == {"org-a": 0}


# -- not taken -----------------------------------------------------------------------------------


async def test_an_unusable_target_or_no_redirector_means_the_goodbye(
    phrases: QueuePhrases,
) -> None:
    for x in (ext_rig(phrases, "1"), ext_rig(phrases, wired=False)):
        leg, call = await x.timed_out()
        assert x.rig.ua.placed == [] and x.queue_external.taken == 0
        assert x.heard.said()[-1] == (phrases.messages[ExitReason.TIMED_OUT],)
        farewell(x.rig, call)
        assert got_bye(x.rig, leg) and x.ended() == [("system", "queue_timed_out")]


async def test_other_actions_and_other_phases_are_not_taken(phrases: QueuePhrases) -> None:
    x = ext_rig(phrases)
    _leg, call = await x.waiting()
    out = ExitAction(ExitKind.EXTERNAL, NUMBER)
    reason = ExitReason.TIMED_OUT
    assert not x.queue_external.take(call, None, reason)
    assert not x.queue_external.take(call, ExitAction(ExitKind.MESSAGE_AND_END), reason)
    assert not x.queue_external.take(call, ExitAction(ExitKind.BOT), reason)
    call.phase = CallPhase.GREETING
    assert not x.queue_external.take(call, out, reason)
    call.phase = CallPhase.QUEUED
    assert x.queue_external.take(call, out, reason)
    assert not x.queue_external.take(call, out, reason)  # once at a time
    await x.settle()
    assert len(x.rig.ua.placed) == 1 and x.queue_external.taken == 1


def test_external_is_an_exit_kind_of_the_queue_settings() -> None:
    from hotline.acd.sim_config import queue_config_from_mapping as parse_queue

    parsed = parse_queue(
        {
            "queue_id": "q",
            "name": "Q",
            "topic": "t",
            "max_wait_action": {"kind": "external", "target": "mfc"},
        }
    )
    assert parsed.max_wait_action == ExitAction(ExitKind.EXTERNAL, "mfc")
