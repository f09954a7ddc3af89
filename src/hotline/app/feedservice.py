"""The Situational Centre feed publisher (R12g): a node component.

Every interval boundary plus ``settle_s`` (late events), the document of each
interval that has ended since the newest one in the outbox is computed from
the stored events (:func:`hotline.reports.metrics.compute_report` by topic
and by operator), signed and enqueued in ``feed_outbox`` (gap-free seq, one
row per interval).  After downtime every missed interval is caught up, in
order; on a first start (empty outbox) the feed begins with the last
complete interval.

Delivery POSTs the lowest undelivered document with httpx (timeouts;
``Content-Type: application/json``, ``X-Hotline-Signature``,
``Idempotency-Key``, ``X-Hotline-Feed-Seq``).  A 2xx answer marks it
delivered; anything else (or no answer) marks it failed with backoff and
delivery stops there, so nothing is ever delivered out of order.  All state
is in the database, so a restarted node carries on.

:func:`feed_routes` adds the read-only pull API ``GET /api/v1/feed?since=N``
to the HTTP app (an ``extra`` hook of ``create_web_app``).  It needs a
logged-in user holding ``feed.read`` (auditors, supervisors, administrators).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx
from fastapi import Depends, FastAPI, Query, Response
from sqlalchemy.exc import SQLAlchemyError

from hotline.core.clock import Clock
from hotline.core.errors import RemoteProtocolError
from hotline.reports.events import event_from_record
from hotline.reports.feed import canonical_json, document_from_rows, idempotency_key, sign
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import Dimension, MetricsConfig
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.store.feed_outbox import FeedOutbox, OutboxEntry, Rendered
from hotline.web.auth import require
from hotline.web.permissions import Permission

__all__ = ["FeedPublisher", "feed_routes", "interval_floor"]

log = logging.getLogger(__name__)

DEFAULT_SETTLE_S: Final = 60.0
DEFAULT_TIMEOUT_S: Final = 10.0
MAX_IDLE_SLEEP_S: Final = 30.0
MAX_CATCH_UP_PER_TICK: Final = 96
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def interval_floor(ts: datetime, interval_min: int) -> datetime:
    """The start of the UTC interval of ``interval_min`` minutes holding ``ts``."""
    step = interval_min * 60
    seconds = int((ts.astimezone(UTC) - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % step)


class FeedPublisher:
    """Builds, stores and pushes the feed; see the module docstring."""

    name = "feed"

    def __init__(
        self,
        db: Database,
        *,
        node_id: str,
        key: bytes,
        url: str | None,
        clock: Clock,
        interval_min: int = 15,
        settle_s: float = DEFAULT_SETTLE_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        metrics_config: Callable[[], MetricsConfig] | None = None,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if interval_min < 1 or 1440 % interval_min:
            raise ValueError("interval_min must divide a day (e.g. 15, 30, 60)")
        self._db = db
        self._node_id = node_id
        self._key = key
        self._url = url
        self._clock = clock
        self._step = timedelta(minutes=interval_min)
        self._interval_min = interval_min
        self._settle = timedelta(seconds=settle_s)
        self._metrics_config = metrics_config or MetricsConfig
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))
        self.outbox = FeedOutbox(db, rng=rng)
        self._task: asyncio.Task[None] | None = None
        self._catching_up = False
        self.delivered_total = 0
        self.failed_total = 0

    # -- component -------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="feed")

    def refuse_new(self) -> None:
        """Nothing to refuse: the feed is not call work."""

    def active(self) -> int:
        return 0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._own_client:
            await self._client.aclose()

    async def run(self) -> None:
        """Tick until cancelled, sleeping until the next boundary or retry."""
        while True:
            try:
                await self.tick()
            except (OSError, ValueError, RemoteProtocolError, SQLAlchemyError) as exc:
                log.warning("feed tick failed: %s", exc)
            await asyncio.sleep(self._sleep_s())

    def _sleep_s(self) -> float:
        if self._catching_up:
            return 0.0
        now = self._clock.utcnow()
        due = interval_floor(now, self._interval_min) + self._step + self._settle
        nxt = self.outbox.first_undelivered() if self._url else None
        if nxt is not None:
            due = min(due, nxt.next_attempt_at)
        return max(0.05, min(MAX_IDLE_SLEEP_S, (due - now).total_seconds()))

    # -- one step ----------------------------------------------------------------
    async def tick(self) -> None:
        """Enqueue every finished interval, then deliver what is due, in order."""
        await asyncio.to_thread(self.enqueue_due)
        if self._url:
            await self.deliver_due()

    def enqueue_due(self) -> int:
        """Enqueue each interval that ended at least ``settle_s`` ago; returns how many.

        At most ``MAX_CATCH_UP_PER_TICK`` per call, so that delivery interleaves
        with a long catch-up; :meth:`run` then ticks again at once.
        """
        now = self._clock.utcnow()
        latest_end = interval_floor(now - self._settle, self._interval_min)
        start = self.outbox.last_interval_end()
        if start is None:
            start = latest_end - self._step
        count = 0
        while start + self._step <= latest_end and count < MAX_CATCH_UP_PER_TICK:
            end = start + self._step
            if self.outbox.enqueue(start, end, self._renderer(start, end), now=now) is not None:
                count += 1
            start = end
        self._catching_up = count >= MAX_CATCH_UP_PER_TICK
        return count

    def _renderer(self, start: datetime, end: datetime) -> Callable[[int], Rendered]:
        stored = EventQueries(self._db).for_report(start, end)
        events = [event_from_record(e) for e in stored]
        config = self._metrics_config()
        by_topic = compute_report(events, start=start, end=end, config=config, by=[Dimension.TOPIC])
        by_operator = compute_report(
            events, start=start, end=end, config=config, by=[Dimension.OPERATOR]
        )

        def render(seq: int) -> Rendered:
            doc = document_from_rows(
                seq=seq,
                node_id=self._node_id,
                interval_start=start,
                interval_end=end,
                topic_rows=by_topic,
                operator_rows=by_operator,
            )
            body = canonical_json(doc)
            return Rendered(body, sign(body, self._key), idempotency_key(self._node_id, start))

        return render

    async def deliver_due(self) -> int:
        """POST due documents in seq order; stop at the first failure. Returns how many."""
        delivered = 0
        while True:
            entry = await asyncio.to_thread(self.outbox.next_due, self._clock.utcnow())
            if entry is None:
                return delivered
            error = await self._post(entry)
            now = self._clock.utcnow()
            if error is None:
                await asyncio.to_thread(self.outbox.mark_delivered, entry.seq, now=now)
                self.delivered_total += 1
                delivered += 1
                continue
            retry = await asyncio.to_thread(self.outbox.mark_failed, entry.seq, error, now=now)
            self.failed_total += 1
            log.warning("feed seq %d not delivered (%s); retry at %s", entry.seq, error, retry)
            return delivered

    async def _post(self, entry: OutboxEntry) -> str | None:
        if self._url is None:
            return "no feed URL configured"
        headers = {
            "Content-Type": "application/json",
            "X-Hotline-Signature": entry.signature,
            "Idempotency-Key": entry.idempotency_key,
            "X-Hotline-Feed-Seq": str(entry.seq),
        }
        try:
            response = await self._client.post(self._url, content=entry.body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:200]
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


def feed_routes(outbox: FeedOutbox) -> Callable[[FastAPI], None]:
    """``extra`` hook for ``create_web_app``: ``GET /api/v1/feed?since=N&limit=M``.

    Read-only, for holders of ``feed.read``.  Each item carries the document
    as the exact signed string, its signature and seq.
    """

    def add(app: FastAPI) -> None:
        @app.get(
            "/api/v1/feed",
            tags=["feed"],
            dependencies=[Depends(require(Permission.FEED_READ))],
            summary="Signed feed documents after a sequence number",
        )
        def feed(
            since: int = Query(0, ge=0, le=2**62),
            limit: int = Query(100, ge=1, le=500),
        ) -> Response:
            entries = outbox.since(since, limit=limit)
            items = [
                {
                    "seq": e.seq,
                    "idempotency_key": e.idempotency_key,
                    "signature": e.signature,
                    "document": e.body.decode("utf-8"),
                }
                for e in entries
            ]
            last = entries[-1].seq if entries else since
            body = {"items": items, "next_since": last}
            return Response(content=json.dumps(body), media_type="application/json")

    return add
