"""Login, sessions, lockout and CSRF over the real app (httpx over ASGI, fake clock)."""

from __future__ import annotations

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select

from hotline.store.audit import AuditLog
from hotline.store.models import UserRow
from hotline.store.web_sessions import WebSessionRow, WebSessionStore, token_hash
from hotline.web.auth import SESSION_COOKIE
from unit.web.conftest import Web, client_for
from unit.web.web_support import PASSWORD, log_in


async def _audit_actions(client: httpx.AsyncClient) -> list[str]:
    await log_in(client, "auditor")
    items = (await client.get("/api/v1/audit", params={"limit": 500})).json()["items"]
    return [item["action"] for item in reversed(items)]


async def test_login_sets_a_strict_http_only_cookie_and_stores_only_a_hash(
    client: httpx.AsyncClient, web: Web
) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"username": "supervisor", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["username"], body["role"]) == ("supervisor", "supervisor")
    assert "queues.control" in body["permissions"] and "audit.read" not in body["permissions"]
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain HTTP on loopback (the demo)
    token = client.cookies[SESSION_COOKIE]
    with web.db.session() as s:
        hashes = list(s.scalars(select(WebSessionRow.token_hash)))
    assert hashes == [token_hash(token)]
    me = (await client.get("/api/v1/auth/me")).json()
    assert me["csrf_token"] == body["csrf_token"]


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient) -> None:
    for username in ("supervisor", "nobody"):
        response = await client.post(
            "/api/v1/auth/login", json={"username": username, "password": "wrong"}
        )
        assert response.status_code == 401
        assert response.json() == {
            "code": "invalid_credentials",
            "message": "Неверное имя пользователя или пароль.",
        }
    assert await _audit_actions(client) == ["auth.login_failed", "auth.login_failed", "auth.login"]


async def test_lockout_per_user_then_released_after_the_window(web: Web) -> None:
    async with client_for(web.app) as http:
        for _ in range(web.config.lockout_user_failures):
            r = await http.post("/api/v1/auth/login", json={"username": "admin", "password": "x"})
            assert r.status_code == 401
        # Locked: even the right password is refused, without checking it.
        r = await http.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert r.status_code == 429
        assert r.json()["code"] == "locked_out"
        assert "10 мин" in r.json()["message"]
        assert r.headers["retry-after"] == "600"
        # Another user from the same address is not locked (3 < 6 failures per address).
        await log_in(http, "operator1")
        web.clock.advance(web.config.lockout_window_s + 1)
        await log_in(http, "admin")


async def test_lockout_per_source_address(web: Web) -> None:
    async with client_for(web.app) as http:
        for n in range(web.config.lockout_source_failures):
            user = f"guess{n}"
            r = await http.post("/api/v1/auth/login", json={"username": user, "password": "x"})
            assert r.status_code == 401
        r = await http.post(
            "/api/v1/auth/login", json={"username": "auditor", "password": PASSWORD}
        )
        assert (r.status_code, r.json()["code"]) == (429, "locked_out")
    async with client_for(web.app) as http:  # same address, new browser: still locked
        r = await http.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert r.status_code == 429


async def test_success_resets_the_users_failure_count(web: Web) -> None:
    async with client_for(web.app) as http:
        for _round in range(2):  # 4 failures in all: over the per-user limit without the reset
            for _ in range(web.config.lockout_user_failures - 1):
                r = await http.post(
                    "/api/v1/auth/login", json={"username": "admin", "password": "bad"}
                )
                assert r.status_code == 401
            await log_in(http, "admin")


