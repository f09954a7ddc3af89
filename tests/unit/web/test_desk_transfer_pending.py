"""A transfer on the desk: in progress and how the last one ended (REST, live socket, page)."""

from __future__ import annotations

import html
import json
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from hotline.calls.api import (
    TargetKind,
    TransferFailure,
    TransferInProgress,
    TransferMode,
    TransferOutcome,
    TransferResult,
    TransferTarget,
)
from hotline.core.bus import EventBus
from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.web.config import WebConfig
from hotline.web.desk_models import (
    TransferOut,
    TransferOutcomeOut,
    transfer_out,
    transfer_outcome_out,
)
from hotline.web.i18n import MESSAGES_RU
from hotline.web.workplace import WorkplaceSettings
from unit.web.conftest import client_for
from unit.web.web_support import PASSWORD, log_in
from unit.web.workplace_fakes import FakeCalls, add_operators, at, live_call, workplace_app

with warnings.catch_warnings():
    # starlette's TestClient would rather run on httpx2, which is not installed; it works on httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient, WebSocketTestSession

DESK_JS = Path(__file__).parents[3] / "src/hotline/web/static/js/desk.js"
LABEL_KEY = re.compile(r"""["']((?:desk|state|phase|topic|event)\.[a-z0-9_.]+)["']""")
LABELS = re.compile(r"data-labels='([^']*)'")
FAST = WorkplaceSettings(snapshot_interval_s=0.05, day_compute_min_s=0.0)
TO_1002 = TransferInProgress(
    TransferMode.BLIND, TransferTarget(TargetKind.OPERATOR, "1002"), at(40.0)
)
CONSULT_HEALTH = TransferInProgress(
    TransferMode.CONSULT, TransferTarget(TargetKind.QUEUE, "health"), at(41.5), answered=True
)
FAILED_BUSY = TransferOutcome(
    TransferMode.BLIND,
    TransferTarget(TargetKind.OPERATOR, "1002"),
    TransferResult.FAILED,
    TransferFailure.BUSY,
    at(45.0),
)
FAILED_JSON = {
    "mode": "blind",
    "kind": "operator",
    "target_id": "1002",
    "result": "failed",
    "reason": "busy",
    "at": "2026-03-02T09:00:45Z",
}
RINGING_JSON = {
    "mode": "blind",
    "kind": "operator",
    "target_id": "1002",
    "since": "2026-03-02T09:00:40Z",
    "answered": False,
}


@pytest.fixture
def fake() -> FakeCalls:
    return FakeCalls.standard()


@pytest.fixture
def app(db: Database, clock: FakeClock, config: WebConfig, fake: FakeCalls) -> FastAPI:
    add_operators(db)
    return workplace_app(db, clock, config, fake, bus=EventBus(), settings=FAST)


def test_the_json_shape_of_a_transfer_in_progress() -> None:
    assert transfer_out(None) is None
    assert transfer_out(TO_1002) == TransferOut(
        mode=TransferMode.BLIND,
        kind=TargetKind.OPERATOR,
        target_id="1002",
        since=at(40.0),
        answered=False,
    )
    consult = transfer_out(CONSULT_HEALTH)
    assert consult is not None
    assert consult.model_dump(mode="json") == {
        "mode": "consult",
        "kind": "queue",
        "target_id": "health",
        "since": "2026-03-02T09:00:41.500000Z",
        "answered": True,
    }


async def test_the_desk_state_and_card_carry_the_transfer_then_none(
    app: FastAPI, fake: FakeCalls
) -> None:
    fake.offer(replace(live_call("c1"), transfer=TO_1002))
    async with client_for(app) as http:
        await log_in(http, "operator1")
        state = await http.get("/api/v1/desk/state")
        assert state.status_code == 200, state.text
        assert state.json()["call"]["transfer"] == RINGING_JSON
        card = await http.get("/api/v1/desk/call")
        assert card.status_code == 200, card.text
        assert card.json()["call"]["transfer"] == RINGING_JSON
        fake.calls["c1"] = replace(fake.calls["c1"], transfer=None)  # the target refused
        after = await http.get("/api/v1/desk/state")
        assert after.json()["call"]["transfer"] is None


async def test_the_supervisors_live_calls_carry_it_too(app: FastAPI, fake: FakeCalls) -> None:
    fake.offer(replace(live_call("c1"), transfer=CONSULT_HEALTH))
    async with client_for(app) as http:
        await log_in(http, "supervisor")
        r = await http.get("/api/v1/supervisor/calls")
    assert r.status_code == 200, r.text
    (call,) = r.json()
    assert (call["transfer"]["mode"], call["transfer"]["answered"]) == ("consult", True)


def _until_desk(ws: WebSocketTestSession, limit: int = 200) -> dict[str, Any]:
    for _ in range(limit):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == "desk":
            return message
    raise AssertionError("no desk message")


