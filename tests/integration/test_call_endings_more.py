"""Random endings over every state of a call, on loopback, with a seeded plan (issue 6 item 5).

One node with everything wired: the voice menu (number 123), the queue
(122), baresip operators 1001 and 1002, the supervisor's phone 2001, the
outbound desks (click-to-call, call-back) through a trunk whose far end is a
SIPp UAS started per episode, and a media engine with a short RTP timeout.

Two SIPp batches first (callers that hang up in the menu; callers that hang
up while waiting, while the phone rings, while talking or on hold), then
episodes driven through the actions API, one at a time: a caller hanging up
during an attended consultation, during supervisor monitoring, during a blind
transfer; a click-to-call the called party ends; a click-to-call whose trunk
answers 503 (a trunk failure); a call-back attempt (answered, or busy); a
caller whose audio stops (RTP timeout).  Every choice comes from one seeded
generator; waits are generous and nothing asserts a duration.

Afterwards nothing may be left: SIP legs, media legs, ports, tasks, trunk
slots, monitoring sessions, consultations, call-back requests, operators
not READY; every call has exactly one ``call.ended``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_call_endings import random_endings_scenario
from test_call_path import GENERAL, PCAP_DIR, TRUNK_IP, EventList, Span, queue

from hotline.acd.agent import OperatorState
from hotline.acd.model import OperatorProfile
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.callservice import RegistrarPhones
from hotline.calls.actions import LiveActions
from hotline.calls.api import CallActionError, MonitorMode, TargetKind, TransferTarget
from hotline.calls.call import Call, CallPhase
from hotline.calls.controller import CallController
from hotline.calls.ctl_callback import CallbackPolicy
from hotline.calls.ctl_dialout import OutboundDesks, wire_outbound
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.calls.trunks import TrunkConfig, TrunkTable
from hotline.core.clock import SystemClock
from hotline.core.errors import LocalProtocolError
from hotline.core.ids import OperatorId, TopicId
from hotline.ivr.flow_yaml import load_demo_flow
from hotline.ivr.runner import IvrRunner
from hotline.media.eng_events import EngineConfig
from hotline.media.engine import MediaEngine
from hotline.reports.events import EventKind
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.useragent import UserAgent
from support.peers import (
    Baresip,
    SippResult,
    baresip,
    free_udp_port,
    require,
    run_sipp,
    write_tone_wav,
)
from support.scenarios import (
    ANSWER_BYE_STEPS,
    bye_steps,
    caller_scenario,
    phone_answer_and_bye,
    phone_final,
)
from support.sipnode import sip_endpoint

pytestmark = pytest.mark.integration

SEED = 1220
PASSWORDS = {"1001": "op-secret-1001", "1002": "op-secret-1002", "2001": "sup-secret-2001"}
OPERATORS = (OperatorId("1001"), OperatorId("1002"))
SUPERVISOR = OperatorId("2001")
PHONE_IP = "127.0.0.3"  # the far end of the outbound trunk
CITIZEN = "+79161234567"
RTP_TIMEOUT_S = 4.0
"""Short, so that a silent caller ends soon; every other caller plays a 7 s pcap."""
ANSWERED = "the called party answers and hangs up"
AUDIO = '  <nop><action><exec play_pcap_audio="pcap/g711a.pcap"/></action></nop>\n'


@dataclass
class EndingsNode:
    endpoint: SipEndpoint
    media: MediaEngine
    acd: AcdService
    controller: CallController
    ua: UserAgent
    desks: OutboundDesks
    actions: LiveActions
    trunks: TrunkTable
    events: EventList
    sipp: Path
    notes: list[str] = field(default_factory=list)
    reached: Counter[str] = field(default_factory=Counter)
    """Episodes whose state was seen in place just before the ending."""

    @property
    def port(self) -> int:
        assert self.endpoint.local_udp is not None
        return self.endpoint.local_udp[1]

    async def wait(self, predicate: Callable[[], bool], timeout_s: float = 20.0) -> bool:
        for _ in range(int(timeout_s / 0.05)):
            if predicate():
                return True
            await asyncio.sleep(0.05)
        return predicate()

    def idle(self) -> bool:
        ctl = self.controller
        return (
            ctl.active() == 0
            and self.desks.dialer.active() == 0
            and self.media.active() == 0
            and self.ua.active_legs == 0
            and (ctl.monitors is None or ctl.monitors.active() == 0)
            and (ctl.attended is None or ctl.attended.active() == 0)
        )

    def ready(self, *operators: OperatorId) -> bool:
        return all(self.acd.operator_state(op) is OperatorState.READY for op in operators)

    async def settle(self, what: str) -> None:
        """Wait until the node holds nothing and both operators are READY again."""
        assert await self.wait(self.idle, 30.0), f"not idle after {what}: {self.leftovers()}"
        for op in OPERATORS:
            if self.acd.operator_state(op) is OperatorState.WRAP_UP:
                await self.wait(lambda op=op: self.ready(op), 5.0)  # type: ignore[misc]
        assert await self.wait(lambda: self.ready(*OPERATORS), 20.0), (
            f"operators not READY after {what}: "
            f"{[self.acd.operator_state(op).value for op in OPERATORS]}"
        )

    def leftovers(self) -> str:
        ctl = self.controller
        return (
            f"calls={ctl.active()} dialer={self.desks.dialer.active()} "
            f"media={self.media.active()} legs={self.ua.active_legs} "
            f"monitors={ctl.monitors.active() if ctl.monitors else '-'} "
            f"consults={ctl.attended.active() if ctl.attended else '-'}"
        )


@contextlib.asynccontextmanager
async def endings_node(tmp_path: Path) -> AsyncIterator[EndingsNode]:
    clock = SystemClock()
    events = EventList()
    base = 42000 + 2 * random.randrange(0, 3800)
    trusted = [(f"{TRUNK_IP}/32", "local-test")]
    async with sip_endpoint(users=PASSWORDS, trusted=trusted) as ep:
        holder: list[CallController] = []
        media = MediaEngine(
            clock, Span(base, base + 399), "127.0.0.1", tmp_path / "recordings",
            on_event=lambda e: holder[0].on_media_event(e),
            config=EngineConfig(rtp_timeout_s=RTP_TIMEOUT_S),
        )  # fmt: skip
        await media.start()
        acd = AcdService(AcdEngine(seed=7), clock, auto_ready_on_register=True)
        acd.add_queue(queue(ring_timeout_s=4.0, wrap_up_s=0.5, announce_interval_s=None))  # type: ignore[arg-type]
        acd.set_operators(
            OperatorProfile(operator_id=op, queue_levels={GENERAL: 5}) for op in OPERATORS
        )
        phones = RegistrarPhones(ep)
        loop = asyncio.get_running_loop()
        menu = IvrRunner(
            load_demo_flow(), media=media, clock=clock, call_later=loop.call_later,
            fallback_queue=GENERAL,
        )  # fmt: skip
        general = Route(GENERAL, TopicId("general"))
        controller = CallController(
            media=media,
            acd=acd,
            phones=phones,
            routing=FixedRouting(
                {"122": general, "123": Route(GENERAL, TopicId("general"), menu=menu)}
            ),
            events=events,
            clock=clock,
        )
        holder.append(controller)
        menu.attach(controller)
        acd.handler = controller
        trunks = TrunkTable([TrunkConfig(name="local-test", host=PHONE_IP, port=free_udp_port())])
        desks = wire_outbound(
            controller, acd=acd, media=media, phones=phones, trunks=trunks, clock=clock,
            policies={GENERAL: CallbackPolicy(max_attempts=1, dial_ring_s=10.0)},
        )  # fmt: skip
        actions = LiveActions(
            controller=controller, acd=acd, clock=clock, outbound=desks,
            consult=controller.attended, monitor=controller.monitors,
        )  # fmt: skip
        await acd.start()
        ua = UserAgent(ep, controller)
        controller.attach(ua)

        async def presence() -> None:
            while True:
                acd.sync_phones(phones.registered())
                await asyncio.sleep(0.1)

        watcher = loop.create_task(presence(), name="test-presence")
        sipp = tmp_path / "sipp"
        (sipp / "pcap").mkdir(parents=True)
        shutil.copy(PCAP_DIR / "g711a.pcap", sipp / "pcap" / "g711a.pcap")
        try:
            yield EndingsNode(ep, media, acd, controller, ua, desks, actions, trunks, events, sipp)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            desks.callbacks.close()
            await desks.dialer.close()
            await controller.close()
            await acd.stop()
            await media.close()
    assert media.ports.in_use == 0  # every port pair released
    assert trunks.active_calls("local-test") == 0  # every trunk slot given back


def tone_phone(
    tmp_path: Path, user: str, port: int, hz: float
) -> contextlib.AbstractContextManager[Baresip]:
    """An auto-answering baresip phone sending a tone for 60 s."""
    workdir = tmp_path / f"phone{user}"
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "tone.wav"
    write_tone_wav(source, frequency_hz=hz, seconds=60.0)
    account = (
        f"<sip:{user}@127.0.0.1:{port};transport=udp>;auth_pass={PASSWORDS[user]};"
        "answermode=auto;audio_codecs=PCMA,PCMU;regint=120"
    )
    return baresip(workdir, account=account, source_wav=source)


# -- the callers ---------------------------------------------------------------------------------


def audio_scenario() -> str:
    """The random-endings caller of :mod:`test_call_endings`, sending audio from the answer on."""
    scenario = random_endings_scenario()
    marker = "  <nop><action><assignstr"
    assert scenario.count(marker) == 1
    return scenario.replace(marker, AUDIO + marker)


def talk_then_bye(talk_ms: int, tag: str) -> str:
    """A caller that sends audio, talks ``talk_ms`` and hangs up."""
    return caller_scenario(
        "talk", f'{AUDIO}  <pause milliseconds="{talk_ms}"/>\n{bye_steps(tag)}', tag=tag
    )


def audio_until_our_bye(tag: str) -> str:
    return caller_scenario("until our bye", AUDIO + ANSWER_BYE_STEPS, tag=tag)


def silent_until_our_bye(tag: str) -> str:
    return caller_scenario("silent", ANSWER_BYE_STEPS, tag=tag)


@dataclass
class Episode:
    """One planned call: its kind and the seeded choices it needs."""

    kind: str
    talk_ms: int = 4000
    choice: int = 0


def run_caller(node: EndingsNode, name: str, scenario: str) -> asyncio.Task[SippResult]:
    workdir = node.sipp / name
    workdir.mkdir()
    (workdir / "pcap").symlink_to(node.sipp / "pcap")
    (workdir / "caller.xml").write_text(scenario, encoding="ascii")
    args = ["-sf", "caller.xml", f"127.0.0.1:{node.port}", "-s", "122", "-m", "1"]
    args += ["-i", TRUNK_IP, "-mi", TRUNK_IP]
    return asyncio.create_task(asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=60))


def run_far_end(node: EndingsNode, name: str, scenario: str) -> asyncio.Task[SippResult]:
    """The trunk's far end for one outbound call: a SIPp UAS on a fresh port."""
    workdir = node.sipp / f"{name}-far"
    workdir.mkdir()
    port = free_udp_port()
    node.trunks.reconfigure([TrunkConfig(name="local-test", host=PHONE_IP, port=port)])
    (workdir / "uas.xml").write_text(scenario, encoding="ascii")
    args = ["-sf", "uas.xml", "-i", PHONE_IP, "-mi", PHONE_IP, "-p", str(port)]
    args += ["-mp", str(free_udp_port()), "-rtp_echo", "-m", "1"]
    return asyncio.create_task(asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=60))


