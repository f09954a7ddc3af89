"""The docs page without a CDN, the OpenAPI schema, static assets, the feed under auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from prometheus_client import CollectorRegistry

from hotline.app.feedservice import feed_routes
from hotline.store.audit import AuditLog
from hotline.store.feed_outbox import FeedOutbox, Rendered
from hotline.web.app import create_web_app
from hotline.web.docs import swagger_ui_dir
from hotline.web.ops import create_ops_app
from unit.web.conftest import Health, Web, client_for
from unit.web.web_support import FAST_HASHER, START, log_in


async def test_openapi_and_docs_are_served_locally(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["info"]["title"] == "Hotline 122"
    assert {"/api/v1/auth/login", "/api/v1/auth/me", "/api/v1/audit"} <= set(schema["paths"])
    assert not any(p in schema["paths"] for p in ("/login", "/audit", "/desk"))  # pages
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "https://" not in docs.text
    if swagger_ui_dir() is None:
        assert "/openapi.json" in docs.text and "<code>/api/v1/audit/verify</code>" in docs.text


async def test_static_assets_come_from_the_package(client: httpx.AsyncClient) -> None:
    js = await client.get("/static/js/api.js")
    assert js.status_code == 200 and "X-CSRF-Token" in js.text
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert (await client.get("/static/css/app.css")).status_code == 200
    assert (await client.get("/static/../app.py")).status_code == 404


async def test_audit_page_filters_and_pages(client: httpx.AsyncClient, web: Web) -> None:
    log = AuditLog(web.db)
    for i in range(120):
        log.append(at=START + timedelta(seconds=i), actor="admin", role="administrator",
                   action="config.changed", object=f"queue:q{i}")  # fmt: skip
    await log_in(client, "auditor")
    page = await client.get("/audit", params={"actor": "admin"})
    assert page.status_code == 200
    assert "queue:q119" in page.text and "queue:q19<" not in page.text
    assert 'href="/audit?actor=admin&amp;before=21"' in page.text
    older = await client.get("/audit", params={"actor": "admin", "before": 21})
    assert "queue:q19<" in older.text and "queue:q20<" not in older.text
    window = await client.get(
        "/audit", params={"since": "2026-03-02T09:00:05", "until": "2026-03-02T09:00:07"}
    )
    assert "queue:q5<" in window.text and "queue:q6<" in window.text
    assert "queue:q7<" not in window.text


async def test_feed_needs_feed_read(web: Web) -> None:
    outbox = FeedOutbox(web.db)
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    outbox.enqueue(start, start + timedelta(minutes=15),
                   lambda seq: Rendered(b'{"seq":%d}' % seq, "sig", "key"), now=START)  # fmt: skip
    app = create_web_app(web.config, web.db, web.clock, hasher=FAST_HASHER,
                         extra=[feed_routes(outbox)])  # fmt: skip
    async with client_for(app) as http:
        assert (await http.get("/api/v1/feed")).status_code == 401
        await log_in(http, "operator1")
        assert (await http.get("/api/v1/feed")).status_code == 403
    async with client_for(app) as http:
        await log_in(http, "auditor")
        page = (await http.get("/api/v1/feed")).json()
        assert [(i["seq"], i["document"]) for i in page["items"]] == [(1, '{"seq":1}')]
    ops = create_ops_app(Health(), CollectorRegistry(), version="t", extra=feed_routes(outbox))
    async with client_for(ops) as http:  # an app without sessions: nobody is let in
        r = await http.get("/api/v1/feed")
        assert (r.status_code, r.json()["code"]) == (401, "not_authenticated")
        assert (await http.get("/healthz")).status_code == 200