def test_the_live_desk_message_carries_the_transfer_while_pending(
    app: FastAPI, fake: FakeCalls
) -> None:
    fake.offer(replace(live_call("c1"), transfer=TO_1002))
    with TestClient(app) as client:
        r = client.post("/api/v1/auth/login", json={"username": "operator1", "password": PASSWORD})
        assert r.status_code == 200, r.text
        with client.websocket_connect("/api/v1/live") as ws:
            desk = _until_desk(ws)
            assert desk["call"]["transfer"] == RINGING_JSON
            fake.calls["c1"] = replace(fake.calls["c1"], transfer=None)  # it failed
            for _ in range(200):
                desk = _until_desk(ws)
                if desk["call"]["transfer"] is None:
                    break
            assert desk["call"]["call_id"] == "c1" and desk["call"]["transfer"] is None


def test_every_label_the_desk_script_looks_up_is_in_the_catalogue() -> None:
    used = set(LABEL_KEY.findall(DESK_JS.read_text(encoding="utf-8")))
    assert {
        "desk.transfer.pending",
        "desk.transfer.consult_ringing",
        "desk.transfer.failed",
    } <= used
    assert sorted(k for k in used if k not in MESSAGES_RU) == []
    assert MESSAGES_RU["desk.transfer.pending"] == "Идёт перевод: {target}…"


async def test_the_desk_page_has_the_transfer_line_and_its_labels(app: FastAPI) -> None:
    async with client_for(app) as http:
        await log_in(http, "operator1")
        page = (await http.get("/desk")).text
    assert 'id="card-transfer" data-testid="card-transfer"' in page
    found = LABELS.search(page)
    assert found is not None
    labels = json.loads(html.unescape(found.group(1)))
    for key in (
        "pending",
        "consult_ringing",
        "consult_talking",
        "to.operator",
        "failed",
        "cancelled",
        "reason.busy",
    ):
        assert labels[f"desk.transfer.{key}"] == MESSAGES_RU[f"desk.transfer.{key}"]


# -- how the last transfer ended -------------------------------------------------------------


def test_the_json_shape_of_a_transfer_outcome() -> None:
    assert transfer_outcome_out(None) is None
    out = transfer_outcome_out(FAILED_BUSY)
    assert out == TransferOutcomeOut(
        mode=TransferMode.BLIND,
        kind=TargetKind.OPERATOR,
        target_id="1002",
        result=TransferResult.FAILED,
        reason=TransferFailure.BUSY,
        at=at(45.0),
    )
    assert out.model_dump(mode="json") == FAILED_JSON
    cancelled = TransferOutcome(
        TransferMode.CONSULT,
        TransferTarget(TargetKind.QUEUE, "health"),
        TransferResult.CANCELLED,
        None,
        at(46.0),
    )
    dumped = transfer_outcome_out(cancelled)
    assert dumped is not None
    assert (dumped.model_dump(mode="json")["result"], dumped.reason) == ("cancelled", None)


async def test_the_desk_state_and_card_carry_the_last_transfer_then_none(
    app: FastAPI, fake: FakeCalls
) -> None:
    fake.offer(replace(live_call("c1"), last_transfer=FAILED_BUSY))
    async with client_for(app) as http:
        await log_in(http, "operator1")
        state = await http.get("/api/v1/desk/state")
        assert state.status_code == 200, state.text
        assert state.json()["call"]["last_transfer"] == FAILED_JSON
        assert state.json()["call"]["transfer"] is None
        card = await http.get("/api/v1/desk/call")
        assert card.json()["call"]["last_transfer"] == FAILED_JSON
        fake.calls["c1"] = replace(fake.calls["c1"], last_transfer=None)  # it expired
        after = await http.get("/api/v1/desk/state")
        assert after.json()["call"]["last_transfer"] is None


def test_the_live_desk_message_carries_the_last_transfer(app: FastAPI, fake: FakeCalls) -> None:
    fake.offer(replace(live_call("c1"), last_transfer=FAILED_BUSY))
    with TestClient(app) as client:
        r = client.post("/api/v1/auth/login", json={"username": "operator1", "password": PASSWORD})
        assert r.status_code == 200, r.text
        with client.websocket_connect("/api/v1/live") as ws:
            desk = _until_desk(ws)
            assert desk["call"]["last_transfer"] == FAILED_JSON


def test_every_failure_reason_has_a_russian_text_with_the_target() -> None:
    for failure in TransferFailure:
        text = MESSAGES_RU[f"desk.transfer.reason.{failure.value}"]
        assert text and ("{target}" in text or failure is TransferFailure.ERROR)
    assert "{reason}" in MESSAGES_RU["desk.transfer.failed"]
    assert MESSAGES_RU["desk.transfer.failed"].startswith("Перевод не состоялся")
    assert MESSAGES_RU["desk.transfer.cancelled"]


def test_the_desk_script_takes_the_outcome_from_the_server_and_guesses_nothing() -> None:
    script = DESK_JS.read_text(encoding="utf-8")
    assert "last_transfer" in script and "desk.transfer.reason." in script
    assert "withdrawn" not in script  # the browser-side guess is gone
    assert "snapshots" not in script
    assert "desk.transfer.cancelled" in set(LABEL_KEY.findall(script))
