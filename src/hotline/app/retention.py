"""Retention of recordings and personal data: the command and the daily node job.

The periods come from the settings group ``retention`` (``[retention]`` in
the TOML file, or ``HOTLINE_RETENTION__DEFAULT_DAYS=1095`` and
``HOTLINE_RETENTION__TOPIC_DAYS='{"health": 1825}'``).  The work itself
(what expired, deleting, masking, the append-only ``retention_log``) is
:class:`hotline.store.retention.RetentionStore`; numbers are masked to the
form the call detail records show (:func:`hotline.reports.cdr.mask_number`).

* ``hotline retention run [--dry-run]`` runs it once and prints one line per
  action and the totals (``--dry-run``: what would be done; nothing changes
  and nothing is logged);
* :class:`RetentionJob` is a node component that runs it every day at
  ``run_at_hour_utc`` (default 03:00 UTC), in a worker thread so that call
  handling never waits on it.

A real run (not a dry run) also writes the audit log (R13, actor
``retention``): one record per recording deleted (or found missing, or
refused), one record counting the events whose numbers were masked and one
counting the assistant's transcripts erased.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Final

import structlog
import typer
from sqlalchemy.exc import SQLAlchemyError

from hotline.app.secrets import load_or_create_secret
from hotline.reports.cdr import mask_number
from hotline.store.audit import AuditAction, AuditLog, audit_chain_key
from hotline.store.retention import RetentionAction, RetentionPolicy, RetentionResult

if TYPE_CHECKING:
    from hotline.app.settings import Settings
    from hotline.core.clock import Clock
    from hotline.store.db import Database

__all__ = [
    "RetentionJob",
    "audit_retention",
    "mask_for_retention",
    "next_run_at",
    "policy_of",
    "register",
    "retention_app",
    "run_retention",
]

log = structlog.get_logger("hotline.retention")

EXIT_DATA: Final = 1
_COUNTED: Final = {
    RetentionAction.NUMBERS_MASKED: AuditAction.RETENTION_NUMBERS_MASKED,
    RetentionAction.TEXTS_ERASED: AuditAction.RETENTION_TEXTS_ERASED,
}
"""Event rewrites the audit log counts in one record per run (the retention log has each)."""

retention_app = typer.Typer(
    name="retention",
    help="Delete recordings, mask numbers and erase transcripts past their retention period.",
    no_args_is_help=True,
)


def policy_of(settings: Settings) -> RetentionPolicy:
    """The retention policy of the settings group ``retention``."""
    cfg = settings.retention
    return RetentionPolicy(default_days=cfg.default_days, topic_days=dict(cfg.topic_days))


def mask_for_retention(number: str) -> str:
    """The masked form of a number, as the call detail records show it."""
    return mask_number(number) or number


def run_retention(
    db: Database, settings: Settings, *, now: datetime, dry_run: bool = False
) -> RetentionResult:
    """One retention run over ``db`` and the recordings directory."""
    from hotline.store.retention import RetentionStore

    store = RetentionStore(db, settings.recordings_path)
    result = store.run(policy_of(settings), now=now, mask=mask_for_retention, dry_run=dry_run)
    if not dry_run:
        key = audit_chain_key(load_or_create_secret(settings.data_dir))
        audit_retention(AuditLog(db, key), result, now=now)
        reproject_masked(db, result)
    return result


def reproject_masked(db: Database, result: RetentionResult) -> int:
    """Re-project the calls whose numbers were masked (the CDR projection holds numbers too).

    Returns how many calls were re-projected.  The projector is the live one's
    (each stored queue's norms), so the rollups stay comparable.
    """
    from hotline.reports.projection import EventProjector
    from hotline.store.projections import Projections
    from hotline.web.reports_data import metrics_config

    masked = sorted(
        {
            e.call_id
            for e in result.entries
            if e.action is RetentionAction.NUMBERS_MASKED and e.call_id
        }
    )
    if masked:
        projections = Projections(EventProjector(metrics_config(db)))
        with db.engine.begin() as conn:
            projections.apply(conn, masked)
    return len(masked)


def audit_retention(audit: AuditLog, result: RetentionResult, *, now: datetime) -> int:
    """Write a run's deletions to the audit log; returns how many records were added."""
    added = 0
    for e in result.entries:
        if e.action in _COUNTED:
            continue
        audit.append(
            at=now,
            actor="retention",
            role="system",
            action=AuditAction.RETENTION_RECORDING_DELETED,
            object=f"call:{e.call_id or '-'}",
            details={"outcome": e.action.value, "event_id": e.event_id, "path": e.target},
            reason=e.reason,
        )
        added += 1
    for action, audited in _COUNTED.items():
        changed = result.count(action)
        if changed:
            audit.append(
                at=now,
                actor="retention",
                role="system",
                action=audited,
                object="events",
                details={"events": changed},
                reason="retention periods passed (see retention_log)",
            )
            added += 1
    return added


def next_run_at(now: datetime, hour_utc: int) -> datetime:
    """The first ``hour_utc``:00 UTC strictly after ``now`` (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    at = now.replace(hour=hour_utc, minute=0, second=0, microsecond=0)
    return at if at > now else at + timedelta(days=1)


class RetentionJob:
    """Node component: the retention run once a day (see the module docstring)."""

    name = "retention"

    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self.runs = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="retention")

    def refuse_new(self) -> None:
        """Nothing to refuse: the job serves no calls."""

    def active(self) -> int:
        return 0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> RetentionResult | None:
        """One run in a worker thread; a failure is logged and retried the next day."""
        now = self._clock.utcnow()
        try:
            result = await asyncio.to_thread(run_retention, self._db, self._settings, now=now)
        except (OSError, SQLAlchemyError) as exc:  # the node goes on; tomorrow retries
            log.error("retention run failed", error=str(exc))
            return None
        self.runs += 1
        log.info(
            "retention run done",
            recordings_deleted=result.count(RetentionAction.RECORDING_DELETED),
            events_masked=result.count(RetentionAction.NUMBERS_MASKED),
            transcripts_erased=result.count(RetentionAction.TEXTS_ERASED),
        )
        return result

    async def run(self) -> None:
        """Sleep until the daily hour, run, repeat (until cancelled)."""
        hour = self._settings.retention.run_at_hour_utc
        while True:
            now = self._clock.utcnow()
            await asyncio.sleep((next_run_at(now, hour) - now).total_seconds())
            await self.run_once()


@retention_app.command("run")
def run_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
    ] = False,
) -> None:
    """Delete expired recordings and mask expired numbers; log each action."""
    from hotline.app.cli import load_cli_settings
    from hotline.core.clock import SystemClock
    from hotline.store.db import Database

    settings = load_cli_settings(ctx)
    db = Database(settings.database_url)
    try:
        if not db.is_initialised():
            typer.echo("hotline retention: the database is not initialised", err=True)
            raise typer.Exit(EXIT_DATA)
        result = run_retention(db, settings, now=SystemClock().utcnow(), dry_run=dry_run)
    finally:
        db.dispose()
    deleting, masking, erasing = (
        ("would delete", "would mask", "would erase")
        if dry_run
        else ("deleted", "masked", "erased")
    )
    for e in result.entries:
        typer.echo(f"{e.action.value}\t{e.call_id or '-'}\t{e.topic or '-'}\t{e.target}")
    deleted = result.count(RetentionAction.RECORDING_DELETED)
    masked = result.count(RetentionAction.NUMBERS_MASKED)
    erased = result.count(RetentionAction.TEXTS_ERASED)
    typer.echo(
        f"hotline retention: {deleting} {deleted} recordings, {masking} numbers in "
        f"{masked} events, {erasing} {erased} transcripts"
        + (" (dry run: nothing changed)" if dry_run else ""),
        err=True,
    )


def register(app: typer.Typer) -> None:
    """Add ``retention`` to the ``hotline`` command."""
    app.add_typer(retention_app, name="retention")
