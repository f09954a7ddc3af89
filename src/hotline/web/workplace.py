"""What the operator desk, the wallboard and the live socket share (issue 8, items 4 and 5).

:class:`WorkplaceSettings` holds the desk's lists (not-ready reasons, outcome
codes) and the wallboard's thresholds; :class:`Workplace` is the per-app
state: the settings, the node's event bus (live events, see
:mod:`hotline.web.live_events`) and the wallboard's day figures.

:class:`DayFigures` keeps today's events in memory: loaded once from the
store, then fed by the live sockets with every event published on the bus
(so the figures follow an event within a second without a database read),
and reloaded from the store every ``day_poll_reload_s`` while no socket has
fed it for ``day_reload_s`` (a wallboard polled over REST).  The node
attaches it with :func:`workplace_hook` (an ``extra`` hook of
``create_web_app``); an app without it gets the defaults and no bus (the
live socket then sends snapshots only).

:func:`operator_of` finds the operator (the ACD's operator id is the SIP
user name) that belongs to the logged-in user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from fastapi import FastAPI
from starlette.requests import HTTPConnection

from hotline.calls.api import (
    ActionRefusal,
    CallActionError,
    CallActions,
    LiveCall,
    MonitorMode,
    OperatorSnapshot,
    QueueActions,
    QueueSnapshot,
    TransferTarget,
    WaitingCall,
)
from hotline.core.bus import EventBus
from hotline.core.ids import CallId, OperatorId, QueueId
from hotline.reports.events import CallCentreEvent, event_from_record
from hotline.reports.metrics_config import Interval, MetricsConfig, QueueNorms, bucket_start
from hotline.reports.metrics_snapshot import QueueSnapshot as DayQueue
from hotline.reports.metrics_snapshot import realtime_snapshot
from hotline.store.accounts import AccountsRepository
from hotline.store.db import Database
from hotline.store.event_queries import EventQueries
from hotline.web.auth import Principal, context_of
from hotline.web.errors import ApiError, ErrorCode

__all__ = [
    "NOT_READY_REASONS",
    "OUTCOME_CODES",
    "DayFigures",
    "IdleActions",
    "Workplace",
    "WorkplaceSettings",
    "apply_operator_state",
    "call_actions",
    "operator_of",
    "queue_actions",
    "require_operator",
    "workplace_hook",
    "workplace_of",
]

NOT_READY_REASONS: Final = ("break", "lunch", "training", "meeting", "paperwork", "technical")
"""Default reasons an operator may give for not being ready (labels: ``desk.reason.<code>``)."""
OUTCOME_CODES: Final = (
    "consulted",
    "redirected",
    "complaint",
    "proposal",
    "callback",
    "info_missing",
    "silent",
    "hoax",
    "wrong_number",
)
"""Default outcome codes of the wrap-up form (labels: ``desk.outcome.<code>``)."""
_AHEAD: Final = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class WorkplaceSettings:
    """The desk's lists and the wallboard's thresholds."""

    not_ready_reasons: tuple[str, ...] = NOT_READY_REASONS
    outcome_codes: tuple[str, ...] = OUTCOME_CODES
    snapshot_interval_s: float = 1.0  # live snapshots over the socket
    history_days: int = 30  # earlier calls and call-backs of the caller on the card
    history_limit: int = 20
    wait_alert_ratio: float = 0.8  # alert when the longest wait reaches this share of the norm
    sl_target: float = 0.8  # alert when SL today falls below it
    day_reload_s: float = 60.0  # a socket fed today's events this recently: trust them
    day_poll_reload_s: float = 5.0  # else reload them from the store this often
    day_compute_min_s: float = 0.5  # recompute today's figures at most this often
    tz: tzinfo = UTC  # where "today" starts
    subscriber_queue: int = 2000  # events a slow socket may fall behind by before dropping

    def __post_init__(self) -> None:
        if not self.not_ready_reasons or not self.outcome_codes:
            raise ValueError("the reason and outcome lists must not be empty")
        if self.snapshot_interval_s <= 0 or self.day_compute_min_s < 0:
            raise ValueError("intervals must be positive")
        if not 0 < self.wait_alert_ratio <= 1 or not 0 <= self.sl_target <= 1:
            raise ValueError("alert thresholds must be shares")


def _load(db: Database, start: datetime, end: datetime) -> list[CallCentreEvent]:
    return [event_from_record(s) for s in EventQueries(db).for_report(start, end)]


class DayFigures:
    """Today's per-queue figures over today's events (see the module docstring)."""

    def __init__(self, settings: WorkplaceSettings) -> None:
        self._settings = settings
        self._events: dict[str, CallCentreEvent] = {}
        self._day: datetime | None = None
        self._loaded_at = float("-inf")
        self._fed_at = float("-inf")
        self._computed_at = float("-inf")
        self._dirty = True
        self._figures: dict[str, DayQueue] = {}
        self._lock = asyncio.Lock()

    def feed(self, event: CallCentreEvent, mono: float) -> None:
        """An event seen live (duplicates of stored ones are ignored)."""
        self._fed_at = mono
        if self._day is None or event.timestamp < self._day or event.event_id in self._events:
            return
        self._events[event.event_id] = event
        self._dirty = True

    async def figures(
        self, db: Database, now: datetime, mono: float, norms: Mapping[str, float]
    ) -> Mapping[str, DayQueue]:
        """Today's figures per queue, recomputed when events came in (at most every few ms)."""
        s = self._settings
        async with self._lock:
            day = bucket_start(now, Interval.DAY, s.tz)
            fed_recently = mono - self._fed_at < s.day_reload_s
            stale = mono - self._loaded_at >= s.day_poll_reload_s
            if day != self._day or (not fed_recently and stale):
                loaded = await asyncio.to_thread(_load, db, day, now + _AHEAD)
                kept = [e for e in self._events.values() if e.timestamp >= day]
                self._events = {e.event_id: e for e in (*loaded, *kept)}
                self._day, self._loaded_at, self._dirty = day, mono, True
            if self._dirty and mono - self._computed_at >= s.day_compute_min_s:
                config = MetricsConfig(
                    queues={q: QueueNorms(norm_s=n) for q, n in norms.items() if n > 0}, tz=s.tz
                )
                events = sorted(self._events.values(), key=lambda e: e.timestamp)
                snap = await asyncio.to_thread(
                    realtime_snapshot, events, now=now, config=config, queue_ids=list(norms)
                )
                self._figures = {q.queue_id: q for q in snap.queues}
                self._computed_at, self._dirty = mono, False
            return self._figures


