"""Retention on a temporary recordings directory and SQLite database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from hotline.reports.cdr import mask_number
from hotline.store.db import Database
from hotline.store.events import EventRow, EventStore
from hotline.store.retention import (
    RetentionAction,
    RetentionPolicy,
    RetentionStore,
)
from unit.reports.reports_log import K, Log, at

DAY = 86400.0
NOW = at(400 * DAY)
POLICY = RetentionPolicy(default_days=365, topic_days={"health": 1000})
A = RetentionAction


def _mask(number: str) -> str:
    return mask_number(number) or number


def _call(log: Log, call: str, s: float, topic: str | None, path: str | None) -> None:
    log.arrive(call, s, caller="+79161234567")
    if topic is not None:
        log.enter(call, topic, s, topic=topic)
    if path is not None:
        log.add(
            K.RECORDING_STORED,
            s + 60,
            call=call,
            path=path,
            sha256="0" * 64,
            size_bytes=4,
            duration_s=1.0,
        )
    log.end(call, s + 60)


async def _store(db: Database, journal: Path, log: Log) -> None:
    store = EventStore(db, journal)
    for e in log.events:
        store.append(e)
    await store.flush_all()
    store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Database, Path]]:
    rec = tmp_path / "recordings"
    rec.mkdir()
    for name in ("old.wav", "health.wav", "recent.wav"):
        (rec / name).write_bytes(b"RIFF")
    (tmp_path / "outside.wav").write_bytes(b"RIFF")
    log = Log()
    _call(log, "old", 0, "social", str(rec / "old.wav"))  # 400 days old: expired
    _call(log, "health", 0, "health", str(rec / "health.wav"))  # kept 1000 days
    _call(log, "recent", 300 * DAY, None, "recent.wav")  # relative path, 100 days old
    _call(log, "gone", 0, None, str(rec / "gone.wav"))  # expired, file already gone
    _call(log, "outside", 0, None, str(tmp_path / "outside.wav"))  # not ours to delete
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    db.migrate()
    asyncio.run(_store(db, tmp_path / "journal.jsonl", log))
    try:
        yield db, rec
    finally:
        db.dispose()


def _callers(db: Database) -> dict[str, str]:
    with db.session() as s:
        rows = s.execute(
            select(EventRow.call_id, EventRow.payload).where(EventRow.kind == "call.arrived")
        ).all()
    return {str(c): str(p["caller"]) for c, p in rows}


def test_only_expired_recordings_deleted_and_numbers_masked(world: tuple[Database, Path]) -> None:
    db, rec = world
    store = RetentionStore(db, rec)
    result = store.run(POLICY, now=NOW, mask=_mask)
    assert not result.dry_run
    assert sorted(p.name for p in rec.iterdir()) == ["health.wav", "recent.wav"]
    assert (rec.parent / "outside.wav").exists()
    by_call = {(e.call_id, e.action) for e in result.entries}
    assert by_call == {
        ("old", A.RECORDING_DELETED),
        ("gone", A.RECORDING_MISSING),
        ("outside", A.RECORDING_REFUSED),
        ("old", A.NUMBERS_MASKED),
        ("gone", A.NUMBERS_MASKED),
        ("outside", A.NUMBERS_MASKED),
    }
    assert _callers(db) == {
        "old": "+7********67",
        "gone": "+7********67",
        "outside": "+7********67",
        "health": "+79161234567",
        "recent": "+79161234567",
    }
    assert result.count(A.RECORDING_DELETED) == 1
    assert result.count(A.NUMBERS_MASKED) == 3


def test_each_action_is_logged_with_what_when_why(world: tuple[Database, Path]) -> None:
    db, rec = world
    store = RetentionStore(db, rec)
    result = store.run(POLICY, now=NOW, mask=_mask)
    logged = store.log_entries()
    assert logged == list(result.entries)
    deleted = next(e for e in logged if e.action is A.RECORDING_DELETED)
    assert deleted.at == NOW
    assert deleted.topic == "social"
    assert deleted.target == str(rec / "old.wav")
    assert deleted.reason == "retention period of 365 days (default) passed"
    assert len(store.deleted_recordings()) == 3
    # A second run finds nothing new to do and logs nothing more.
    again = store.run(POLICY, now=NOW, mask=_mask)
    assert again.entries == ()
    assert len(store.log_entries()) == len(logged)


def test_dry_run_changes_nothing(world: tuple[Database, Path]) -> None:
    db, rec = world
    store = RetentionStore(db, rec)
    before = _callers(db)
    planned = store.run(POLICY, now=NOW, mask=_mask, dry_run=True)
    assert planned.dry_run
    assert planned.count(A.RECORDING_DELETED) == 1
    assert planned.count(A.NUMBERS_MASKED) == 3
    assert sorted(p.name for p in rec.iterdir()) == ["health.wav", "old.wav", "recent.wav"]
    assert _callers(db) == before
    assert store.log_entries() == []


def test_a_later_run_reaches_the_longer_periods(world: tuple[Database, Path]) -> None:
    db, rec = world
    store = RetentionStore(db, rec)
    store.run(POLICY, now=NOW, mask=_mask)
    later = store.run(POLICY, now=at(1001 * DAY), mask=_mask)
    assert {(e.call_id, e.action) for e in later.entries} == {
        ("health", A.RECORDING_DELETED),
        ("health", A.NUMBERS_MASKED),
        ("recent", A.RECORDING_DELETED),
        ("recent", A.NUMBERS_MASKED),
    }
    health = next(e for e in later.entries if e.call_id == "health")
    assert health.reason == "retention period of 1000 days (topic 'health') passed"
    assert list(rec.iterdir()) == []


def test_policy_limits() -> None:
    assert POLICY.days_for("health") == 1000
    assert POLICY.days_for(None) == 365
    assert POLICY.days_for("other") == 365
    with pytest.raises(ValueError, match="retention days"):
        RetentionPolicy(default_days=0)
    with pytest.raises(ValueError, match="retention days"):
        RetentionPolicy(default_days=10, topic_days={"x": 10**9})
    with pytest.raises(ValueError, match="aware"):
        RetentionStore(Database("sqlite://"), Path()).run(
            POLICY, now=NOW.replace(tzinfo=None), mask=_mask
        )


def test_the_assistant_s_transcripts_are_erased_when_their_period_passes(tmp_path: Path) -> None:
    said = "меня зовут Иван Петров, живу на улице Ленина, 5"
    log = Log()
    for call, start, topic in (
        ("old", 0.0, "social"),
        ("health", 0.0, "health"),
        ("new", 300 * DAY, None),
    ):
        _call(log, call, start, topic, None)
        log.add(
            K.CALL_BOT_ENDED, start + 30, call=call, result="handed_over", transcript=said,
            answer_id="social-01",
        )  # fmt: skip
    log.add(K.CALL_BOT_ENDED, 31, call="old", result="hung_up", transcript="")  # nothing said
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    db.migrate()
    try:
        asyncio.run(_store(db, tmp_path / "journal.jsonl", log))
        store = RetentionStore(db, tmp_path)
        planned = store.run(POLICY, now=NOW, mask=_mask, dry_run=True)
        assert [(e.call_id, e.action) for e in planned.entries if e.action is A.TEXTS_ERASED] == [
            ("old", A.TEXTS_ERASED)
        ]
        result = store.run(POLICY, now=NOW, mask=_mask)
        assert result.count(A.TEXTS_ERASED) == 1
        with db.session() as s:
            rows = s.execute(
                select(EventRow.call_id, EventRow.payload).where(EventRow.kind == "call.bot_ended")
            ).all()
        kept = sorted((str(c), p["transcript"], p.get("answer_id", "")) for c, p in rows)
        assert kept == [
            ("health", said, "social-01"),  # its topic keeps data 1000 days
            ("new", said, "social-01"),
            ("old", "", ""),  # the call with nothing said is only checked
            ("old", "", "social-01"),  # erased; the matched answer stays
        ]
        logged = [e for e in store.log_entries() if e.action is A.TEXTS_ERASED]
        assert sorted(e.target for e in logged) == [
            "call.bot_ended: checked, nothing to change",
            "call.bot_ended: transcript",
        ]
        again = store.run(POLICY, now=NOW, mask=_mask)  # each event is looked at once
        assert again.count(A.TEXTS_ERASED) == 0
    finally:
        db.dispose()
