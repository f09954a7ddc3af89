"""Administration API: queues (applied to a real ACD), operators, users, flows, the register."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.acd.decisions import CallTimedOut
from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, OperatorId, QueueId
from hotline.ivr.flow_yaml import demo_flow_yaml
from hotline.sip.digest import DigestAlgorithm, ha1
from hotline.store.account_updates import AccountUpdates
from hotline.store.accounts import AccountsRepository
from hotline.store.db import Database
from hotline.store.queues import QueuesRepository
from hotline.store.wrapups import WrapupInput, WrapupRepository
from hotline.web.admin_live import AcdLiveConfiguration, install_live_configuration
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.admin_support import audit_rows, session
from unit.web.conftest import Health, Web, client_for
from unit.web.web_support import FAST_HASHER, START, log_in

Q = "/api/v1/admin/queues"


class Decisions:
    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_decision(self, decision: object) -> None:
        self.seen.append(decision)


@pytest.fixture
def acd(clock: FakeClock) -> AcdService:
    service = AcdService(AcdEngine(), clock)
    service.handler = Decisions()
    return service


@pytest.fixture
def live_app(db: Database, clock: FakeClock, config: WebConfig, acd: AcdService) -> FastAPI:
    return create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[install_live_configuration(AcdLiveConfiguration(acd))],
    )


async def test_queue_change_is_applied_to_the_running_acd(
    live_app: FastAPI, acd: AcdService, clock: FakeClock, db: Database
) -> None:
    async with session(live_app, "admin") as admin:
        r = await admin.put(
            f"{Q}/social",
            {"name": "Социальная сфера", "topic": "social", "config": {"max_wait_s": 120}},
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"saved": True, "applied": True, "restart_needed": False}
        assert acd.has_queue(QueueId("social"))
        acd.call_arrived(CallId("c1"), QueueId("social"))
        clock.advance(40.0)
        acd.poll()
        assert acd.waiting_calls() == (CallId("c1"),)  # 40 s < 120 s: still waiting
        r = await admin.put(
            f"{Q}/social",
            {"name": "Социальная сфера", "topic": "social", "config": {"max_wait_s": 30}},
        )
        assert r.json()["applied"] is True
        acd.poll()
        assert acd.waiting_calls() == ()  # the new norm applies to the waiting call
        assert isinstance(acd.handler, Decisions)
        assert any(isinstance(d, CallTimedOut) for d in acd.handler.seen)
        listed = (await admin.http.get(Q)).json()
    assert listed[0]["config"]["max_wait_s"] == 30
    assert listed[0]["config"]["sl_norm_s"] == 20.0  # defaults filled in
    assert set(listed[0]["config"]) >= {"tiers", "strategy", "wrap_up_s", "announce_interval_s"}
    stored = QueuesRepository(db).get("social")
    assert stored is not None and stored.config["max_wait_s"] == 30
    rows = [e for e in audit_rows(db, "config.changed") if e.object == "queue:social"]
    assert len(rows) == 2
    assert rows[0].details["changed"] == ["max_wait_s"]  # newest first
    assert rows[1].details["created"] is True


async def test_a_refused_queue_parameter_names_the_setting(web: Web) -> None:
    async with session(web.app, "admin") as admin:
        r = await admin.put(f"{Q}/q1", {"name": "Q", "topic": "social", "config": {"sl_norm_s": 0}})
        assert r.status_code == 422
        body = r.json()
        assert body["code"] == "validation_failed"
        assert body["problems"][0]["setting"] == "sl_norm_s"
        r = await admin.put(f"{Q}/q1", {"name": "Q", "topic": "social", "config": {"nope": 1}})
        assert r.json()["problems"][0]["setting"] == "nope"
        r = await admin.put(f"{Q}/q1", {"name": "Q", "topic": "social", "config": {}})
        assert r.json() == {"saved": True, "applied": False, "restart_needed": True}


async def test_only_administrators_change_queues(web: Web) -> None:
    async with session(web.app, "supervisor") as supervisor:
        r = await supervisor.put(f"{Q}/q1", {"name": "Q", "topic": "social", "config": {}})
        assert r.status_code == 403
    assert QueuesRepository(web.db).all() == []


async def test_operator_account_stores_ha1_only_and_reaches_the_acd(
    live_app: FastAPI, acd: AcdService, db: Database
) -> None:
    body = {
        "id": "op7",
        "name": "Оператор 7",
        "sip_username": "107",
        "sip_realm": "hotline",
        "sip_password": "sip-secret-107",
        "skills": {"social": 7},
    }
    async with session(live_app, "admin") as admin:
        r = await admin.post("/api/v1/admin/operators", body)
        assert r.status_code == 201, r.text
        assert r.json()["applied"] is True
        acd.operator_login(OperatorId("107"), ready=True)  # the ACD knows the new profile
        r = await admin.patch("/api/v1/admin/operators/op7", {"skills": {"health": 4}})
        assert r.status_code == 200
        r = await admin.post("/api/v1/admin/operators/op7/sip-password", {"password": "new-pass-1"})
        assert r.status_code == 200
        listed = (await admin.http.get("/api/v1/admin/operators")).json()
        assert (await admin.post("/api/v1/admin/operators", body)).status_code == 409
    assert "ha1_md5" not in listed[0] and listed[0]["skills"] == {"health": 4}
    stored = AccountUpdates(db).operator("op7")
    assert stored is not None
    assert stored.ha1_md5 == ha1("107", "hotline", "new-pass-1", DigestAlgorithm.MD5)
    assert stored.ha1_sha256 == ha1("107", "hotline", "new-pass-1", DigestAlgorithm.SHA256)
    rows = [e for e in audit_rows(db, "config.changed") if e.object == "operator:op7"]
    assert [r.details.get("changed") for r in rows] == [["sip_password"], ["skills"], None]
    assert all("pass" not in str(r.details.get("skills", "")) for r in rows)
    assert "sip-secret-107" not in str([r.details for r in rows])


async def test_users_created_disabled_and_reset(web: Web) -> None:
    async with session(web.app, "admin") as admin:
        r = await admin.post(
            "/api/v1/admin/users",
            {
                "username": "senior",
                "display_name": "Старший",
                "role": "supervisor",
                "password": "first-password",
                "permissions": ["medical_secrecy"],
            },
        )
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
        async with client_for(web.app) as other:
            await log_in(other, "senior", "first-password")
            me = (await other.get("/api/v1/auth/me")).json()
            assert "medical_secrecy" in me["permissions"]
            r = await admin.post(
                f"/api/v1/admin/users/{user_id}/password", {"password": "second-pw-1"}
            )
            assert r.status_code == 200
            assert (await other.get("/api/v1/auth/me")).status_code == 401  # sessions ended
            await log_in(other, "senior", "second-pw-1")
            r = await admin.patch(f"/api/v1/admin/users/{user_id}", {"is_active": False})
            assert r.json()["is_active"] is False
            assert (await other.get("/api/v1/auth/me")).status_code == 401
        r = await admin.patch("/api/v1/admin/users/u2", {"is_active": False})  # admin is u2
        assert r.status_code == 409
        r = await admin.post(
            "/api/v1/admin/users",
            {"username": "x", "display_name": "x", "role": "operator", "password": "short"},
        )
        assert r.status_code == 422
    created = AccountsRepository(web.db).user_by_username("senior")
    assert created is not None and not created.is_active
    assert created.password_hash.startswith("$argon2id$")
    changes = [e for e in audit_rows(web.db, "config.changed") if e.object == "user:senior"]
    assert len(changes) == 3
    assert "second-pw-1" not in str([e.details for e in changes])


BROKEN_FLOW = demo_flow_yaml().replace("next: incident", "next: nowhere", 1)


async def test_flow_yaml_is_validated_with_the_node_named(web: Web) -> None:
    async with session(web.app, "admin") as admin:
        shown = (await admin.http.get("/api/v1/admin/flows/main")).json()
        assert shown["stored"] is False and "greeting" in shown["yaml"]
        check = (await admin.post("/api/v1/admin/flows/main/check", {"yaml": shown["yaml"]})).json()
        assert check == {"ok": True, "problems": []}
        check = (await admin.post("/api/v1/admin/flows/main/check", {"yaml": BROKEN_FLOW})).json()
        assert check["ok"] is False
        assert check["problems"][0]["node"] == "greeting"
        assert "nowhere" in check["problems"][0]["problem"]
        r = await admin.put("/api/v1/admin/flows/main", {"yaml": BROKEN_FLOW})
        assert r.status_code == 422
        assert r.json()["problems"][0]["node"] == "greeting"
        r = await admin.put("/api/v1/admin/flows/main", {"yaml": "a: [1\n"})
        assert r.status_code == 422 and r.json()["problems"][0]["node"] is None
        r = await admin.put("/api/v1/admin/flows/main", {"yaml": shown["yaml"]})
        assert r.json() == {"saved": True, "applied": False, "restart_needed": True}
        again = (await admin.http.get("/api/v1/admin/flows/main")).json()
    assert again["stored"] is True and again["updated_by"] == "admin"
    rows = audit_rows(web.db, "config.changed")
    assert [e.object for e in rows] == ["flow:main"]


async def test_proposals_register_statuses_and_wrapup_feed(web: Web) -> None:
    WrapupRepository(web.db).add(
        WrapupInput(
            call_id="call-9",
            operator_id="101",
            username="operator1",
            topic="social",
            outcome="resolved",
            notes="Продлить часы работы линии",
            proposal=True,
        ),
        START,
    )
    async with session(web.app, "admin") as admin:
        r = await admin.post("/api/v1/admin/proposals", {"text": "Добавить меню на татарском"})
        assert r.status_code == 201
        manual = r.json()["id"]
        listed = (await admin.http.get("/api/v1/admin/proposals")).json()
        assert {p["source"] for p in listed} == {"manual", "call"}
        from_call = next(p for p in listed if p["source"] == "call")
        assert from_call["text"] == "Продлить часы работы линии" and from_call["status"] == "new"
        url = f"/api/v1/admin/proposals/{manual}/status"
        assert (await admin.post(url, {"status": "implemented"})).status_code == 409
        for step in ("under_review", "accepted", "implemented"):
            assert (await admin.post(url, {"status": step})).status_code == 200, step
        url = f"/api/v1/admin/proposals/{from_call['id']}/status"
        assert (await admin.post(url, {"status": "accepted"})).status_code == 409
        assert (
            await admin.post(url, {"status": "rejected", "resolution": "нет"})
        ).status_code == 200
        r = await admin.post("/api/v1/admin/proposals/w-999/status", {"status": "rejected"})
        assert r.status_code == 404
        statuses = {
            p["id"]: p["status"] for p in (await admin.http.get("/api/v1/admin/proposals")).json()
        }
    assert statuses == {manual: "implemented", from_call["id"]: "rejected"}
    assert len([e for e in audit_rows(web.db, "config.changed") if "proposal" in e.object]) == 5


async def test_directory_answers_and_trunks(web: Web) -> None:
    async with session(web.app, "admin") as admin:
        r = await admin.put(
            "/api/v1/admin/organisations/mfc",
            {"name": "МФЦ", "number": "+78005550000", "topics": ["services"]},
        )
        assert r.status_code == 200
        r = await admin.put(
            "/api/v1/admin/answers/a1",
            {
                "topic": "social",
                "title": "Пособие",
                "questions": ["как получить пособие"],
                "answer": "Обратитесь в МФЦ.",
            },
        )
        assert r.status_code == 200
        assert (await admin.post("/api/v1/admin/answers/a1/disable")).status_code == 200
        assert (await admin.post("/api/v1/admin/answers/zz/disable")).status_code == 404
        r = await admin.put(
            "/api/v1/admin/trunks/t1",
            {"name": "Ростелеком", "host": "10.0.0.1", "trusted_networks": ["10.0.0.0/24"]},
        )
        assert r.status_code == 200 and r.json()["restart_needed"] is True
        orgs = (await admin.http.get("/api/v1/admin/organisations")).json()
        answers = (await admin.http.get("/api/v1/admin/answers")).json()
        trunks = (await admin.http.get("/api/v1/admin/trunks")).json()
        r = await admin.http.delete("/api/v1/admin/organisations/mfc", headers=admin.headers())
        assert r.status_code == 200
    assert orgs[0]["name"] == "МФЦ"
    assert answers[0]["enabled"] is False and answers[0]["updated_by"] == "admin"
    assert trunks[0]["trusted_networks"] == ["10.0.0.0/24"]
    objects = {e.object for e in audit_rows(web.db, "config.changed")}
    assert objects == {"organisation:mfc", "answer:a1", "trunk:t1"}