@dataclass(slots=True)
class Workplace:
    """Per-app state of the desk and the wallboard (see the module docstring)."""

    settings: WorkplaceSettings = field(default_factory=WorkplaceSettings)
    bus: EventBus | None = None
    day: DayFigures | None = None

    def day_figures(self) -> DayFigures:
        if self.day is None:
            self.day = DayFigures(self.settings)
        return self.day


def workplace_hook(
    bus: EventBus | None, settings: WorkplaceSettings | None = None
) -> Callable[[FastAPI], None]:
    """``extra`` hook of ``create_web_app``: live events from ``bus`` and these settings."""

    def hook(app: FastAPI) -> None:
        app.state.workplace = Workplace(settings=settings or WorkplaceSettings(), bus=bus)

    return hook


def workplace_of(conn: HTTPConnection) -> Workplace:
    """The app's :class:`Workplace` (made with the defaults on first use)."""
    found = getattr(conn.app.state, "workplace", None)
    if isinstance(found, Workplace):
        return found
    made = Workplace()
    conn.app.state.workplace = made
    return made


class IdleActions:
    """Call and queue actions of a node without a call service: nothing is live.

    Lists are empty and every action is refused as ``not_found`` (404), so the
    workplace answers sensibly (an empty wallboard) instead of failing.
    """

    @staticmethod
    def _none(what: str) -> CallActionError:
        return CallActionError(ActionRefusal.NOT_FOUND, f"no call service: no {what}")

    def live_calls(self) -> Sequence[LiveCall]:
        return ()

    def live_call(self, call_id: CallId) -> LiveCall | None:
        return None

    def hold(self, call_id: CallId) -> None:
        raise self._none("call")

    def resume(self, call_id: CallId) -> None:
        raise self._none("call")

    def hang_up(self, call_id: CallId) -> None:
        raise self._none("call")

    def transfer_blind(self, call_id: CallId, target: TransferTarget) -> None:
        raise self._none("call")

    def consult(self, call_id: CallId, target: TransferTarget) -> None:
        raise self._none("call")

    def complete_transfer(self, call_id: CallId) -> None:
        raise self._none("call")

    def cancel_consult(self, call_id: CallId) -> None:
        raise self._none("call")

    def dial_out(self, operator_id: OperatorId, number: str) -> CallId:
        raise self._none("operator")

    def monitor(self, call_id: CallId, supervisor_id: OperatorId, mode: MonitorMode) -> str:
        raise self._none("call")

    def stop_monitor(self, session_id: str) -> None:
        raise self._none("monitoring session")

    def queues(self) -> Sequence[QueueSnapshot]:
        return ()

    def operators(self) -> Sequence[OperatorSnapshot]:
        return ()

    def waiting_calls(self, queue_id: QueueId | None = None) -> Sequence[WaitingCall]:
        return ()

    def set_operator_state(
        self, operator_id: OperatorId, state: str, reason: str | None = None
    ) -> None:
        raise self._none("operator")

    def wrapup_done(self, operator_id: OperatorId) -> None:
        raise self._none("operator")

    def move_call(self, call_id: CallId, queue_id: QueueId) -> None:
        raise self._none("waiting call")

    def set_call_priority(self, call_id: CallId, priority: int) -> None:
        raise self._none("waiting call")

    def assign_call(self, call_id: CallId, operator_id: OperatorId) -> None:
        raise self._none("waiting call")


