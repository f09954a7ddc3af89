"""The operator (agent) state machine, as one table.

Like ``h11/_state.py`` and h2's ``(StreamState, StreamInputs)`` table, every
allowed transition is a row of :data:`OPERATOR_TRANSITIONS`; a pair that is not
in the table raises :class:`~hotline.core.errors.LocalProtocolError` (our own
code asked for something impossible, e.g. an offer to an operator in wrap-up).

States::

    LOGGED_OUT --LOGIN--> NOT_READY --SET_READY--> READY --OFFER--> RESERVED
    RESERVED --ANSWER--> TALKING <--RESUME/HOLD--> HOLD
    TALKING/HOLD --HANG_UP--> WRAP_UP --WRAP_UP_DONE/SET_READY--> READY
    RESERVED --DECLINE/CANCEL--> READY,  RESERVED --DECLINE_LIMIT--> NOT_READY

An operator holds at most one offer (RESERVED) and never gets one outside
READY, so wrap-up holds across every queue.  SET_NOT_READY while TALKING or
HOLD is a self-transition: the router records it and applies it when wrap-up
ends ("not ready after this call").
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final

from hotline.core.errors import LocalProtocolError

__all__ = ["OPERATOR_TRANSITIONS", "OperatorInput", "OperatorState", "next_operator_state"]


class OperatorState(enum.Enum):
    """Where an operator stands (docs/metrics.md: operator.state)."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    NOT_READY = "not_ready"
    RESERVED = "reserved"  # an offer is ringing on the operator's phone
    TALKING = "talking"
    HOLD = "hold"
    WRAP_UP = "wrap_up"


class OperatorInput(enum.Enum):
    """What can happen to an operator."""

    LOGIN = "login"
    LOGOUT = "logout"
    SET_READY = "set_ready"
    SET_NOT_READY = "set_not_ready"
    OFFER = "offer"
    ANSWER = "answer"
    DECLINE = "decline"  # busy, reject or no answer: back to READY after a delay
    DECLINE_LIMIT = "decline_limit"  # the max_no_answer-th unanswered offer in a row
    CANCEL = "cancel"  # the router withdrew the offer (answered elsewhere, caller left...)
    HOLD = "hold"
    RESUME = "resume"
    HANG_UP = "hang_up"
    WRAP_UP_DONE = "wrap_up_done"


_S = OperatorState
_I = OperatorInput

OPERATOR_TRANSITIONS: Final[Mapping[tuple[OperatorState, OperatorInput], OperatorState]] = {
    (_S.LOGGED_OUT, _I.LOGIN): _S.NOT_READY,
    (_S.READY, _I.LOGOUT): _S.LOGGED_OUT,
    (_S.NOT_READY, _I.LOGOUT): _S.LOGGED_OUT,
    (_S.RESERVED, _I.LOGOUT): _S.LOGGED_OUT,
    (_S.WRAP_UP, _I.LOGOUT): _S.LOGGED_OUT,
    (_S.NOT_READY, _I.SET_READY): _S.READY,
    (_S.WRAP_UP, _I.SET_READY): _S.READY,
    (_S.READY, _I.SET_NOT_READY): _S.NOT_READY,
    (_S.NOT_READY, _I.SET_NOT_READY): _S.NOT_READY,
    (_S.RESERVED, _I.SET_NOT_READY): _S.NOT_READY,
    (_S.WRAP_UP, _I.SET_NOT_READY): _S.NOT_READY,
    (_S.TALKING, _I.SET_NOT_READY): _S.TALKING,
    (_S.HOLD, _I.SET_NOT_READY): _S.HOLD,
    (_S.READY, _I.OFFER): _S.RESERVED,
    (_S.RESERVED, _I.ANSWER): _S.TALKING,
    (_S.RESERVED, _I.DECLINE): _S.READY,
    (_S.RESERVED, _I.DECLINE_LIMIT): _S.NOT_READY,
    (_S.RESERVED, _I.CANCEL): _S.READY,
    (_S.TALKING, _I.HOLD): _S.HOLD,
    (_S.HOLD, _I.RESUME): _S.TALKING,
    (_S.TALKING, _I.HANG_UP): _S.WRAP_UP,
    (_S.HOLD, _I.HANG_UP): _S.WRAP_UP,
    (_S.WRAP_UP, _I.WRAP_UP_DONE): _S.READY,
}


def next_operator_state(state: OperatorState, event: OperatorInput) -> OperatorState:
    """The state after ``event``; LocalProtocolError if the table has no such row."""
    try:
        return OPERATOR_TRANSITIONS[state, event]
    except KeyError:
        raise LocalProtocolError(
            f"operator input {event.value!r} is not allowed in state {state.value!r}"
        ) from None
