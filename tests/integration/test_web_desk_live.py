"""The operator desk against a real node: HTTP login, ready, a SIPp call's card on the socket, hang-up.

The node is assembled in-process as the app's CallService does (SIP endpoint,
media engine, ACD, call controller, the live actions), with the real event
store behind a :class:`~hotline.web.live_events.PublishingSink` on the bus,
and the web app served by uvicorn on a free loopback port.  The operator's
phone is baresip (auto-answer), the caller is SIPp on the trusted trunk
address.  The operator logs in over HTTP, goes ready through the desk API,
receives the call's card and events on ``/api/v1/live`` (a real WebSocket
client), hangs up through the API and saves the wrap-up form.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from test_call_actions import talk_until_bye
from test_call_menu import sipp_dir
from test_call_path import PASSWORDS, TRUNK_IP, Span, phone

from hotline.acd.model import OperatorProfile, QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.callservice import RegistrarPhones
from hotline.calls.actions import LiveActions
from hotline.calls.controller import CallController
from hotline.calls.ctl_ports import FixedRouting, Route
from hotline.core.bus import EventBus
from hotline.core.clock import SystemClock
from hotline.core.ids import OperatorId, QueueId, TopicId
from hotline.media.engine import MediaEngine
from hotline.sip.useragent import UserAgent
from hotline.store.accounts import AccountsRepository, Operator
from hotline.store.db import Database
from hotline.store.events import EventStore
from hotline.store.wrapups import WrapupRepository
from hotline.web.app import create_web_app
from hotline.web.auth import SESSION_COOKIE
from hotline.web.config import WebConfig
from hotline.web.live_events import PublishingSink
from hotline.web.workplace import WorkplaceSettings, workplace_hook
from support.peers import require, run_sipp
from support.sipnode import sip_endpoint
from support.web_browser import free_tcp_port
from unit.web.web_support import FAST_HASHER, USER_IDS, add_users, log_in

pytestmark = pytest.mark.integration

GENERAL = QueueId("general")
OPERATOR = OperatorId("1001")
CALLER_NUMBER = "79161234567"  # the From user of the SIPp caller scenarios


def _database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    db.migrate()
    add_users(db, FAST_HASHER)
    AccountsRepository(db).add_operator(
        Operator(
            id="op1",
            name="Оператор 1001",
            user_id=USER_IDS["operator1"],
            sip_username=OPERATOR,
            sip_realm="hotline",
            ha1_md5="0" * 32,
            ha1_sha256="0" * 64,
        )
    )
    return db


@contextlib.asynccontextmanager
async def desk_node(
    tmp_path: Path,
) -> AsyncIterator[tuple[str, int, LiveActions, RegistrarPhones]]:
    """A node with the web app on ``http://127.0.0.1:<port>``.

    Yields the base URL, the SIP port, the live actions and the registered phones.
    """
    clock = SystemClock()
    db = await asyncio.to_thread(_database, tmp_path)
    bus = EventBus()
    store = EventStore(db, tmp_path / "events.journal", clock=clock, flush_interval_s=0.05)
    sink = PublishingSink(store, bus)
    base = 46000 + 2 * random.randrange(0, 2000)
    queue = QueueConfig(
        queue_id=GENERAL, name="General", topic=TopicId("general"), wrap_up_s=30.0,
        announce_interval_s=None, ring_timeout_s=10.0,
    )  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        ep = await stack.enter_async_context(
            sip_endpoint(users=PASSWORDS, trusted=[(f"{TRUNK_IP}/32", "local-test")])
        )
        holder: list[CallController] = []
        media = MediaEngine(
            clock, Span(base, base + 99), "127.0.0.1", tmp_path / "recordings",
            on_event=lambda e: holder[0].on_media_event(e),
        )  # fmt: skip
        await media.start()
        stack.push_async_callback(media.close)
        acd = AcdService(AcdEngine(seed=7), clock, auto_ready_on_register=False)
        acd.add_queue(queue)
        acd.set_operators(
            OperatorProfile(operator_id=OperatorId(op), queue_levels={GENERAL: 5})
            for op in PASSWORDS
        )
        phones = RegistrarPhones(ep)
        controller = CallController(
            media=media, acd=acd, phones=phones,
            routing=FixedRouting({"122": Route(GENERAL, TopicId("general"))}),
            events=sink, clock=clock,
        )  # fmt: skip
        holder.append(controller)
        acd.handler = controller
        actions = LiveActions(controller=controller, acd=acd, clock=clock)
        await acd.start()
        stack.push_async_callback(acd.stop)
        controller.attach(UserAgent(ep, controller))
        stack.push_async_callback(controller.close)
        writer = asyncio.get_running_loop().create_task(store.run(), name="event-writer")

        async def stop_writer() -> None:
            store.stop()
            await writer
            store.close()

        stack.push_async_callback(stop_writer)

        async def presence() -> None:
            while True:
                acd.sync_phones(phones.registered())
                await asyncio.sleep(0.1)

        watcher = asyncio.get_running_loop().create_task(presence(), name="presence")

        async def stop_watcher() -> None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

        stack.push_async_callback(stop_watcher)
        app = create_web_app(
            WebConfig(), db, clock, calls=actions, queues=actions, hasher=FAST_HASHER,
            extra=[workplace_hook(bus, WorkplaceSettings(snapshot_interval_s=0.2))],
        )  # fmt: skip
        port = free_tcp_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
        )
        serving = asyncio.get_running_loop().create_task(server.serve(), name="http")

        async def stop_http() -> None:
            server.should_exit = True
            await serving

        stack.push_async_callback(stop_http)
        for _ in range(100):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        stack.callback(db.dispose)
        assert ep.local_udp is not None
        yield f"http://127.0.0.1:{port}", ep.local_udp[1], actions, phones


class Inbox:
    """The socket's messages; a wait looks at those already received first."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self.seen: list[dict[str, Any]] = []

    async def find(self, wanted: str, /, timeout_s: float = 20.0, **match: Any) -> dict[str, Any]:
        """The first message of ``type`` ``wanted`` with ``match`` not taken yet."""
        try:
            async with asyncio.timeout(timeout_s):
                index = 0
                while True:
                    while index >= len(self.seen):
                        self.seen.append(json.loads(await self._ws.recv()))
                    message = self.seen[index]
                    index += 1
                    if message.get("taken") or message["type"] != wanted:
                        continue
                    if all(message.get(k) == v for k, v in match.items()):
                        message["taken"] = True
                        return message
        except TimeoutError:
            seen = [(m["type"], m.get("kind"), m.get("operator")) for m in self.seen]
            raise AssertionError(f"no {wanted} {match} within {timeout_s} s; seen {seen}") from None


