"""Schemathesis helpers shared by the schema-walking integration tests.

A session opened directly in the store (so generated requests carry a valid
cookie and CSRF header) and the per-operation check: no generated request
gets a 5xx, and every JSON 4xx carries a code and a message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.schemas import APIOperation

from hotline.store.db import Database
from hotline.store.web_sessions import WebSessionStore
from hotline.web.auth import SESSION_COOKIE

__all__ = ["check_operation", "open_schema_session"]

SESSION_TOKEN = "schemathesis-session-token"
CSRF_TOKEN = "schemathesis-csrf"


def open_schema_session(
    db: Database, user_id: str, now: datetime
) -> tuple[dict[str, str], dict[str, str]]:
    """Create a session for ``user_id`` in the store; return (headers, cookies) that use it."""
    WebSessionStore(db).create(
        token=SESSION_TOKEN,
        user_id=user_id,
        csrf_token=CSRF_TOKEN,
        now=now,
        ttl_s=3600,
        source="127.0.0.1",
        user_agent="schemathesis",
    )
    return {"X-CSRF-Token": CSRF_TOKEN}, {SESSION_COOKIE: SESSION_TOKEN}


def check_operation(
    operation: APIOperation[Any, Any, Any, Any],
    max_examples: int,
    headers: dict[str, str],
    cookies: dict[str, str],
) -> None:
    """Run generated cases of ``operation``: never a 5xx, every JSON 4xx has code and message."""

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case[Any]) -> None:
        response = case.call(headers=headers, cookies=cookies)
        assert response.status_code < 500, (case.method, case.path, response.text[:300])
        content_type = response.headers.get("content-type", [""])[0]
        if 400 <= response.status_code < 500 and content_type.startswith("application/json"):
            body = response.json()
            assert body["code"] and body["message"], body

    check()
