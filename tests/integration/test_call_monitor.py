"""Supervisor monitoring on loopback: three baresip phones, each sending its own tone.

The node is assembled in-process as in ``test_call_path``.  The caller is a
baresip phone (SIP account 3001, not an operator) dialling 122 and sending
1000 Hz; operator 1001 auto-answers and sends 440 Hz; supervisor 2001
auto-answers and sends 1700 Hz.  Every phone records what it receives
(baresip's ``aufile`` player).  One call per mode; the supervisor joins
through the media engine's mixer, and the recordings tell who heard whom:

- listen: the supervisor hears the caller and the operator, nobody hears it;
- whisper: the operator hears the supervisor, the caller does not;
- barge: both do.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from test_call_path import GENERAL, TRUNK_IP, EventList, queue, tone_power

from hotline.acd.agent import OperatorState
from hotline.acd.service import AcdService
from hotline.app.callservice import RegistrarPhones
from hotline.calls.api import MonitorMode
from hotline.calls.call import CallPhase
from hotline.calls.controller import CallController
from hotline.calls.ctl_monitor import LoggedMonitorAudit, MonitorAction, MonitorState
from hotline.calls.ctl_ports import EventSink
from hotline.core.clock import SystemClock
from hotline.core.ids import OperatorId
from hotline.media.engine import MediaEngine
from hotline.reports.events import CallCentreEvent, EventKind
from hotline.sip.useragent import UserAgent
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.store.events import EventStore
from support.callnode import LoopbackNode, presence_sync, trunk_node_core
from support.peers import (
    BARESIP_PORTS,
    Baresip,
    PortBlock,
    require,
    stop_process,
    write_tone_wav,
)

pytestmark = pytest.mark.integration

PASSWORDS = {
    "1001": "op-secret-1001",
    "1002": "op-secret-1002",
    "2001": "sup-secret-2001",
    "3001": "caller-secret-3001",
}
OPERATORS = ("1001", "1002")
SUP = OperatorId("2001")
CALLER_HZ, OPERATOR_HZ, SUPERVISOR_HZ = 1000.0, 440.0, 1700.0
TONES = (CALLER_HZ, OPERATOR_HZ, SUPERVISOR_HZ)


@dataclass
class FeatureNode(LoopbackNode):
    media: MediaEngine
    acd: AcdService
    controller: CallController
    ua: UserAgent
    events: EventList

    async def wait_ready(self, operator: str) -> None:
        ready = await self.wait(
            lambda: self.acd.operator_state(OperatorId(operator)) is OperatorState.READY
        )
        assert ready, f"operator {operator} never became READY"

    async def wait_idle(self) -> None:
        await self.wait(lambda: not self.controller.active() and not self.media.active(), 10.0)


@dataclass
class StoringSink:
    """The test's event list, and the event store (the node's events as stored rows)."""

    events: EventList
    store: EventStore

    def append(self, event: CallCentreEvent) -> None:
        self.events.append(event)
        self.store.append(event)


@contextlib.asynccontextmanager
async def feature_node(
    tmp_path: Path, store: EventStore | None = None
) -> AsyncIterator[FeatureNode]:
    """Operators 1001 and 1002; 2001 and 3001 are plain SIP accounts; the trunk is 127.0.0.2.

    With ``store`` every event is also written to the event store.
    """
    events = EventList()
    sink: EventSink = events if store is None else StoringSink(events, store)
    async with trunk_node_core(
        tmp_path,
        users=PASSWORDS,
        trunk_ip=TRUNK_IP,
        operators=OPERATORS,
        queue=queue(ring_timeout_s=10.0),
        events=sink,
    ) as (ep, core):
        await core.acd.start()
        ua = UserAgent(ep, core.controller)
        core.controller.attach(ua)
        async with presence_sync(core.acd, core.phones):
            yield FeatureNode(ep, core.media, core.acd, core.controller, ua, events)


def account(user: str, port: int, *, auto: bool) -> str:
    mode = "auto" if auto else "manual"
    return (
        f"<sip:{user}@127.0.0.1:{port};transport=udp>;auth_pass={PASSWORDS[user]};"
        f"answermode={mode};audio_codecs=PCMA;regint=120"
    )


@contextlib.contextmanager
def tone_phone(tmp_path: Path, user: str, port: int, hz: float, *, auto: bool) -> Iterator[Baresip]:
    """A baresip phone sending ``hz``; ``sndfile`` dumps what it hears; ``menu`` lets it dial."""
    workdir = tmp_path / f"phone{user}"
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "tone.wav"
    write_tone_wav(source, frequency_hz=hz, seconds=120.0)
    (workdir / "dumps").mkdir(exist_ok=True)
    with BARESIP_PORTS.block() as ports:  # SIP, control and RTP ports of its own
        yield from _run_tone_phone(workdir, user, port, source, ports, auto=auto)


def _run_tone_phone(
    workdir: Path, user: str, port: int, source: Path, ports: PortBlock, *, auto: bool
) -> Iterator[Baresip]:
    sip_port, ctrl_port = ports.sip_port, ports.ctrl_port
    config = [
        "poll_method epoll",
        f"sip_listen 127.0.0.1:{sip_port}",
        "module_path /usr/lib/baresip/modules",
        "module g711.so",
        "module aufile.so",
        "module alsa.so",
        "module sndfile.so",
        "module ctrl_tcp.so",
        "module_app account.so",
        "module_app menu.so",
        f"ctrl_tcp_listen 127.0.0.1:{ctrl_port}",
        "audio_player alsa,null",
        f"snd_path {workdir / 'dumps'}",
        f"audio_source aufile,{source}",
        "audio_alert aufile,/dev/null",
        ports.config_line(),
        "net_interface 127.0.0.1",
        "",
    ]
    (workdir / "config").write_text("\n".join(config), encoding="utf-8")
    (workdir / "accounts").write_text(account(user, port, auto=auto) + "\n", encoding="utf-8")
    (workdir / "contacts").write_text("", encoding="utf-8")
    with (workdir / "baresip.log").open("wb") as log:
        proc = subprocess.Popen(
            [require("baresip"), "-f", str(workdir), "-v", "-s"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
        )
        try:
            yield Baresip(proc, workdir, sip_port, ctrl_port, ports)
        finally:
            stop_process(proc)


def heard(peer: Baresip) -> tuple[np.ndarray, int]:
    """What the phone received and decoded during its last call (sndfile's dump), as floats."""
    dumps = sorted((peer.workdir / "dumps").glob("*-dec.wav"))
    assert dumps, f"no decode dump in {peer.workdir}\n{peer.log()[-2000:]}"
    with wave.open(str(dumps[-1]), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return data[::channels].astype(np.float64), rate


def band(signal: np.ndarray, rate: int, hz: float) -> float:
    return tone_power(signal, rate, hz) if len(signal) > rate // 2 else 0.0


async def monitored_call(
    node: FeatureNode,
    caller: Baresip,
    phones: dict[str, Baresip],
    mode: MonitorMode,
    keep: Path,
) -> dict[str, tuple[np.ndarray, int]]:
    """One call 3001 → 122 → 1001, monitored by 2001 in ``mode`` for 3 s; what each heard."""
    for peer in (caller, *phones.values()):
        for old in (peer.workdir / "dumps").glob("*.wav"):
            old.unlink()
    for _ in range(5):  # a just-closed call may still hold its ports for a moment
        reply = caller.command("dial", f"sip:122@127.0.0.1:{node.port}")
        if '"ok":true' in reply.replace(" ", ""):
            break
        await asyncio.sleep(1.0)
    assert '"ok":true' in reply.replace(" ", ""), reply
    talking = await node.wait(
        lambda: any(c.phase is CallPhase.TALKING for c in node.controller.calls())
    )
    assert talking, f"no operator answered\n{caller.log()[-2000:]}"
    (call,) = node.controller.calls()
    monitors = node.controller.monitors
    assert monitors is not None
    session = monitors.start(call.call_id, SUP, mode)
    joined = await node.wait(lambda: monitors.state(session) is MonitorState.JOINED)
    assert joined, f"supervisor never joined\n{phones['2001'].log()[-2000:]}"
    await asyncio.sleep(3.0)
    caller.command("hangup")
    assert await node.wait(lambda: node.controller.active() == 0 and monitors.active() == 0)
    await asyncio.sleep(0.5)  # the phones close their files
    result = {}
    for name, peer in (("caller", caller), *phones.items()):
        signal, rate = heard(peer)
        np.save(keep / f"{mode.value}-{name}.npy", signal)
        result[name] = (signal[rate:], rate)  # skip the first second (answer, joining)
    return result


async def test_listen_whisper_barge_reach_the_right_ears(tmp_path: Path) -> None:
    require("baresip")
    keep = tmp_path / "heard"
    keep.mkdir()
    async with feature_node(tmp_path) as node:
        with (
            tone_phone(tmp_path, "3001", node.port, CALLER_HZ, auto=False) as caller,
            tone_phone(tmp_path, "1001", node.port, OPERATOR_HZ, auto=True) as operator,
            tone_phone(tmp_path, "2001", node.port, SUPERVISOR_HZ, auto=True) as supervisor,
        ):
            await node.wait_ready("1001")
            assert await node.wait(lambda: bool(node.controller.monitors))
            registered = await node.wait(lambda: SUP in RegistrarPhones(node.endpoint).registered())
            assert registered and await node.wait(
                lambda: OperatorId("3001") in RegistrarPhones(node.endpoint).registered()
            )
            phones = {"operator": operator, "supervisor": supervisor}
            heard_by = {}
            for mode in MonitorMode:
                heard_by[mode] = await monitored_call(node, caller, phones, mode, keep)
                if node.acd.operator_state(OperatorId("1001")) is OperatorState.WRAP_UP:
                    node.acd.engine.wrapup_done(OperatorId("1001"), SystemClock().monotonic())
                    node.acd.poll()
                await node.wait_ready("1001")
            await node.wait_idle()
        assert node.controller.active() == 0 and node.media.active() == 0
        assert node.ua.active_legs == 0
    listen, whisper, barge = (heard_by[m] for m in MonitorMode)
    levels = {
        (mode.value, name): tuple(round(band(sig, rate_, hz), 3) for hz in TONES)
        for mode, by_name in heard_by.items()
        for name, (sig, rate_) in by_name.items()
    }
    msg = f"heard (1000/440/1700 Hz shares) {levels}; signals in {keep}"
    # listen: the supervisor hears both; nobody hears the supervisor
    sup, rate = listen["supervisor"]
    assert band(sup, rate, CALLER_HZ) > 0.3 and band(sup, rate, OPERATOR_HZ) > 0.3, msg
    assert band(listen["caller"][0], rate, SUPERVISOR_HZ) < 0.01, msg
    assert band(listen["operator"][0], rate, SUPERVISOR_HZ) < 0.01, msg
    assert band(listen["caller"][0], rate, OPERATOR_HZ) > 0.3, msg  # the call itself goes on
    # whisper: the operator hears the supervisor; the caller does not
    assert band(whisper["operator"][0], rate, SUPERVISOR_HZ) > 0.3, msg
    assert band(whisper["caller"][0], rate, SUPERVISOR_HZ) < 0.01, msg
    # barge: everybody hears the supervisor
    assert band(barge["operator"][0], rate, SUPERVISOR_HZ) > 0.3, msg
    assert band(barge["caller"][0], rate, SUPERVISOR_HZ) > 0.3, msg
    assert band(barge["supervisor"][0], rate, CALLER_HZ) > 0.3, msg
    # audited: one start and one end per session, naming supervisor, call and mode
    monitors = node.controller.monitors
    assert monitors is not None and isinstance(monitors.audit, LoggedMonitorAudit)
    records = list(monitors.audit.records)
    assert [(r.action, r.mode) for r in records] == [
        (action, mode)
        for mode in MonitorMode
        for action in (MonitorAction.STARTED, MonitorAction.ENDED)
    ]
    assert {r.supervisor_id for r in records} == {SUP}
    assert {r.reason for r in records if r.action is MonitorAction.ENDED} == {"call_ended"}
    assert len(node.events.of(EventKind.CALL_ENDED)) == 3


async def test_a_monitoring_session_on_a_real_call_is_stored_as_events(tmp_path: Path) -> None:
    """Listen, then whisper, then stop: monitor.started/mode_changed/ended rows of the call."""
    require("baresip")
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    await asyncio.to_thread(db.migrate)
    store = EventStore(db, tmp_path / "events.journal", flush_interval_s=0.05)
    try:
        async with feature_node(tmp_path, store) as node:
            with (
                tone_phone(tmp_path, "3001", node.port, CALLER_HZ, auto=False) as caller,
                tone_phone(tmp_path, "1001", node.port, OPERATOR_HZ, auto=True),
                tone_phone(tmp_path, "2001", node.port, SUPERVISOR_HZ, auto=True) as supervisor,
            ):
                await node.wait_ready("1001")
                phones = RegistrarPhones(node.endpoint)
                assert await node.wait(lambda: {SUP, "3001"} <= phones.registered())
                reply = caller.command("dial", f"sip:122@127.0.0.1:{node.port}")
                assert '"ok":true' in reply.replace(" ", ""), reply
                talking = await node.wait(
                    lambda: any(c.phase is CallPhase.TALKING for c in node.controller.calls())
                )
                assert talking, f"no operator answered\n{caller.log()[-2000:]}"
                (call,) = node.controller.calls()
                monitors = node.controller.monitors
                assert monitors is not None
                session = monitors.start(call.call_id, SUP, MonitorMode.LISTEN)
                joined = await node.wait(lambda: monitors.state(session) is MonitorState.JOINED)
                assert joined, f"supervisor never joined\n{supervisor.log()[-2000:]}"
                monitors.set_mode(session, MonitorMode.WHISPER)
                await asyncio.sleep(1.0)
                monitors.stop(session)
                assert monitors.active() == 0 and monitors.legs() == 0
                caller.command("hangup")
                assert await node.wait(lambda: node.controller.active() == 0)
                await node.wait_idle()
        await store.flush_all()
        rows = await asyncio.to_thread(EventQueries(db).of_calls, [call.call_id])
    finally:
        store.close()
        db.dispose()
    monitor_rows = [r for r in rows if r.kind.startswith("monitor.")]
    assert [(r.kind, r.payload.get("mode"), r.payload.get("reason")) for r in monitor_rows] == [
        ("monitor.started", "listen", None),
        ("monitor.mode_changed", "whisper", None),
        ("monitor.ended", "whisper", "stopped"),
    ], [r.kind for r in rows]
    for row in monitor_rows:
        assert row.call_id == call.call_id and row.operator_id == "1001"
        assert row.payload["supervisor"] == SUP and row.payload["session_id"] == session
        assert row.topic == "general" and row.queue_id == GENERAL
    kinds = [r.kind for r in rows]
    assert kinds.count("call.ended") == 1 and kinds.index("monitor.ended") < kinds.index(
        "call.ended"
    )
