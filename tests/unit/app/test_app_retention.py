"""``hotline retention run`` and the daily retention job over a private SQLite database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from hotline.app.cli import app
from hotline.app.retention import RetentionJob, next_run_at, policy_of
from hotline.app.secrets import load_or_create_secret
from hotline.app.settings import Settings, load_settings
from hotline.core.clock import FakeClock
from hotline.reports.metrics_config import MetricsConfig
from hotline.reports.projection import EventProjector
from hotline.store.audit import AuditLog, audit_chain_key
from hotline.store.db import Database
from hotline.store.events import EventRow, EventStore
from hotline.store.projections import CallRecordRow, Projections
from hotline.store.retention import RetentionAction, RetentionStore
from unit.reports.reports_log import K, Log, at


def _log(recordings: Path) -> Log:
    log = Log()
    log.arrive("c1", 0, caller="+79161234567")
    log.enter("c1", "health", 0, topic="health")
    log.add(
        K.RECORDING_STORED,
        60,
        call="c1",
        path=str(recordings / "c1.wav"),
        sha256="0" * 64,
        size_bytes=4,
        duration_s=1.0,
    )
    log.end("c1", 60)
    log.arrive("c2", 0, caller="+79035550101")
    log.end("c2", 30)
    return log


async def _store(db: Database, journal: Path, log: Log) -> None:
    # As the live node writes: call records projected with each batch.
    store = EventStore(db, journal, projections=Projections(EventProjector(MetricsConfig())))
    for e in log.events:
        store.append(e)
    await store.flush_all()
    store.close()


@pytest.fixture
def seeded(
    hotline_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    # T0 (March 2026) is long past 100 days; health calls are kept for 100 years.
    monkeypatch.setenv("HOTLINE_RETENTION__DEFAULT_DAYS", "100")
    monkeypatch.setenv("HOTLINE_RETENTION__TOPIC_DAYS", '{"health": 36500}')
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    settings = load_settings()
    rec = settings.recordings_path
    rec.mkdir(parents=True, exist_ok=True)
    (rec / "c1.wav").write_bytes(b"RIFF")
    db = Database(settings.database_url)
    try:
        asyncio.run(_store(db, tmp_path / "journal.jsonl", _log(rec)))
    finally:
        db.dispose()
    return settings


def _callers(settings: Settings) -> dict[str, str]:
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            rows = s.execute(
                select(EventRow.call_id, EventRow.payload).where(EventRow.kind == "call.arrived")
            ).all()
    finally:
        db.dispose()
    return {str(c): str(p["caller"]) for c, p in rows}


def _recorded_callers(settings: Settings) -> dict[str, str]:
    """The callers' numbers as the call-record projection holds them."""
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            rows = s.execute(select(CallRecordRow.call_id, CallRecordRow.caller)).all()
    finally:
        db.dispose()
    return {str(c): str(n) for c, n in rows}


def test_settings_give_the_policy(seeded: Settings) -> None:
    policy = policy_of(seeded)
    assert policy.days_for(None) == 100
    assert policy.days_for("health") == 36500


def test_dry_run_then_run(seeded: Settings) -> None:
    result = CliRunner().invoke(app, ["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would mask numbers in 1 events" in result.stderr
    assert "c2" in result.stdout
    assert _callers(seeded)["c2"] == "+79035550101"
    assert _recorded_callers(seeded)["c2"] == "+79035550101"
    result = CliRunner().invoke(app, ["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "deleted 0 recordings, masked numbers in 1 events" in result.stderr
    assert _callers(seeded) == {"c1": "+79161234567", "c2": "+7********01"}
    # The call records are re-projected: no number survives there either.
    assert _recorded_callers(seeded) == {"c1": "+79161234567", "c2": "+7********01"}
    assert (seeded.recordings_path / "c1.wav").exists()  # health: kept


def test_not_initialised_exits_1(hotline_env: dict[str, str]) -> None:
    result = CliRunner().invoke(app, ["retention", "run"])
    assert result.exit_code == 1
    assert "not initialised" in result.stderr


async def test_job_runs_once_with_its_clock(seeded: Settings) -> None:
    db = Database(seeded.database_url)
    try:
        # A clock 100 years on: the health recording has expired too.
        job = RetentionJob(db, seeded, FakeClock(start_wall=at(36501 * 86400.0)))
        result = await job.run_once()
        assert result is not None
        assert result.count(RetentionAction.RECORDING_DELETED) == 1
        assert result.count(RetentionAction.NUMBERS_MASKED) == 2
        assert job.runs == 1
        assert not (seeded.recordings_path / "c1.wav").exists()
        assert len(RetentionStore(db, seeded.recordings_path).log_entries()) == 3
        # The deletions are in the audit chain, keyed as the node keys it.
        key = audit_chain_key(load_or_create_secret(seeded.data_dir))
        check = AuditLog(db, key).verify()
        assert check.ok and check.checked >= 2, check
        assert not AuditLog(db, b"another node's key").verify().ok
        await job.start()
        await job.stop()
        assert job.active() == 0
    finally:
        db.dispose()


def test_next_run_at() -> None:
    now = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
    assert next_run_at(now, 3) == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert next_run_at(now, 2) == datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    exactly = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert next_run_at(exactly, 3) == datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        next_run_at(now.replace(tzinfo=None), 3)


def test_erased_transcripts_are_counted_in_the_audit_log(tmp_path: Path) -> None:
    from hotline.app.retention import audit_retention
    from hotline.store.audit import AuditAction
    from hotline.store.retention import RetentionEntry, RetentionResult

    now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)

    def entry(action: RetentionAction, call: str) -> RetentionEntry:
        return RetentionEntry(now, action, f"e-{call}", call, None, "x", "period passed")

    result = RetentionResult(
        dry_run=False,
        entries=(
            entry(RetentionAction.TEXTS_ERASED, "c1"),
            entry(RetentionAction.TEXTS_ERASED, "c2"),
            entry(RetentionAction.NUMBERS_MASKED, "c1"),
        ),
    )
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    db.migrate()
    try:
        audit = AuditLog(db, b"k" * 32)
        assert audit_retention(audit, result, now=now) == 2
        rows = {(e.action, e.details["events"]) for e in audit.query().items}
        assert rows == {
            (AuditAction.RETENTION_TEXTS_ERASED.value, 2),
            (AuditAction.RETENTION_NUMBERS_MASKED.value, 1),
        }
        assert audit.verify().ok
    finally:
        db.dispose()