def _ok(result: SippResult, what: str) -> None:
    assert result.returncode == 0, (
        f"{what}: SIPp failed, logs in {result.workdir}\n{result.stdout[-2000:]}"
    )


async def talking_call(node: EndingsNode, what: str) -> Call:
    assert await node.wait(
        lambda: any(c.phase is CallPhase.TALKING for c in node.controller.calls())
    ), f"{what}: no operator answered ({node.leftovers()})"
    (call,) = node.controller.calls()
    return call


def other_operator(call: Call) -> OperatorId:
    return OPERATORS[1] if call.operator_id == OPERATORS[0] else OPERATORS[0]


def _try(node: EndingsNode, what: str, action: Callable[[], object]) -> None:
    """An API action that the race with the caller's hang-up may refuse (noted, not failed)."""
    try:
        action()
    except CallActionError as exc:
        node.notes.append(f"{what}: {exc.refusal.value}")


# -- the episodes --------------------------------------------------------------------------------


async def consult(node: EndingsNode, name: str, ep: Episode) -> None:
    caller = run_caller(node, name, talk_then_bye(ep.talk_ms, name))
    call = await talking_call(node, name)
    target = TransferTarget(TargetKind.OPERATOR, other_operator(call))
    _try(node, name, lambda: node.actions.consult(call.call_id, target))
    attended = node.controller.attended
    if attended is not None and attended.consultation(call.call_id) is not None:
        node.reached[ep.kind] += 1
    _ok(await caller, name)


