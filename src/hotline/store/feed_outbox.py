"""The Situational Centre feed outbox: one signed document per interval, in order.

``feed_outbox`` rows carry a gap-free sequence number (``seq``, the primary
key: each new row takes ``max(seq) + 1`` in the same transaction) and a
unique ``interval_start``, so an interval is never enqueued twice and the
sequence has no holes even across restarts.  Delivery state
(``delivered_at``, ``attempts``, ``next_attempt_at``, ``last_error``) lives in
the same row: a restarted node carries on where the last one stopped.

Delivery is strictly in order: :meth:`FeedOutbox.next_due` only ever returns
the lowest undelivered document, and only once its retry time has come.
Retries back off exponentially, capped, with "equal jitter" drawn from a
seeded :class:`random.Random` (reproducible in tests).

Times are stored as whole milliseconds since the epoch (as the event table
does), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import BigInteger, Integer, String, Text, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from hotline.store.db import Database
from hotline.store.events import from_ms, to_ms
from hotline.store.models import Base

__all__ = [
    "DEFAULT_BACKOFF_BASE_S",
    "DEFAULT_BACKOFF_CAP_S",
    "FeedOutbox",
    "FeedOutboxRow",
    "OutboxEntry",
    "Rendered",
    "backoff_delay_s",
]

DEFAULT_BACKOFF_BASE_S: Final = 5.0
DEFAULT_BACKOFF_CAP_S: Final = 900.0
MAX_ERROR_CHARS: Final = 500
MAX_PAGE: Final = 500


class FeedOutboxRow(Base):
    """One feed document and its delivery state."""

    __tablename__ = "feed_outbox"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    interval_start_ms: Mapped[int] = mapped_column(BigInteger, unique=True)
    interval_end_ms: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(80))
    created_at_ms: Mapped[int] = mapped_column(BigInteger)
    delivered_at_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at_ms: Mapped[int] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(MAX_ERROR_CHARS), nullable=True)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A stored document (``body`` is the exact bytes that were signed)."""

    seq: int
    interval_start: datetime
    interval_end: datetime
    idempotency_key: str
    body: bytes
    signature: str
    created_at: datetime
    delivered_at: datetime | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Rendered:
    """What the caller's renderer returns for the seq it is given."""

    body: bytes
    signature: str
    idempotency_key: str


def _entry(r: FeedOutboxRow) -> OutboxEntry:
    return OutboxEntry(
        seq=r.seq,
        interval_start=from_ms(r.interval_start_ms),
        interval_end=from_ms(r.interval_end_ms),
        idempotency_key=r.idempotency_key,
        body=r.body.encode("utf-8"),
        signature=r.signature,
        created_at=from_ms(r.created_at_ms),
        delivered_at=from_ms(r.delivered_at_ms) if r.delivered_at_ms is not None else None,
        attempts=r.attempts,
        next_attempt_at=from_ms(r.next_attempt_at_ms),
        last_error=r.last_error,
    )


def backoff_delay_s(
    attempts: int,
    rng: random.Random,
    *,
    base_s: float = DEFAULT_BACKOFF_BASE_S,
    cap_s: float = DEFAULT_BACKOFF_CAP_S,
) -> float:
    """Delay before retry after ``attempts`` failures: half of min(cap, base·2ⁿ⁻¹) plus jitter.

    "Equal jitter": the result lies in ``[d/2, d]`` with ``d = min(cap, base·2^(attempts-1))``.
    """
    exponent = min(max(attempts - 1, 0), 62)
    delay = min(cap_s, base_s * float(2**exponent))
    return delay / 2 + rng.uniform(0.0, delay / 2)


