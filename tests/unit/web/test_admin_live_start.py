"""What the node reads of the administrator's configuration at start (hotline.app.stored_config),
and how a flow changed while running gets its prompts rendered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hotline.app.callservice import default_queues
from hotline.app.demo import load_demo_flow as load_demo_flow_as_main
from hotline.app.stored_config import AgentProfiles, LivePrompts, start_queues, stored_flow
from hotline.core.clock import FakeClock
from hotline.core.ids import QueueId
from hotline.ivr.flow import Flow
from hotline.ivr.flow_yaml import demo_flow_yaml, load_demo_flow
from hotline.ivr.runner import IvrRunner, RenderedPrompts
from hotline.media.player import PlaybackItem
from hotline.media.prompts import EncodedPrompt
from hotline.store.accounts import AccountsRepository, Operator
from hotline.store.db import Database
from hotline.store.proposals import FlowsRepository
from hotline.store.queues import QueuesRepository, StoredQueue
from unit.web.web_support import USER_IDS

GENERAL = QueueId("general")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EDITED = demo_flow_yaml().replace("name: hotline-122", "name: edited-122", 1)


def test_an_empty_store_runs_the_default_queues(db: Database) -> None:
    defaults = default_queues()
    assert start_queues(db, defaults) == defaults
    assert [q.queue_id for q in defaults][:2] == ["general", "social"]


def test_the_stored_enabled_queues_run_with_the_general_queue_always_there(db: Database) -> None:
    repo = QueuesRepository(db)
    repo.save(StoredQueue("social", "Соц", "social", {"max_wait_s": 45.0}))
    repo.save(StoredQueue("health", "Здр", "health", {}, enabled=False))
    repo.save(StoredQueue("broken", "Сломана", "social", {"sl_norm_s": 0}))
    configs = start_queues(db, default_queues())
    assert [(c.queue_id, c.name, c.max_wait_s) for c in configs] == [
        ("general", "General", 120.0),  # not stored: the default one
        ("social", "Соц", 45.0),
    ]


def test_a_stored_general_queue_replaces_the_default(db: Database) -> None:
    QueuesRepository(db).save(StoredQueue("general", "Общая", "general", {"sl_norm_s": 25}))
    (general,) = start_queues(db, default_queues())
    assert (general.queue_id, general.name, general.sl_norm_s) == ("general", "Общая", 25.0)


def test_the_stored_main_flow_is_run_and_a_broken_or_missing_one_is_not(db: Database) -> None:
    repo = FlowsRepository(db)
    assert stored_flow(db) is None
    repo.save("main", EDITED, updated_by="admin", now=NOW)
    flow = stored_flow(db)
    assert flow is not None and flow.name == "edited-122"
    assert len(flow.nodes) == len(load_demo_flow().nodes)
    repo.save("main", "format: 1\nname: x\nstart: nowhere\nnodes: []\n", updated_by="a", now=NOW)
    assert stored_flow(db) is None


def test_the_demo_stores_its_flow_as_main_so_the_node_runs_what_the_page_edits(
    db: Database,
) -> None:
    load_demo_flow_as_main(FlowsRepository(db))
    stored = FlowsRepository(db).get("main")
    assert stored is not None and stored.yaml_text == demo_flow_yaml()
    flow = stored_flow(db)
    assert flow is not None and flow == load_demo_flow()


def phone(sip: str, user: str | None, *, enabled: bool = True) -> Operator:
    return Operator(
        id=f"op{sip}", name=sip, user_id=user, sip_username=sip, sip_realm="hotline",
        ha1_md5="0" * 32, ha1_sha256="0" * 64, skills={"health": 4}, enabled=enabled,
    )  # fmt: skip


def test_a_staff_members_phone_is_no_agent(db: Database) -> None:
    agents = AgentProfiles({GENERAL: 5})
    agents.load(AccountsRepository(db))
    assert USER_IDS["supervisor"] in agents.staff_users
    assert USER_IDS["operator1"] not in agents.staff_users
    assert agents(phone("2001", USER_IDS["supervisor"])) is None
    assert agents(phone("1001", USER_IDS["operator1"], enabled=False)) is None
    profile = agents(phone("1001", USER_IDS["operator1"]))
    assert profile is not None
    assert (profile.operator_id, profile.skills, profile.queue_levels) == (
        "1001",
        {"health": 4},
        {GENERAL: 5},
    )
    assert agents(phone("1009", None)) is not None  # a fixed phone: an operator


# -- a flow changed while running: its new texts are rendered, then added -------------------


class NoMedia:
    def play(self, leg_id: str, item: PlaybackItem) -> None:
        pass

    def stop_playback(self, leg_id: str, item_id: str | None = None) -> None:
        pass


class NoTimer:
    def cancel(self) -> None:
        pass


def no_timer(delay_s: float, callback: Callable[[], None]) -> NoTimer:
    return NoTimer()


@dataclass
class FakeRenderer:
    """Renders each text to one frame named by it; ``gate`` holds the rendering back."""

    gate: asyncio.Event
    calls: int = 0

    async def __call__(
        self, flow: Flow, directory: Path, *, extra_texts: Sequence[str] = ()
    ) -> RenderedPrompts:
        self.calls += 1
        await self.gate.wait()
        return RenderedPrompts(
            {(t, "PCMA"): EncodedPrompt(t, "PCMA", (b"x",), 0.02) for t in extra_texts}
        )


async def test_live_prompts_render_the_new_texts_then_add_them(tmp_path: Path) -> None:
    menu = IvrRunner(
        load_demo_flow(), media=NoMedia(), clock=FakeClock(), call_later=no_timer,
        fallback_queue=GENERAL,
    )  # fmt: skip
    renderer = FakeRenderer(asyncio.Event())
    live = LivePrompts(menu, tmp_path, renderer)
    menu.render_prompts = live.request
    new = load_demo_flow()
    menu.set_flow(new)
    wanted = menu.missing_texts()
    assert len(wanted) > 5  # nothing was rendered at all
    await asyncio.sleep(0)
    assert renderer.calls == 1 and menu.missing_texts() == wanted
    renderer.gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert menu.missing_texts() == ()
    assert live.rendered == len(wanted)


async def test_closing_cancels_a_rendering_under_way(tmp_path: Path) -> None:
    menu = IvrRunner(
        load_demo_flow(), media=NoMedia(), clock=FakeClock(), call_later=no_timer,
        fallback_queue=GENERAL,
    )  # fmt: skip
    renderer = FakeRenderer(asyncio.Event())
    live = LivePrompts(menu, tmp_path, renderer)
    live.request(("Текст.",))
    await asyncio.sleep(0)
    await live.aclose()
    assert menu.missing_texts() != ()
    assert live.rendered == 0
