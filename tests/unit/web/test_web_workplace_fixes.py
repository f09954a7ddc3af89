"""Fixes found by the browser tier: same-state no-ops, controls after a transfer, reasons,
the audit page's filters, the favicon, the wallboard's live flag and the desk's test ids."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from hotline.calls.api import ActionRefusal, CallActionError, OperatorSnapshot
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId
from hotline.store.audit import AuditLog
from hotline.store.db import Database
from hotline.web.config import WebConfig
from hotline.web.i18n import MESSAGES_RU
from hotline.web.pages import AuditFilters
from unit.web.conftest import client_for
from unit.web.web_support import START, log_in
from unit.web.workplace_fakes import (
    OPERATOR,
    FakeCalls,
    add_operators,
    live_call,
    workplace_app,
)

Session = tuple[httpx.AsyncClient, dict[str, str]]


@pytest.fixture
def fake() -> FakeCalls:
    return FakeCalls.standard()


@pytest.fixture
def app(db: Database, clock: FakeClock, config: WebConfig, fake: FakeCalls) -> FastAPI:
    add_operators(db)
    return workplace_app(db, clock, config, fake)


async def _session(app: FastAPI, user: str) -> AsyncIterator[Session]:
    async with client_for(app) as http:
        csrf = await log_in(http, user)
        yield http, {"X-CSRF-Token": csrf}


@pytest.fixture
async def operator(app: FastAPI) -> AsyncIterator[Session]:
    async for s in _session(app, "operator1"):
        yield s


@pytest.fixture
async def supervisor(app: FastAPI) -> AsyncIterator[Session]:
    async for s in _session(app, "supervisor"):
        yield s


# -- item 3: the state an operator is already in -----------------------------------------------


def test_the_fake_refuses_ready_on_ready_like_the_acd(fake: FakeCalls) -> None:
    fake.set_operator_state(OPERATOR, "ready")
    with pytest.raises(CallActionError) as caught:
        fake.set_operator_state(OPERATOR, "ready")
    assert caught.value.refusal is ActionRefusal.WRONG_STATE


async def test_ready_on_a_ready_operator_is_a_successful_no_op(
    operator: Session, fake: FakeCalls
) -> None:
    http, csrf = operator
    fake.set_operator_state(OPERATOR, "ready")  # the demo: ready when the phone registers
    fake.done.clear()
    r = await http.post("/api/v1/desk/state", json={"state": "ready"}, headers=csrf)
    assert r.status_code == 200, r.text
    assert r.json()["operator"]["state"] == "ready"
    assert fake.done == []  # nothing asked of the ACD
    out = await http.post("/api/v1/desk/state", json={"state": "logged_out"}, headers=csrf)
    again = await http.post("/api/v1/desk/state", json={"state": "logged_out"}, headers=csrf)
    assert (out.status_code, again.status_code) == (200, 200)
    assert fake.done == [("set_operator_state", (OPERATOR, "logged_out", None))]


async def test_not_ready_with_another_reason_still_changes_the_reason(
    operator: Session, fake: FakeCalls
) -> None:
    http, csrf = operator
    for reason in ("lunch", "lunch", "break"):
        r = await http.post(
            "/api/v1/desk/state", json={"state": "not_ready", "reason": reason}, headers=csrf
        )
        assert r.status_code == 200
    assert fake.done == [
        ("set_operator_state", (OPERATOR, "not_ready", "lunch")),
        ("set_operator_state", (OPERATOR, "not_ready", "break")),
    ]
    assert r.json()["operator"]["reason"] == "break"


async def test_the_supervisor_setting_the_same_state_is_a_no_op_and_audited(
    supervisor: Session, fake: FakeCalls, db: Database
) -> None:
    http, csrf = supervisor
    fake.set_operator_state(OPERATOR, "ready")
    fake.done.clear()
    r = await http.post(
        f"/api/v1/supervisor/operators/{OPERATOR}/state", json={"state": "ready"}, headers=csrf
    )
    assert r.status_code == 204, r.text
    assert fake.done == []
    (entry,) = [e for e in AuditLog(db).query(limit=50).items if e.action == "operator.state_set"]
    assert entry.details == {"state": "ready", "reason": None, "changed": False}


# -- item 4: no controls on a call the operator only wraps up ----------------------------------


async def test_controls_on_a_call_transferred_away_answer_404(
    operator: Session, fake: FakeCalls
) -> None:
    """After a blind transfer to a queue the ACD still names the call until wrap-up ends."""
    http, csrf = operator
    fake.offer(live_call("c1"))
    r = await http.post(
        "/api/v1/desk/calls/c1/transfer", json={"kind": "queue", "id": "health"}, headers=csrf
    )
    assert r.status_code == 204
    # What the real node shows then: the call queued elsewhere, the operator wrapping up.
    fake.calls["c1"] = replace(fake.calls["c1"], phase="queued", operator_id=None)
    fake.operators_[OPERATOR] = OperatorSnapshot(OPERATOR, "wrap_up", "c1", START, CallId("c1"))
    fake.done.clear()
    for action in ("hangup", "hold", "resume", "consult/complete", "consult/cancel"):
        refused = await http.post(f"/api/v1/desk/calls/c1/{action}", headers=csrf)
        assert refused.status_code == 404, action
    for action in ("transfer", "consult"):
        refused = await http.post(
            f"/api/v1/desk/calls/c1/{action}", json={"kind": "queue", "id": "social"},
            headers=csrf,
        )  # fmt: skip
        assert refused.status_code == 404, action
    assert fake.done == [] and "c1" in fake.calls
    # The card of the call being wrapped up is still the operator's to read.
    assert (await http.get("/api/v1/desk/calls/c1")).status_code == 200
    state = (await http.get("/api/v1/desk/state")).json()
    assert state["operator"]["state"] == "wrap_up"
    assert state["operator"]["reason"] is None  # the ACD's note (a call id) is not a reason


# -- item 5: only a not-ready reason is shown ---------------------------------------------------


async def test_the_reason_is_sent_for_not_ready_only(supervisor: Session, fake: FakeCalls) -> None:
    http, _ = supervisor
    fake.operators_[OPERATOR] = OperatorSnapshot(OPERATOR, "talking", "c7", START, None)
    board = (await http.get("/api/v1/supervisor/wallboard")).json()
    ops = {o["operator_id"]: o for o in board["operators"]}
    assert ops[OPERATOR]["state"] == "talking" and ops[OPERATOR]["reason"] is None
    fake.operators_[OPERATOR] = OperatorSnapshot(OPERATOR, "not_ready", "lunch", START, None)
    board = (await http.get("/api/v1/supervisor/wallboard")).json()
    ops = {o["operator_id"]: o for o in board["operators"]}
    assert ops[OPERATOR]["reason"] == "lunch"


# -- item 1: the wallboard tells its script whether the live socket is allowed -----------------


@pytest.mark.parametrize(("user", "live"), [("supervisor", "yes"), ("admin", "no")])
async def test_the_wallboard_page_says_whether_it_may_open_the_socket(
    app: FastAPI, user: str, live: str
) -> None:
    async with client_for(app) as http:
        await log_in(http, user)
        page = (await http.get("/wallboard")).text
    assert f'data-live="{live}"' in page


async def test_the_live_script_stops_after_a_refused_first_handshake(app: FastAPI) -> None:
    async with client_for(app) as http:
        live = (await http.get("/static/js/live.js")).text
        board = (await http.get("/static/js/wallboard.js")).text
    assert "const refused = !opened || e.code === 1008;" in live
    assert 'root.dataset.live === "yes"' in board


# -- item 2: the audit page's filters ------------------------------------------------------------


def test_audit_filters_parse_empty_fields_as_no_filter() -> None:
    empty = AuditFilters.parse({"since": "", "until": " ", "actor": "", "action": ""})
    assert empty == AuditFilters()
    given = AuditFilters.parse({"since": "2026-03-02T09:00", "actor": " admin ", "before": "21"})
    assert given.since is not None and given.since.utcoffset() == timedelta(0)
    assert (given.since.hour, given.actor, given.before) == (9, "admin", 21)
    assert given.form()["since"].startswith("2026-03-02T09:00")


async def test_the_audit_form_with_empty_fields_renders_the_page(
    app: FastAPI, db: Database
) -> None:
    AuditLog(db).append(at=START, actor="operator4", role="operator", action="auth.login")
    async with client_for(app) as http:
        await log_in(http, "auditor")
        r = await http.get("/audit?since=&until=&actor=operator4&action=")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<td>operator4</td>" in r.text and 'value="operator4"' in r.text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "audit.filter.since"),
        ("until=2026-13-40T25:00", "audit.filter.until"),
        ("actor=" + "x" * 65, "audit.filter.actor"),
        ("action=" + "y" * 65, "audit.filter.action"),
        ("before=-3", "audit.more"),
        ("before=abc", "audit.more"),
        ("since=" + "9" * 500, "audit.filter.since"),
    ],
)
async def test_an_unreadable_filter_renders_the_page_with_a_russian_message(
    app: FastAPI, query: str, field: str
) -> None:
    async with client_for(app) as http:
        await log_in(http, "auditor")
        r = await http.get(f"/audit?{query}")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
    message = MESSAGES_RU["audit.filter.invalid"].format(field=MESSAGES_RU[field])
    assert message.replace("«", "&laquo;") in r.text or message in r.text
    assert 'id="chain-result"' in r.text


# -- item 6: the favicon ---------------------------------------------------------------------------


async def test_the_favicon_is_served_to_anyone_and_linked(app: FastAPI) -> None:
    async with client_for(app) as http:
        icon = await http.get("/favicon.ico")
        assert icon.status_code == 200
        assert icon.headers["content-type"].startswith("image/svg+xml")
        assert icon.content.startswith(b"<svg") and len(icon.content) < 2048
        login = (await http.get("/login")).text
    assert '<link rel="icon" href="/favicon.ico"' in login


# -- item 7: stable test ids -----------------------------------------------------------------------

DESK_IDS = (
    "operator-state", "go-ready", "go-not-ready", "not-ready-reason", "desk-problem",
    "call-card", "call-card-empty", "card-wrapup", "card-number", "card-topic", "card-phase",
    "hold", "resume", "hang-up", "transfer-kind", "transfer-target", "transfer-blind",
    "transfer-consult", "wrapup-form", "wrapup-call", "wrapup-notes", "wrapup-submit",
    "wrapup-result",
)  # fmt: skip
WALLBOARD_IDS = (
    "wallboard", "wallboard-title", "wallboard-problem", "queue-rows", "waiting-rows",
    "operator-rows",
)  # fmt: skip


async def test_the_pages_carry_each_test_id_once(app: FastAPI) -> None:
    async with client_for(app) as http:
        await log_in(http, "operator1")
        desk = (await http.get("/desk")).text
    async with client_for(app) as http:
        await log_in(http, "supervisor")
        board = (await http.get("/wallboard")).text
    for page, ids in ((desk, DESK_IDS), (board, WALLBOARD_IDS)):
        found = re.findall(r'data-testid="([a-z-]+)"', page)
        for testid in ids:
            assert found.count(testid) == 1, testid
