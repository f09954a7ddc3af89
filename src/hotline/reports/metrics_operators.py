"""Operator time from ``operator.login``/``logout``/``state`` events.

docs/metrics.md: Occupancy = (talk + hold + wrap-up) ÷ (talk + hold +
wrap-up + ready idle); Utilisation = (talk + hold + wrap-up) ÷ logged-in
time.  Talk, hold and wrap-up come from the calls
(:mod:`hotline.reports.metrics_calls`); this module rebuilds the other two:

* logged-in time: from ``operator.login`` (or any state other than
  logged_out, when the log starts after the login) to ``operator.logout``
  (or ``operator.state`` logged_out);
* ready idle: time in the ACD states ``ready`` and ``reserved`` (an offer
  ringing: the operator is available and not yet handling a call).

What is still open at ``end`` runs to ``end``.  Layer L1: pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from hotline.reports.events import CallCentreEvent, EventKind, OperatorStateName
from hotline.reports.metrics_facts import OperatorSpan, SpanKind

__all__ = ["IDLE_STATES", "current_states", "derive_operator_spans"]

IDLE_STATES: Final = frozenset({OperatorStateName.READY, OperatorStateName.RESERVED})
_OPERATOR_KINDS: Final = frozenset(
    {EventKind.OPERATOR_LOGIN, EventKind.OPERATOR_LOGOUT, EventKind.OPERATOR_STATE}
)


def _new_state(e: CallCentreEvent) -> OperatorStateName:
    """The state an operator is in after ``e`` (login starts NOT_READY, as in the ACD table)."""
    if e.kind is EventKind.OPERATOR_LOGIN:
        return OperatorStateName.NOT_READY
    if e.kind is EventKind.OPERATOR_LOGOUT:
        return OperatorStateName.LOGGED_OUT
    return OperatorStateName(e.text("state") or OperatorStateName.LOGGED_OUT.value)


def _operator_events(events: Iterable[CallCentreEvent]) -> dict[str, list[CallCentreEvent]]:
    by_operator: dict[str, list[CallCentreEvent]] = defaultdict(list)
    for e in events:
        if e.kind in _OPERATOR_KINDS and e.operator_id is not None:
            by_operator[e.operator_id].append(e)
    for evs in by_operator.values():
        evs.sort(key=lambda e: e.timestamp)
    return by_operator


def derive_operator_spans(
    events: Iterable[CallCentreEvent], *, end: datetime
) -> tuple[OperatorSpan, ...]:
    """LOGGED_IN and READY_IDLE spans of every operator in the log."""
    spans: list[OperatorSpan] = []
    for operator_id, evs in _operator_events(events).items():
        state = OperatorStateName.LOGGED_OUT
        since = evs[0].timestamp
        login_at: datetime | None = None
        for e in evs:
            new = _new_state(e)
            at = e.timestamp
            if state in IDLE_STATES and new not in IDLE_STATES:
                spans.append(OperatorSpan(operator_id, SpanKind.READY_IDLE, since, at))
            if new in IDLE_STATES and state not in IDLE_STATES:
                since = at
            if new is OperatorStateName.LOGGED_OUT and login_at is not None:
                spans.append(OperatorSpan(operator_id, SpanKind.LOGGED_IN, login_at, at))
                login_at = None
            elif new is not OperatorStateName.LOGGED_OUT and login_at is None:
                login_at = at
            state = new
        if state in IDLE_STATES:
            spans.append(OperatorSpan(operator_id, SpanKind.READY_IDLE, since, max(since, end)))
        if login_at is not None:
            spans.append(
                OperatorSpan(operator_id, SpanKind.LOGGED_IN, login_at, max(login_at, end))
            )
    return tuple(spans)


def current_states(
    events: Iterable[CallCentreEvent], *, now: datetime
) -> Mapping[str, OperatorStateName]:
    """Each operator's state at ``now`` from the events up to ``now``."""
    states: dict[str, OperatorStateName] = {}
    for operator_id, evs in _operator_events(events).items():
        state = OperatorStateName.LOGGED_OUT
        for e in evs:
            if e.timestamp > now:
                break
            state = _new_state(e)
        states[operator_id] = state
    return states