async def monitor(node: EndingsNode, name: str, ep: Episode) -> None:
    caller = run_caller(node, name, talk_then_bye(ep.talk_ms, name))
    call = await talking_call(node, name)
    mode = list(MonitorMode)[ep.choice % len(MonitorMode)]
    _try(node, name, lambda: node.actions.monitor(call.call_id, SUPERVISOR, mode))
    monitors = node.controller.monitors
    if monitors is not None and monitors.active():
        node.reached[ep.kind] += 1
    _ok(await caller, name)


async def blind(node: EndingsNode, name: str, ep: Episode) -> None:
    caller = run_caller(node, name, talk_then_bye(ep.talk_ms, name))
    call = await talking_call(node, name)
    if ep.choice % 2:
        target = TransferTarget(TargetKind.QUEUE, str(GENERAL))
    else:
        target = TransferTarget(TargetKind.OPERATOR, other_operator(call))
    _try(node, name, lambda: node.actions.transfer_blind(call.call_id, target))
    transfers = node.controller.transfers
    if call.phase is CallPhase.QUEUED or (
        transfers is not None and transfers.pending(call.call_id) is not None
    ):
        node.reached[ep.kind] += 1
    _ok(await caller, name)


async def click_to_call(node: EndingsNode, name: str, ep: Episode) -> None:
    far = run_far_end(node, name, phone_answer_and_bye(ANSWERED, ep.talk_ms, retransmit_200=False))
    await asyncio.sleep(0.3)  # SIPp binds its port
    operator = OPERATORS[ep.choice % 2]
    _try(node, name, lambda: node.actions.dial_out(operator, CITIZEN))
    _ok(await far, name)


