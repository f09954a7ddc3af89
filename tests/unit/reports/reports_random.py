"""Random but well-formed event logs with every kind of call, for projection tests.

Each call follows one scenario (IVR self-service, bot, queue outcomes of
every kind, overflow after the wait norm, transfers, holds, wrap-ups,
call-backs, outbound, calls still waiting or still talking); operators log
in, change state and log out.  Waits carry sub-millisecond noise, callers
come from a small pool (repeat calls), and times are drawn from ``seed``.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from hotline.reports.events import CallCentreEvent, Direction, EventKind, PayloadValue

K = EventKind
QUEUES = ("q_social", "q_health", "q_edu")
TOPICS = {"q_social": "social", "q_health": "health", "q_edu": "education"}
OPERATORS = tuple(f"op{i}" for i in range(6))


class _Gen:
    def __init__(self, seed: int, start: datetime) -> None:
        self.rnd = random.Random(seed)
        self.start = start
        self.events: list[CallCentreEvent] = []

    def add(
        self,
        kind: EventKind,
        t: float,
        /,
        *,
        call: str | None = None,
        queue: str | None = None,
        op: str | None = None,
        topic: str | None = None,
        trunk: str | None = None,
        direction: Direction | None = None,
        **payload: PayloadValue,
    ) -> None:
        self.events.append(
            CallCentreEvent(
                kind=kind,
                timestamp=self.start + timedelta(milliseconds=round(t * 1000)),
                call_id=call,
                queue_id=queue,
                operator_id=op,
                topic=topic,
                trunk=trunk,
                direction=direction,
                payload=payload,
            )
        )

    def wait(self, lo: float, hi: float) -> float:
        return round(self.rnd.uniform(lo, hi), 3) + self.rnd.random() * 0.0004

    def operators(self, span_s: float) -> None:
        for op in OPERATORS:
            t = self.rnd.uniform(0, span_s * 0.1)
            self.add(K.OPERATOR_LOGIN, t, op=op)
            while t < span_s:
                t += self.rnd.uniform(60, 1800)
                state = self.rnd.choice(("ready", "not_ready", "talking", "wrap_up", "ready"))
                self.add(K.OPERATOR_STATE, t, op=op, state=state)
            if self.rnd.random() < 0.7:
                self.add(K.OPERATOR_LOGOUT, t + 5, op=op)

    def queue_visit(self, cid: str, q: str, t: float, trunk: str) -> tuple[str, float]:
        """One visit; returns (what happened, when it ended)."""
        rnd = self.rnd
        topic = TOPICS[q]
        self.add(K.QUEUE_ENTERED, t, call=cid, queue=q, topic=topic, position=rnd.randint(1, 9))
        fate = rnd.choices(
            ("answered", "abandoned", "timed_out", "callback", "empty", "full", "waiting"),
            weights=(60, 14, 8, 4, 2, 2, 1),
        )[0]
        if fate == "answered":
            w = self.wait(0, 60)
            op = rnd.choice(OPERATORS)
            if rnd.random() < 0.2:
                other = rnd.choice(OPERATORS)
                self.add(K.QUEUE_OFFERED, t + w / 3, call=cid, queue=q, op=other)
                self.add(
                    K.QUEUE_RING_NOANSWER, t + w / 2, call=cid, queue=q, op=other, ring_ms=15000
                )
            self.add(K.QUEUE_OFFERED, t + w * 0.9, call=cid, queue=q, op=op)
            self.add(K.QUEUE_ANSWERED, t + w, call=cid, queue=q, op=op, wait_s=w)
            return "answered:" + op, t + w
        if fate == "abandoned":
            w = self.wait(0, 90)
            self.add(K.QUEUE_ABANDONED, t + w, call=cid, queue=q, position=2, wait_s=w)
            return "gone", t + w
        if fate == "timed_out":
            w = self.wait(120, 121)
            self.add(K.QUEUE_TIMED_OUT, t + w, call=cid, queue=q, wait_s=w, action="overflow")
            return "overflow", t + w
        if fate == "callback":
            w = self.wait(10, 50)
            self.add(K.QUEUE_CALLBACK_REQUESTED, t + w, call=cid, queue=q, number="+7999")
            self.add(K.CALLBACK_ATTEMPTED, t + w + 600, call=cid, queue=q, attempt=1)
            if rnd.random() < 0.6:
                self.add(K.CALLBACK_COMPLETED, t + w + 700, call=cid, queue=q)
            return "gone", t + w
        if fate in ("empty", "full"):
            kind = K.QUEUE_LEFT_EMPTY if fate == "empty" else K.QUEUE_LEFT_FULL
            self.add(kind, t + 0.5, call=cid, queue=q)
            return "gone", t + 0.5
        return "waiting", t

    def talk(self, cid: str, op: str, t: float) -> float:
        rnd = self.rnd
        t += rnd.uniform(20, 400)
        if rnd.random() < 0.2:
            self.add(K.CALL_HELD, t, call=cid, op=op)
            t += rnd.uniform(5, 60)
            self.add(K.CALL_RESUMED, t, call=cid, op=op)
            t += rnd.uniform(5, 60)
        return t

    def inbound(self, n: int, t: float) -> None:
        rnd = self.rnd
        cid = f"c{n:05d}"
        trunk = rnd.choice(("t1", "t2"))
        caller = f"+7916{rnd.randint(0, 40):07d}"
        self.add(K.CALL_ARRIVED, t, call=cid, trunk=trunk, caller=caller, called="122")
        t += rnd.uniform(3, 20)
        scenario = rnd.random()
        if scenario < 0.08:
            self.add(K.CALL_IVR_CHOICE, t, call=cid, menu="main", choice="8", info_message=True)
            self.add(K.CALL_ENDED, t + 30, call=cid, who_hung_up="caller", cause="normal")
            return
        if scenario < 0.16:
            self.add(K.CALL_BOT_STARTED, t, call=cid)
            result = rnd.choice(("resolved", "handed_over", "hung_up"))
            t += rnd.uniform(20, 90)
            self.add(K.CALL_BOT_ENDED, t, call=cid, result=result)
            if result != "handed_over":
                self.add(K.CALL_ENDED, t + 1, call=cid, who_hung_up="caller", cause="normal")
                return
        q = rnd.choice(QUEUES)
        self.add(K.CALL_IVR_CHOICE, t, call=cid, menu="main", choice=q[-1])
        t += 2
        fate, t = self.queue_visit(cid, q, t, trunk)
        if fate == "overflow":
            q = rnd.choice([x for x in QUEUES if x != q])
            fate, t = self.queue_visit(cid, q, t + 1, trunk)
        if fate == "waiting":
            return
        if fate.startswith("answered:"):
            op = fate.split(":", 1)[1]
            t = self.talk(cid, op, t)
            if rnd.random() < 0.1:
                other = rnd.choice(OPERATORS)
                self.add(
                    K.CALL_TRANSFERRED,
                    t,
                    call=cid,
                    op=op,
                    kind="blind",
                    to=other,
                    to_type="operator",
                )
                op = other
                t = self.talk(cid, op, t)
            elif rnd.random() < 0.05:
                self.add(
                    K.CALL_TRANSFERRED,
                    t,
                    call=cid,
                    op=op,
                    kind="blind",
                    to="q_edu",
                    to_type="queue",
                )
                fate, t = self.queue_visit(cid, "q_edu", t + 1, trunk)
                if fate == "waiting":
                    return
                if fate.startswith("answered:"):
                    op = fate.split(":", 1)[1]
                    t = self.talk(cid, op, t)
            if rnd.random() < 0.03:
                return  # still talking when the log ends
            self.add(
                K.CALL_ENDED,
                t,
                call=cid,
                who_hung_up=rnd.choice(("caller", "operator")),
                cause="normal",
            )
            if rnd.random() < 0.5:
                self.add(
                    K.RECORDING_STORED,
                    t + 1,
                    call=cid,
                    path=f"rec/{cid}.wav",
                    sha256="ab" * 32,
                    size_bytes=1000,
                    duration_s=12.5,
                )
            self.add(K.WRAPUP_STARTED, t, call=cid, op=op)
            if rnd.random() < 0.95:
                self.add(K.WRAPUP_ENDED, t + rnd.uniform(5, 60), call=cid, op=op)
            return
        self.add(K.CALL_ENDED, t + 0.1, call=cid, who_hung_up="caller", cause="normal")

    def outbound(self, n: int, t: float) -> None:
        cid = f"o{n:05d}"
        op = self.rnd.choice(OPERATORS)
        self.add(K.OUTBOUND_DIALED, t, call=cid, op=op, trunk="t1", number="+74951234567")
        if self.rnd.random() < 0.7:
            self.add(K.OUTBOUND_ANSWERED, t + 10, call=cid, op=op)
            self.add(K.CALL_ENDED, t + 100, call=cid, who_hung_up="operator", cause="normal")
        else:
            self.add(K.OUTBOUND_FAILED, t + 20, call=cid, cause="busy")


def random_log(seed: int, calls: int, start: datetime, span_s: float) -> list[CallCentreEvent]:
    """``calls`` calls (about 5 % outbound) arriving over ``span_s`` after ``start``."""
    g = _Gen(seed, start)
    g.operators(span_s)
    for n in range(calls):
        t = g.rnd.uniform(0, span_s)
        if g.rnd.random() < 0.05:
            g.outbound(n, t)
        else:
            g.inbound(n, t)
    return g.events
