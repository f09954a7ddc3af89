"""The operator state table: every row, and every missing row is an error."""

from __future__ import annotations

import itertools

import pytest

from hotline.acd.agent import (
    OPERATOR_TRANSITIONS,
    OperatorInput,
    OperatorState,
    next_operator_state,
)
from hotline.core.errors import LocalProtocolError

S = OperatorState
In = OperatorInput

# The table as the issue states it, written out independently of the module.
EXPECTED = [
    (S.LOGGED_OUT, In.LOGIN, S.NOT_READY),
    (S.NOT_READY, In.SET_READY, S.READY),
    (S.READY, In.SET_NOT_READY, S.NOT_READY),
    (S.NOT_READY, In.SET_NOT_READY, S.NOT_READY),
    (S.READY, In.OFFER, S.RESERVED),
    (S.RESERVED, In.ANSWER, S.TALKING),
    (S.RESERVED, In.DECLINE, S.READY),
    (S.RESERVED, In.DECLINE_LIMIT, S.NOT_READY),
    (S.RESERVED, In.CANCEL, S.READY),
    (S.RESERVED, In.SET_NOT_READY, S.NOT_READY),
    (S.RESERVED, In.LOGOUT, S.LOGGED_OUT),
    (S.TALKING, In.HOLD, S.HOLD),
    (S.HOLD, In.RESUME, S.TALKING),
    (S.TALKING, In.HANG_UP, S.WRAP_UP),
    (S.HOLD, In.HANG_UP, S.WRAP_UP),
    (S.TALKING, In.SET_NOT_READY, S.TALKING),
    (S.HOLD, In.SET_NOT_READY, S.HOLD),
    (S.WRAP_UP, In.WRAP_UP_DONE, S.READY),
    (S.WRAP_UP, In.SET_READY, S.READY),
    (S.WRAP_UP, In.SET_NOT_READY, S.NOT_READY),
    (S.WRAP_UP, In.LOGOUT, S.LOGGED_OUT),
    (S.READY, In.LOGOUT, S.LOGGED_OUT),
    (S.NOT_READY, In.LOGOUT, S.LOGGED_OUT),
]


@pytest.mark.parametrize(("state", "event", "after"), EXPECTED)
def test_each_row_of_the_table(state: S, event: In, after: S) -> None:
    assert next_operator_state(state, event) is after


def test_the_table_has_exactly_these_rows() -> None:
    assert dict(OPERATOR_TRANSITIONS) == {(s, e): a for s, e, a in EXPECTED}


MISSING = [
    (s, e) for s, e in itertools.product(S, In) if (s, e) not in {(r[0], r[1]) for r in EXPECTED}
]


@pytest.mark.parametrize(("state", "event"), MISSING)
def test_every_other_pair_is_an_error(state: S, event: In) -> None:
    with pytest.raises(LocalProtocolError, match="not allowed"):
        next_operator_state(state, event)


def test_no_offer_outside_ready() -> None:
    # wrap-up holds in every queue: an offer is only possible from READY
    offerable = {s for s in S if (s, In.OFFER) in OPERATOR_TRANSITIONS}
    assert offerable == {S.READY}
