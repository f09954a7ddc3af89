"""Projection rows of whole calls: what the store keeps beside the raw events.

docs/metrics.md: raw events are the source of truth; projections are derived
from them and can always be rebuilt.  :class:`EventProjector` turns every
event of some calls into the rows of the store's projection tables (see
:mod:`hotline.store.projections`): one call record (the CDR plus the call's
facts), its queue visits, operator handlings, call-back events and operator
spans.  It uses the very derivation the reports use
(:func:`~hotline.reports.metrics_calls.derive_calls`,
:func:`~hotline.reports.cdr.build_cdrs`), so a report summed from the
projections equals one computed from the events.

Durations are whole milliseconds, times milliseconds since the Unix epoch;
``bucket_ms`` is the start of the 15-minute UTC bucket a row is counted in.
A span still open at the call's last event has ``to_ms`` None (a report runs
it to its own end, as :func:`~hotline.reports.metrics.compute_report` does).
The repeat-call flag depends on other calls: the store sets it.

Layer L1: pure.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from hotline.core.errors import RemoteProtocolError
from hotline.core.records import EventRecord
from hotline.reports.cdr import CallDetailRecord, build_cdrs
from hotline.reports.events import CallCentreEvent, Direction, event_from_record
from hotline.reports.metrics_calls import derive_calls
from hotline.reports.metrics_config import MetricsConfig
from hotline.reports.metrics_facts import CallFacts, SpanKind

__all__ = [
    "BUCKET_MS",
    "PROJECTION_TABLES",
    "EventProjector",
    "ProjectedRow",
    "bucket_of",
    "digits_of",
    "ms_of",
]

BUCKET_MS: Final = 15 * 60 * 1000
"""The rollup bucket: 15 minutes, the finest report interval of docs/metrics.md."""
PROJECTION_TABLES: Final = (
    "call_records",
    "call_visits",
    "call_handlings",
    "call_callbacks",
    "call_spans",
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SPAN_KINDS: Final = frozenset({SpanKind.CONNECTED, SpanKind.WRAP_UP})

ProjectedRow = dict[str, str | int | bool | None]
"""One row of a projection table, keyed by column name."""


def ms_of(ts: datetime) -> int:
    """Whole milliseconds since the Unix epoch."""
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def bucket_of(ts_ms: int) -> int:
    """The start of the 15-minute UTC bucket holding ``ts_ms``."""
    return ts_ms - ts_ms % BUCKET_MS


def digits_of(number: str | None) -> str | None:
    """The digits of a phone number (what a CDR search by number matches)."""
    if number is None:
        return None
    return "".join(c for c in number if c.isdigit())


def _opt_ms(ts: datetime | None) -> int | None:
    return None if ts is None else ms_of(ts)


def _s_to_ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


@dataclass(frozen=True, slots=True)
class EventProjector:
    """Events of whole calls in, projection rows out (``config``: the norms in force)."""

    config: MetricsConfig = field(default_factory=MetricsConfig)

    def project(self, records: Iterable[EventRecord]) -> dict[str, list[ProjectedRow]]:
        """The rows of every table in :data:`PROJECTION_TABLES` for the calls in ``records``.

        Pass *every* event of each call.  A stored record that is not a valid
        event is left out (the raw report refuses it the same way).
        """
        events: list[CallCentreEvent] = []
        for r in records:
            if r.call_id is None:
                continue
            try:
                events.append(event_from_record(r))
            except RemoteProtocolError:
                continue
        return self.project_events(events)

    def project_events(self, events: Sequence[CallCentreEvent]) -> dict[str, list[ProjectedRow]]:
        """As :meth:`project`, from validated events."""
        out: dict[str, list[ProjectedRow]] = {name: [] for name in PROJECTION_TABLES}
        if not events:
            return out
        last: dict[str, datetime] = {}
        for e in events:
            assert e.call_id is not None
            seen = last.get(e.call_id)
            if seen is None or e.timestamp > seen:
                last[e.call_id] = e.timestamp
        end = max(last.values())
        derived = derive_calls(events, self.config, end=end)
        cdrs = {c.call_id: c for c in build_cdrs(events, end=end, config=self.config)}
        facts = {c.call_id: c for c in derived.calls}
        for call_id, cdr in cdrs.items():
            out["call_records"].append(self._record(cdr, facts.get(call_id), ms_of(last[call_id])))
        counters: dict[tuple[str, str], int] = defaultdict(int)

        def index(table: str, call_id: str) -> int:
            counters[table, call_id] += 1
            return counters[table, call_id]

        for v in derived.visits:
            entered = ms_of(v.entered_at)
            norms = self.config.norms(v.queue_id)
            out["call_visits"].append(
                {
                    "call_id": v.call_id,
                    "idx": index("v", v.call_id),
                    "queue_id": v.queue_id,
                    "topic": v.topic,
                    "trunk": v.trunk,
                    "direction": v.direction.value,
                    "entered_ms": entered,
                    "bucket_ms": bucket_of(entered),
                    "outcome": v.outcome.value,
                    "left_ms": _opt_ms(v.left_at),
                    "wait_ms": v.wait_ms,
                    "operator_id": v.operator_id,
                    "tto_ms": v.time_to_operator_ms,
                    "within_norm": v.answered_within_norm,
                    "norm_ms": round(norms.norm_s * 1000),
                    "short_ms": round(norms.short_abandon_s * 1000),
                }
            )
        for h in derived.handled:
            answered = ms_of(h.answered_at)
            out["call_handlings"].append(
                {
                    "call_id": h.call_id,
                    "idx": index("h", h.call_id),
                    "operator_id": h.operator_id,
                    "queue_id": h.queue_id,
                    "topic": h.topic,
                    "trunk": h.trunk,
                    "direction": h.direction.value,
                    "answered_ms": answered,
                    "bucket_ms": bucket_of(answered),
                    "ended_ms": _opt_ms(h.ended_at),
                    "complete": h.complete,
                    "connected_ms": h.connected_ms,
                    "talk_ms": h.talk_ms,
                    "hold_ms": h.hold_ms,
                    "wrapup_ms": h.wrapup_ms,
                }
            )
        for cb in derived.callbacks:
            at = ms_of(cb.at)
            out["call_callbacks"].append(
                {
                    "call_id": cb.call_id,
                    "idx": index("c", cb.call_id),
                    "queue_id": cb.queue_id,
                    "topic": cb.topic,
                    "trunk": cb.trunk,
                    "at_ms": at,
                    "bucket_ms": bucket_of(at),
                    "completed": cb.completed,
                }
            )
        for span in derived.spans:
            owner = span.call_id
            if span.kind not in _SPAN_KINDS or owner is None:
                continue
            out["call_spans"].append(
                {
                    "call_id": owner,
                    "idx": index("s", owner),
                    "operator_id": span.operator_id,
                    "kind": span.kind.value,
                    "from_ms": ms_of(span.start),
                    "to_ms": None if span.open else ms_of(span.end),
                    "call_last_ms": ms_of(last[owner]),
                }
            )
        return out

    def _record(self, cdr: CallDetailRecord, facts: CallFacts | None, last_ms: int) -> ProjectedRow:
        arrived = ms_of(facts.arrived_at) if facts is not None else None
        return {
            "call_id": cdr.call_id,
            "started_ms": ms_of(cdr.started_at),
            "answered_ms": _opt_ms(cdr.answered_at),
            "ended_ms": _opt_ms(cdr.ended_at),
            "last_ms": last_ms,
            "caller": cdr.caller,
            "caller_digits": digits_of(cdr.caller),
            "called": cdr.called,
            "called_digits": digits_of(cdr.called),
            "trunk": cdr.trunk,
            "direction": cdr.direction.value,
            "topic": cdr.topic,
            "queues": json.dumps(list(cdr.queues), ensure_ascii=False),
            "queue_outcomes": json.dumps(
                [[q, o.value] for q, o in cdr.queue_outcomes], ensure_ascii=False
            ),
            "operator_id": cdr.operator_id,
            "operators": json.dumps(list(cdr.operators), ensure_ascii=False),
            "wait_ms": _s_to_ms(cdr.wait_s),
            "talk_ms": _s_to_ms(cdr.talk_s),
            "hold_ms": _s_to_ms(cdr.hold_s),
            "outcome": cdr.outcome.value,
            "hung_up_by": cdr.hung_up_by.value if cdr.hung_up_by is not None else None,
            "end_cause": cdr.end_cause,
            "recording_path": cdr.recording_path,
            # The call's facts (None/False when the log holds no arrival: not counted).
            "counted": facts is not None,
            "arrived_ms": arrived,
            "bucket_ms": bucket_of(arrived) if arrived is not None else None,
            "fact_direction": facts.direction.value if facts is not None else None,
            "fact_topic": facts.topic if facts is not None else None,
            "repeat_key": _repeat_key(facts),
            "bot_started": facts is not None and facts.bot_started,
            "bot_contained": facts is not None and facts.bot_contained,
            "ivr_self_served": facts is not None and facts.ivr_self_served,
            "outbound_answered": facts is not None and facts.outbound_answered,
            "outbound_failed": facts is not None and facts.outbound_failed,
            "is_repeat": False,
        }


def _repeat_key(facts: CallFacts | None) -> str | None:
    """Who called about what (docs/metrics.md, Repeat calls); None: cannot repeat."""
    if facts is None or facts.direction is not Direction.INBOUND:
        return None
    if not facts.caller or facts.topic is None:
        return None
    text = json.dumps([facts.caller, facts.topic], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:40]
