"""A small builder of hand-made event logs for the report tests.

Times are seconds after ``T0`` (Monday 2 March 2026, 09:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hotline.reports.events import CallCentreEvent, Direction, EventKind, PayloadValue

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
K = EventKind


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


class Log:
    """Appends events in the order written; helpers for the usual call steps."""

    def __init__(self) -> None:
        self.events: list[CallCentreEvent] = []

    def add(
        self,
        kind: EventKind,
        s: float,
        /,
        *,
        call: str | None = None,
        queue: str | None = None,
        op: str | None = None,
        topic: str | None = None,
        trunk: str | None = None,
        direction: Direction | None = None,
        **payload: PayloadValue,
    ) -> CallCentreEvent:
        e = CallCentreEvent(
            kind=kind,
            timestamp=at(s),
            call_id=call,
            queue_id=queue,
            operator_id=op,
            topic=topic,
            trunk=trunk,
            direction=direction,
            payload=payload,
        )
        self.events.append(e)
        return e

    # -- calls -------------------------------------------------------------
    def arrive(
        self, call: str, s: float, *, caller: str = "+70000000000", trunk: str = "t1"
    ) -> None:
        self.add(K.CALL_ARRIVED, s, call=call, trunk=trunk, caller=caller)

    def enter(self, call: str, queue: str, s: float, *, topic: str | None = None) -> None:
        self.add(K.QUEUE_ENTERED, s, call=call, queue=queue, topic=topic, position=1)

    def answer(self, call: str, queue: str, op: str, s: float, wait_s: float) -> None:
        self.add(K.QUEUE_ANSWERED, s, call=call, queue=queue, op=op, wait_s=wait_s)

    def abandon(self, call: str, queue: str, s: float, wait_s: float) -> None:
        self.add(K.QUEUE_ABANDONED, s, call=call, queue=queue, position=1, wait_s=wait_s)

    def time_out(self, call: str, queue: str, s: float, wait_s: float) -> None:
        self.add(K.QUEUE_TIMED_OUT, s, call=call, queue=queue, wait_s=wait_s, action="overflow")

    def end(self, call: str, s: float, *, who: str = "caller") -> None:
        self.add(K.CALL_ENDED, s, call=call, who_hung_up=who, cause="normal")

    def queued_call(
        self,
        call: str,
        queue: str,
        s: float,
        *,
        outcome: EventKind,
        wait_s: float,
        op: str = "op1",
        topic: str | None = None,
    ) -> None:
        """A call that arrives at ``s``, enters ``queue`` at once and leaves with ``outcome``."""
        self.arrive(call, s)
        self.enter(call, queue, s, topic=topic)
        left = s + wait_s
        if outcome is K.QUEUE_ANSWERED:
            self.answer(call, queue, op, left, wait_s)
            self.end(call, left + 60)
            return
        if outcome is K.QUEUE_ABANDONED:
            self.abandon(call, queue, left, wait_s)
        elif outcome is K.QUEUE_TIMED_OUT:
            self.time_out(call, queue, left, wait_s)
        elif outcome is K.QUEUE_OVERFLOWED:
            self.add(outcome, left, call=call, queue=queue, to_queue="other")
        else:
            self.add(outcome, left, call=call, queue=queue)
        self.end(call, left + 1)

    # -- operators ---------------------------------------------------------
    def state(self, op: str, s: float, state: str) -> None:
        self.add(K.OPERATOR_STATE, s, op=op, state=state)
