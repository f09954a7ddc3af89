"""Seeding calls with recordings into the store; serving an app on loopback (integration)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from hotline.reports.events import CallCentreEvent, EventKind
from hotline.reports.projection import EventProjector
from hotline.store.db import Database
from hotline.store.events import EventStore
from hotline.store.projections import Projections
from unit.web.admin_support import tone, wav_bytes

#: Caller on the left channel (1 kHz), operator on the right (600 Hz), 8 kHz.
RECORDING = wav_bytes([tone(1000.0), tone(600.0)], 8000, 2.0)


def call_events(
    call_id: str,
    *,
    at: datetime,
    caller: str,
    topic: str,
    operator: str,
    path: Path,
    data: bytes = RECORDING,
) -> tuple[list[CallCentreEvent], str]:
    """A call answered after 5 s, 60 s of talk, and its recording; returns (events, recording id)."""
    stored = CallCentreEvent(
        kind=EventKind.RECORDING_STORED,
        timestamp=at + timedelta(seconds=66),
        call_id=call_id,
        payload={
            "path": str(path),
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data),
            "duration_s": 60.0,
        },
    )
    events = [
        CallCentreEvent(
            kind=EventKind.CALL_ARRIVED, timestamp=at, call_id=call_id, payload={"caller": caller}
        ),
        CallCentreEvent(
            kind=EventKind.QUEUE_ENTERED,
            timestamp=at + timedelta(seconds=1),
            call_id=call_id,
            queue_id=topic,
            topic=topic,
            payload={"position": 1},
        ),
        CallCentreEvent(
            kind=EventKind.QUEUE_ANSWERED,
            timestamp=at + timedelta(seconds=6),
            call_id=call_id,
            queue_id=topic,
            operator_id=operator,
            topic=topic,
            payload={"wait_s": 5.0},
        ),
        CallCentreEvent(
            kind=EventKind.CALL_ENDED,
            timestamp=at + timedelta(seconds=66),
            call_id=call_id,
            payload={"who_hung_up": "caller", "cause": "bye"},
        ),
        stored,
    ]
    path.write_bytes(data)
    return events, stored.event_id


async def store_events(
    db: Database, journal: Path, events: list[CallCentreEvent], *, projected: bool = False
) -> None:
    """Store ``events`` (with ``projected``, keeping the projections current as the node does)."""
    projections = Projections(EventProjector()) if projected else None
    store = EventStore(db, journal, projections=projections)
    try:
        for e in events:
            store.append(e)
        await store.flush_all()
    finally:
        store.close()


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]), name="http")
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()