async def test_operator_desk_over_http_and_the_live_socket(tmp_path: Path) -> None:
    require("sipp")
    require("baresip")
    workdir = sipp_dir(tmp_path, "g711a.pcap")
    (workdir / "talk.xml").write_text(talk_until_bye(), encoding="ascii")
    async with desk_node(tmp_path) as (base_url, sip_port, actions, phones):
        with phone(tmp_path, "1001", sip_port, auto=True):
            for _ in range(200):  # the operator's phone registers
                if phones.contacts(OPERATOR):
                    break
                await asyncio.sleep(0.1)
            assert phones.contacts(OPERATOR), "the operator's phone did not register"
            async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as http:
                csrf = {"X-CSRF-Token": await log_in(http, "operator1")}
                for _ in range(100):  # ready as soon as the phone has registered
                    r = await http.post("/api/v1/desk/state", json={"state": "ready"}, headers=csrf)
                    if r.status_code == 200:
                        break
                    assert r.status_code == 409, r.text
                    await asyncio.sleep(0.2)
                assert r.status_code == 200, r.text
                assert r.json()["operator"]["state"] == "ready"
                cookie = f"{SESSION_COOKIE}={http.cookies[SESSION_COOKIE]}"
                ws_url = base_url.replace("http://", "ws://") + "/api/v1/live"
                async with websockets.connect(ws_url, additional_headers={"Cookie": cookie}) as ws:
                    inbox = Inbox(ws)
                    hello = await inbox.find("hello")
                    assert hello["operator_id"] == OPERATOR
                    args = ["-sf", "talk.xml", f"127.0.0.1:{sip_port}", "-s", "122", "-m", "1"]
                    args += ["-i", TRUNK_IP, "-mi", TRUNK_IP]
                    caller = asyncio.create_task(
                        asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=40)
                    )
                    card = await inbox.find("card")
                    call = card["call"]
                    assert call["number"] == CALLER_NUMBER  # operators see the full number
                    assert call["queue_id"] == "general" and call["topic"] == "general"
                    assert card["earlier_calls"] == [] and card["via_assistant"] is False
                    answered = await inbox.find("event", kind="queue.answered")
                    assert answered["call_id"] == call["call_id"]
                    await asyncio.sleep(0.5)
                    url = f"/api/v1/desk/calls/{call['call_id']}/hangup"
                    r = await http.post(url, headers=csrf)
                    assert r.status_code == 204, r.text
                    ended = await inbox.find("event", kind="call.ended")
                    assert ended["call_id"] == call["call_id"]
                    assert ended["data"]["who_hung_up"] == "operator"
                    result = await caller
                    assert result.returncode == 0 and result.successful == 1, (
                        f"caller SIPp failed, logs in {workdir}\n{result.stdout[-2000:]}"
                    )
                    form = {
                        "call_id": call["call_id"],
                        "outcome": "consulted",
                        "notes": "Ответ дан",
                    }
                    r = await http.post("/api/v1/desk/wrapup", json=form, headers=csrf)
                    assert r.status_code == 200, r.text
                    assert r.json()["wrapup_ended"] is True
                    for _ in range(50):  # the desk snapshots follow the operator's state
                        desk = await inbox.find("desk")
                        if desk["operator"]["state"] == "ready":
                            break
                    assert desk["operator"]["state"] == "ready" and desk["call"] is None
                db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
                try:
                    saved = WrapupRepository(db).for_calls([call["call_id"]])
                finally:
                    db.dispose()
                assert [(w.operator_id, w.outcome) for w in saved] == [(OPERATOR, "consulted")]
    assert actions.live_calls() == []
