"""Retention of recordings and personal data: per-topic periods, an append-only log.

A call's recordings and the callers' numbers in its events are kept for the
retention period of the call's topic (a default for calls without one);
after that a retention run

* deletes each recording file named in a ``recording.stored`` event (only
  inside the recordings directory), and
* replaces every number in the call's event payloads (``caller``,
  ``called``, ``number``) with its masked form, and
* erases what the citizen told the voice assistant (the ``transcript`` of
  ``call.bot_ended``): free speech may hold a name, an address, a diagnosis.

Every action is one row of the append-only ``retention_log`` table (what:
action, event id, call id, topic, target; when: ``at``; why: the rule that
applied).  **Recording deletions are recorded there, not in the event
log**: the ``recording.stored`` event stays as it was (its path still says
where the file *was*), and a recording counts as deleted when the log holds a
``recording_deleted`` (or ``recording_missing``/``recording_refused``) row
for that event id (:meth:`RetentionStore.deleted_recordings`).  The event
vocabulary is therefore unchanged, and the log is the deletion table.

Masking numbers is the one update the application ever makes to the event
table (docs/metrics.md keeps events append-only otherwise): the metrics do
not depend on numbers except repeat calls, which look back 24 h only, far
shorter than any retention period.  Masking is idempotent (a masked number
has too few digits left to be masked again) and each masked event is
logged once, so a run can be repeated or interrupted safely.

The topic of a call is the first topic any of its events carries (the
topic is set on ``queue.entered``), and a deadline counts from the event's
own timestamp.  Layer L2: database and file-system adapter; the clock is an
argument (``now``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.db import Database
from hotline.store.events import EventRow, from_ms, to_ms
from hotline.store.models import Base

__all__ = [
    "NUMBER_FIELDS",
    "TEXT_FIELDS",
    "RetentionAction",
    "RetentionEntry",
    "RetentionLogRow",
    "RetentionPolicy",
    "RetentionResult",
    "RetentionStore",
]

#: Payload fields that hold telephone numbers (docs/metrics.md event list).
NUMBER_FIELDS: Final = ("caller", "called", "number")
_NUMBER_KINDS: Final = (
    "call.arrived",
    "queue.callback_requested",
    "call.redirected_external",
    "outbound.dialed",
)
#: Payload fields that hold a citizen's own words, erased (set to "") when the period passes.
TEXT_FIELDS: Final = ("transcript",)
_TEXT_KINDS: Final = ("call.bot_ended",)
_RECORDING_KIND: Final = "recording.stored"
MAX_DAYS: Final = 100 * 366
BATCH: Final = 1000
_TOPIC_CHUNK: Final = 500


class RetentionAction(enum.StrEnum):
    """What a retention run did to one event's data."""

    RECORDING_DELETED = "recording_deleted"
    RECORDING_MISSING = "recording_missing"  # the file was already gone
    RECORDING_REFUSED = "recording_refused"  # the path is outside the recordings dir
    NUMBERS_MASKED = "numbers_masked"
    TEXTS_ERASED = "texts_erased"  # the assistant's transcript of the caller


_RECORDING_ACTIONS: Final = (
    RetentionAction.RECORDING_DELETED,
    RetentionAction.RECORDING_MISSING,
    RetentionAction.RECORDING_REFUSED,
)


