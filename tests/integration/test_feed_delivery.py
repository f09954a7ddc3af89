"""The Situational Centre feed against a local HTTP receiver that is down, flaky, then back.

A real HTTP server on 127.0.0.1 (``http.server`` in a thread) receives the
documents; the publisher runs on a fake clock (ticks driven by the test), so
hours of feed take seconds.  The outcome: every interval delivered exactly
once, in order, gap-free, each with a valid signature, across a restart of
the publisher in the middle.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from hotline.app.feedservice import FeedPublisher, feed_routes
from hotline.core.clock import FakeClock
from hotline.reports.events import CallCentreEvent, EventKind
from hotline.reports.feed import verify
from hotline.store.db import Database
from hotline.store.events import EventRow, EventStore
from hotline.store.feed_outbox import FeedOutbox, FeedOutboxRow
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.web_support import FAST_HASHER, add_users, log_in

pytestmark = pytest.mark.integration

KEY = b"ministry-shared-secret"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
MAX_BODY = 1 << 20


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Receiver:
    """What the ministry's endpoint saw and how it behaves."""

    flaky: bool = False
    requests: int = 0
    accepted: list[tuple[str, int, bytes, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(min(length, MAX_BODY))
            with receiver.lock:
                receiver.requests += 1
                fail = receiver.flaky and receiver.requests % 2 == 1
                if not fail:
                    receiver.accepted.append(
                        (
                            self.headers.get("Idempotency-Key", ""),
                            int(self.headers.get("X-Hotline-Feed-Seq", "0")),
                            body,
                            self.headers.get("X-Hotline-Signature", ""),
                        )
                    )
            assert self.headers.get("Content-Type") == "application/json"
            self.send_response(503 if fail else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


class Server:
    def __init__(self, port: int, receiver: Receiver) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'feed.db'}")
    tables = FeedOutboxRow.metadata.tables
    FeedOutboxRow.metadata.create_all(
        database.engine,
        tables=[tables[FeedOutboxRow.__tablename__], tables[EventRow.__tablename__]],
    )
    try:
        yield database
    finally:
        database.dispose()


async def _store_calls(db: Database, tmp_path: Path, intervals: int) -> None:
    """One answered call in topic "health" per interval, waiting ``i % 30`` seconds."""
    store = EventStore(db, tmp_path / "journal.jsonl")
    for i in range(intervals):
        t = T0 + i * STEP + timedelta(seconds=60)
        call = f"c{i}"
        wait = timedelta(seconds=i % 30)
        for e in (
            CallCentreEvent(kind=EventKind.CALL_ARRIVED, timestamp=t, call_id=call,
                            payload={"caller": "+70000000000"}),
            CallCentreEvent(kind=EventKind.QUEUE_ENTERED, timestamp=t, call_id=call,
                            queue_id="q", topic="health", payload={"position": 1}),
            CallCentreEvent(kind=EventKind.QUEUE_ANSWERED, timestamp=t + wait, call_id=call,
                            queue_id="q", operator_id="op1",
                            payload={"wait_s": float(i % 30)}),
        ):  # fmt: skip
            store.append(e)
    await store.flush_all()
    store.close()


def _publisher(
    db: Database, clock: FakeClock, url: str, client: httpx.AsyncClient
) -> FeedPublisher:
    return FeedPublisher(
        db,
        node_id="node-a",
        key=KEY,
        url=url,
        clock=clock,
        interval_min=15,
        settle_s=60,
        client=client,
        rng=random.Random(122),
    )


async def _run(publisher: FeedPublisher, clock: FakeClock, minutes: int) -> None:
    for _ in range(minutes):
        clock.advance(60)
        await publisher.tick()


async def test_down_then_flaky_then_back_with_a_restart(db: Database, tmp_path: Path) -> None:
    hours = 8
    await _store_calls(db, tmp_path, intervals=hours * 4)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/feed"
    # The first start publishes the last complete interval: [T0, T0 + 15 min).
    clock = FakeClock(start_wall=T0 + STEP + timedelta(seconds=30))
    receiver = Receiver()
    async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as client:
        first = _publisher(db, clock, url, client)
        # Down for three hours: nothing listens on the port.
        await _run(first, clock, 3 * 60)
        assert receiver.accepted == []
        assert first.outbox.pending() >= 11
        server = Server(port, receiver)
        try:
            receiver.flaky = True
            flaky_min = 0
            while not receiver.accepted and flaky_min < 60:
                await _run(first, clock, 1)
                flaky_min += 1
            # Restart with a backlog, mid-flaky: a new publisher on the same database.
            assert receiver.accepted and first.outbox.pending() > 0
            second = _publisher(db, clock, url, client)
            await _run(second, clock, 120 - flaky_min)
            receiver.flaky = False
            await _run(second, clock, (hours - 5) * 60 + 45)
        finally:
            server.close()
    assert receiver.requests > len(receiver.accepted)  # the flaky phase did fail some
    keys = [k for k, _, _, _ in receiver.accepted]
    seqs = [s for _, s, _, _ in receiver.accepted]
    assert len(keys) == len(set(keys)), "a document was delivered twice"
    assert seqs == list(range(1, len(seqs) + 1)), "out of order or with a gap"
    docs = [json.loads(body) for _, _, body, _ in receiver.accepted]
    for (key, seq, body, signature), doc in zip(receiver.accepted, docs, strict=True):
        assert verify(body, KEY, signature)
        assert doc["seq"] == seq and doc["idempotency_key"] == key
    starts = [datetime.fromisoformat(d["interval_start"]) for d in docs]
    assert starts == [T0 + i * STEP for i in range(len(docs))]
    # Every interval up to the clock (8 h 45 min), the first 8 hours with their one call.
    last_end = FeedOutbox(db).last_interval_end()
    assert last_end == T0 + timedelta(hours=hours, minutes=45)
    assert len(docs) == hours * 4 + 3
    assert all(doc["topics"] == [] for doc in docs[hours * 4 :])
    for i, doc in enumerate(docs[: hours * 4]):
        (topic,) = doc["topics"]
        assert (topic["topic"], topic["offered"], topic["answered"]) == ("health", 1, 1)
        assert topic["asa_s"] == float(i % 30)
    assert FeedOutbox(db).pending() == 0


async def test_pull_api_returns_signed_documents_since_a_seq(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'node.db'}")
    db.migrate()  # the whole schema: the web app needs users and sessions
    clock = FakeClock(start_wall=T0 + 4 * STEP + timedelta(seconds=61))
    publisher = FeedPublisher(db, node_id="node-a", key=KEY, url=None, clock=clock)
    try:
        await _pull(db, publisher, clock)
    finally:
        await publisher.stop()
        db.dispose()


async def _pull(db: Database, publisher: FeedPublisher, clock: FakeClock) -> None:
    clock_first = publisher.enqueue_due()
    assert clock_first == 1  # a first start begins with the last complete interval

    add_users(db, FAST_HASHER)
    app = create_web_app(
        WebConfig(), db, clock, hasher=FAST_HASHER,
        extra=[feed_routes(publisher.outbox)],
    )  # fmt: skip
    clock.advance(2 * 15 * 60)
    assert publisher.enqueue_due() == 2
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        assert (await http.get("/api/v1/feed", params={"since": 1})).status_code == 401
        await log_in(http, "auditor")
        page = (await http.get("/api/v1/feed", params={"since": 1})).json()
        assert (await http.get("/api/v1/feed", params={"since": -1})).status_code == 422
    assert [item["seq"] for item in page["items"]] == [2, 3]
    assert page["next_since"] == 3
    for item in page["items"]:
        body = item["document"].encode()
        assert verify(body, KEY, item["signature"])
        assert json.loads(body)["seq"] == item["seq"]


async def test_node_downtime_is_caught_up_in_order(db: Database, tmp_path: Path) -> None:
    await _store_calls(db, tmp_path, intervals=4)
    port = _free_port()
    url = f"http://127.0.0.1:{port}/feed"
    clock = FakeClock(start_wall=T0 + STEP + timedelta(seconds=90))
    receiver = Receiver()
    server = Server(port, receiver)
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(2.0)) as client:
            await _publisher(db, clock, url, client).tick()
            assert [s for _, s, _, _ in receiver.accepted] == [1]
            # The node is off for three days; a new process catches up every interval.
            clock.advance(3 * 24 * 3600)
            again = _publisher(db, clock, url, client)
            await again.tick()
            assert again.outbox.last_interval_end() == T0 + 97 * STEP  # bounded per tick
            for _ in range(3):
                await again.tick()
    finally:
        server.close()
    seqs = [s for _, s, _, _ in receiver.accepted]
    assert seqs == list(range(1, 3 * 96 + 2))
    starts = [json.loads(b)["interval_start"] for _, _, b, _ in receiver.accepted]
    assert starts[0] == "2026-03-02T09:00:00Z"
    assert starts[-1] == "2026-03-05T09:00:00Z"
    assert len(set(starts)) == len(starts)


async def test_component_start_and_stop(db: Database) -> None:
    clock = FakeClock(start_wall=T0 + STEP + timedelta(seconds=90))
    publisher = FeedPublisher(db, node_id="node-a", key=KEY, url=None, clock=clock)
    assert (publisher.name, publisher.active()) == ("feed", 0)
    await publisher.start()
    try:
        for _ in range(100):
            if publisher.outbox.pending():
                break
            await asyncio.sleep(0.02)
        publisher.refuse_new()
    finally:
        await publisher.stop()
    (entry,) = publisher.outbox.since(0)
    assert entry.interval_start == T0
    assert verify(entry.body, KEY, entry.signature)
