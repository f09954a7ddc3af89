"""A fake call service for the desk, wallboard and live tests: both L3 protocols, for real.

:class:`FakeCalls` implements :class:`~hotline.calls.api.CallActions` and
:class:`~hotline.calls.api.QueueActions` with plain state (live calls,
operators, waiting calls) and records every action it carried out; an action
refused by a rule raises :class:`~hotline.calls.api.CallActionError` like the
real one does.  ``refuse_next`` makes the next action fail with a given
refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from fastapi import FastAPI

from hotline.calls.api import (
    ActionRefusal,
    CallActionError,
    CallActions,
    LiveCall,
    MonitorMode,
    OperatorSnapshot,
    QueueActions,
    QueueSnapshot,
    TargetKind,
    TransferTarget,
    WaitingCall,
)
from hotline.core.bus import EventBus
from hotline.core.clock import FakeClock
from hotline.core.ids import CallId, OperatorId, QueueId
from hotline.reports.events import CallCentreEvent, EventKind
from hotline.store.accounts import AccountsRepository, Operator
from hotline.store.db import Database
from hotline.store.events import EventStore
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from hotline.web.workplace import WorkplaceSettings, workplace_hook
from unit.web.web_support import FAST_HASHER, START, USER_IDS

OPERATOR = OperatorId("1001")
OTHER = OperatorId("1002")
SUPERVISOR_PHONE = OperatorId("2001")
CALLER = "+79991234567"
MASKED = "+7 999 ***-**-67"


def add_operators(db: Database) -> None:
    """``operator1`` is operator 1001, ``supervisor`` has phone 2001; 1002 has no user."""
    repo = AccountsRepository(db)
    for op_id, user, sip in (
        ("op1", USER_IDS["operator1"], OPERATOR),
        ("op2", None, OTHER),
        ("sv1", USER_IDS["supervisor"], SUPERVISOR_PHONE),
    ):
        repo.add_operator(
            Operator(
                id=op_id,
                name=f"Оператор {sip}",
                user_id=user,
                sip_username=sip,
                sip_realm="hotline",
                ha1_md5="0" * 32,
                ha1_sha256="0" * 64,
                skills={"social": 5},
            )
        )


def live_call(
    call_id: str = "c1",
    *,
    phase: str = "talking",
    operator: OperatorId | None = OPERATOR,
    topic: str | None = "social",
    number: str = CALLER,
    on_hold: bool = False,
) -> LiveCall:
    return LiveCall(
        call_id=CallId(call_id),
        phase=phase,
        direction="inbound",
        caller_number=number,
        topic=topic,
        queue_id=QueueId(topic or "general"),
        operator_id=operator,
        started_at=START,
        answered_at=START + timedelta(seconds=30) if phase == "talking" else None,
        on_hold=on_hold,
        recording_id=None,
        position=None,
    )


@dataclass
class FakeCalls:
    """Both protocols over plain state (see the module docstring)."""

    calls: dict[str, LiveCall] = field(default_factory=dict)
    operators_: dict[str, OperatorSnapshot] = field(default_factory=dict)
    queues_: list[QueueSnapshot] = field(default_factory=list)
    waiting: list[WaitingCall] = field(default_factory=list)
    done: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)
    refusal: ActionRefusal | None = None

    @classmethod
    def standard(cls) -> FakeCalls:
        fake = cls()
        for op in (OPERATOR, OTHER, SUPERVISOR_PHONE):
            fake.operators_[op] = OperatorSnapshot(op, "logged_out", None, START, None)
        fake.queues_ = [
            QueueSnapshot(QueueId("social"), "Social", 0, 0.0, 20.0, 1, 0),
            QueueSnapshot(QueueId("health"), "Health", 0, 0.0, 20.0, 0, 0),
        ]
        return fake

    def refuse_next(self, refusal: ActionRefusal) -> None:
        self.refusal = refusal

    def _act(self, name: str, *args: object) -> None:
        if self.refusal is not None:
            refusal, self.refusal = self.refusal, None
            raise CallActionError(refusal, f"{name} refused")
        self.done.append((name, args))

    def _call(self, call_id: CallId) -> LiveCall:
        found = self.calls.get(call_id)
        if found is None:
            raise CallActionError(ActionRefusal.NOT_FOUND, f"no live call {call_id}")
        return found

    def offer(self, call: LiveCall, operator: OperatorId = OPERATOR) -> None:
        """A call rings at (or talks with) ``operator``."""
        self.calls[call.call_id] = call
        state = "talking" if call.phase == "talking" else "reserved"
        self.operators_[operator] = OperatorSnapshot(operator, state, None, START, call.call_id)

    # -- CallActions ---------------------------------------------------------------------

    def live_calls(self) -> Sequence[LiveCall]:
        return list(self.calls.values())

    def live_call(self, call_id: CallId) -> LiveCall | None:
        return self.calls.get(call_id)

    def hold(self, call_id: CallId) -> None:
        call = self._call(call_id)
        if call.on_hold:
            raise CallActionError(ActionRefusal.WRONG_STATE, "on hold already")
        self._act("hold", call_id)
        self.calls[call_id] = replace(call, on_hold=True)

    def resume(self, call_id: CallId) -> None:
        call = self._call(call_id)
        if not call.on_hold:
            raise CallActionError(ActionRefusal.WRONG_STATE, "not on hold")
        self._act("resume", call_id)
        self.calls[call_id] = replace(call, on_hold=False)

    def hang_up(self, call_id: CallId) -> None:
        call = self._call(call_id)
        self._act("hang_up", call_id)
        del self.calls[call_id]
        if call.operator_id is not None:
            self.operators_[call.operator_id] = OperatorSnapshot(
                call.operator_id, "wrap_up", None, START, None
            )

    def transfer_blind(self, call_id: CallId, target: TransferTarget) -> None:
        self._call(call_id)
        if target.kind is TargetKind.OPERATOR and target.id not in self.operators_:
            raise CallActionError(ActionRefusal.NOT_FOUND, "unknown operator")
        self._act("transfer_blind", call_id, target)

    def consult(self, call_id: CallId, target: TransferTarget) -> None:
        self._call(call_id)
        self._act("consult", call_id, target)

    def complete_transfer(self, call_id: CallId) -> None:
        self._call(call_id)
        self._act("complete_transfer", call_id)

    def cancel_consult(self, call_id: CallId) -> None:
        self._call(call_id)
        self._act("cancel_consult", call_id)

    def dial_out(self, operator_id: OperatorId, number: str) -> CallId:
        self._act("dial_out", operator_id, number)
        return CallId("out-1")

    def monitor(self, call_id: CallId, supervisor_id: OperatorId, mode: MonitorMode) -> str:
        self._call(call_id)
        self._act("monitor", call_id, supervisor_id, mode)
        return "mon-1"

    def stop_monitor(self, session_id: str) -> None:
        if session_id != "mon-1":
            raise CallActionError(ActionRefusal.NOT_FOUND, "no such session")
        self._act("stop_monitor", session_id)

    # -- QueueActions --------------------------------------------------------------------

    def queues(self) -> Sequence[QueueSnapshot]:
        return list(self.queues_)

    def operators(self) -> Sequence[OperatorSnapshot]:
        return list(self.operators_.values())

    def waiting_calls(self, queue_id: QueueId | None = None) -> Sequence[WaitingCall]:
        return [w for w in self.waiting if queue_id is None or w.queue_id == queue_id]

    def set_operator_state(
        self, operator_id: OperatorId, state: str, reason: str | None = None
    ) -> None:
        if operator_id not in self.operators_:
            raise CallActionError(ActionRefusal.NOT_FOUND, "unknown operator")
        if state in ("ready", "logged_out") and self.operators_[operator_id].state == state:
            # The ACD's table has no READY --SET_READY--> nor LOGGED_OUT --LOGOUT--> row.
            raise CallActionError(ActionRefusal.WRONG_STATE, f"already {state}")
        self._act("set_operator_state", operator_id, state, reason)
        self.operators_[operator_id] = OperatorSnapshot(operator_id, state, reason, START, None)

    def wrapup_done(self, operator_id: OperatorId) -> None:
        if self.operators_[operator_id].state != "wrap_up":
            raise CallActionError(ActionRefusal.WRONG_STATE, "not in wrap-up")
        self._act("wrapup_done", operator_id)
        self.operators_[operator_id] = OperatorSnapshot(operator_id, "ready", None, START, None)

    def _waiting(self, call_id: CallId) -> WaitingCall:
        for w in self.waiting:
            if w.call_id == call_id:
                return w
        raise CallActionError(ActionRefusal.NOT_FOUND, "not waiting")

    def move_call(self, call_id: CallId, queue_id: QueueId) -> None:
        w = self._waiting(call_id)
        if queue_id not in {q.queue_id for q in self.queues_}:
            raise CallActionError(ActionRefusal.NOT_FOUND, "unknown queue")
        self._act("move_call", call_id, queue_id)
        self.waiting = [replace(x, queue_id=queue_id) if x is w else x for x in self.waiting]

    def set_call_priority(self, call_id: CallId, priority: int) -> None:
        self._waiting(call_id)
        self._act("set_call_priority", call_id, priority)

    def assign_call(self, call_id: CallId, operator_id: OperatorId) -> None:
        self._waiting(call_id)
        if self.operators_.get(operator_id, None) is None:
            raise CallActionError(ActionRefusal.NOT_FOUND, "unknown operator")
        if self.operators_[operator_id].state != "ready":
            raise CallActionError(ActionRefusal.TARGET_UNAVAILABLE, "not ready")
        self._act("assign_call", call_id, operator_id)


def _conforms(fake: FakeCalls) -> tuple[CallActions, QueueActions]:
    """mypy checks here that the fake implements both protocols."""
    return fake, fake


def waiting_call(call_id: str, queue: str, waited_s: float, position: int = 1) -> WaitingCall:
    return WaitingCall(CallId(call_id), QueueId(queue), position, 0, waited_s, CALLER)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


async def store_events(db: Database, journal: Path, events: Sequence[CallCentreEvent]) -> None:
    """Write ``events`` to the store's ``events`` table (through its real writer)."""
    store = EventStore(db, journal)
    try:
        for event in events:
            store.append(event)
        await store.flush_all()
    finally:
        store.close()


def event(
    kind: EventKind,
    seconds: float,
    call_id: str | None = "c1",
    *,
    queue: str | None = None,
    operator: str | None = None,
    topic: str | None = None,
    **payload: str | int | float | bool | None,
) -> CallCentreEvent:
    return CallCentreEvent(
        kind=kind,
        timestamp=at(seconds),
        call_id=call_id,
        queue_id=queue,
        operator_id=operator,
        topic=topic,
        payload=payload,
    )


def workplace_app(
    db: Database,
    clock: FakeClock,
    config: WebConfig,
    fake: FakeCalls | None,
    *,
    bus: EventBus | None = None,
    settings: WorkplaceSettings | None = None,
) -> FastAPI:
    """The web app with the fake call service and the workplace hook."""
    return create_web_app(
        config,
        db,
        clock,
        calls=fake,
        queues=fake,
        hasher=FAST_HASHER,
        extra=[workplace_hook(bus, settings)],
    )
