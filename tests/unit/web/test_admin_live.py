"""Administration changes reach the running node: a real AcdService and IvrRunner behind the
administration API and AcdLiveConfiguration, on a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.acd.agent import OperatorState
from hotline.acd.decisions import Decision, OfferCall
from hotline.acd.model import QueueConfig
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.stored_config import DirectoryReload
from hotline.calls.ctl_external import DirectoryMap, OrganisationDirectory
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, OperatorId, QueueId, TopicId
from hotline.ivr.flow_yaml import load_demo_flow
from hotline.ivr.runner import IvrRunner
from hotline.media.player import PlaybackItem
from hotline.store.accounts import Operator
from hotline.store.db import Database
from hotline.store.queues import QueuesRepository, StoredQueue
from hotline.web.admin_live import (
    OPERATOR_DISABLED,
    AcdLiveConfiguration,
    install_live_configuration,
    profile_of,
)
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.admin_support import session
from unit.web.conftest import Health
from unit.web.web_support import FAST_HASHER

Q = "/api/v1/admin/queues"
GENERAL, SOCIAL, HEALTH = QueueId("general"), QueueId("social"), QueueId("health")
NEW_FLOW = """
format: 1
name: edited
start: greeting
prompts:
  greeting: Здравствуйте! Линия 122 работает в новом режиме.
nodes:
  - {id: greeting, kind: play, prompts: [greeting], next: queue}
  - {id: queue, kind: queue, queue: general}
"""


class Decisions:
    def __init__(self) -> None:
        self.seen: list[Decision] = []

    def on_decision(self, decision: Decision) -> None:
        self.seen.append(decision)

    def offers(self) -> list[tuple[str, str, str]]:
        return [
            (d.call_id, d.operator_id, d.queue_id) for d in self.seen if isinstance(d, OfferCall)
        ]


@dataclass
class NoMedia:
    played: list[tuple[str, PlaybackItem]] = field(default_factory=list)

    def play(self, leg_id: str, item: PlaybackItem) -> None:
        self.played.append((leg_id, item))

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        pass


class NoTimer:
    def cancel(self) -> None:
        pass


def no_timer(delay_s: float, callback: Callable[[], None]) -> NoTimer:
    return NoTimer()


@dataclass
class Sip:
    reloads: int = 0

    def reload_accounts(self) -> None:
        self.reloads += 1


@dataclass
class Node:
    acd: AcdService
    decisions: Decisions
    menu: IvrRunner
    sip: Sip
    live: AcdLiveConfiguration


@pytest.fixture
def node(clock: FakeClock) -> Node:
    acd = AcdService(AcdEngine(), clock)
    decisions = Decisions()
    acd.handler = decisions
    for queue_id in (GENERAL, SOCIAL, HEALTH):
        acd.add_queue(QueueConfig(queue_id=queue_id, name=queue_id, topic=TopicId(queue_id)))
    menu = IvrRunner(
        load_demo_flow(),
        media=NoMedia(),
        clock=clock,
        call_later=no_timer,
        fallback_queue=GENERAL,
    )
    sip = Sip()
    live = AcdLiveConfiguration(acd, menu=menu, sip=sip, queue_levels={GENERAL: 5})
    return Node(acd, decisions, menu, sip, live)


@dataclass
class Redirects:
    """What the directory reload writes to (the calls layer's ExternalRedirector)."""

    directory: OrganisationDirectory = field(default_factory=DirectoryMap)


@pytest.fixture
def redirects() -> Redirects:
    return Redirects()


@pytest.fixture
def app(
    db: Database, clock: FakeClock, config: WebConfig, node: Node, redirects: Redirects
) -> FastAPI:
    node.live = AcdLiveConfiguration(
        node.acd,
        menu=node.menu,
        sip=node.sip,
        queue_levels={GENERAL: 5},
        directory=DirectoryReload(db, redirects),
    )
    return create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[install_live_configuration(node.live)],
    )


