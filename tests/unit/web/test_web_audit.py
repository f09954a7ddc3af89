"""The hash-chained audit log: appends, concurrency, tamper detection, the auditors' API."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError

from hotline.app.retention import audit_retention
from hotline.store.audit import (
    GENESIS_HASH,
    AuditLog,
    AuditRow,
    audit_chain_key,
    canonical_row,
    chain_hash,
)
from hotline.store.db import Database
from hotline.store.models import Base
from hotline.store.retention import RetentionAction, RetentionEntry, RetentionResult
from hotline.web.audit_api import reason_of
from hotline.web.errors import ApiError
from unit.web.conftest import Web
from unit.web.web_support import START, log_in

KEY = audit_chain_key(b"s" * 32)


def _drop_guards(db: Database) -> None:
    """The schema owner drops the append-only triggers (what the chain must still catch)."""
    with db.session() as s, s.begin():
        s.execute(text("DROP TRIGGER audit_log_no_update"))
        s.execute(text("DROP TRIGGER audit_log_no_delete"))


def _append(log: AuditLog, n: int, actor: str = "admin") -> None:
    for i in range(n):
        log.append(
            at=START + timedelta(minutes=i),
            actor=actor,
            role="administrator",
            action="config.changed",
            object=f"queue:q{i}",
            details={"changed": ["sl_norm_s"], "n": i},
            source="10.0.0.7",
        )


def test_the_schema_of_the_migration_matches_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [
        d
        for d in diff
        if any(t in repr(d) for t in ("audit_log", "web_sessions", "login_attempts"))
    ]
    assert ours == []


def test_first_record_hash_is_hmac_of_genesis_and_canonical_json(db: Database) -> None:
    log = AuditLog(db, KEY)
    entry = log.append(
        at=START, actor="admin", role="administrator", action="auth.login", source="127.0.0.1"
    )
    row = {
        "action": "auth.login",
        "actor": "admin",
        "at_ms": 1772442000000,
        "details": "{}",
        "object": "",
        "reason": "",
        "role": "administrator",
        "seq": 1,
        "source": "127.0.0.1",
    }
    expected_bytes = json.dumps(row, sort_keys=True, separators=(",", ":")).encode()
    assert canonical_row(**row) == expected_bytes  # type: ignore[arg-type]
    assert entry.prev_hash == GENESIS_HASH
    expected = hmac.new(KEY, GENESIS_HASH.encode() + expected_bytes, hashlib.sha256).hexdigest()
    assert entry.hash == expected
    assert log.head() == (1, entry.hash)
    # The key is derived from the node secret with a label of its own.
    assert hmac.new(b"s" * 32, b"audit-chain", hashlib.sha256).digest() == KEY


def test_the_database_refuses_to_change_or_remove_audit_rows(db: Database) -> None:
    log = AuditLog(db, KEY)
    _append(log, 3)
    for statement in (
        update(AuditRow).where(AuditRow.seq == 2).values(actor="someone-else"),
        delete(AuditRow).where(AuditRow.seq == 3),
    ):
        with pytest.raises(IntegrityError, match="append-only"), db.session() as s, s.begin():
            s.execute(statement)
    assert log.verify().ok and log.head()[0] == 3


def test_an_edited_row_is_named_by_verify(db: Database) -> None:
    log = AuditLog(db, KEY)
    _append(log, 10)
    assert log.verify().ok and log.verify().checked == 10
    _drop_guards(db)
    with db.session() as s, s.begin():
        s.execute(update(AuditRow).where(AuditRow.seq == 6).values(actor="someone-else"))
    check = log.verify()
    assert (check.ok, check.first_broken_seq, check.checked) == (False, 6, 5)
    assert check.problem is not None and "content" in check.problem


def _rehash_from(db: Database, seq: int, key: bytes) -> None:
    """A writer rewrites row ``seq`` and recomputes every hash after it with ``key``."""
    with db.session() as s, s.begin():
        rows = list(s.scalars(select(AuditRow).where(AuditRow.seq >= seq).order_by(AuditRow.seq)))
        prev = rows[0].prev_hash
        rows[0].reason = "forged"
        for row in rows:
            row.prev_hash = prev
            row.hash = chain_hash(
                key,
                prev,
                canonical_row(
                    seq=row.seq, at_ms=row.at_ms, actor=row.actor, role=row.role,
                    action=row.action, object=row.object, details=row.details,
                    source=row.source, reason=row.reason,
                ),
            )  # fmt: skip
            prev = row.hash


def test_a_writer_without_the_key_cannot_forge_a_chain_that_verifies(db: Database) -> None:
    log = AuditLog(db, KEY)
    _append(log, 5)
    _drop_guards(db)
    # Plain SHA-256 (the old chain) or a guessed key: the first rewritten row is named.
    with db.session() as s, s.begin():
        row = s.get(AuditRow, 3)
        assert row is not None
        row.reason = "forged"
        row.hash = hashlib.sha256(
            row.prev_hash.encode()
            + canonical_row(
                seq=row.seq, at_ms=row.at_ms, actor=row.actor, role=row.role, action=row.action,
                object=row.object, details=row.details, source=row.source, reason=row.reason,
            )
        ).hexdigest()  # fmt: skip
    check = log.verify()
    assert (check.ok, check.first_broken_seq) == (False, 3)
    _rehash_from(db, 3, audit_chain_key(b"guess" * 8))
    check = log.verify()
    assert (check.ok, check.first_broken_seq, check.checked) == (False, 3, 2)
    assert check.problem is not None and "content" in check.problem
    # With the node's key the same rewrite would verify: the key is what protects the chain.
    _rehash_from(db, 3, KEY)
    assert log.verify().ok


def test_a_deleted_row_is_a_gap(db: Database) -> None:
    log = AuditLog(db, KEY)
    _append(log, 5)
    _drop_guards(db)
    with db.session() as s, s.begin():
        s.execute(delete(AuditRow).where(AuditRow.seq == 2))
    check = log.verify()
    assert (check.ok, check.first_broken_seq) == (False, 2)
    assert check.problem is not None and "missing" in check.problem


def test_concurrent_writers_never_fork_the_chain(db: Database, tmp_path: Path) -> None:
    # Two AuditLog objects (two "processes") on two engines, four threads each.
    other = Database(db.url)
    try:
        logs = [AuditLog(db), AuditLog(other)]
        threads = [
            threading.Thread(target=_append, args=(logs[i % 2], 10, f"t{i}")) for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        check = logs[0].verify()
        assert (check.ok, check.checked, check.head_seq) == (True, 80, 80)
    finally:
        other.dispose()


def test_query_filters_and_pages(db: Database) -> None:
    log = AuditLog(db)
    _append(log, 7, actor="admin")
    _append(log, 3, actor="supervisor")
    page = log.query(actor="admin", limit=5)
    assert [e.seq for e in page.items] == [7, 6, 5, 4, 3]
    assert page.next_before == 3
    rest = log.query(actor="admin", limit=5, before=page.next_before)
    assert [e.seq for e in rest.items] == [2, 1] and rest.next_before is None
    window = log.query(since=START + timedelta(minutes=1), until=START + timedelta(minutes=3))
    assert [e.seq for e in window.items] == [10, 9, 3, 2]
    assert log.query(action="auth.login").items == ()


def test_reason_is_mandatory() -> None:
    for bad in (None, "", "  ", "ab"):
        with pytest.raises(ApiError) as err:
            reason_of(bad)
        assert (err.value.status, err.value.code.value) == (400, "reason_required")
    assert reason_of("  жалоба гражданина №12 ") == "жалоба гражданина №12"


def test_retention_deletions_are_audited(db: Database) -> None:
    entries = (
        RetentionEntry(
            START, RetentionAction.RECORDING_DELETED, "e1", "c1", "health", "a.wav", "r"
        ),
        RetentionEntry(START, RetentionAction.NUMBERS_MASKED, "e2", "c1", "health", "x", "r"),
        RetentionEntry(START, RetentionAction.NUMBERS_MASKED, "e3", "c2", None, "x", "r"),
    )
    log = AuditLog(db)
    assert audit_retention(log, RetentionResult(False, entries), now=START) == 2
    items = list(reversed(log.query().items))
    assert [(e.actor, e.action, e.object) for e in items] == [
        ("retention", "retention.recording_deleted", "call:c1"),
        ("retention", "retention.numbers_masked", "events"),
    ]
    assert items[1].details == {"events": 2} and log.verify().ok


async def test_auditor_reads_and_verifies_over_the_api(client: httpx.AsyncClient, web: Web) -> None:
    _append(AuditLog(web.db), 3)
    await log_in(client, "auditor")
    listing = (await client.get("/api/v1/audit", params={"actor": "admin", "limit": 2})).json()
    assert [i["seq"] for i in listing["items"]] == [3, 2] and listing["next_before"] == 2
    assert listing["items"][0]["details"] == {"changed": ["sl_norm_s"], "n": 2}
    logins = (await client.get("/api/v1/audit", params={"action": "auth.login"})).json()
    assert [(i["actor"], i["source"]) for i in logins["items"]] == [("auditor", "127.0.0.1")]
    naive = await client.get("/api/v1/audit", params={"since": "2026-03-02T09:00:00"})
    assert naive.status_code == 422
    ok = (await client.get("/api/v1/audit/verify")).json()
    assert (ok["ok"], ok["checked"], ok["first_broken_seq"]) == (True, 4, None)
    _drop_guards(web.db)
    with web.db.session() as s, s.begin():
        s.execute(update(AuditRow).where(AuditRow.seq == 2).values(details='{"n":99}'))
    broken = (await client.get("/api/v1/audit/verify")).json()
    assert (broken["ok"], broken["first_broken_seq"], broken["checked"]) == (False, 2, 1)
    page = await client.get("/audit")
    assert "Цепочка хешей нарушена в записи № 2: содержимое записи изменено" in page.text
    assert '<tr class="broken">' in page.text
