"""The queue events as an Asterisk-style ``queue_log`` file (issue 7, item 7).

Existing call-centre reporting tools read Asterisk's ``queue_log``: one line
per queue event, ``epoch|callid|queue|agent|EVENT|data1|data2|data3``.  We
write it from our own events (docs/metrics.md, "Events"), always with
three data fields (empty when unused), ``NONE`` for a missing queue or
agent, and integer epoch seconds (UTC).

Mapping (ours → queue_log):

=============================  ==================  ===============================================
our event                      EVENT               data1 | data2 | data3
=============================  ==================  ===============================================
queue.entered                  ENTERQUEUE          (url, empty) | caller id | position
queue.ring_noanswer            RINGNOANSWER        ring time, ms | |
queue.answered                 CONNECT             hold time, s | call id | ring time, s
queue.abandoned                ABANDON             position | original position | wait, s
queue.timed_out                EXITWITHTIMEOUT     position | original position | wait, s
queue.left_empty               EXITEMPTY           position | original position | wait, s
queue.left_full                FULL                | |
call.ended (caller hung up)    COMPLETECALLER      hold time, s | talk time, s | original position
call.ended (operator/system)   COMPLETEAGENT       hold time, s | talk time, s | original position
=============================  ==================  ===============================================

"Hold time" is Asterisk's name for the wait in the queue.  COMPLETE* is
written only for a call connected from a queue and not transferred away
before it ended (a transfer or a later queue entry closes the connection
without a COMPLETE line, as our events say nothing more).  The caller id
is masked (:func:`hotline.reports.cdr.mask_number`) unless
``show_numbers``.  ``|`` and line breaks inside a field become ``_``.
Timed-out calls keep their own EXITWITHTIMEOUT line, never ABANDON.

Layer L1: pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from hotline.reports.cdr import mask_number
from hotline.reports.events import CallCentreEvent, EventKind, HungUpBy

__all__ = ["QueueLogLine", "queue_log_lines", "render_queue_log"]

_K = EventKind
_NONE: Final = "NONE"


@dataclass(frozen=True, slots=True)
class QueueLogLine:
    """One ``queue_log`` line before it is rendered."""

    at: datetime
    call_id: str
    queue: str
    agent: str
    event: str
    data: tuple[str, str, str]

    def render(self) -> str:
        fields = (
            str(int(self.at.timestamp())),
            self.call_id,
            self.queue,
            self.agent,
            self.event,
            *self.data,
        )
        return "|".join(_clean(f) for f in fields)


def _clean(field: str) -> str:
    return field.replace("|", "_").replace("\r", "_").replace("\n", "_")


def _num(value: float | None) -> str:
    return "" if value is None else str(round(value))


@dataclass(slots=True)
class _Connection:
    queue: str
    agent: str
    at: datetime
    wait_s: float
    position: int | None


@dataclass(slots=True)
class _CallState:
    caller: str | None = None
    positions: dict[str, int] = field(default_factory=dict)
    entered: dict[str, datetime] = field(default_factory=dict)
    offered: dict[str, datetime] = field(default_factory=dict)
    connection: _Connection | None = None


def _call_lines(events: Sequence[CallCentreEvent], show_numbers: bool) -> list[QueueLogLine]:
    st = _CallState()
    out: list[QueueLogLine] = []

    def line(e: CallCentreEvent, event: str, *data: str, queue: str | None = None) -> None:
        padded = (*data, "", "", "")[:3]
        out.append(
            QueueLogLine(
                at=e.timestamp,
                call_id=e.call_id or _NONE,
                queue=queue or e.queue_id or _NONE,
                agent=e.operator_id or _NONE,
                event=event,
                data=(padded[0], padded[1], padded[2]),
            )
        )

    for e in events:
        q = e.queue_id or _NONE
        match e.kind:
            case _K.CALL_ARRIVED:
                st.caller = e.text("caller")
            case _K.QUEUE_ENTERED:
                st.connection = None
                pos = int(e.number("position") or 0)
                st.positions[q] = pos
                st.entered[q] = e.timestamp
                caller = st.caller if show_numbers else mask_number(st.caller)
                line(e, "ENTERQUEUE", "", caller or "", str(pos))
            case _K.QUEUE_OFFERED:
                st.offered[q] = e.timestamp
            case _K.QUEUE_RING_NOANSWER:
                line(e, "RINGNOANSWER", _num(e.number("ring_ms")))
            case _K.QUEUE_ANSWERED:
                wait = e.number("wait_s") or 0.0
                rung = st.offered.get(q)
                ring = (e.timestamp - rung).total_seconds() if rung is not None else 0.0
                line(e, "CONNECT", _num(wait), e.call_id or "", _num(max(ring, 0.0)))
                st.connection = _Connection(
                    q, e.operator_id or _NONE, e.timestamp, wait, st.positions.get(q)
                )
            case _K.QUEUE_ABANDONED | _K.QUEUE_TIMED_OUT | _K.QUEUE_LEFT_EMPTY:
                name = {
                    _K.QUEUE_ABANDONED: "ABANDON",
                    _K.QUEUE_TIMED_OUT: "EXITWITHTIMEOUT",
                    _K.QUEUE_LEFT_EMPTY: "EXITEMPTY",
                }[e.kind]
                orig = st.positions.get(q)
                at_pos = e.number("position")
                waited = e.number("wait_s")
                if waited is None and q in st.entered:
                    waited = (e.timestamp - st.entered[q]).total_seconds()
                line(
                    e, name, _num(at_pos if at_pos is not None else orig), _num(orig), _num(waited)
                )
            case _K.QUEUE_LEFT_FULL:
                line(e, "FULL")
            case _K.CALL_TRANSFERRED | _K.CALL_REDIRECTED_EXTERNAL:
                st.connection = None
            case _K.CALL_ENDED if st.connection is not None:
                c = st.connection
                who = e.text("who_hung_up")
                name = "COMPLETECALLER" if who == HungUpBy.CALLER.value else "COMPLETEAGENT"
                talk = max((e.timestamp - c.at).total_seconds(), 0.0)
                out.append(
                    QueueLogLine(
                        at=e.timestamp,
                        call_id=e.call_id or _NONE,
                        queue=c.queue,
                        agent=c.agent,
                        event=name,
                        data=(_num(c.wait_s), _num(talk), _num(c.position)),
                    )
                )
                st.connection = None
            case _:
                pass
    return out


def queue_log_lines(
    events: Iterable[CallCentreEvent],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    show_numbers: bool = False,
) -> tuple[QueueLogLine, ...]:
    """The ``queue_log`` lines of ``events`` with ``start <= time < end``, in time order.

    Give every event of each call (a CONNECT needs the call's entry for its
    original position; a COMPLETE needs its CONNECT).
    """
    by_call: dict[str, list[CallCentreEvent]] = defaultdict(list)
    for e in events:
        if e.call_id is not None:
            by_call[e.call_id].append(e)
    lines: list[QueueLogLine] = []
    for call_events in by_call.values():
        call_events.sort(key=lambda e: e.timestamp)
        lines.extend(_call_lines(call_events, show_numbers))
    lines = [
        ln for ln in lines if (start is None or ln.at >= start) and (end is None or ln.at < end)
    ]
    lines.sort(key=lambda ln: ln.at)
    return tuple(lines)


def render_queue_log(lines: Iterable[QueueLogLine]) -> str:
    """The file's text: one rendered line each, ``\\n``-terminated."""
    return "".join(ln.render() + "\n" for ln in lines)