_IDLE: Final = IdleActions()


def call_actions(conn: HTTPConnection) -> CallActions:
    """The node's call actions (:class:`IdleActions` when the app has none)."""
    calls = context_of(conn).calls
    return calls if calls is not None else _IDLE


def queue_actions(conn: HTTPConnection) -> QueueActions:
    """The node's queue actions (:class:`IdleActions` when the app has none)."""
    queues = context_of(conn).queues
    return queues if queues is not None else _IDLE


def apply_operator_state(
    conn: HTTPConnection, operator_id: OperatorId, state: str, reason: str | None
) -> bool:
    """Set an operator's state; False (nothing done) when it is in that state already.

    «Готов» on a ready operator (the demo makes an operator ready when the
    phone registers), «Не в системе» on a logged-out one or the same
    not-ready reason again are successful no-ops, not a refused transition.
    """
    queues = queue_actions(conn)
    current = next((o for o in queues.operators() if o.operator_id == operator_id), None)
    same_reason = state != "not_ready" or (current is not None and current.reason == reason)
    if current is not None and current.state == state and same_reason:
        return False
    queues.set_operator_state(operator_id, state, reason)
    return True


def _operator_of_user(repo: AccountsRepository, user_id: str) -> OperatorId | None:
    for op in repo.operators():
        if op.user_id == user_id and op.enabled:
            return OperatorId(op.sip_username)
    return None


async def operator_of(conn: HTTPConnection, who: Principal) -> OperatorId | None:
    """The operator id (SIP user) of the logged-in user, None when they have none."""
    repo = AccountsRepository(context_of(conn).db)
    return await asyncio.to_thread(_operator_of_user, repo, who.user_id)


async def require_operator(conn: HTTPConnection, who: Principal) -> OperatorId:
    """The user's operator id; 409 ``no_operator`` when the user has no operator account."""
    found = await operator_of(conn, who)
    if found is None:
        raise ApiError(ErrorCode.CONFLICT, status=409)
    return found
