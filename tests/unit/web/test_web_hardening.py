"""Fixes of the web security review: body limits, lockout races, self-grants, the register."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
from argon2 import PasswordHasher
from starlette.types import Message, Receive, Scope, Send

from hotline.store.accounts import AccountsRepository
from hotline.store.audit import AuditLog
from hotline.store.models import UserRow
from hotline.store.wrapups import WrapupInput, WrapupRepository
from hotline.web.context import WebContext
from hotline.web.errors import ApiError
from hotline.web.login import log_in as blocking_log_in
from hotline.web.security import SecurityHeadersMiddleware
from unit.web.admin_support import audit_rows, session
from unit.web.conftest import Web, client_for
from unit.web.web_support import PASSWORD, START, log_in

MIB = 1024 * 1024


# -- 1. bodies without a Content-Length ----------------------------------------------------


async def _chunks(sent: list[int], total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    while sum(sent) < total:
        sent.append(size)
        yield b"x" * size


async def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(
    client: httpx.AsyncClient,
) -> None:
    sent: list[int] = []
    r = await client.post("/api/v1/auth/login", content=_chunks(sent, 4 * MIB))
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert r.headers["x-frame-options"] == "DENY"
    assert sum(sent) <= MIB + 64 * 1024  # reading stopped at the limit


async def test_the_middleware_counts_bytes_whatever_the_headers_say() -> None:
    got: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while True:  # an app that reads its whole body, as FastAPI does
            message = await receive()
            got.append(len(message.get("body", b"")))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = [b"y" * 400] * 10
    messages: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> Message:
        return messages.pop(0)

    out: list[Message] = []

    async def send(message: Message) -> None:
        out.append(message)

    scope: Scope = {
        "type": "http",
        "path": "/x",
        "headers": [(b"content-length", b"10")],  # a lie: 4000 bytes follow
    }
    await SecurityHeadersMiddleware(app, max_body_bytes=1000)(scope, receive, send)
    assert out[0]["status"] == 413
    assert sum(got) <= 1000 and len(messages) == 7  # three chunks read, seven never


async def test_the_login_form_takes_no_file_parts(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD},
        files={"upload": ("a.bin", b"z" * 10_000, "application/octet-stream")},
        headers={"Origin": "http://hotline.test"},
    )
    assert r.status_code == 400
    ok = await client.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "next": "/"},
        headers={"Origin": "http://hotline.test"},
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"


# -- 8b. the lockout holds under concurrent guesses ----------------------------------------


def test_concurrent_guesses_check_no_more_passwords_than_the_limit(web: Web) -> None:
    base: WebContext = web.app.state.web
    # A hasher slow enough that all guesses overlap the password check.
    ctx = replace(base, hasher=PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1))
    ctx = replace(ctx, dummy_hash=ctx.hasher.hash("dummy"))
    guesses = 40
    start = threading.Barrier(guesses)
    codes: list[str] = []
    lock = threading.Lock()

    def guess() -> None:
        start.wait(timeout=30)
        try:
            blocking_log_in(ctx, "admin", "wrong guess", source="10.9.9.9", user_agent="t")
        except ApiError as exc:
            with lock:
                codes.append(exc.code.value)

    threads = [threading.Thread(target=guess) for _ in range(guesses)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    limit = web.config.lockout_user_failures
    assert len(codes) == guesses
    assert codes.count("invalid_credentials") <= limit
    assert codes.count("locked_out") >= guesses - limit
    assert len(audit_rows(web.db, "auth.login_failed")) == codes.count("invalid_credentials")


# -- 3. administrators cannot grant themselves anything ------------------------------------


async def test_an_administrator_cannot_change_their_own_rights_or_password(web: Web) -> None:
    async with session(web.app, "admin") as admin:  # admin is u2
        for body in (
            {"permissions": ["medical_secrecy"]},
            {"role": "auditor"},
            {"role": "administrator"},
            {"is_active": True},
        ):
            r = await admin.patch("/api/v1/admin/users/u2", body)
            assert r.status_code == 409, body
        r = await admin.patch("/api/v1/admin/users/u2", {"display_name": "Новое имя"})
        assert r.status_code == 200
        r = await admin.post("/api/v1/admin/users/u2/password", {"password": "own-new-pass"})
        assert r.status_code == 409
    me = AccountsRepository(web.db).user_by_username("admin")
    assert me is not None and me.permissions == () and me.role == "administrator"


async def test_only_listed_extras_can_be_granted(web: Web) -> None:
    async with session(web.app, "admin") as admin:
        for extra in ("audit.read", "admin.users", "admin.config", "recordings.play"):
            r = await admin.patch("/api/v1/admin/users/u1", {"permissions": [extra]})
            assert r.status_code == 422, extra
            r = await admin.post(
                "/api/v1/admin/users",
                {"username": "sneaky", "display_name": "x", "role": "operator",
                 "password": "long-enough-1", "permissions": [extra]},
            )  # fmt: skip
            assert r.status_code == 422, extra
        r = await admin.patch(
            "/api/v1/admin/users/u1", {"permissions": ["medical_secrecy", "personal_data.view"]}
        )
        assert r.status_code == 200
        assert sorted(r.json()["permissions"]) == ["medical_secrecy", "personal_data.view"]


async def test_resetting_an_auditors_password_needs_a_reason_and_ends_sessions(web: Web) -> None:
    async with session(web.app, "admin") as admin, client_for(web.app) as auditor:
        await log_in(auditor, "auditor")  # auditor is u3
        url = "/api/v1/admin/users/u3/password"
        r = await admin.post(url, {"password": "taken-over-1"})
        assert (r.status_code, r.json()["code"]) == (400, "reason_required")
        assert (await auditor.get("/api/v1/auth/me")).status_code == 200  # nothing changed
        r = await admin.post(
            url, {"password": "taken-over-1", "reason": "заявка №5 от министерства"}
        )
        assert r.status_code == 200
        assert (await auditor.get("/api/v1/auth/me")).status_code == 401  # sessions ended
        # An operator's password needs no reason.
        r = await admin.post("/api/v1/admin/users/u0/password", {"password": "operator-pw-2"})
        assert r.status_code == 200
    resets = [e for e in audit_rows(web.db, "config.changed") if e.object == "user:auditor"]
    assert [(e.reason, e.details["privileged"], e.details["sessions_revoked"]) for e in resets] == [
        ("заявка №5 от министерства", True, 1)
    ]


# -- 5. the proposals register follows secrecy and masking ---------------------------------


def _proposal(web: Web, call_id: str, topic: str, notes: str) -> None:
    WrapupRepository(web.db).add(
        WrapupInput(
            call_id=call_id,
            operator_id="101",
            username="operator1",
            topic=topic,
            outcome="resolved",
            notes=notes,
            proposal=True,
        ),
        START,
    )


async def test_the_register_hides_medical_calls_and_masks_personal_data(web: Web) -> None:
    _proposal(web, "call-med", "health", "Диагноз пациента: открыть запись к онкологу")
    _proposal(web, "call-soc", "social", "Перезвонить на 8 (999) 123-45-67, продлить часы")
    async with session(web.app, "admin") as admin:
        listed = (await admin.http.get("/api/v1/admin/proposals")).json()
    assert [(p["topic"], p["call_id"], p["text"]) for p in listed] == [
        ("social", None, "Перезвонить на 8 999 ***-**-67, продлить часы")
    ]
    with web.db.session() as s, s.begin():
        row = s.get(UserRow, "u2")
        assert row is not None
        row.permissions = ["medical_secrecy", "personal_data.view"]
    async with session(web.app, "admin") as admin:
        listed = (await admin.http.get("/api/v1/admin/proposals")).json()
    assert sorted((p["topic"], p["call_id"]) for p in listed) == [
        ("health", "call-med"),
        ("social", "call-soc"),
    ]
    assert AuditLog(web.db).verify().ok
