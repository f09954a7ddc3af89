"""The core of an in-process call node for the loopback integration tests.

The parts every node of ``tests/integration/test_call_*.py`` assembles the
same way, as the app's CallService does: a media engine on 127.0.0.1 whose
events go to the call controller, the ACD service with its queues and
operators, the controller itself (phones from the endpoint's registrar), and
the presence loop that keeps the ACD in step with registered phones.
Each test adds its own features (menu, outbound desks, organisations) around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hotline.acd.model import OperatorProfile, QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.callservice import RegistrarPhones
from hotline.calls.controller import CallController
from hotline.calls.ctl_ports import EntryRouting, EventSink, FixedRouting, Route
from hotline.core.clock import SystemClock
from hotline.core.ids import OperatorId, TopicId
from hotline.media.eng_events import EngineConfig, MediaEvent
from hotline.media.engine import MediaEngine
from hotline.sip.endpoint import SipEndpoint
from support.sipnode import sip_endpoint

__all__ = [
    "LoopbackNode",
    "NodeCore",
    "PortSpan",
    "node_core",
    "presence_sync",
    "random_port_base",
    "trunk_node_core",
]


@dataclass(frozen=True)
class PortSpan:
    first: int
    last: int


def random_port_base(low: int = 42000, pairs: int = 4000) -> int:
    """An even RTP port from ``low`` on, at random, so parallel nodes rarely collide."""
    return low + 2 * random.randrange(0, pairs)


@dataclass
class LoopbackNode:
    """A node's SIP endpoint on 127.0.0.1; test nodes add their parts as further fields."""

    endpoint: SipEndpoint

    @property
    def port(self) -> int:
        assert self.endpoint.local_udp is not None
        return self.endpoint.local_udp[1]

    async def wait(self, predicate: object, timeout_s: float = 15.0) -> bool:
        """Poll ``predicate`` every 50 ms until it holds (True) or ``timeout_s`` ends (False)."""
        assert callable(predicate)
        for _ in range(int(timeout_s / 0.05)):
            if predicate():
                return True
            await asyncio.sleep(0.05)
        return False


@dataclass
class NodeCore:
    clock: SystemClock
    media: MediaEngine
    acd: AcdService
    phones: RegistrarPhones
    controller: CallController
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """Awaited after the controller is closed, before the ACD and the media stop."""


@contextlib.asynccontextmanager
async def node_core(
    ep: SipEndpoint,
    recordings: Path,
    *,
    operators: Iterable[OperatorProfile],
    queues: Iterable[QueueConfig],
    routing: EntryRouting,
    events: EventSink,
    auto_ready: bool = True,
    port_base: int | None = None,
    on_media: Callable[[MediaEvent], None] | None = None,
    media_config: EngineConfig | None = None,
) -> AsyncIterator[NodeCore]:
    """Media engine, ACD and controller wired together; the ACD is not started.

    ``on_media`` sees every media event before the controller does.  On the way
    out the controller, the ``on_close`` hooks, the ACD and the media engine are
    closed in that order, and every RTP port pair must be back.
    """
    clock = SystemClock()
    base = random_port_base() if port_base is None else port_base
    holder: list[CallController] = []

    def forward(event: MediaEvent) -> None:
        if on_media is not None:
            on_media(event)
        holder[0].on_media_event(event)

    media = MediaEngine(
        clock,
        PortSpan(base, base + 199),
        "127.0.0.1",
        recordings,
        on_event=forward,
        config=media_config,
    )
    await media.start()
    acd = AcdService(AcdEngine(seed=7), clock, auto_ready_on_register=auto_ready)
    for queue in queues:
        acd.add_queue(queue)
    acd.set_operators(operators)
    phones = RegistrarPhones(ep)
    controller = CallController(
        media=media, acd=acd, phones=phones, routing=routing, events=events, clock=clock
    )
    holder.append(controller)
    acd.handler = controller
    core = NodeCore(clock, media, acd, phones, controller)
    try:
        yield core
    finally:
        await controller.close()
        for hook in core.on_close:
            await hook()
        await acd.stop()
        await media.close()
    assert media.ports.in_use == 0  # every port pair released


@contextlib.asynccontextmanager
async def presence_sync(acd: AcdService, phones: RegistrarPhones) -> AsyncIterator[None]:
    """Keep the ACD's view of registered phones current (every 0.1 s) while inside."""

    async def presence() -> None:
        while True:
            acd.sync_phones(phones.registered())
            await asyncio.sleep(0.1)

    watcher = asyncio.get_running_loop().create_task(presence())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


@contextlib.asynccontextmanager
async def trunk_node_core(
    tmp_path: Path,
    *,
    users: Mapping[str, str],
    trunk_ip: str,
    operators: Iterable[str],
    queue: QueueConfig,
    events: EventSink,
    auto_ready: bool = True,
    port_base: int | None = None,
) -> AsyncIterator[tuple[SipEndpoint, NodeCore]]:
    """An endpoint trusting the trunk at ``trunk_ip`` and a core with one queue behind 122.

    Every operator serves ``queue`` at level 5; recordings go to ``tmp_path / "recordings"``.
    """
    async with (
        sip_endpoint(users=users, trusted=[(f"{trunk_ip}/32", "local-test")]) as ep,
        node_core(
            ep,
            tmp_path / "recordings",
            operators=[
                OperatorProfile(operator_id=OperatorId(op), queue_levels={queue.queue_id: 5})
                for op in operators
            ],
            queues=[queue],
            routing=FixedRouting({"122": Route(queue.queue_id, TopicId("general"))}),
            events=events,
            auto_ready=auto_ready,
            port_base=port_base,
        ) as core,
    ):
        yield ep, core
