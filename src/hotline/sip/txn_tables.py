"""The transaction state machines of RFC 3261 §17 as transition tables.

Each machine maps ``(TransactionState, TransactionInput)`` to a
:class:`Transition`: the next state, the actions to run (in order) and the
timers to stop and start.  A pair missing from a table is not allowed: the
layer raises ``LocalProtocolError`` when the TU caused it and counts and
ignores it when the peer (or a stale timer) did.

- INVITE client: §17.1.1.2 (Figure 5) with Accepted and Timer M of RFC 6026 §7.2,
  and Timer B restarted when a CANCEL is sent in Proceeding (§9.1: give up
  64*T1 after the CANCEL).  A CANCEL in Calling is refused: §9.1 says to
  wait for a provisional response first.
- non-INVITE client: §17.1.2.2 (Figure 6).
- INVITE server: §17.2.1 (Figure 7) with Accepted and Timer L of RFC 6026 §7.1.
- non-INVITE server: §17.2.2 (Figure 8).
- 2xx retransmission of the UAS core: §13.3.1.4 (Accepted = waiting for ACK).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from hotline.sip.txn_model import Timer, TimerConfig, TransactionKind, TransactionState

__all__ = [
    "INITIAL",
    "RETRANSMIT_2XX_TABLE",
    "TABLES",
    "TIMER_INPUTS",
    "TU_INPUTS",
    "Action",
    "TransactionInput",
    "Transition",
    "timer_delay",
]


class TransactionInput(Enum):
    """What can happen to a transaction."""

    # from the peer
    RESPONSE_1XX = "1xx received"
    RESPONSE_2XX = "2xx received"
    RESPONSE_300_699 = "300-699 received"
    REQUEST_RETRANSMISSION = "request retransmission"
    ACK = "ACK received"
    CANCEL = "CANCEL received"
    # from the TU
    TU_1XX = "1xx from TU"
    TU_2XX = "2xx from TU"
    TU_300_699 = "300-699 from TU"
    CANCEL_SENT = "CANCEL sent by TU"
    # from the driver
    TRANSPORT_ERROR = "transport error"
    # timers
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TIMER_RETRANSMIT_2XX = "2xx retransmit timer"
    TIMER_WAIT_ACK = "2xx wait-for-ACK timer"


#: Inputs caused by the TU: a missing table entry for them is the TU's bug.
TU_INPUTS = frozenset(
    {
        TransactionInput.TU_1XX,
        TransactionInput.TU_2XX,
        TransactionInput.TU_300_699,
        TransactionInput.CANCEL_SENT,
    }
)

TIMER_INPUTS: Mapping[Timer, TransactionInput] = MappingProxyType(
    {timer: TransactionInput[f"TIMER_{timer.name}"] for timer in Timer}
)


class Action(Enum):
    """Side effects of a transition, run in table order."""

    SEND_REQUEST = "retransmit the request bytes"
    PASS_RESPONSE_TO_TU = "pass the response to the TU"
    SEND_ACK = "send (or resend) the ACK of a non-2xx final response"
    SEND_RESPONSE = "send the TU's response and remember it"
    RESEND_RESPONSE = "resend the last response bytes"
    START_2XX_RETRANSMISSION = "start the UAS core's 2xx retransmission (§13.3.1.4)"
    PASS_ACK_TO_TU = "pass the ACK to the TU"
    REPORT_CANCEL = "tell the TU the INVITE was cancelled"
    REPORT_TIMEOUT = "tell the TU the transaction timed out"
    REPORT_TRANSPORT_ERROR = "tell the TU the transport failed"
    REPORT_ACK_TIMEOUT = "tell the TU no ACK came for its 2xx"
    ABSORB = "count an absorbed retransmission"
    BACKOFF = "double the retransmit interval (Timer A)"
    BACKOFF_CAPPED = "double the retransmit interval, at most T2 (Timers E, G, 2xx)"
    INTERVAL_T2 = "retransmit every T2 (Timer E in Proceeding)"


@dataclass(frozen=True, slots=True)
class Transition:
    """Next state, actions, then timers stopped and started (in that order)."""

    target: TransactionState
    actions: tuple[Action, ...] = ()
    stop: tuple[Timer, ...] = ()
    start: tuple[Timer, ...] = ()


_S = TransactionState
_I = TransactionInput
_A = Action
_T = Timer
_Table = Mapping[tuple[TransactionState, TransactionInput], Transition]

_INVITE_CLIENT: _Table = MappingProxyType(
    {
        (_S.CALLING, _I.TIMER_A): Transition(
            _S.CALLING, (_A.SEND_REQUEST, _A.BACKOFF), start=(_T.A,)
        ),
        (_S.CALLING, _I.TIMER_B): Transition(_S.TERMINATED, (_A.REPORT_TIMEOUT,)),
        (_S.CALLING, _I.RESPONSE_1XX): Transition(
            _S.PROCEEDING, (_A.PASS_RESPONSE_TO_TU,), stop=(_T.A, _T.B)
        ),
        (_S.CALLING, _I.RESPONSE_2XX): Transition(
            _S.ACCEPTED, (_A.PASS_RESPONSE_TO_TU,), stop=(_T.A, _T.B), start=(_T.M,)
        ),
        (_S.CALLING, _I.RESPONSE_300_699): Transition(
            _S.COMPLETED, (_A.PASS_RESPONSE_TO_TU, _A.SEND_ACK), stop=(_T.A, _T.B), start=(_T.D,)
        ),
        (_S.CALLING, _I.TRANSPORT_ERROR): Transition(_S.TERMINATED, (_A.REPORT_TRANSPORT_ERROR,)),
        (_S.PROCEEDING, _I.RESPONSE_1XX): Transition(_S.PROCEEDING, (_A.PASS_RESPONSE_TO_TU,)),
        (_S.PROCEEDING, _I.RESPONSE_2XX): Transition(
            _S.ACCEPTED, (_A.PASS_RESPONSE_TO_TU,), stop=(_T.B,), start=(_T.M,)
        ),
        (_S.PROCEEDING, _I.RESPONSE_300_699): Transition(
            _S.COMPLETED, (_A.PASS_RESPONSE_TO_TU, _A.SEND_ACK), stop=(_T.B,), start=(_T.D,)
        ),
        (_S.PROCEEDING, _I.CANCEL_SENT): Transition(_S.PROCEEDING, start=(_T.B,)),
        (_S.PROCEEDING, _I.TIMER_B): Transition(_S.TERMINATED, (_A.REPORT_TIMEOUT,)),
        (_S.PROCEEDING, _I.TRANSPORT_ERROR): Transition(
            _S.TERMINATED, (_A.REPORT_TRANSPORT_ERROR,)
        ),
        (_S.COMPLETED, _I.RESPONSE_300_699): Transition(_S.COMPLETED, (_A.ABSORB, _A.SEND_ACK)),
        (_S.COMPLETED, _I.CANCEL_SENT): Transition(_S.COMPLETED),
        (_S.COMPLETED, _I.TIMER_D): Transition(_S.TERMINATED),
        (_S.COMPLETED, _I.TRANSPORT_ERROR): Transition(_S.TERMINATED, (_A.REPORT_TRANSPORT_ERROR,)),
        (_S.ACCEPTED, _I.RESPONSE_2XX): Transition(_S.ACCEPTED, (_A.PASS_RESPONSE_TO_TU,)),
        (_S.ACCEPTED, _I.CANCEL_SENT): Transition(_S.ACCEPTED),
        (_S.ACCEPTED, _I.TIMER_M): Transition(_S.TERMINATED),
    }
)

_NON_INVITE_CLIENT_FINAL = Transition(
    _S.COMPLETED, (_A.PASS_RESPONSE_TO_TU,), stop=(_T.E, _T.F), start=(_T.K,)
)

_NON_INVITE_CLIENT: _Table = MappingProxyType(
    {
        (_S.TRYING, _I.TIMER_E): Transition(
            _S.TRYING, (_A.SEND_REQUEST, _A.BACKOFF_CAPPED), start=(_T.E,)
        ),
        (_S.TRYING, _I.TIMER_F): Transition(_S.TERMINATED, (_A.REPORT_TIMEOUT,)),
        (_S.TRYING, _I.RESPONSE_1XX): Transition(_S.PROCEEDING, (_A.PASS_RESPONSE_TO_TU,)),
        (_S.TRYING, _I.RESPONSE_2XX): _NON_INVITE_CLIENT_FINAL,
        (_S.TRYING, _I.RESPONSE_300_699): _NON_INVITE_CLIENT_FINAL,
        (_S.TRYING, _I.TRANSPORT_ERROR): Transition(_S.TERMINATED, (_A.REPORT_TRANSPORT_ERROR,)),
        (_S.PROCEEDING, _I.TIMER_E): Transition(
            _S.PROCEEDING, (_A.SEND_REQUEST, _A.INTERVAL_T2), start=(_T.E,)
        ),
        (_S.PROCEEDING, _I.TIMER_F): Transition(_S.TERMINATED, (_A.REPORT_TIMEOUT,)),
        (_S.PROCEEDING, _I.RESPONSE_1XX): Transition(_S.PROCEEDING, (_A.PASS_RESPONSE_TO_TU,)),
        (_S.PROCEEDING, _I.RESPONSE_2XX): _NON_INVITE_CLIENT_FINAL,
        (_S.PROCEEDING, _I.RESPONSE_300_699): _NON_INVITE_CLIENT_FINAL,
        (_S.PROCEEDING, _I.TRANSPORT_ERROR): Transition(
            _S.TERMINATED, (_A.REPORT_TRANSPORT_ERROR,)
        ),
        (_S.COMPLETED, _I.RESPONSE_1XX): Transition(_S.COMPLETED, (_A.ABSORB,)),
        (_S.COMPLETED, _I.RESPONSE_2XX): Transition(_S.COMPLETED, (_A.ABSORB,)),
        (_S.COMPLETED, _I.RESPONSE_300_699): Transition(_S.COMPLETED, (_A.ABSORB,)),
        (_S.COMPLETED, _I.TIMER_K): Transition(_S.TERMINATED),
    }
)

_INVITE_SERVER: _Table = MappingProxyType(
    {
        (_S.PROCEEDING, _I.REQUEST_RETRANSMISSION): Transition(
            _S.PROCEEDING, (_A.ABSORB, _A.RESEND_RESPONSE)
        ),
        (_S.PROCEEDING, _I.TU_1XX): Transition(_S.PROCEEDING, (_A.SEND_RESPONSE,)),
        (_S.PROCEEDING, _I.TU_2XX): Transition(
            _S.ACCEPTED, (_A.SEND_RESPONSE, _A.START_2XX_RETRANSMISSION), start=(_T.L,)
        ),
        (_S.PROCEEDING, _I.TU_300_699): Transition(
            _S.COMPLETED, (_A.SEND_RESPONSE,), start=(_T.G, _T.H)
        ),
        (_S.PROCEEDING, _I.CANCEL): Transition(_S.PROCEEDING, (_A.REPORT_CANCEL,)),
        (_S.PROCEEDING, _I.TRANSPORT_ERROR): Transition(
            _S.TERMINATED, (_A.REPORT_TRANSPORT_ERROR,)
        ),
        (_S.COMPLETED, _I.REQUEST_RETRANSMISSION): Transition(
            _S.COMPLETED, (_A.ABSORB, _A.RESEND_RESPONSE)
        ),
        (_S.COMPLETED, _I.TIMER_G): Transition(
            _S.COMPLETED, (_A.RESEND_RESPONSE, _A.BACKOFF_CAPPED), start=(_T.G,)
        ),
        (_S.COMPLETED, _I.ACK): Transition(_S.CONFIRMED, stop=(_T.G, _T.H), start=(_T.I,)),
        (_S.COMPLETED, _I.CANCEL): Transition(_S.COMPLETED),
        (_S.COMPLETED, _I.TIMER_H): Transition(_S.TERMINATED, (_A.REPORT_TIMEOUT,)),
        (_S.COMPLETED, _I.TRANSPORT_ERROR): Transition(_S.TERMINATED, (_A.REPORT_TRANSPORT_ERROR,)),
        (_S.CONFIRMED, _I.REQUEST_RETRANSMISSION): Transition(_S.CONFIRMED, (_A.ABSORB,)),
        (_S.CONFIRMED, _I.ACK): Transition(_S.CONFIRMED, (_A.ABSORB,)),
        (_S.CONFIRMED, _I.CANCEL): Transition(_S.CONFIRMED),
        (_S.CONFIRMED, _I.TIMER_I): Transition(_S.TERMINATED),
        (_S.ACCEPTED, _I.REQUEST_RETRANSMISSION): Transition(_S.ACCEPTED, (_A.ABSORB,)),
        (_S.ACCEPTED, _I.ACK): Transition(_S.ACCEPTED, (_A.PASS_ACK_TO_TU,)),
        (_S.ACCEPTED, _I.TU_2XX): Transition(_S.ACCEPTED, (_A.SEND_RESPONSE,)),
        (_S.ACCEPTED, _I.CANCEL): Transition(_S.ACCEPTED),
        (_S.ACCEPTED, _I.TIMER_L): Transition(_S.TERMINATED),
    }
)

_NON_INVITE_SERVER_FINAL = Transition(_S.COMPLETED, (_A.SEND_RESPONSE,), start=(_T.J,))

_NON_INVITE_SERVER: _Table = MappingProxyType(
    {
        (_S.TRYING, _I.REQUEST_RETRANSMISSION): Transition(_S.TRYING, (_A.ABSORB,)),
        (_S.TRYING, _I.TU_1XX): Transition(_S.PROCEEDING, (_A.SEND_RESPONSE,)),
        (_S.TRYING, _I.TU_2XX): _NON_INVITE_SERVER_FINAL,
        (_S.TRYING, _I.TU_300_699): _NON_INVITE_SERVER_FINAL,
        (_S.PROCEEDING, _I.REQUEST_RETRANSMISSION): Transition(
            _S.PROCEEDING, (_A.ABSORB, _A.RESEND_RESPONSE)
        ),
        (_S.PROCEEDING, _I.TU_1XX): Transition(_S.PROCEEDING, (_A.SEND_RESPONSE,)),
        (_S.PROCEEDING, _I.TU_2XX): _NON_INVITE_SERVER_FINAL,
        (_S.PROCEEDING, _I.TU_300_699): _NON_INVITE_SERVER_FINAL,
        (_S.PROCEEDING, _I.TRANSPORT_ERROR): Transition(
            _S.TERMINATED, (_A.REPORT_TRANSPORT_ERROR,)
        ),
        (_S.COMPLETED, _I.REQUEST_RETRANSMISSION): Transition(
            _S.COMPLETED, (_A.ABSORB, _A.RESEND_RESPONSE)
        ),
        (_S.COMPLETED, _I.TRANSPORT_ERROR): Transition(_S.TERMINATED, (_A.REPORT_TRANSPORT_ERROR,)),
        (_S.COMPLETED, _I.TIMER_J): Transition(_S.TERMINATED),
    }
)

#: The four §17 machines by kind.
TABLES: Mapping[TransactionKind, _Table] = MappingProxyType(
    {
        TransactionKind.INVITE_CLIENT: _INVITE_CLIENT,
        TransactionKind.NON_INVITE_CLIENT: _NON_INVITE_CLIENT,
        TransactionKind.INVITE_SERVER: _INVITE_SERVER,
        TransactionKind.NON_INVITE_SERVER: _NON_INVITE_SERVER,
    }
)

#: Initial state and timers of each machine (the request is sent / passed up on creation).
INITIAL: Mapping[TransactionKind, tuple[TransactionState, tuple[Timer, ...]]] = MappingProxyType(
    {
        TransactionKind.INVITE_CLIENT: (_S.CALLING, (_T.A, _T.B)),
        TransactionKind.NON_INVITE_CLIENT: (_S.TRYING, (_T.E, _T.F)),
        TransactionKind.INVITE_SERVER: (_S.PROCEEDING, ()),
        TransactionKind.NON_INVITE_SERVER: (_S.TRYING, ()),
    }
)

#: §13.3.1.4: the UAS core resends a 2xx (T1 doubling to T2) until the ACK, for 64*T1.
RETRANSMIT_2XX_TABLE: _Table = MappingProxyType(
    {
        (_S.ACCEPTED, _I.TIMER_RETRANSMIT_2XX): Transition(
            _S.ACCEPTED, (_A.RESEND_RESPONSE, _A.BACKOFF_CAPPED), start=(_T.RETRANSMIT_2XX,)
        ),
        (_S.ACCEPTED, _I.ACK): Transition(_S.CONFIRMED),
        (_S.ACCEPTED, _I.TIMER_WAIT_ACK): Transition(_S.TERMINATED, (_A.REPORT_ACK_TIMEOUT,)),
    }
)

_RETRANSMIT_TIMERS = frozenset({Timer.A, Timer.E, Timer.G})
_TIMEOUT_TIMERS = frozenset({Timer.B, Timer.F, Timer.H, Timer.L, Timer.M, Timer.WAIT_ACK})


def timer_delay(timer: Timer, config: TimerConfig, *, reliable: bool, interval: float) -> float:
    """Seconds until ``timer`` fires; -1.0 when it does not run on this transport.

    Retransmit timers A, E, G run on unreliable transports only (§17.1.1.2,
    §17.1.2.2, §17.2.1); the 2xx retransmission runs on every transport
    (§13.3.1.4: end to end, whatever the first hop).  D, I, J, K are zero on
    reliable transports.
    """
    if timer in _RETRANSMIT_TIMERS:
        return -1.0 if reliable else interval
    if timer is Timer.RETRANSMIT_2XX:
        return interval
    if timer in _TIMEOUT_TIMERS:
        return config.timeout_s
    if reliable:
        return 0.0
    if timer is Timer.D:
        return config.timer_d_s
    if timer is Timer.J:
        return config.timeout_s
    return config.t4  # I, K