async def trunk_failure(node: EndingsNode, name: str, ep: Episode) -> None:
    status = ("503", "Service Unavailable") if ep.choice % 2 else ("500", "Server Internal Error")
    uas = phone_final(f"the trunk answers {status[0]}", status[0], status[1], tag="SIPpTagF")
    far = run_far_end(node, name, uas)
    await asyncio.sleep(0.3)
    _try(node, name, lambda: node.actions.dial_out(OPERATORS[ep.choice % 2], CITIZEN))
    _ok(await far, name)


async def callback(node: EndingsNode, name: str, ep: Episode) -> None:
    for op in OPERATORS:
        node.acd.set_operator_state(op, OperatorState.NOT_READY)
    caller = run_caller(node, name, audio_until_our_bye(name))
    assert await node.wait(
        lambda: any(c.phase is CallPhase.QUEUED and c.in_acd for c in node.controller.calls())
    ), f"{name}: the caller never waited"
    (call,) = node.controller.calls()
    try:
        node.desks.callbacks.callback_requested(call.call_id)
    except LocalProtocolError as exc:
        node.notes.append(f"{name}: {exc}")
    _ok(await caller, name)  # the confirmation plays, then our BYE
    busy = ep.choice % 2 == 1
    scenario = (
        phone_final("the trunk answers 486", "486", "Busy Here", tag="SIPpTagF")
        if busy
        else phone_answer_and_bye(ANSWERED, ep.talk_ms, retransmit_200=False)
    )
    far = run_far_end(node, name, scenario)
    await asyncio.sleep(0.3)
    node.acd.set_operator_state(OPERATORS[ep.choice // 2 % 2], OperatorState.READY)
    _ok(await far, name)
    assert await node.wait(lambda: node.desks.callbacks.requests() == ()), (
        f"{name}: the call-back request is still parked"
    )
    for op in OPERATORS:
        if node.acd.operator_state(op) is OperatorState.NOT_READY:
            node.acd.set_operator_state(op, OperatorState.READY)


async def rtp_timeout(node: EndingsNode, name: str, ep: Episode) -> None:
    caller = run_caller(node, name, silent_until_our_bye(name))
    _ok(await caller, name)  # we hang up when its audio never comes


EPISODES: dict[str, Callable[[EndingsNode, str, Episode], object]] = {
    "consult": consult,
    "monitor": monitor,
    "blind": blind,
    "click_to_call": click_to_call,
    "trunk_failure": trunk_failure,
    "callback": callback,
    "rtp_timeout": rtp_timeout,
}


def plan(rng: random.Random) -> list[Episode]:
    """Three of each episode kind, in a seeded order, with seeded talk times and choices."""
    kinds = [kind for kind in EPISODES for _ in range(3)]
    rng.shuffle(kinds)
    return [Episode(kind, rng.randint(1500, 4000), rng.randrange(4)) for kind in kinds]


async def sipp_batch(
    node: EndingsNode, name: str, service: str, calls: int, rng: random.Random
) -> SippResult:
    """``calls`` callers of the random-endings scenario (with audio) to ``service``."""
    workdir = node.sipp / name
    workdir.mkdir()
    (workdir / "pcap").symlink_to(node.sipp / "pcap")
    (workdir / "endings.xml").write_text(audio_scenario())
    rows = [
        f"{rng.randint(300, 4000)};{int(rng.random() < 0.4)};{rng.randint(100, 1500)}"
        for _ in range(calls)
    ]
    (workdir / "plan.csv").write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    args = ["-sf", "endings.xml", f"127.0.0.1:{node.port}", "-s", service, "-m", str(calls)]
    args += ["-i", TRUNK_IP, "-mi", TRUNK_IP, "-l", "6", "-r", "4", "-inf", "plan.csv"]
    return await asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=90)


MENU_CALLS = 8
QUEUE_CALLS = 21


async def test_endings_in_every_state_leave_nothing_behind(tmp_path: Path) -> None:
    require("sipp")
    require("baresip")
    rng = random.Random(SEED)
    episodes = plan(rng)
    async with endings_node(tmp_path) as node:
        with (
            tone_phone(tmp_path, "1001", node.port, 440.0),
            tone_phone(tmp_path, "1002", node.port, 600.0),
            tone_phone(tmp_path, "2001", node.port, 1700.0),
        ):
            await node.settle("start-up")
            assert await node.wait(
                lambda: SUPERVISOR in RegistrarPhones(node.endpoint).registered()
            )
            before = {t for t in asyncio.all_tasks() if not t.done()}
            menu = await sipp_batch(node, "menu", "123", MENU_CALLS, rng)
            _ok(menu, "menu batch")
            await node.settle("menu batch")
            mixed = await sipp_batch(node, "mixed", "122", QUEUE_CALLS, rng)
            _ok(mixed, "waiting/ringing/talking/hold batch")
            assert (menu.successful, mixed.successful) == (MENU_CALLS, QUEUE_CALLS)
            await node.settle("waiting/ringing/talking/hold batch")
            for number, ep in enumerate(episodes):
                name = f"{number:02d}-{ep.kind}"
                await EPISODES[ep.kind](node, name, ep)  # type: ignore[misc]
                await node.settle(name)
            await node.controller.settle()
            await node.desks.dialer.settle()
            after = {t for t in asyncio.all_tasks() if not t.done()}
            assert after <= before, f"tasks left: {sorted(t.get_name() for t in after - before)}"
            assert node.controller.internal_errors == 0
            assert node.desks.callbacks.requests() == ()
            assert node.trunks.active_calls("local-test") == 0
            assert node.acd.active() == 0
    events = node.events
    arrived = {e.call_id for e in events.of(EventKind.CALL_ARRIVED)}
    dialled = {e.call_id for e in events.of(EventKind.OUTBOUND_DIALED)}
    assert len(arrived) == MENU_CALLS + QUEUE_CALLS + sum(
        ep.kind in ("consult", "monitor", "blind", "callback", "rtp_timeout") for ep in episodes
    )
    ended = Counter(e.call_id for e in events.of(EventKind.CALL_ENDED))
    assert set(ended) == arrived | dialled, f"notes: {node.notes}"
    assert set(ended.values()) == {1}, [c for c, n in ended.items() if n != 1]
    causes = Counter(e.text("cause") for e in events.of(EventKind.CALL_ENDED))
    assert causes["rtp_timeout"] >= 3, causes
    menu_calls = {e.call_id for e in events.of(EventKind.CALL_ARRIVED) if e.text("called") == "123"}
    queued = {e.call_id for e in events.of(EventKind.QUEUE_ENTERED)}
    assert menu_calls - queued, "no caller hung up in the menu"
    planned = Counter(ep.kind for ep in episodes)
    for kind in ("consult", "monitor", "blind"):  # each seen in place at least once
        assert node.reached[kind] >= 1, (kind, node.reached, node.notes)
    assert len(events.of(EventKind.CALLBACK_ATTEMPTED)) == planned["callback"]
    assert len(events.of(EventKind.CALLBACK_COMPLETED)) == planned["callback"]
    failed = events.of(EventKind.OUTBOUND_FAILED)
    assert len(failed) >= planned["trunk_failure"], [e.payload for e in failed]
    monitors_started = events.of(EventKind.MONITOR_STARTED)
    assert len(monitors_started) == len(events.of(EventKind.MONITOR_ENDED)) >= 1
    kinds = {e.kind for e in events.events}
    assert {
        EventKind.QUEUE_ANSWERED,
        EventKind.QUEUE_ABANDONED,
        EventKind.CALL_HELD,
        EventKind.CALLBACK_ATTEMPTED,
        EventKind.OUTBOUND_ANSWERED,
    } <= kinds, kinds
