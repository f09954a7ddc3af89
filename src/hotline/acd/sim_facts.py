"""What a simulated call does besides the router's decisions, for an observer.

A :class:`~hotline.acd.simulator.Simulation` given an observer reports every
router decision (the facts the live driver turns into docs/metrics.md events:
queue entered, offered, answered, abandoned, timed out, operator state, ...)
and these two facts of the simulated world that no decision carries: a call
arriving, and a call ending (talk over, or the caller hanging up).  With them
an observer can write the very event log a live day would leave.

Layer L1: pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hotline.acd.decisions import Decision
from hotline.core.ids import CallId, OperatorId, QueueId

__all__ = ["SimCallArrived", "SimCallEnded", "SimFact", "SimObserver"]


@dataclass(frozen=True, slots=True)
class SimCallArrived:
    """A call reached the queue ``queue_id`` at virtual second ``at``."""

    call_id: CallId
    queue_id: QueueId
    at: float


@dataclass(frozen=True, slots=True)
class SimCallEnded:
    """A call ended: its conversation with ``operator_id`` is over, or (None) the caller hung up."""

    call_id: CallId
    operator_id: OperatorId | None
    at: float


SimFact = Decision | SimCallArrived | SimCallEnded
SimObserver = Callable[[float, SimFact], None]
"""Called with the virtual time and each fact, in the order they happen."""
