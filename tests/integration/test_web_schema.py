"""Schemathesis against the app's own OpenAPI schema: generated requests never get a 5xx.

Every operation of the schema is exercised with a bounded number of generated
cases, as a logged-in auditor (who may call every read route) with the CSRF
header, and anonymously.  Logout is left out (it would end the session).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry

from hotline.app.feedservice import feed_routes
from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.store.feed_outbox import FeedOutbox
from hotline.store.web_sessions import WebSessionStore
from hotline.web.app import create_web_app
from hotline.web.auth import SESSION_COOKIE
from hotline.web.config import WebConfig
from unit.web.web_support import FAST_HASHER, START, USER_IDS, add_users

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 30
SKIP = {("POST", "/api/v1/auth/logout")}


class _Health:
    def health(self) -> tuple[bool, dict[str, str]]:
        return True, {}


@pytest.mark.parametrize("logged_in", [True, False])
def test_generated_requests_never_get_a_server_error(tmp_path: Path, logged_in: bool) -> None:
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    try:
        db.migrate()
        add_users(db)
        app = create_web_app(
            WebConfig(),
            db,
            FakeClock(start_wall=START),
            health=_Health(),
            registry=CollectorRegistry(),
            hasher=FAST_HASHER,
            extra=[feed_routes(FeedOutbox(db))],
        )
        headers: dict[str, str] = {}
        cookies: dict[str, str] = {}
        if logged_in:  # the auditor's session, opened directly in the store
            WebSessionStore(db).create(
                token="schemathesis-session-token",
                user_id=USER_IDS["auditor"],
                csrf_token="schemathesis-csrf",
                now=START,
                ttl_s=3600,
                source="127.0.0.1",
                user_agent="schemathesis",
            )
            headers = {"X-CSRF-Token": "schemathesis-csrf"}
            cookies = {SESSION_COOKIE: "schemathesis-session-token"}
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        walked = 0
        for operation in operations:
            if (operation.method.upper(), operation.path) in SKIP:
                continue

            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def check(case: schemathesis.Case) -> None:
                response = case.call(headers=headers, cookies=cookies)
                assert response.status_code < 500, (case.method, case.path, response.text[:300])
                content_type = response.headers.get("content-type", [""])[0]
                if 400 <= response.status_code < 500 and content_type.startswith(
                    "application/json"
                ):
                    body = response.json()
                    assert body["code"] and body["message"], body

            check()
            walked += 1
        assert walked >= 6
    finally:
        db.dispose()