def where(acd: AcdService) -> dict[str, tuple[str, float]]:
    """Each waiting call → (its queue, how long it has waited in all)."""
    return {
        c: (s.queue_id, s.total_wait_s) for c in acd.waiting_calls() for s in [acd.call_status(c)]
    }


# -- queues -------------------------------------------------------------------------------


async def test_a_disabled_queue_leaves_routing_and_its_calls_wait_in_the_general_queue(
    app: FastAPI, node: Node, clock: FakeClock, db: Database
) -> None:
    node.acd.call_arrived(CallId("c1"), SOCIAL)
    clock.advance(12.0)
    body = {"name": "Социальная сфера", "topic": "social", "enabled": False, "config": {}}
    async with session(app, "admin") as admin:
        r = await admin.put(f"{Q}/social", body)
        assert r.json() == {"saved": True, "applied": True, "restart_needed": False}
        assert not node.acd.has_queue(SOCIAL)
        assert where(node.acd) == {"c1": ("general", 12.0)}  # its place kept
        assert [c.queue_id for c in node.acd.queue_configs()] == [GENERAL, HEALTH]
        r = await admin.put(f"{Q}/social", {**body, "enabled": True, "config": {"wrap_up_s": 3}})
        assert r.json()["applied"] is True
    assert node.acd.has_queue(SOCIAL)
    assert node.acd.queue_configs()[-1].wrap_up_s == 3.0
    stored = QueuesRepository(db).get("social")
    assert stored is not None and stored.enabled


async def test_a_queue_change_keeps_the_waiting_calls_and_queue_configs_is_current(
    app: FastAPI, node: Node, clock: FakeClock
) -> None:
    node.acd.call_arrived(CallId("c1"), HEALTH)
    clock.advance(5.0)
    node.acd.call_arrived(CallId("c2"), HEALTH)
    body = {"name": "Здравоохранение", "topic": "health", "config": {"sl_norm_s": 11}}
    async with session(app, "admin") as admin:
        r = await admin.put(f"{Q}/health", body)
        assert r.json()["applied"] is True
    assert where(node.acd) == {"c1": ("health", 5.0), "c2": ("health", 0.0)}
    config = {c.queue_id: c for c in node.acd.queue_configs()}[HEALTH]
    assert (config.sl_norm_s, config.name) == (11.0, "Здравоохранение")


def test_the_general_queue_with_calls_stays_in_routing(node: Node) -> None:
    node.acd.call_arrived(CallId("g1"), GENERAL)
    assert node.live.remove_queue(GENERAL) is False  # nowhere to move its calls
    assert node.acd.has_queue(GENERAL) and where(node.acd) == {"g1": ("general", 0.0)}
    assert node.live.remove_queue(QueueId("never-routed")) is True


# -- operators ----------------------------------------------------------------------------


def operator(sip: str, *, skills: dict[str, int], enabled: bool = True) -> Operator:
    return Operator(
        id=f"op{sip}", name=sip, user_id=None, sip_username=sip, sip_realm="hotline",
        ha1_md5="0" * 32, ha1_sha256="0" * 64, skills=dict(skills), enabled=enabled,
    )  # fmt: skip


def test_skills_reach_logged_in_operators_at_once_and_a_disabled_one_is_logged_out(
    node: Node,
) -> None:
    node.live.apply_operators([operator("1001", skills={}), operator("1002", skills={})])
    for op in ("1001", "1002"):
        node.acd.set_operator_state(OperatorId(op), OperatorState.NOT_READY, "break")
    node.acd.set_operator_state(OperatorId("1001"), OperatorState.READY)
    node.acd.call_arrived(CallId("h1"), HEALTH)
    assert node.decisions.offers() == []
    node.live.apply_operators(
        [operator("1001", skills={"health": 6}), operator("1002", skills={}, enabled=False)]
    )
    assert node.decisions.offers() == [("h1", "1001", "health")]
    assert node.acd.operator_status(OperatorId("1001")).queues == {GENERAL: 5, HEALTH: 6}
    assert node.acd.operator_state(OperatorId("1002")) is OperatorState.LOGGED_OUT


