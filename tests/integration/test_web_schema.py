"""Schemathesis against the app's own OpenAPI schema: generated requests never get a 5xx.

Every operation of the schema is exercised with a bounded number of generated
cases, as a logged-in auditor (who may call every read route) with the CSRF
header, and anonymously.  Logout is left out (it would end the session).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from prometheus_client import CollectorRegistry

from hotline.app.feedservice import feed_routes
from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.store.feed_outbox import FeedOutbox
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from support.schemawalk import check_operation, open_schema_session
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
            headers, cookies = open_schema_session(db, USER_IDS["auditor"], START)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        walked = 0
        for operation in operations:
            if (operation.method.upper(), operation.path) in SKIP:
                continue
            check_operation(operation, MAX_EXAMPLES, headers, cookies)
            walked += 1
        assert walked >= 6
    finally:
        db.dispose()
