"""The supervisor's API over a fake call service: wallboard, queue control, monitoring."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hotline.calls.api import MonitorMode, QueueSnapshot
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, QueueId
from hotline.reports.events import EventKind
from hotline.store.audit import AuditLog
from hotline.store.db import Database
from hotline.web.config import WebConfig
from hotline.web.i18n import MESSAGES_RU
from hotline.web.wallboard import QueueBoardOut, alerts_for
from hotline.web.workplace import WorkplaceSettings
from unit.web.conftest import client_for
from unit.web.web_support import log_in
from unit.web.workplace_fakes import (
    CALLER,
    MASKED,
    OPERATOR,
    OTHER,
    SUPERVISOR_PHONE,
    FakeCalls,
    add_operators,
    event,
    live_call,
    store_events,
    waiting_call,
    workplace_app,
)


@pytest.fixture
def fake() -> FakeCalls:
    return FakeCalls.standard()


@pytest.fixture
def app(db: Database, clock: FakeClock, config: WebConfig, fake: FakeCalls) -> FastAPI:
    add_operators(db)
    return workplace_app(db, clock, config, fake)


@contextlib.asynccontextmanager
async def _client(
    app: FastAPI, user: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async with client_for(app) as http:
        csrf = await log_in(http, user)
        yield http, {"X-CSRF-Token": csrf}


async def test_wallboard_joins_live_figures_today_and_alerts(
    app: FastAPI, fake: FakeCalls, db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await store_events(
        db,
        tmp_path / "journal",
        [
            event(EventKind.QUEUE_ENTERED, -600, "a", queue="social", position=1),
            event(
                EventKind.QUEUE_ANSWERED, -590, "a", queue="social", operator=OPERATOR, wait_s=10.0
            ),
            event(EventKind.QUEUE_ENTERED, -500, "b", queue="social", position=1),
            event(EventKind.QUEUE_ABANDONED, -460, "b", queue="social", position=1, wait_s=40.0),
            event(EventKind.QUEUE_ENTERED, -400, "c", queue="social", position=1),
            event(
                EventKind.QUEUE_TIMED_OUT, -280, "c", queue="social", wait_s=120.0, action="hang_up"
            ),
        ],
    )
    fake.queues_[0] = QueueSnapshot(QueueId("social"), "Social", 2, 17.0, 20.0, 1, 2)
    fake.waiting = [waiting_call("w1", "social", 17.0), waiting_call("w2", "health", 3.0, 1)]
    fake.calls["w1"] = live_call("w1", phase="queued", operator=None, topic="social")
    fake.calls["w2"] = live_call("w2", phase="queued", operator=None, topic="health")
    fake.set_operator_state(OPERATOR, "ready")
    clock.advance(12.5)
    async with _client(app, "supervisor") as (http, _):
        r = await http.get("/api/v1/supervisor/wallboard")
    assert r.status_code == 200, r.text
    board = r.json()
    social = board["queues"][0]
    assert (
        social
        | {
            "waiting": 2,
            "longest_wait_s": 17.0,
            "wait_ratio": 0.85,
            "offered_today": 3,
            "answered_today": 1,
            "abandoned_today": 1,
            "timed_out_today": 1,
        }
        == social
    )
    assert social["sl_today"] == pytest.approx(1 / 3)
    kinds = {(a["kind"], a["queue_id"]) for a in board["alerts"]}
    assert kinds == {("wait_near_norm", "social"), ("sl_below_target", "social")}
    # The medical call is hidden from a supervisor without medical secrecy; the wallboard is a
    # shared screen: numbers are masked even for a holder of personal_data.view.
    assert [(w["call_id"], w["number"]) for w in board["waiting"]] == [("w1", MASKED)]
    op = next(o for o in board["operators"] if o["operator_id"] == OPERATOR)
    assert op["state"] == "ready" and op["seconds_in_state"] == 12.5


async def test_masking_and_medical_secrecy_per_role(app: FastAPI, fake: FakeCalls) -> None:
    fake.offer(live_call("c1", topic="social"))
    fake.offer(live_call("c2", topic="health", operator=OTHER), OTHER)
    seen = {}
    for user in ("supervisor", "medic", "admin"):
        async with _client(app, user) as (http, _):
            r = await http.get("/api/v1/supervisor/calls")
        assert r.status_code == 200, (user, r.text)
        seen[user] = sorted((c["call_id"], c["number"]) for c in r.json())
    assert seen["supervisor"] == [("c1", CALLER)]
    assert seen["medic"] == [("c1", CALLER), ("c2", CALLER)]
    assert seen["admin"] == [("c1", MASKED)]  # no personal data, no medical calls


async def test_full_numbers_on_the_call_list_are_audited_once_per_request(
    app: FastAPI, fake: FakeCalls, db: Database
) -> None:
    fake.offer(live_call("c1", topic="social"))
    fake.offer(live_call("c3", topic="social", operator=OTHER), OTHER)
    for user in ("supervisor", "admin"):
        async with _client(app, user) as (http, _):
            for _ in range(2):
                assert (await http.get("/api/v1/supervisor/calls")).status_code == 200
    viewed = AuditLog(db).query(action="personal_data.viewed").items
    assert [(e.actor, e.details["view"], sorted(e.details["calls"])) for e in viewed] == [
        ("supervisor", "live_calls", ["c1", "c3"]),
        ("supervisor", "live_calls", ["c1", "c3"]),
    ]  # the administrator saw masked numbers only: nothing to audit


async def test_queue_control_acts_and_is_audited(
    app: FastAPI, fake: FakeCalls, db: Database
) -> None:
    fake.waiting = [waiting_call("w1", "social", 5.0)]
    fake.set_operator_state(OTHER, "ready")
    async with _client(app, "supervisor") as (http, csrf):
        base = "/api/v1/supervisor"
        r = await http.post(f"{base}/calls/w1/move", json={"queue_id": "health"}, headers=csrf)
        assert r.status_code == 204, r.text
        r = await http.post(f"{base}/calls/w1/priority", json={"priority": 7}, headers=csrf)
        assert r.status_code == 204
        r = await http.post(f"{base}/calls/w1/assign", json={"operator_id": OTHER}, headers=csrf)
        assert r.status_code == 204
        r = await http.post(
            f"{base}/operators/{OPERATOR}/state",
            json={"state": "not_ready", "reason": "meeting"},
            headers=csrf,
        )
        assert r.status_code == 204
        # Refusals: 404 and 409 with the Russian message.
        r = await http.post(f"{base}/calls/w1/move", json={"queue_id": "nowhere"}, headers=csrf)
        assert r.status_code == 404 and r.json()["message"] == MESSAGES_RU["error.not_found"]
        r = await http.post(f"{base}/calls/w1/assign", json={"operator_id": OPERATOR}, headers=csrf)
        assert r.status_code == 409 and r.json()["message"] == MESSAGES_RU["error.conflict"]
        r = await http.post(f"{base}/calls/w9/priority", json={"priority": 1}, headers=csrf)
        assert r.status_code == 404
        r = await http.post(f"{base}/calls/w1/priority", json={"priority": 1000}, headers=csrf)
        assert r.status_code == 422
    assert fake.done[1:] == [
        ("move_call", (CallId("w1"), QueueId("health"))),
        ("set_call_priority", (CallId("w1"), 7)),
        ("assign_call", (CallId("w1"), OTHER)),
        ("set_operator_state", (OPERATOR, "not_ready", "meeting")),
    ]
    entries = AuditLog(db).query(actor="supervisor").items
    actions = sorted((e.action, e.object) for e in entries if e.action != "auth.login")
    assert actions == [
        ("operator.state_set", f"operator:{OPERATOR}"),
        ("queue.call_assigned", "call:w1"),
        ("queue.call_moved", "call:w1"),
        ("queue.call_priority", "call:w1"),
    ]


async def test_listen_whisper_barge_and_stop(app: FastAPI, fake: FakeCalls, db: Database) -> None:
    fake.offer(live_call("c1"))
    async with _client(app, "supervisor") as (http, csrf):
        r = await http.post(
            "/api/v1/supervisor/calls/c1/monitor", json={"mode": "whisper"}, headers=csrf
        )
        assert r.json() == {"session_id": "mon-1", "call_id": "c1", "mode": "whisper"}
        assert fake.done[-1] == ("monitor", (CallId("c1"), SUPERVISOR_PHONE, MonitorMode.WHISPER))
        gone = await http.post(
            "/api/v1/supervisor/calls/c9/monitor", json={"mode": "listen"}, headers=csrf
        )
        assert gone.status_code == 404
        stop = await http.post("/api/v1/supervisor/monitor/mon-1/stop", headers=csrf)
        assert stop.status_code == 204
        unknown = await http.post("/api/v1/supervisor/monitor/zzz/stop", headers=csrf)
        assert unknown.status_code == 404
    actions = [e.action for e in AuditLog(db).query(actor="supervisor").items]
    assert actions.count("call.monitor_started") == 1
    assert actions.count("call.monitor_stopped") == 1
    async with _client(app, "medic") as (medic, medic_csrf):
        r = await medic.post(
            "/api/v1/supervisor/calls/c1/monitor", json={"mode": "barge"}, headers=medic_csrf
        )
    assert r.status_code == 409


async def test_operators_may_not_use_the_supervisor_api(app: FastAPI) -> None:
    async with _client(app, "operator1") as (http, csrf):
        for method, path in (
            ("GET", "/api/v1/supervisor/wallboard"),
            ("POST", "/api/v1/supervisor/calls/w1/move"),
            ("POST", "/api/v1/supervisor/calls/c1/monitor"),
        ):
            r = await http.request(method, path, headers=csrf, json={})
            assert r.status_code == 403 and r.json()["code"] == "forbidden", path


def _queue(waiting: int, longest: float, sl: float | None) -> QueueBoardOut:
    return QueueBoardOut(
        queue_id="q", name="Q", waiting=waiting, longest_wait_s=longest, norm_s=20.0,
        wait_ratio=longest / 20.0, operators_ready=0, operators_busy=0, offered_today=0,
        answered_today=0, abandoned_today=0, timed_out_today=0, sl_today=sl,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("waiting", "longest", "sl", "expected"),
    [
        (0, 0.0, None, []),
        (1, 15.9, 0.8, []),
        (1, 16.0, 0.8, ["wait_near_norm"]),
        (2, 20.0, 0.9, ["wait_over_norm"]),
        (0, 30.0, 0.79, ["sl_below_target"]),  # nobody waits: the old wait does not alert
        (3, 25.0, 0.5, ["wait_over_norm", "sl_below_target"]),
    ],
)
def test_alert_thresholds(
    waiting: int, longest: float, sl: float | None, expected: list[str]
) -> None:
    alerts = alerts_for([_queue(waiting, longest, sl)], WorkplaceSettings())
    assert [a.kind for a in alerts] == expected