class FeedOutbox:
    """Repository of ``feed_outbox``; plain :class:`OutboxEntry` out."""

    def __init__(
        self,
        db: Database,
        *,
        rng: random.Random | None = None,
        backoff_base_s: float = DEFAULT_BACKOFF_BASE_S,
        backoff_cap_s: float = DEFAULT_BACKOFF_CAP_S,
    ) -> None:
        self._db = db
        self._rng = rng if rng is not None else random.Random()
        self._base_s = backoff_base_s
        self._cap_s = backoff_cap_s

    def last_interval_end(self) -> datetime | None:
        """The end of the newest enqueued interval (None when the outbox is empty)."""
        with self._db.session() as s:
            value = s.scalar(select(func.max(FeedOutboxRow.interval_end_ms)))
        return from_ms(int(value)) if value is not None else None

    def enqueue(
        self,
        interval_start: datetime,
        interval_end: datetime,
        render: Callable[[int], Rendered],
        *,
        now: datetime,
    ) -> OutboxEntry | None:
        """Store the document of an interval under the next seq; None if already stored.

        ``render(seq)`` builds and signs the body for that seq.  Intervals must
        be enqueued in time order (a later interval than the newest stored).
        """
        start_ms = to_ms(interval_start)
        try:
            with self._db.session() as s, s.begin():
                taken = s.scalar(
                    select(FeedOutboxRow.seq).where(FeedOutboxRow.interval_start_ms == start_ms)
                )
                if taken is not None:
                    return None
                newest = s.scalar(select(func.max(FeedOutboxRow.interval_end_ms)))
                if newest is not None and start_ms < int(newest):
                    raise ValueError("feed intervals must be enqueued in time order")
                seq = int(s.scalar(select(func.max(FeedOutboxRow.seq))) or 0) + 1
                rendered = render(seq)
                row = FeedOutboxRow(
                    seq=seq,
                    interval_start_ms=start_ms,
                    interval_end_ms=to_ms(interval_end),
                    idempotency_key=rendered.idempotency_key,
                    body=rendered.body.decode("utf-8"),
                    signature=rendered.signature,
                    created_at_ms=to_ms(now),
                    delivered_at_ms=None,
                    attempts=0,
                    next_attempt_at_ms=to_ms(now),
                    last_error=None,
                )
                s.add(row)
                s.flush()
                entry = _entry(row)
        except IntegrityError:
            # Another writer took this seq or interval first (rolled back): nothing twice.
            return None
        return entry

    def first_undelivered(self) -> OutboxEntry | None:
        """The lowest-seq document not yet delivered."""
        with self._db.session() as s:
            row = s.scalars(
                select(FeedOutboxRow)
                .where(FeedOutboxRow.delivered_at_ms.is_(None))
                .order_by(FeedOutboxRow.seq)
                .limit(1)
            ).first()
            return _entry(row) if row is not None else None

    def next_due(self, now: datetime) -> OutboxEntry | None:
        """The lowest undelivered document if its retry time has come, else None."""
        entry = self.first_undelivered()
        if entry is None or entry.next_attempt_at > now:
            return None
        return entry

    def mark_delivered(self, seq: int, *, now: datetime) -> None:
        with self._db.session() as s, s.begin():
            s.execute(
                update(FeedOutboxRow)
                .where(FeedOutboxRow.seq == seq, FeedOutboxRow.delivered_at_ms.is_(None))
                .values(
                    delivered_at_ms=to_ms(now),
                    attempts=FeedOutboxRow.attempts + 1,
                    last_error=None,
                )
            )

    def mark_failed(self, seq: int, error: str, *, now: datetime) -> datetime:
        """Count a failed attempt and schedule the next one; returns when."""
        with self._db.session() as s, s.begin():
            row = s.get(FeedOutboxRow, seq)
            if row is None:
                raise KeyError(seq)
            row.attempts += 1
            delay = backoff_delay_s(row.attempts, self._rng, base_s=self._base_s, cap_s=self._cap_s)
            row.next_attempt_at_ms = to_ms(now) + round(delay * 1000)
            row.last_error = error[:MAX_ERROR_CHARS]
            return from_ms(row.next_attempt_at_ms)

    def since(self, seq: int, *, limit: int = 100) -> list[OutboxEntry]:
        """Documents with a seq greater than ``seq``, in order (at most ``limit``)."""
        limit = max(1, min(limit, MAX_PAGE))
        with self._db.session() as s:
            rows = s.scalars(
                select(FeedOutboxRow)
                .where(FeedOutboxRow.seq > seq)
                .order_by(FeedOutboxRow.seq)
                .limit(limit)
            )
            return [_entry(r) for r in rows]

    def pending(self) -> int:
        """How many documents wait for delivery."""
        with self._db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(FeedOutboxRow)
                    .where(FeedOutboxRow.delivered_at_ms.is_(None))
                )
                or 0
            )