async def test_unsafe_requests_need_the_csrf_token(client: httpx.AsyncClient) -> None:
    csrf = await log_in(client, "operator1")
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        r = await client.post("/api/v1/auth/logout", headers=headers)
        assert r.status_code == 403
        assert r.json()["code"] == "csrf_failed"
    # A form carries it in a hidden field instead.
    r = await client.post("/logout", data={"csrf_token": "wrong"})
    assert r.status_code == 403
    cross = {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}
    assert (await client.post("/api/v1/auth/logout", headers=cross)).status_code == 403
    evil = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    assert (await client.post("/api/v1/auth/logout", headers=evil)).status_code == 403
    assert (await client.get("/api/v1/auth/me")).status_code == 200  # still logged in
    r = await client.post("/logout", data={"csrf_token": csrf})
    assert (r.status_code, r.headers["location"]) == (303, "/login?out=1")
    assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_login_from_another_site_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/v1/auth/login",
        json={"username": "operator1", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert (r.status_code, r.json()["code"]) == (403, "csrf_failed")


async def test_session_expires_when_idle_and_at_its_ttl(web: Web) -> None:
    async with client_for(web.app) as http:
        await log_in(http, "operator1")
        web.clock.advance(web.config.session_idle_s - 1)
        assert (await http.get("/api/v1/auth/me")).status_code == 200
        web.clock.advance(web.config.session_idle_s - 1)  # used within the idle time: alive
        assert (await http.get("/api/v1/auth/me")).status_code == 200
        web.clock.advance(web.config.session_idle_s)
        r = await http.get("/api/v1/auth/me")
        assert (r.status_code, r.json()["code"]) == (401, "session_expired")
        # The expired session is gone from the table.
        assert (await http.get("/api/v1/auth/me")).json()["code"] == "not_authenticated"
        await log_in(http, "operator1")
        for _ in range(int(web.config.session_ttl_s // (web.config.session_idle_s / 2)) + 1):
            web.clock.advance(web.config.session_idle_s / 2)
            if (await http.get("/api/v1/auth/me")).status_code != 200:
                break
        else:
            raise AssertionError("the session outlived its ttl")
        store = WebSessionStore(web.db)
        assert store.sessions_of("u0") == []
    expired = AuditLog(web.db).query(action="auth.session_expired").items
    assert [(e.actor, e.role) for e in expired] == [("operator1", "operator")] * 2


async def test_a_new_login_replaces_the_browsers_session(web: Web) -> None:
    store = WebSessionStore(web.db)
    async with client_for(web.app) as http:
        await log_in(http, "operator1")
        first = http.cookies[SESSION_COOKIE]
        await log_in(http, "operator1")
        assert http.cookies[SESSION_COOKIE] != first
        assert [s.token_hash for s in store.sessions_of("u0")] == [
            token_hash(http.cookies[SESSION_COOKIE])
        ]
    async with client_for(web.app) as other:  # another browser keeps its own session
        await log_in(other, "operator1")
    assert len(store.sessions_of("u0")) == 2


async def test_pages_redirect_to_login_and_back(client: httpx.AsyncClient) -> None:
    r = await client.get("/audit")
    assert (r.status_code, r.headers["location"]) == (303, "/login?next=/audit")
    form = await client.get("/login", params={"next": "/audit"})
    assert form.status_code == 200 and 'name="next" value="/audit"' in form.text
    bad = await client.post(
        "/login", data={"username": "auditor", "password": "no", "next": "/audit"}
    )
    assert bad.status_code == 401 and "Неверное имя пользователя или пароль." in bad.text
    ok = await client.post(
        "/login", data={"username": "auditor", "password": PASSWORD, "next": "//evil.example/x"}
    )
    assert (ok.status_code, ok.headers["location"]) == (303, "/")
    home = await client.get("/")
    assert (home.status_code, home.headers["location"]) == (303, "/reports")
    page = await client.get("/audit")
    assert page.status_code == 200
    assert 'href="/audit" aria-current="page"' in page.text and 'href="/desk"' not in page.text
    forbidden = await client.get("/desk")
    assert forbidden.status_code == 403 and "Доступ запрещён" in forbidden.text


async def test_navigation_follows_the_role(web: Web) -> None:
    expected = {
        "operator1": ["/desk"],
        "supervisor": ["/wallboard", "/reports"],
        "admin": ["/wallboard", "/reports", "/admin"],
        "auditor": ["/reports", "/audit"],
    }
    for username, paths in expected.items():
        async with client_for(web.app) as http:
            await log_in(http, username)
            page = await http.get(paths[0])
            assert page.status_code == 200
            shown = [
                p
                for p in ("/desk", "/wallboard", "/reports", "/audit", "/admin")
                if f'href="{p}"' in page.text
            ]
            assert shown == paths, username


async def test_a_changed_hasher_rehashes_at_login(web: Web) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    new = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    web.app.state.web = type(web.app.state.web)(
        **{
            **{f: getattr(web.app.state.web, f) for f in web.app.state.web.__dataclass_fields__},
            "hasher": new,
        }
    )
    with web.db.session() as s:
        before = s.scalar(select(UserRow.password_hash).where(UserRow.username == "admin"))
    assert before is not None and not old.check_needs_rehash(before)
    async with client_for(web.app) as http:
        await log_in(http, "admin")
    with web.db.session() as s:
        after = s.scalar(select(UserRow.password_hash).where(UserRow.username == "admin"))
    assert after is not None and after != before
    assert not new.check_needs_rehash(after) and new.verify(after, PASSWORD)


async def test_a_disabled_user_cannot_log_in_and_loses_the_session(web: Web) -> None:
    async with client_for(web.app) as http:
        await log_in(http, "operator1")
        with web.db.session() as s, s.begin():
            s.get(UserRow, "u0").is_active = False  # type: ignore[union-attr]
        assert (await http.get("/api/v1/auth/me")).status_code == 401
        r = await http.post(
            "/api/v1/auth/login", json={"username": "operator1", "password": PASSWORD}
        )
        assert r.status_code == 401
