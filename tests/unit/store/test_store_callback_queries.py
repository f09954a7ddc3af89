"""The open call-back requests, read back from events stored in a temporary SQLite database."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from hotline.store.callback_queries import CallbackBacklog, CallbackQueries, RequestSource
from hotline.store.db import Database
from hotline.store.events import EventStore
from unit.reports.reports_log import K, Log, at

HOUR = 3600.0
NOW = at(30 * HOUR)
NUMBER = "+79161234567"


def _key_1(log: Log, call: str, s: float, *, queue: str = "general", wait: float = 60) -> None:
    """The caller waits ``wait`` seconds, presses 1 and hangs up."""
    log.arrive(call, s, caller=NUMBER)
    log.enter(call, queue, s, topic="housing")
    log.add(
        K.QUEUE_CALLBACK_REQUESTED, s + wait, call=call, queue=queue, topic="housing", number=NUMBER
    )
    log.end(call, s + wait + 5)


def _attempt(log: Log, call: str, s: float, attempt: int, result: str = "busy") -> None:
    log.add(
        K.CALLBACK_ATTEMPTED,
        s,
        call=call,
        queue="general",
        op="1001",
        attempt=attempt,
        result=result,
        number=NUMBER,
    )


def _completed(log: Log, call: str, s: float, result: str, attempts: int) -> None:
    log.add(K.CALLBACK_COMPLETED, s, call=call, queue="general", result=result, attempts=attempts)


async def _store(db: Database, journal: Path, log: Log) -> None:
    store = EventStore(db, journal)
    for e in log.events:
        store.append(e)
    await store.flush_all()
    store.close()


def _backlog(tmp_path: Path, log: Log, **kwargs: timedelta) -> CallbackBacklog:
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    db.migrate()
    try:
        asyncio.run(_store(db, tmp_path / "journal.jsonl", log))
        return CallbackQueries(db).open_requests(NOW, **kwargs)
    finally:
        db.dispose()


@pytest.fixture
def backlog(tmp_path: Path) -> CallbackBacklog:
    log = Log()
    _key_1(log, "open", 20 * HOUR)  # open, never tried
    _key_1(log, "done", 21 * HOUR)  # completed at the first attempt
    _attempt(log, "done", 22 * HOUR, 1, "answered")
    _completed(log, "done", 22 * HOUR, "completed", 1)
    _key_1(log, "tried", 10 * HOUR, wait=300)  # two busy attempts so far
    _attempt(log, "tried", 11 * HOUR, 1)
    _attempt(log, "tried", 12 * HOUR, 2)
    _key_1(log, "old", 1 * HOUR)  # 29 h ago: older than the 24 h bound
    _key_1(log, "ancient", -200 * HOUR)  # beyond the 7-day look-back
    # A time-out whose action is a call-back is a request too (number from call.arrived).
    log.arrive("timeout", 25 * HOUR, caller="+79035550101")
    log.enter("timeout", "social", 25 * HOUR, topic="social")
    log.add(
        K.QUEUE_TIMED_OUT,
        25 * HOUR + 600,
        call="timeout",
        queue="social",
        topic="social",
        wait_s=600.0,
        action="callback",
    )
    # A time-out that overflowed is not.
    log.queued_call("overflow", "social", 26 * HOUR, outcome=K.QUEUE_TIMED_OUT, wait_s=60)
    # A key-1 caller who was answered earlier and queued again: its place is the later wait.
    log.arrive("again", 27 * HOUR, caller=NUMBER)
    log.enter("again", "general", 27 * HOUR)
    log.answer("again", "general", "1001", 27 * HOUR + 10, 10)
    log.enter("again", "general", 27 * HOUR + 100)
    log.enter("again", "legal", 27 * HOUR + 200)  # overflowed on: the first entry is kept
    log.add(K.QUEUE_CALLBACK_REQUESTED, 27 * HOUR + 300, call="again", queue="legal")
    return _backlog(tmp_path, log)


def test_open_requests_are_found_in_place_order(backlog: CallbackBacklog) -> None:
    assert [r.call_id for r in backlog.open] == ["tried", "open", "timeout", "again"]
    _, open_, timeout, again = backlog.open
    assert open_.queue_id == "general" and open_.topic == "housing"
    assert open_.number == NUMBER and open_.attempts == 0 and open_.last_attempt_at is None
    assert open_.requested_at == at(20 * HOUR + 60) and open_.placed_at == at(20 * HOUR)
    assert open_.source is RequestSource.CALLER
    assert timeout.source is RequestSource.TIMED_OUT and timeout.queue_id == "social"
    assert timeout.number == "+79035550101"
    assert timeout.placed_at == timeout.requested_at == at(25 * HOUR + 600)
    assert again.queue_id == "legal" and again.placed_at == at(27 * HOUR + 100)
    assert again.number == NUMBER  # no number in the request: the caller id of call.arrived


def test_attempts_are_counted(backlog: CallbackBacklog) -> None:
    tried = backlog.open[0]
    assert tried.attempts == 2 and tried.last_attempt_at == at(12 * HOUR)
    assert tried.placed_at == at(10 * HOUR) and tried.requested_at == at(10 * HOUR + 300)


def test_completed_requests_are_left_out(backlog: CallbackBacklog) -> None:
    ids = {r.call_id for r in (*backlog.open, *backlog.expired)}
    assert "done" not in ids and "overflow" not in ids


def test_too_old_requests_are_reported_apart(backlog: CallbackBacklog) -> None:
    assert [r.call_id for r in backlog.expired] == ["old"]  # "ancient" is past the look-back
    assert backlog.expired[0].requested_at == at(1 * HOUR + 60)


def test_the_bounds_are_parameters(tmp_path: Path) -> None:
    log = Log()
    _key_1(log, "a", 20 * HOUR)
    _key_1(log, "b", 29 * HOUR)
    found = _backlog(tmp_path, log, max_age=timedelta(hours=2), look_back=timedelta(hours=5))
    assert [r.call_id for r in found.open] == ["b"]
    assert found.expired == ()  # "a" (10 h ago) is past the 5 h look-back


def test_bounds_are_checked(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        with pytest.raises(ValueError):
            CallbackQueries(db).open_requests(NOW, max_age=timedelta(0))
        with pytest.raises(ValueError):
            CallbackQueries(db).open_requests(
                NOW, max_age=timedelta(days=2), look_back=timedelta(days=1)
            )
    finally:
        db.dispose()


def test_an_empty_log_has_no_requests(tmp_path: Path) -> None:
    assert _backlog(tmp_path, Log()) == CallbackBacklog((), ())


def _refused(
    log: Log, call: str, s: float, kind: K, *, caller: str, action: str | None, wait: float = 0
) -> None:
    """The queue refuses the call (full at once, empty after ``wait``); the call ends."""
    log.arrive(call, s, caller=caller)
    if wait:
        log.enter(call, "social", s, topic="social")
    if action is None:  # logged before refusals carried their action
        log.add(kind, s + wait, call=call, queue="social", topic="social")
    else:
        log.add(kind, s + wait, call=call, queue="social", topic="social", action=action)
    log.end(call, s + wait + 8, who="system")


@pytest.fixture
def refusals(tmp_path: Path) -> CallbackBacklog:
    log = Log()
    _refused(log, "full", 23 * HOUR, K.QUEUE_LEFT_FULL, caller="+79035550101", action="callback")
    # Waited 40 s with no operator logged in, then the empty queue's call-back action.
    _refused(log, "empty", 22 * HOUR, K.QUEUE_LEFT_EMPTY, caller=NUMBER, action="callback", wait=40)
    _refused(log, "goodbye", 24 * HOUR, K.QUEUE_LEFT_FULL, caller=NUMBER, action="message_and_end")
    _refused(log, "bot", 24 * HOUR, K.QUEUE_LEFT_EMPTY, caller=NUMBER, action="bot")
    _refused(log, "legacy", 24 * HOUR, K.QUEUE_LEFT_EMPTY, caller=NUMBER, action=None)
    _refused(log, "done", 25 * HOUR, K.QUEUE_LEFT_FULL, caller=NUMBER, action="callback")
    _attempt(log, "done", 25 * HOUR + 60, 1, "answered")
    _completed(log, "done", 25 * HOUR + 60, "completed", 1)
    _refused(log, "tried", 26 * HOUR, K.QUEUE_LEFT_FULL, caller=NUMBER, action="callback")
    _attempt(log, "tried", 26 * HOUR + 60, 1, "no_answer")
    _refused(log, "old", 2 * HOUR, K.QUEUE_LEFT_EMPTY, caller=NUMBER, action="callback")
    return _backlog(tmp_path, log)


def test_full_and_empty_queue_call_backs_are_requests(refusals: CallbackBacklog) -> None:
    assert [r.call_id for r in refusals.open] == ["empty", "full", "tried"]
    empty, full, tried = refusals.open
    assert full.source is RequestSource.LEFT_FULL and empty.source is RequestSource.LEFT_EMPTY
    assert full.number == "+79035550101" and empty.number == NUMBER  # from call.arrived
    assert (full.queue_id, full.topic) == ("social", "social")
    # The place is the refusal itself (the ACD parks it there), not the queue entry.
    assert full.placed_at == full.requested_at == at(23 * HOUR)
    assert empty.placed_at == empty.requested_at == at(22 * HOUR + 40)
    assert full.attempts == 0 and full.last_attempt_at is None
    assert tried.attempts == 1 and tried.last_attempt_at == at(26 * HOUR + 60)


def test_other_refusals_and_completed_call_backs_are_not(refusals: CallbackBacklog) -> None:
    ids = {r.call_id for r in (*refusals.open, *refusals.expired)}
    assert ids.isdisjoint({"goodbye", "bot", "legacy", "done"})
    assert [r.call_id for r in refusals.expired] == ["old"]
    assert refusals.expired[0].source is RequestSource.LEFT_EMPTY
