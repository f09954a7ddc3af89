"""The operator desk's API over a fake call service: state, call card, controls, wrap-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hotline.calls.api import ActionRefusal, TargetKind, TransferTarget
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId
from hotline.reports.events import EventKind
from hotline.store.audit import AuditLog
from hotline.store.db import Database
from hotline.store.kb import StandardAnswersRepository, StoredAnswer
from hotline.store.organisations import OrganisationsRepository, StoredOrganisation
from hotline.store.wrapups import WrapupInput, WrapupRepository
from hotline.web.config import WebConfig
from hotline.web.i18n import MESSAGES_RU
from unit.web.conftest import client_for
from unit.web.web_support import log_in
from unit.web.workplace_fakes import (
    CALLER,
    OPERATOR,
    OTHER,
    FakeCalls,
    add_operators,
    at,
    event,
    live_call,
    store_events,
    workplace_app,
)

CONFLICT = MESSAGES_RU["error.conflict"]
NOT_FOUND = MESSAGES_RU["error.not_found"]


@pytest.fixture
def fake() -> FakeCalls:
    return FakeCalls.standard()


@pytest.fixture
def app(db: Database, clock: FakeClock, config: WebConfig, fake: FakeCalls) -> FastAPI:
    add_operators(db)
    return workplace_app(db, clock, config, fake)


@pytest.fixture
async def operator(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    async with client_for(app) as http:
        csrf = await log_in(http, "operator1")
        yield http, {"X-CSRF-Token": csrf}


async def test_state_and_lists(operator: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    http, _ = operator
    r = await http.get("/api/v1/desk/state")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["operator"]["operator_id"] == OPERATOR
    assert body["operator"]["state"] == "logged_out"
    assert body["call"] is None
    assert "lunch" in body["reasons"] and "consulted" in body["outcomes"]


async def test_set_ready_and_not_ready_with_a_listed_reason(
    operator: tuple[httpx.AsyncClient, dict[str, str]], fake: FakeCalls
) -> None:
    http, csrf = operator
    r = await http.post("/api/v1/desk/state", json={"state": "ready"}, headers=csrf)
    assert r.status_code == 200 and r.json()["operator"]["state"] == "ready"
    r = await http.post(
        "/api/v1/desk/state", json={"state": "not_ready", "reason": "lunch"}, headers=csrf
    )
    assert r.json()["operator"] == r.json()["operator"] | {"state": "not_ready", "reason": "lunch"}
    assert fake.done == [
        ("set_operator_state", (OPERATOR, "ready", None)),
        ("set_operator_state", (OPERATOR, "not_ready", "lunch")),
    ]
    bad = await http.post(
        "/api/v1/desk/state", json={"state": "not_ready", "reason": "nap"}, headers=csrf
    )
    assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
    no_csrf = await http.post("/api/v1/desk/state", json={"state": "ready"})
    assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf_failed"
    assert len(fake.done) == 2


async def test_a_user_without_an_operator_account_gets_409(
    db: Database, clock: FakeClock, config: WebConfig, fake: FakeCalls
) -> None:
    app = workplace_app(db, clock, config, fake)  # no operators in the database
    async with client_for(app) as http:
        await log_in(http, "operator1")
        r = await http.get("/api/v1/desk/state")
    assert r.status_code == 409
    assert r.json() == {"code": "conflict", "message": CONFLICT}


async def test_the_call_card_brings_history_callbacks_transcript_and_answers(
    operator: tuple[httpx.AsyncClient, dict[str, str]],
    db: Database,
    fake: FakeCalls,
    tmp_path: Path,
) -> None:
    http, _ = operator
    StandardAnswersRepository(db).upsert(
        StoredAnswer("soc-1", "social", "Пособие на ребёнка", ("как получить пособие",), "Ответ.")
    )
    StandardAnswersRepository(db).upsert(
        StoredAnswer("edu-1", "education", "Запись в школу", ("как записать",), "Ответ 2.")
    )
    WrapupRepository(db).add(
        WrapupInput("old-1", OPERATOR, "operator1", "social", "complaint", "Жалоба на МФЦ"),
        at(-3000),
    )
    await store_events(
        db,
        tmp_path / "journal",
        [
            event(EventKind.CALL_ARRIVED, -3600, "old-1", caller="89991234567", called="122"),
            event(EventKind.CALL_ARRIVED, -1800, "old-2", caller="+79990000000", called="122"),
            event(
                EventKind.QUEUE_CALLBACK_REQUESTED, -1700, "old-3", queue="social", number=CALLER
            ),
            event(EventKind.CALL_ARRIVED, 0, "c1", caller=CALLER, called="122"),
            event(EventKind.CALL_BOT_STARTED, 2, "c1"),
            event(
                EventKind.CALL_BOT_ENDED,
                20,
                "c1",
                result="handed_over",
                transcript="как получить пособие",
                reason=None,
                answer_id=None,
            ),
            event(EventKind.QUEUE_ENTERED, 21, "c1", queue="social", position=1),
            event(
                EventKind.QUEUE_ANSWERED, 30, "c1", queue="social", operator=OPERATOR, wait_s=9.0
            ),
        ],
    )
    fake.offer(live_call("c1"))
    r = await http.get("/api/v1/desk/call")
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["call"]["number"] == CALLER  # operators see the number they talk to
    assert card["call"]["topic"] == "social"
    assert card["wait_s"] == 9.0
    assert card["via_assistant"] is True
    assert card["transcript"] == "как получить пособие"
    assert [c["call_id"] for c in card["earlier_calls"]] == ["old-1"]  # 8… is +7…
    assert card["earlier_calls"][0]["outcome"] == "complaint"
    assert card["earlier_calls"][0]["notes"] == "Жалоба на МФЦ"
    assert [(c["call_id"], c["completed"]) for c in card["callbacks"]] == [("old-3", False)]
    assert [a["id"] for a in card["answers"]] == ["soc-1"]  # suggested by the topic
    entries = AuditLog(db).query(action="personal_data.viewed").items
    assert [(e.actor, e.object) for e in entries] == [("operator1", "call:c1")]
    same = await http.get("/api/v1/desk/calls/c1")
    assert same.status_code == 200 and same.json()["call"]["call_id"] == "c1"


async def test_no_current_call_and_other_operators_calls_are_404(
    operator: tuple[httpx.AsyncClient, dict[str, str]], fake: FakeCalls
) -> None:
    http, csrf = operator
    none = await http.get("/api/v1/desk/call")
    assert none.status_code == 404 and none.json()["message"] == NOT_FOUND
    fake.offer(live_call("c9", operator=OTHER), OTHER)
    for path in ("/api/v1/desk/calls/c9", "/api/v1/desk/calls/nope"):
        assert (await http.get(path)).status_code == 404
    r = await http.post("/api/v1/desk/calls/c9/hangup", headers=csrf)
    assert r.status_code == 404
    assert fake.done == [] and "c9" in fake.calls


async def test_hold_resume_and_hang_up(
    operator: tuple[httpx.AsyncClient, dict[str, str]], fake: FakeCalls
) -> None:
    http, csrf = operator
    fake.offer(live_call("c1"))
    assert (await http.post("/api/v1/desk/calls/c1/hold", headers=csrf)).status_code == 204
    twice = await http.post("/api/v1/desk/calls/c1/hold", headers=csrf)
    assert twice.status_code == 409
    assert twice.json() == {"code": "conflict", "message": CONFLICT}
    assert (await http.post("/api/v1/desk/calls/c1/resume", headers=csrf)).status_code == 204
    assert (await http.post("/api/v1/desk/calls/c1/hangup", headers=csrf)).status_code == 204
    assert [name for name, _ in fake.done] == ["hold", "resume", "hang_up"]
    gone = await http.post("/api/v1/desk/calls/c1/hangup", headers=csrf)
    assert gone.status_code == 404


async def test_transfers_blind_and_attended(
    operator: tuple[httpx.AsyncClient, dict[str, str]], fake: FakeCalls
) -> None:
    http, csrf = operator
    fake.offer(live_call("c1"))
    r = await http.post(
        "/api/v1/desk/calls/c1/transfer", json={"kind": "queue", "id": "health"}, headers=csrf
    )
    assert r.status_code == 204
    unknown = await http.post(
        "/api/v1/desk/calls/c1/transfer", json={"kind": "operator", "id": "9999"}, headers=csrf
    )
    assert unknown.status_code == 404
    r = await http.post(
        "/api/v1/desk/calls/c1/consult", json={"kind": "operator", "id": OTHER}, headers=csrf
    )
    assert r.status_code == 204
    fake.refuse_next(ActionRefusal.WRONG_STATE)
    early = await http.post("/api/v1/desk/calls/c1/consult/complete", headers=csrf)
    assert early.status_code == 409 and early.json()["message"] == CONFLICT
    done = await http.post("/api/v1/desk/calls/c1/consult/complete", headers=csrf)
    assert done.status_code == 204
    assert (
        await http.post("/api/v1/desk/calls/c1/consult/cancel", headers=csrf)
    ).status_code == 204
    assert fake.done == [
        ("transfer_blind", (CallId("c1"), TransferTarget(TargetKind.QUEUE, "health"))),
        ("consult", (CallId("c1"), TransferTarget(TargetKind.OPERATOR, OTHER))),
        ("complete_transfer", (CallId("c1"),)),
        ("cancel_consult", (CallId("c1"),)),
    ]
    bad = await http.post(
        "/api/v1/desk/calls/c1/transfer", json={"kind": "planet", "id": "x"}, headers=csrf
    )
    assert bad.status_code == 422


async def test_dial_out_targets_and_directory(
    operator: tuple[httpx.AsyncClient, dict[str, str]], fake: FakeCalls, db: Database
) -> None:
    http, csrf = operator
    r = await http.post("/api/v1/desk/dial", json={"number": "+7 (999) 000-11-22"}, headers=csrf)
    assert r.json() == {"call_id": "out-1"}
    assert fake.done == [("dial_out", (OPERATOR, "+79990001122"))]
    assert (
        await http.post("/api/v1/desk/dial", json={"number": "abc"}, headers=csrf)
    ).status_code == 422
    fake.set_operator_state(OTHER, "ready")
    targets = (await http.get("/api/v1/desk/targets")).json()
    assert [o["operator_id"] for o in targets["operators"]] == [OTHER]
    assert targets["queues"] == ["social", "health"]
    repo = OrganisationsRepository(db)
    repo.save(StoredOrganisation("mfc", "МФЦ Ёлкино", "+78000000001", ("services",)))
    repo.save(StoredOrganisation("soc", "Соцзащита", "+78000000002", ("social",)))
    repo.save(StoredOrganisation("off", "Закрыто", "+78000000003", ("social",), enabled=False))
    found = (await http.get("/api/v1/desk/organisations", params={"q": "елкино"})).json()
    assert [o["organisation_id"] for o in found] == ["mfc"]
    by_topic = (await http.get("/api/v1/desk/organisations", params={"topic": "social"})).json()
    assert [o["organisation_id"] for o in by_topic] == ["soc", "mfc"]


async def test_answers_search(
    operator: tuple[httpx.AsyncClient, dict[str, str]], db: Database
) -> None:
    http, _ = operator
    repo = StandardAnswersRepository(db)
    repo.upsert(StoredAnswer("a1", "social", "Пособие", ("когда придёт пособие",), "Текст."))
    repo.upsert(StoredAnswer("a2", "health", "Запись к врачу", ("пособие",), "Текст 2."))
    repo.upsert(StoredAnswer("a3", "social", "Отключено", ("пособие",), "Нет.", enabled=False))
    hits = (await http.get("/api/v1/desk/answers", params={"q": "ПОСОБИЕ"})).json()
    assert [a["id"] for a in hits] == ["a1", "a2"]  # the title match first
    both = (await http.get("/api/v1/desk/answers", params={"q": "придет пособие"})).json()
    assert [a["id"] for a in both] == ["a1"]
    topic = (await http.get("/api/v1/desk/answers", params={"topic": "health"})).json()
    assert [a["id"] for a in topic] == ["a2"]


async def test_wrap_up_stores_the_form_and_ends_wrap_up(
    operator: tuple[httpx.AsyncClient, dict[str, str]], fake: FakeCalls, db: Database
) -> None:
    http, csrf = operator
    fake.offer(live_call("c1"))
    await http.post("/api/v1/desk/calls/c1/hangup", headers=csrf)
    form = {"call_id": "c1", "outcome": "proposal", "notes": " Продлить часы ", "proposal": True}
    r = await http.post("/api/v1/desk/wrapup", json=form, headers=csrf)
    assert r.status_code == 404  # the call is gone and no stored event names the operator
    fake.offer(live_call("c2"))
    fake.operators_[OPERATOR] = fake.operators_[OPERATOR].__class__(
        OPERATOR, "wrap_up", None, at(0), None
    )
    r = await http.post("/api/v1/desk/wrapup", json=form | {"call_id": "c2"}, headers=csrf)
    assert r.status_code == 200, r.text
    assert r.json()["call_id"] == "c2" and r.json()["wrapup_ended"] is True
    assert fake.done[-1] == ("wrapup_done", (OPERATOR,))
    (stored,) = WrapupRepository(db).proposals(at(-60), at(60))
    assert (stored.topic, stored.outcome, stored.notes) == ("social", "proposal", "Продлить часы")
    assert stored.proposal_status == "new" and stored.username == "operator1"
    again = await http.post("/api/v1/desk/wrapup", json=form | {"call_id": "c2"}, headers=csrf)
    assert again.status_code == 200 and again.json()["wrapup_ended"] is False
    bad = await http.post(
        "/api/v1/desk/wrapup", json=form | {"call_id": "c2", "outcome": "nope"}, headers=csrf
    )
    assert bad.status_code == 422
