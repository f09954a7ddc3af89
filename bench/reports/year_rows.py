"""A year of a busy 122, drawn straight into projection rows (the bulk path of the benchmark).

Writing 10 million calls as raw events through the writer (each batch
re-projected in Python) would take hours on two cores; the benchmark instead
draws each call's projection rows directly, with the columns and meanings
:class:`hotline.reports.projection.EventProjector` gives them (call record,
queue visits, handlings, operator spans), and the operators' login/state
events as raw events.  The rollups are then computed from these rows by the
very SQL the writer uses (:func:`hotline.store.rollups.recompute_rollups`).
Repeat-call flags are set here by the definition of docs/metrics.md (same
caller, same topic, at most 24 h before; ties by call id), which
``Projections.refresh_repeats`` computes in SQL.

The year: ``calls`` calls in all over 365 days from 1 January (UTC); a
weekly profile (weekdays 1.15, Saturday 0.7, Sunday 0.55) and a daily one
(night minimum, peaks at 10-12 and 14-16); five topics with their queues and
a general queue that takes the calls timed out at the 120 s norm; 150
operators; 3 % outbound; 5 % IVR self-service, 6 % voice assistant (60 %
contained); queue outcomes: answered, abandoned, short abandons, timed out,
call-backs, left empty.  Callers are drawn from 3 million numbers with a
skew, so repeat calls occur.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

__all__ = ["OPERATORS", "TOPICS", "YEAR_START", "DayRows", "year_days"]

YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
DAY_MS = 86_400_000
BUCKET_MS = 900_000
TOPICS = ("social", "health", "education", "military", "services")
TOPIC_WEIGHTS = np.array([0.32, 0.26, 0.16, 0.10, 0.16])
QUEUES = ("q_social", "q_health", "q_education", "q_military", "q_services")
GENERAL = "q_general"
OPERATORS = tuple(f"op{i:03d}" for i in range(150))
HOURLY = np.array(
    [0.15, 0.10, 0.08, 0.07, 0.08, 0.12, 0.30, 0.60, 0.90, 1.00, 1.05, 1.05,
     0.95, 0.90, 1.00, 1.00, 0.95, 0.85, 0.70, 0.55, 0.45, 0.35, 0.25, 0.18]
)  # fmt: skip
HOURLY = HOURLY / HOURLY.sum()
WEEKDAY = np.array([1.15, 1.15, 1.15, 1.15, 1.15, 0.70, 0.55])
NORM_MS = 20_000
SHORT_MS = 5_000


@dataclass(slots=True)
class DayRows:
    """The rows of one day, by table (tuples in the column order of ``COLUMNS``)."""

    call_records: list[tuple[Any, ...]] = field(default_factory=list)
    call_visits: list[tuple[Any, ...]] = field(default_factory=list)
    call_handlings: list[tuple[Any, ...]] = field(default_factory=list)
    call_spans: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(v) for v in (self.call_records, self.call_visits, self.call_handlings,
                                    self.call_spans, self.events))  # fmt: skip


COLUMNS: dict[str, tuple[str, ...]] = {
    "call_records": (
        "call_id", "started_ms", "answered_ms", "ended_ms", "last_ms", "caller", "caller_digits",
        "called", "called_digits", "trunk", "direction", "topic", "queues", "queue_outcomes",
        "operator_id", "operators", "wait_ms", "talk_ms", "hold_ms", "outcome", "hung_up_by",
        "end_cause", "recording_path", "counted", "arrived_ms", "bucket_ms", "fact_direction",
        "fact_topic", "repeat_key", "bot_started", "bot_contained", "ivr_self_served",
        "outbound_answered", "outbound_failed", "is_repeat",
    ),
    "call_visits": (
        "call_id", "idx", "queue_id", "topic", "trunk", "direction", "entered_ms", "bucket_ms",
        "outcome", "left_ms", "wait_ms", "operator_id", "tto_ms", "within_norm", "norm_ms",
        "short_ms",
    ),
    "call_handlings": (
        "call_id", "idx", "operator_id", "queue_id", "topic", "trunk", "direction",
        "answered_ms", "bucket_ms", "ended_ms", "complete", "connected_ms", "talk_ms",
        "hold_ms", "wrapup_ms",
    ),
    "call_spans": ("call_id", "idx", "operator_id", "kind", "from_ms", "to_ms", "call_last_ms"),
    "events": (
        "event_id", "ts_ms", "kind", "call_id", "queue_id", "operator_id", "topic", "trunk",
        "direction", "payload",
    ),
}  # fmt: skip


class _Year:
    def __init__(self, calls: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        days = np.arange(365)
        weights = WEEKDAY[(days + YEAR_START.weekday()) % 7] * (
            1 + 0.1 * np.cos(2 * math.pi * days / 365)
        )
        self.per_day = calls * weights / weights.sum()
        self.last_seen: dict[tuple[int, int], tuple[int, str]] = {}
        self.event_seq = 0

    def day(self, d: int) -> DayRows:
        rng = self.rng
        out = DayRows()
        n = int(rng.poisson(self.per_day[d]))
        day_ms = int((YEAR_START + timedelta(days=d)).timestamp() * 1000)
        hours = rng.choice(24, size=n, p=HOURLY)
        arrived = np.sort(day_ms + hours * 3_600_000 + rng.integers(0, 3_600_000, size=n))
        topics = rng.choice(5, size=n, p=TOPIC_WEIGHTS)
        callers = (3_000_000 * rng.random(n) ** 2.2).astype(np.int64)
        kinds = rng.random(n)
        fates = rng.random(n)
        waits = np.minimum(rng.exponential(14_000, size=n), 119_900).astype(np.int64)
        talks = rng.lognormal(math.log(170_000), 0.6, size=n).astype(np.int64) + 5_000
        ops = rng.integers(0, len(OPERATORS), size=n)
        extra = rng.random((n, 4))
        for i in range(n):
            self._call(out, d, i, int(arrived[i]), int(topics[i]), int(callers[i]),
                       float(kinds[i]), float(fates[i]), int(waits[i]), int(talks[i]),
                       int(ops[i]), extra[i])  # fmt: skip
        self._operators(out, day_ms)
        return out

    def _call(
        self, out: DayRows, d: int, i: int, t: int, topic_i: int, caller_i: int, kind: float,
        fate: float, wait: int, talk: int, op_i: int, extra: np.ndarray,
    ) -> None:  # fmt: skip
        cid = f"y{d:03d}{i:06d}"
        topic, queue = TOPICS[topic_i], QUEUES[topic_i]
        trunk = "t1" if extra[0] < 0.6 else "t2"
        caller = f"+79{caller_i:09d}"
        bucket = t - t % BUCKET_MS
        visits: list[tuple[str, str, int, int]] = []  # queue, outcome, entered, wait
        answered_at = None
        operator = OPERATORS[op_i]
        outbound = kind < 0.03
        bot = 0.03 <= kind < 0.09
        ivr = 0.09 <= kind < 0.14
        bot_contained = bot and extra[1] < 0.6
        entered = t + 10_000 + int(extra[2] * 30_000)
        if outbound:
            answered_ok = extra[1] < 0.7
            end = t + (talk if answered_ok else 25_000)
            self._record(out, cid, t, t + 15_000 if answered_ok else None, end, end, None, "122",
                         trunk, "outbound", topic, [], operator if answered_ok else None,
                         None, None, None, "outbound_answered" if answered_ok else "outbound_failed",
                         "operator", bucket, None, False, False, False, answered_ok,
                         not answered_ok)  # fmt: skip
            if answered_ok:
                self._handling(out, cid, 1, operator, None, topic, trunk, "outbound",
                               t + 15_000, talk - 15_000, 0, 0, end)  # fmt: skip
            return
        if ivr or bot_contained:
            end = t + 40_000 + int(extra[3] * 60_000)
            self._record(out, cid, t, None, end, end, caller, "122", trunk, "inbound", topic, [],
                         None, None, None, None, "self_service", "caller", bucket,
                         self._repeat(caller_i, topic_i, t, cid), bot, False, ivr, False,
                         False)  # fmt: skip
            return
        if fate < 0.80:
            visits.append((queue, "answered", entered, wait))
        elif fate < 0.87:
            visits.append((queue, "abandoned", entered, 5_000 + int(extra[3] * 110_000)))
        elif fate < 0.89:
            visits.append((queue, "short_abandon", entered, int(extra[3] * 4_999)))
        elif fate < 0.94:
            visits.append((queue, "timed_out", entered, 120_000))
            second = entered + 120_001
            if extra[3] < 0.85:
                visits.append((GENERAL, "answered", second, int(extra[1] * 60_000)))
            else:
                visits.append((GENERAL, "abandoned", second, 5_000 + int(extra[1] * 60_000)))
        elif fate < 0.95:
            visits.append((queue, "callback", entered, 10_000 + int(extra[3] * 50_000)))
        elif fate < 0.955:
            visits.append((queue, "left_empty", entered, 0))
        else:
            visits.append((queue, "answered", entered, wait))
        hold = int(extra[2] * 50_000) + 10_000 if extra[1] < 0.15 else 0
        wrap = 12_000 + int(extra[0] * 16_000)
        end = visits[-1][2] + visits[-1][3]
        for idx, (q, outcome, at, w) in enumerate(visits, start=1):
            tto = None
            if outcome == "answered":
                answered_at = at + w
                tto = answered_at - t
                end = answered_at + talk + hold
            out.call_visits.append((
                cid, idx, q, topic, trunk, "inbound", at, at - at % BUCKET_MS, outcome, at + w, w,
                operator if outcome == "answered" else None, tto,
                outcome == "answered" and w <= NORM_MS, NORM_MS, SHORT_MS,
            ))  # fmt: skip
        last = end
        if answered_at is not None:
            self._handling(out, cid, 1, operator, visits[-1][0], topic, trunk, "inbound",
                           answered_at, talk + hold, hold, wrap, end)  # fmt: skip
            last = end + wrap
        cdr_outcome = "answered" if answered_at is not None else visits[-1][1]
        self._record(out, cid, t, answered_at, end, last, caller, "122", trunk, "inbound", topic,
                     visits, operator if answered_at is not None else None,
                     sum(v[3] for v in visits), talk if answered_at else None,
                     hold if answered_at else None, cdr_outcome,
                     "caller" if extra[0] < 0.7 else "operator", bucket,
                     self._repeat(caller_i, topic_i, t, cid), bot, False, False, False,
                     False)  # fmt: skip

    def _repeat(self, caller_i: int, topic_i: int, t: int, cid: str) -> bool:
        key = (caller_i, topic_i)
        before = self.last_seen.get(key)
        self.last_seen[key] = (t, cid)
        return before is not None and t - before[0] <= DAY_MS

    def _handling(
        self, out: DayRows, cid: str, idx: int, op: str, queue: str | None, topic: str,
        trunk: str, direction: str, answered: int, connected: int, hold: int, wrap: int,
        end: int,
    ) -> None:  # fmt: skip
        out.call_handlings.append((
            cid, idx, op, queue, topic, trunk, direction, answered, answered - answered % BUCKET_MS,
            end, True, connected, connected - hold, hold, wrap,
        ))  # fmt: skip
        last = end + wrap
        out.call_spans.append((cid, 1, op, "connected", answered, end, last))
        if wrap:
            out.call_spans.append((cid, 2, op, "wrap_up", end, end + wrap, last))

    def _record(
        self, out: DayRows, cid: str, t: int, answered: int | None, ended: int, last: int,
        caller: str | None, called: str, trunk: str, direction: str, topic: str,
        visits: list[tuple[str, str, int, int]], operator: str | None, wait: int | None,
        talk: int | None, hold: int | None, outcome: str, hung_up_by: str, bucket: int,
        repeat: bool | None, bot: bool, bot_contained: bool, ivr: bool, out_answered: bool,
        out_failed: bool,
    ) -> None:  # fmt: skip
        inbound = direction == "inbound"
        out.call_records.append((
            cid, t, answered, ended, last, caller, caller[1:] if caller else None, called,
            called, trunk, direction, topic,
            json.dumps(list(dict.fromkeys(v[0] for v in visits))),
            json.dumps([[v[0], v[1]] for v in visits]),
            operator, json.dumps([operator] if operator else []), wait, talk, hold, outcome,
            hung_up_by, "normal", f"rec/{cid}.wav" if answered else None, True, t, bucket,
            direction, topic, f"{caller}|{topic}" if inbound and caller else None, bot,
            bot_contained, ivr, out_answered, out_failed, bool(repeat) and inbound,
        ))  # fmt: skip

    def _operators(self, out: DayRows, day_ms: int) -> None:
        """Shifts of the operators: login, ready, breaks, logout (raw events)."""
        rng = self.rng
        for n, op in enumerate(OPERATORS):
            start = day_ms + (n % 3) * 8 * 3_600_000 + int(rng.integers(0, 600_000))
            t = start
            self._event(out, t, "operator.login", op, {})
            for _ in range(6):
                self._event(out, t + 1_000, "operator.state", op, {"state": "ready"})
                t += int(rng.integers(3_600_000, 4_800_000)) // 2
                self._event(out, t, "operator.state", op, {"state": "not_ready", "reason": "break"})
                t += 600_000
            self._event(out, start + 8 * 3_600_000, "operator.logout", op, {})

    def _event(self, out: DayRows, ts: int, kind: str, op: str, payload: dict[str, str]) -> None:
        self.event_seq += 1
        out.events.append(
            (f"{self.event_seq:032x}", ts, kind, None, None, op, None, None, None,
             json.dumps(payload))
        )  # fmt: skip


def year_days(calls: int, seed: int = 122) -> Iterator[DayRows]:
    """The rows of each of the 365 days, in order."""
    year = _Year(calls, seed)
    for d in range(365):
        yield year.day(d)
