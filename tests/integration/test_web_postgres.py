"""The audit chain and web sessions on PostgreSQL: concurrent writers, tampering, login.

A private PostgreSQL cluster (tests/support/postgres.py).  Eight threads over
two engines (two "nodes") append at once: the chain has no fork and no gap.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError

from hotline.core.clock import FakeClock
from hotline.store.audit import AuditLog, AuditRow, audit_chain_key
from hotline.store.db import Database
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.web_support import FAST_HASHER, START, add_users, log_in

pytestmark = pytest.mark.integration
pytest_plugins = ["support.pg_fixtures"]


def _append(log: AuditLog, n: int, actor: str) -> None:
    for i in range(n):
        log.append(
            at=START + timedelta(seconds=i),
            actor=actor,
            role="administrator",
            action="config.changed",
            object=f"queue:{actor}:{i}",
            details={"i": i},
        )


def test_concurrent_writers_on_two_engines_never_fork_the_chain(pg_db: Database) -> None:
    other = Database(pg_db.url)
    try:
        logs = [AuditLog(pg_db), AuditLog(other)]
        threads = [
            threading.Thread(target=_append, args=(logs[i % 2], 25, f"t{i}")) for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        check = logs[1].verify()
        assert (check.ok, check.checked, check.head_seq) == (True, 200, 200)
        with pg_db.session() as s:
            assert (
                s.execute(text("select count(distinct prev_hash) from audit_log")).scalar() == 200
            )
    finally:
        other.dispose()


def test_tampering_is_refused_and_else_found_on_postgresql(pg_db: Database) -> None:
    log = AuditLog(pg_db, audit_chain_key(b"k" * 32))
    _append(log, 12, "admin")
    for statement in (
        update(AuditRow).where(AuditRow.seq == 9).values(source="203.0.113.9"),
        delete(AuditRow).where(AuditRow.seq == 12),
        text("TRUNCATE audit_log"),
    ):
        with pytest.raises(DatabaseError, match="append-only"), pg_db.session() as s, s.begin():
            s.execute(statement)
    assert log.verify().ok and log.head()[0] == 12
    with pg_db.session() as s, s.begin():  # the schema owner drops the guard: the chain tells
        s.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
        s.execute(update(AuditRow).where(AuditRow.seq == 9).values(source="203.0.113.9"))
    check = log.verify()
    assert (check.ok, check.first_broken_seq, check.checked) == (False, 9, 8)


async def test_login_and_audit_over_the_api_on_postgresql(pg_db: Database) -> None:
    add_users(pg_db, FAST_HASHER)
    clock = FakeClock(start_wall=START)
    app = create_web_app(WebConfig(), pg_db, clock, hasher=FAST_HASHER)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hotline.test"
    ) as http:
        await log_in(http, "auditor")
        items = (await http.get("/api/v1/audit")).json()["items"]
        assert [(i["actor"], i["action"]) for i in items] == [("auditor", "auth.login")]
        assert (await http.get("/api/v1/audit/verify")).json()["ok"] is True
        clock.advance(3600)
        assert (await http.get("/api/v1/auth/me")).json()["code"] == "session_expired"