class RetentionLogRow(Base):
    """One retention action; rows are only ever inserted."""

    __tablename__ = "retention_log"
    __table_args__ = (
        Index("ix_retention_log_event_action", "event_id", "action"),
        Index("ix_retention_log_at", "at"),
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    action: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    target: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Retention periods in days: ``default_days``, and ``topic_days`` per topic."""

    default_days: int
    topic_days: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, days in (("default", self.default_days), *self.topic_days.items()):
            if isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
                raise ValueError(f"retention days of {name!r} must be 1..{MAX_DAYS}")
        object.__setattr__(self, "topic_days", MappingProxyType(dict(self.topic_days)))

    def days_for(self, topic: str | None) -> int:
        if topic is None:
            return self.default_days
        return self.topic_days.get(topic, self.default_days)

    def cutoff(self, topic: str | None, now: datetime) -> datetime:
        """Data of ``topic`` stamped before this instant is past its period."""
        return now - timedelta(days=self.days_for(topic))

    def reason(self, topic: str | None) -> str:
        which = f"topic {topic!r}" if topic is not None and topic in self.topic_days else "default"
        return f"retention period of {self.days_for(topic)} days ({which}) passed"


@dataclass(frozen=True, slots=True)
class RetentionEntry:
    """One action, planned (dry run) or done and logged."""

    at: datetime
    action: RetentionAction
    event_id: str
    call_id: str | None
    topic: str | None
    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What a run did (or, in a dry run, would do)."""

    dry_run: bool
    entries: tuple[RetentionEntry, ...]

    def count(self, action: RetentionAction) -> int:
        return sum(1 for e in self.entries if e.action is action)


@dataclass(frozen=True, slots=True)
class _Candidate:
    seq: int
    event_id: str
    kind: str
    call_id: str | None
    topic: str | None
    ts: datetime
    payload: dict[str, Any]


class RetentionStore:
    """Finds expired recordings and numbers, acts on them, and keeps the log."""

    def __init__(self, db: Database, recordings_dir: Path) -> None:
        self._db = db
        self._recordings = recordings_dir

    # -- the log -----------------------------------------------------------------
    def log_entries(self) -> list[RetentionEntry]:
        """Every logged action, oldest first."""
        with self._db.session() as s:
            rows = s.scalars(select(RetentionLogRow).order_by(RetentionLogRow.seq)).all()
            return [
                RetentionEntry(
                    at=r.at if r.at.tzinfo is not None else r.at.replace(tzinfo=UTC),
                    action=RetentionAction(r.action),
                    event_id=r.event_id,
                    call_id=r.call_id,
                    topic=r.topic,
                    target=r.target,
                    reason=r.reason,
                )
                for r in rows
            ]

    def deleted_recordings(self) -> frozenset[str]:
        """Event ids of the ``recording.stored`` events whose file retention removed."""
        with self._db.session() as s:
            ids = s.scalars(
                select(RetentionLogRow.event_id).where(
                    RetentionLogRow.action.in_([a.value for a in _RECORDING_ACTIONS])
                )
            ).all()
        return frozenset(ids)

    # -- a run ---------------------------------------------------------------------
    def run(
        self,
        policy: RetentionPolicy,
        *,
        now: datetime,
        mask: Callable[[str], str],
        dry_run: bool = False,
    ) -> RetentionResult:
        """Delete expired recordings, mask expired numbers, erase expired transcripts.

        Nothing changes in a dry run.
        """
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        entries: list[RetentionEntry] = []
        earliest = policy.cutoff(None, now)
        for days in policy.topic_days.values():
            earliest = max(earliest, now - timedelta(days=days))
        # Anything stamped before the latest cutoff of any topic may be expired.
        for kinds, action in (
            ((_RECORDING_KIND,), RetentionAction.RECORDING_DELETED),
            (_NUMBER_KINDS, RetentionAction.NUMBERS_MASKED),
            (_TEXT_KINDS, RetentionAction.TEXTS_ERASED),
        ):
            after_seq = 0
            while True:
                batch = self._candidates(kinds, action, before=earliest, after_seq=after_seq)
                if not batch:
                    break
                after_seq = batch[-1].seq
                for c in batch:
                    if c.ts >= policy.cutoff(c.topic, now):
                        continue
                    if action is RetentionAction.RECORDING_DELETED:
                        entry = self._recording(c, policy, now, dry_run)
                    elif action is RetentionAction.NUMBERS_MASKED:
                        entry = self._rewrite(c, policy, now, action, NUMBER_FIELDS, mask, dry_run)
                    else:
                        entry = self._rewrite(c, policy, now, action, TEXT_FIELDS, _erase, dry_run)
                    if entry is not None:
                        entries.append(entry)
        return RetentionResult(dry_run=dry_run, entries=tuple(entries))

    def _candidates(
        self,
        kinds: Sequence[str],
        action: RetentionAction,
        *,
        before: datetime,
        after_seq: int,
    ) -> list[_Candidate]:
        actions = (
            [a.value for a in _RECORDING_ACTIONS]
            if action is RetentionAction.RECORDING_DELETED
            else [action.value]
        )
        done = (
            select(RetentionLogRow.seq)
            .where(RetentionLogRow.event_id == EventRow.event_id)
            .where(RetentionLogRow.action.in_(actions))
            .exists()
        )
        with self._db.session() as s:
            rows = s.execute(
                select(
                    EventRow.seq,
                    EventRow.event_id,
                    EventRow.kind,
                    EventRow.call_id,
                    EventRow.ts_ms,
                    EventRow.payload,
                )
                .where(EventRow.kind.in_(list(kinds)))
                .where(EventRow.ts_ms < to_ms(before))
                .where(EventRow.seq > after_seq)
                .where(~done)
                .order_by(EventRow.seq)
                .limit(BATCH)
            ).all()
            topics = self._topics(s, {r.call_id for r in rows if r.call_id is not None})
        return [
            _Candidate(
                seq=r.seq,
                event_id=r.event_id,
                kind=r.kind,
                call_id=r.call_id,
                topic=topics.get(r.call_id) if r.call_id is not None else None,
                ts=from_ms(r.ts_ms),
                payload=dict(r.payload or {}),
            )
            for r in rows
        ]

    @staticmethod
    def _topics(session: Any, call_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(call_ids)
        found: dict[str, str] = {}
        for i in range(0, len(ids), _TOPIC_CHUNK):
            chunk = ids[i : i + _TOPIC_CHUNK]
            rows = session.execute(
                select(EventRow.call_id, EventRow.topic, EventRow.seq)
                .where(EventRow.call_id.in_(chunk))
                .where(EventRow.topic.is_not(None))
                .order_by(EventRow.seq)
            ).all()
            for call_id, topic, _seq in rows:
                found.setdefault(call_id, topic)
        return found

    def _inside(self, path: Path) -> bool:
        try:
            return path.resolve().is_relative_to(self._recordings.resolve())
        except (OSError, RuntimeError):
            return False

    def _recording(
        self, c: _Candidate, policy: RetentionPolicy, now: datetime, dry_run: bool
    ) -> RetentionEntry | None:
        raw = c.payload.get("path")
        if not isinstance(raw, str) or not raw:
            return None
        path = Path(raw)
        if not path.is_absolute():
            path = self._recordings / path
        reason = policy.reason(c.topic)
        if not self._inside(path):
            action = RetentionAction.RECORDING_REFUSED
            reason = f"{reason}; not deleted: outside the recordings directory"
        elif not path.is_file():
            action = RetentionAction.RECORDING_MISSING
            reason = f"{reason}; the file was already gone"
        else:
            action = RetentionAction.RECORDING_DELETED
        entry = RetentionEntry(now, action, c.event_id, c.call_id, c.topic, raw, reason)
        if dry_run:
            return entry
        if action is RetentionAction.RECORDING_DELETED:
            try:
                path.unlink()
            except FileNotFoundError:
                entry = RetentionEntry(
                    now,
                    RetentionAction.RECORDING_MISSING,
                    c.event_id,
                    c.call_id,
                    c.topic,
                    raw,
                    f"{policy.reason(c.topic)}; the file was already gone",
                )
        self._log(entry)
        return entry

    def _rewrite(
        self,
        c: _Candidate,
        policy: RetentionPolicy,
        now: datetime,
        action: RetentionAction,
        fields: Sequence[str],
        change: Callable[[str], str],
        dry_run: bool,
    ) -> RetentionEntry | None:
        masked = dict(c.payload)
        changed = []
        for key in fields:
            value = masked.get(key)
            if isinstance(value, str) and change(value) != value:
                masked[key] = change(value)
                changed.append(key)
        entry = RetentionEntry(
            now,
            action,
            c.event_id,
            c.call_id,
            c.topic,
            f"{c.kind}: {', '.join(changed) or 'checked, nothing to change'}",
            policy.reason(c.topic),
        )
        if dry_run:
            return entry if changed else None
        with self._db.session() as s, s.begin():
            if changed:
                s.execute(update(EventRow).where(EventRow.seq == c.seq).values(payload=masked))
            s.add(_row_of(entry))
        return entry if changed else None

    def _log(self, entry: RetentionEntry) -> None:
        with self._db.session() as s, s.begin():
            s.add(_row_of(entry))


def _erase(_text: str) -> str:
    return ""


def _row_of(entry: RetentionEntry) -> RetentionLogRow:
    return RetentionLogRow(
        at=entry.at,
        action=entry.action.value,
        event_id=entry.event_id,
        call_id=entry.call_id,
        topic=entry.topic,
        target=entry.target,
        reason=entry.reason,
    )