def test_an_operator_disabled_while_talking_is_not_ready_after_the_call(node: Node) -> None:
    node.live.apply_operators([operator("1001", skills={})])
    node.acd.set_operator_state(OperatorId("1001"), OperatorState.READY)
    node.acd.call_arrived(CallId("g1"), GENERAL)
    node.acd.offer_answered(CallId("g1"), OperatorId("1001"))
    node.live.apply_operators([operator("1001", skills={}, enabled=False)])
    assert node.acd.operator_state(OperatorId("1001")) is OperatorState.TALKING
    node.acd.call_ended(OperatorId("1001"))
    node.acd.wrapup_done(OperatorId("1001"))
    status = node.acd.operator_status(OperatorId("1001"))
    assert (status.state, status.reason) == (OperatorState.NOT_READY, OPERATOR_DISABLED)


def test_profile_of_keeps_only_levels_1_to_10_and_drops_disabled_accounts() -> None:
    profile = profile_of(operator("1001", skills={"a": 3, "b": 11, "c": 0}), {GENERAL: 5})
    assert profile is not None
    assert (profile.skills, profile.queue_levels) == ({"a": 3}, {GENERAL: 5})
    assert profile_of(operator("1002", skills={}, enabled=False)) is None


# -- flows and accounts --------------------------------------------------------------------


async def test_a_saved_main_flow_is_run_for_the_next_call(app: FastAPI, node: Node) -> None:
    node.menu.start(CallId("before"), "leg-1", "PCMA")
    async with session(app, "admin") as admin:
        r = await admin.put("/api/v1/admin/flows/main", {"yaml": NEW_FLOW})
        assert r.json() == {"saved": True, "applied": True, "restart_needed": False}
        r = await admin.put("/api/v1/admin/flows/spare", {"yaml": NEW_FLOW})
        assert r.json()["applied"] is False  # only "main" is what the node runs
    assert node.menu.flow.name == "edited"
    assert node.menu.missing_texts() == ("Здравствуйте! Линия 122 работает в новом режиме.",)
    assert node.menu.active() == 1  # the call in the menu goes on (on the demo flow)


def test_without_a_menu_or_sip_service_the_answer_is_not_applied(node: Node) -> None:
    bare = AcdLiveConfiguration(node.acd)
    assert bare.apply_flow(load_demo_flow()) is False
    assert bare.reload_accounts() is False
    assert node.live.reload_accounts() is True and node.sip.reloads == 1


def test_stored_queue_shape_is_what_the_router_takes(node: Node) -> None:
    from hotline.web.admin_queues import queue_config_of

    config = queue_config_of(StoredQueue("social", "Соц", "social", {"max_wait_s": 30.0}))
    node.live.apply_queue(config)
    assert {c.queue_id: c for c in node.acd.queue_configs()}[SOCIAL].max_wait_s == 30.0


async def test_redirects_dial_the_directory_as_the_administrator_left_it(
    app: FastAPI, redirects: Redirects
) -> None:
    url = "/api/v1/admin/organisations/mfc"
    body = {"name": "МФЦ", "number": "+78000000303", "topics": ["services"]}
    async with session(app, "admin") as admin:
        r = await admin.put(url, body)
        assert r.json() == {"saved": True, "applied": True, "restart_needed": False}
        assert redirects.directory.number_of("mfc") == "+78000000303"
        r = await admin.put(url, {**body, "number": "+78000000304"})
        assert redirects.directory.number_of("mfc") == "+78000000304"
        r = await admin.put(url, {**body, "enabled": False})
        assert redirects.directory.number_of("mfc") is None  # disabled: not dialled
        await admin.put(url, body)
        r = await admin.http.delete(url, headers=admin.headers())
        assert r.json()["restart_needed"] is False
    assert redirects.directory.number_of("mfc") is None
