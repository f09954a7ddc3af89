"""Vocabulary of the SIP transaction layer: configuration, ids, states, timers, events.

RFC 3261 §17 (transactions) and §13.3.1.4 (2xx retransmission by the UAS
core), with the "Accepted" states of RFC 6026 §7.  States and timers carry
the RFC's names.  Events handed to the transaction user (TU) are frozen,
slotted dataclasses; the machinery that produces them lives in
:mod:`hotline.sip.transaction`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import Enum
from typing import NewType

from hotline.core.errors import ConfigurationError
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.peer import Peer

__all__ = [
    "BRANCH_COOKIE",
    "AckReceived",
    "AckTimeout",
    "CancelReceived",
    "ClientTransactionId",
    "DialogKey",
    "RequestReceived",
    "ResponseReceived",
    "ServerTransactionId",
    "StrayResponse",
    "Timer",
    "TimerConfig",
    "TransactionEvent",
    "TransactionKind",
    "TransactionState",
    "TransactionStats",
    "TransactionTimedOut",
    "TransportError",
    "new_branch",
]

#: The magic cookie that starts every RFC 3261 branch (§8.1.1.7).
BRANCH_COOKIE = "z9hG4bK"

#: Client and server transaction ids come from one counter, so they never collide.
ClientTransactionId = NewType("ClientTransactionId", int)
ServerTransactionId = NewType("ServerTransactionId", int)


def new_branch() -> str:
    """A fresh branch: the magic cookie plus 128 random bits (§8.1.1.7, §17.1.1.3)."""
    return BRANCH_COOKIE + secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2, T4 (RFC 3261 §17.1.1.1, Appendix A) and Timer D, in seconds.

    ``timer_d_s`` is Timer D for unreliable transports ("at least 32 s").
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d_s: float = 32.0

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4", "timer_d_s"):
            value = getattr(self, name)
            if not value > 0:
                raise ConfigurationError(f"sip.{name}", f"must be positive, got {value!r}")
        if self.t2 < self.t1:
            raise ConfigurationError("sip.t2", f"must be at least T1 ({self.t1}), got {self.t2}")

    @property
    def timeout_s(self) -> float:
        """64*T1: Timers B, F, H, J (unreliable), L, M and the 2xx give-up time."""
        return 64 * self.t1


class TransactionKind(Enum):
    """The four state machines of §17."""

    INVITE_CLIENT = "invite-client"  # §17.1.1
    NON_INVITE_CLIENT = "non-invite-client"  # §17.1.2
    INVITE_SERVER = "invite-server"  # §17.2.1
    NON_INVITE_SERVER = "non-invite-server"  # §17.2.2

    @property
    def is_client(self) -> bool:
        """True for the two client machines."""
        return self in (TransactionKind.INVITE_CLIENT, TransactionKind.NON_INVITE_CLIENT)


class TransactionState(Enum):
    """Transaction states named as in RFC 3261 §17 and RFC 6026 §7.

    The 2xx retransmission of §13.3.1.4 reuses ACCEPTED (waiting for the
    ACK), CONFIRMED (ACK received) and TERMINATED (gave up).
    """

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class Timer(Enum):
    """Transaction timers of RFC 3261 Appendix A and RFC 6026 §8.11.

    ``RETRANSMIT_2XX`` and ``WAIT_ACK`` are the two unnamed timers of the
    UAS core's 2xx retransmission (§13.3.1.4): T1 doubling to T2, and 64*T1.
    """

    A = "A"  # INVITE request retransmit, unreliable only (§17.1.1.2)
    B = "B"  # INVITE transaction timeout, 64*T1
    D = "D"  # wait for response retransmissions: 32 s unreliable, 0 reliable
    E = "E"  # non-INVITE request retransmit, unreliable only (§17.1.2.2)
    F = "F"  # non-INVITE transaction timeout, 64*T1
    G = "G"  # INVITE final response retransmit, unreliable only (§17.2.1)
    H = "H"  # wait for ACK, 64*T1
    I = "I"  # noqa: E741 - the RFC's name; wait for ACK retransmits: T4 / 0
    J = "J"  # wait for non-INVITE request retransmits: 64*T1 / 0 (§17.2.2)
    K = "K"  # wait for response retransmits: T4 / 0 (§17.1.2.2)
    L = "L"  # server Accepted: wait for INVITE retransmits, 64*T1 (RFC 6026)
    M = "M"  # client Accepted: wait for 2xx retransmits, 64*T1 (RFC 6026)
    RETRANSMIT_2XX = "2xx-retransmit"  # §13.3.1.4, every transport
    WAIT_ACK = "2xx-wait-ack"  # §13.3.1.4, 64*T1


@dataclass(frozen=True, slots=True)
class DialogKey:
    """Which 2xx an ACK acknowledges: Call-ID, CSeq number and To tag (§13.3.1.4)."""

    call_id: str
    cseq: int
    to_tag: str


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request created server transaction ``txn_id``; answer it with ``send_response``."""

    txn_id: ServerTransactionId
    request: SipRequest
    source: Peer


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK outside any transaction: the ACK of a 2xx (§17.1.1.3, §13.2.2.4)."""

    request: SipRequest
    source: Peer


@dataclass(frozen=True, slots=True)
class CancelReceived:
    """A CANCEL hit INVITE transaction ``txn_id`` in Proceeding: answer the INVITE with 487 (§9.2).

    The layer has already answered the CANCEL itself with 200.
    """

    txn_id: ServerTransactionId
    request: SipRequest


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A provisional or final response for client transaction ``txn_id``."""

    txn_id: ClientTransactionId
    response: SipResponse


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """Timer B, F or H fired: the TU acts as on a 408 (§8.1.3.1, §17.2.1)."""

    txn_id: ClientTransactionId | ServerTransactionId


@dataclass(frozen=True, slots=True)
class TransportError:
    """The driver reported a send failure; client TUs act as on a 503 (§8.1.3.1, §17.1.4)."""

    txn_id: ClientTransactionId | ServerTransactionId


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response that matches no client transaction; discarded, never forwarded (§18.1.2)."""

    response: SipResponse
    source: Peer


@dataclass(frozen=True, slots=True)
class AckTimeout:
    """No ACK came for a 2xx within 64*T1: the TU should end the dialog with BYE (§13.3.1.4)."""

    dialog_key: DialogKey


TransactionEvent = (
    RequestReceived
    | AckReceived
    | CancelReceived
    | ResponseReceived
    | TransactionTimedOut
    | TransportError
    | StrayResponse
    | AckTimeout
)


@dataclass(slots=True)
class TransactionStats:
    """Counters for /metrics; none of them is needed for correctness."""

    client_transactions: int = 0
    server_transactions: int = 0
    retransmissions_sent: int = 0
    retransmissions_absorbed: int = 0
    stray_responses: int = 0
    ignored_inputs: int = 0
    timeouts: int = 0
    ack_timeouts: int = 0
    overload_rejections: int = 0
    unmatched_cancels: int = 0
