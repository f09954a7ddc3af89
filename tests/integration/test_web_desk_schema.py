"""Schemathesis over the desk's and the supervisor's operations, as the roles that use them.

The app runs with the fake call service of the unit tests (both L3 protocols,
a call in progress, a waiting call); every generated request to
``/api/v1/desk/...`` (as the operator) and ``/api/v1/supervisor/...`` (as the
supervisor) must get an answer below 500, and every JSON 4xx a code and a
message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis

from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.web.config import WebConfig
from support.schemawalk import check_operation, open_schema_session
from unit.web.web_support import FAST_HASHER, START, USER_IDS, add_users
from unit.web.workplace_fakes import (
    FakeCalls,
    add_operators,
    live_call,
    waiting_call,
    workplace_app,
)

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 25


@pytest.mark.parametrize(("user", "prefix"), [("operator1", "/api/v1/desk"),
                                              ("supervisor", "/api/v1/supervisor")])  # fmt: skip
def test_generated_requests_to_the_workplace_never_get_a_server_error(
    tmp_path: Path, user: str, prefix: str
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    try:
        db.migrate()
        add_users(db, FAST_HASHER)
        add_operators(db)
        fake = FakeCalls.standard()
        fake.offer(live_call("c1"))
        fake.waiting = [waiting_call("w1", "social", 5.0)]
        app = workplace_app(db, FakeClock(start_wall=START), WebConfig(), fake)
        headers, cookies = open_schema_session(db, USER_IDS[user], START)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        walked = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if not operation.path.startswith(prefix):
                continue
            check_operation(operation, MAX_EXAMPLES, headers, cookies)
            walked += 1
        assert walked >= 7
    finally:
        db.dispose()
