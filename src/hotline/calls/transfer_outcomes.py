"""How the last transfer of each live call ended, kept for a short while (R8g; layer L3).

The transfers' owners (:mod:`hotline.calls.ctl_transfer`,
:mod:`hotline.calls.ctl_org_transfer`, :mod:`hotline.calls.ctl_attended`)
write here where they already know how a transfer ended; the desk's
snapshot (:class:`~hotline.calls.api.LiveCall` ``last_transfer``) reads it.
Bookkeeping only: nothing here changes what a transfer does.

The record is bounded: one outcome per call (the latest wins), dropped
:data:`OUTCOME_KEEP_S` seconds after the transfer ended, at most
:data:`MAX_OUTCOMES` calls (the oldest go first).  Time is monotonic seconds
passed in by the caller; this module reads no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from hotline.acd.model import RejectReason
from hotline.calls.api import TransferFailure, TransferMode, TransferResult, TransferTarget
from hotline.core.errors import ConfigurationError
from hotline.core.ids import CallId, OperatorId

__all__ = [
    "MAX_OUTCOMES",
    "OUTCOME_KEEP_S",
    "RecordedOutcome",
    "TransferOutcomes",
    "failure_of_reason",
    "failure_of_status",
    "failure_of_text",
]

OUTCOME_KEEP_S: Final = 30.0
"""How long after its end a transfer's outcome is kept (the desk's notice lasts as long)."""

MAX_OUTCOMES: Final = 4096
"""At most this many calls' outcomes are kept (the oldest are dropped first)."""

_STATUS_IN_TEXT: Final = re.compile(r"\b([3-6][0-9]{2})\b")
_MAX_TEXT: Final = 256


@dataclass(frozen=True, slots=True)
class RecordedOutcome:
    """One call's last transfer outcome; ``at`` in monotonic seconds."""

    mode: TransferMode
    target: TransferTarget
    result: TransferResult
    reason: TransferFailure | None
    from_operator: OperatorId | None  # who started the transfer
    at: float


def failure_of_status(status: int) -> TransferFailure:
    """A SIP final status (RFC 3261 §21) as the desk's failure reason."""
    if status in (408, 487):
        return TransferFailure.NO_ANSWER
    if status in (486, 600):
        return TransferFailure.BUSY
    if status in (403, 603):
        return TransferFailure.REJECTED
    if status in (404, 410, 480, 604):
        return TransferFailure.UNAVAILABLE
    return TransferFailure.ERROR


def failure_of_reason(reason: RejectReason | None, status: int) -> TransferFailure:
    """The ACD's reject reason where the owner has one, else the SIP status."""
    if reason is RejectReason.BUSY and status == 503:
        return TransferFailure.ERROR  # no media leg: not the target's doing
    return failure_of_status(status)


def failure_of_text(text: str) -> TransferFailure:
    """A redirector's failure text (``destination answered 486`` …) as a failure reason."""
    text = text[:_MAX_TEXT]
    found = _STATUS_IN_TEXT.search(text)
    if found is not None:
        return failure_of_status(int(found.group(1)))
    if "cancel" in text or "timeout" in text or "time-out" in text:
        return TransferFailure.NO_ANSWER
    if "directory" in text or "no number" in text or "unknown" in text:
        return TransferFailure.UNAVAILABLE
    return TransferFailure.ERROR


class TransferOutcomes:
    """The bounded, expiring per-call record of how transfers ended."""

    def __init__(self, *, keep_s: float = OUTCOME_KEEP_S, limit: int = MAX_OUTCOMES) -> None:
        if keep_s <= 0 or limit < 1:
            raise ConfigurationError("transfer outcomes", "keep_s > 0 and limit >= 1 required")
        self.keep_s = keep_s
        self.limit = limit
        self._by_call: dict[CallId, RecordedOutcome] = {}  # insertion order: oldest first

    def __len__(self) -> int:
        return len(self._by_call)

    def record(
        self,
        call_id: CallId,
        *,
        mode: TransferMode,
        target: TransferTarget,
        result: TransferResult,
        reason: TransferFailure | None = None,
        from_operator: OperatorId | None,
        now: float,
    ) -> RecordedOutcome:
        """Note how the call's transfer ended at ``now``; it replaces an earlier one."""
        outcome = RecordedOutcome(
            mode,
            target,
            result,
            reason if result is TransferResult.FAILED else None,
            from_operator,
            now,
        )
        self._by_call.pop(call_id, None)
        self._prune(now)
        while len(self._by_call) >= self.limit:
            del self._by_call[next(iter(self._by_call))]
        self._by_call[call_id] = outcome
        return outcome

    def last(self, call_id: CallId, now: float) -> RecordedOutcome | None:
        """The call's last outcome if it ended less than :attr:`keep_s` ago, else None."""
        outcome = self._by_call.get(call_id)
        if outcome is None:
            return None
        if now - outcome.at >= self.keep_s:
            del self._by_call[call_id]
            return None
        return outcome

    def forget(self, call_id: CallId) -> None:
        """Drop the call's outcome (its call has ended)."""
        self._by_call.pop(call_id, None)

    def _prune(self, now: float) -> None:
        """Drop expired outcomes: insertion order is end order, so stop at the first fresh one."""
        while self._by_call:
            oldest = next(iter(self._by_call))
            if now - self._by_call[oldest].at < self.keep_s:
                return
            del self._by_call[oldest]
