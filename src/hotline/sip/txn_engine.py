"""The executor of the transaction tables: records, indexes, timers, outputs.

:class:`TransactionEngine` keeps the transactions of one endpoint (by id and
by matching key), runs the transitions of :mod:`hotline.sip.txn_tables`
with their actions and timers, and the UAS core's 2xx retransmission
(RFC 3261 §13.3.1.4).  The public inputs and the matching of incoming
messages (§17.1.3, §17.2.3) are in :class:`hotline.sip.transaction.TransactionLayer`,
which extends it.
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from dataclasses import dataclass, field

from hotline.core.errors import (
    ConfigurationError,
    LimitExceededError,
    LocalProtocolError,
    RemoteProtocolError,
)
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.peer import Peer
from hotline.sip.txn_match import (
    BranchKey,
    ClientKey,
    LegacyAckKey,
    ServerKey,
    build_ack_for_non_2xx,
    legacy_ack_key,
)
from hotline.sip.txn_model import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    ClientTransactionId,
    DialogKey,
    ResponseReceived,
    ServerTransactionId,
    Timer,
    TimerConfig,
    TransactionEvent,
    TransactionKind,
    TransactionState,
    TransactionStats,
    TransactionTimedOut,
    TransportError,
)
from hotline.sip.txn_tables import (
    INITIAL,
    RETRANSMIT_2XX_TABLE,
    TABLES,
    TIMER_INPUTS,
    TU_INPUTS,
    Action,
    TransactionInput,
    Transition,
    timer_delay,
)
from hotline.sip.txn_timers import TimerHeap

__all__ = [
    "Retransmission2xx",
    "TransactionEngine",
    "TransactionRecord",
    "dialog_key",
    "new_tag",
    "response_input",
]

_I = TransactionInput
_S = TransactionState


@dataclass(slots=True, eq=False)
class TransactionRecord:
    """One client or server transaction (mutable; owned by the layer)."""

    txn_id: int
    kind: TransactionKind
    state: TransactionState
    peer: Peer  # client: destination; server: source of the request
    request: SipRequest
    key: ClientKey | ServerKey
    reliable: bool
    interval: float  # current retransmit interval (Timers A, E, G)
    request_bytes: bytes = b""
    timers: dict[Timer, int] = field(default_factory=dict)
    last_response: SipResponse | None = None
    last_response_bytes: bytes = b""
    ack_bytes: bytes = b""
    legacy_ack: LegacyAckKey | None = None
    raw: bytes | None = None


@dataclass(slots=True, eq=False)
class Retransmission2xx:
    """The UAS core's retransmission of one 2xx to INVITE (§13.3.1.4)."""

    key: DialogKey
    state: TransactionState
    peer: Peer
    data: bytes
    interval: float
    timers: dict[Timer, int] = field(default_factory=dict)


_Owner = TransactionRecord | Retransmission2xx


def response_input(status: int, *, from_tu: bool) -> TransactionInput:
    """The table input for a response with ``status`` from the peer or from the TU."""
    if status < 200:
        return _I.TU_1XX if from_tu else _I.RESPONSE_1XX
    if status < 300:
        return _I.TU_2XX if from_tu else _I.RESPONSE_2XX
    return _I.TU_300_699 if from_tu else _I.RESPONSE_300_699


def new_tag() -> str:
    """A fresh To tag for responses the layer makes itself (§19.3)."""
    return secrets.token_hex(8)


def dialog_key(response: SipResponse) -> DialogKey:
    """The key an ACK for this 2xx will carry; a 2xx without To tag is the TU's bug (§8.2.6.2)."""
    try:
        tag = response.to.tag
        key = DialogKey(response.call_id, response.cseq.number, tag or "")
    except RemoteProtocolError as exc:
        raise LocalProtocolError(f"unreadable 2xx from the TU: {exc}") from None
    if not tag:
        raise LocalProtocolError("a 2xx to INVITE needs a To tag (§8.2.6.2)")
    return key


class TransactionEngine:
    """Transactions, their timers and outputs; see :class:`~hotline.sip.transaction.TransactionLayer`.

    ``max_transactions`` bounds live client plus server transactions.
    ``send_100_trying`` makes the layer answer each new INVITE with 100 at
    once (§17.2.1 asks for it unless the TU answers within 200 ms).
    """

    def __init__(
        self,
        config: TimerConfig | None = None,
        *,
        max_transactions: int = 100_000,
        send_100_trying: bool = True,
    ) -> None:
        if max_transactions < 1:
            raise ConfigurationError("sip.max_transactions", "must be at least 1")
        self.config = config or TimerConfig()
        self.stats = TransactionStats()
        self._max = max_transactions
        self._send_100 = send_100_trying
        self._ids = itertools.count(1)
        self._client: dict[int, TransactionRecord] = {}
        self._client_keys: dict[ClientKey, TransactionRecord] = {}
        self._server: dict[int, TransactionRecord] = {}
        self._server_keys: dict[ServerKey, TransactionRecord] = {}
        self._legacy_acks: dict[LegacyAckKey, TransactionRecord] = {}
        self._raw: dict[bytes, TransactionRecord] = {}
        self._pending_2xx: dict[DialogKey, Retransmission2xx] = {}
        self._timers: TimerHeap[_Owner] = TimerHeap()
        self._events: deque[TransactionEvent] = deque()
        self._out: list[tuple[bytes, Peer]] = []

    # -- introspection -----------------------------------------------------------

    @property
    def live_transactions(self) -> int:
        """Client plus server transactions not yet terminated."""
        return len(self._client) + len(self._server)

    @property
    def pending_2xx(self) -> int:
        """2xx responses still retransmitted while waiting for their ACK."""
        return len(self._pending_2xx)

    def state_of(self, txn_id: ClientTransactionId | ServerTransactionId) -> TransactionState:
        """The state of a transaction; TERMINATED once it is gone."""
        txn = self._client.get(txn_id) or self._server.get(txn_id)
        return _S.TERMINATED if txn is None else txn.state

    # -- outputs -------------------------------------------------------------------

    def next_event(self) -> TransactionEvent | None:
        """The next event for the TU, or None."""
        return self._events.popleft() if self._events else None

    def datagrams_to_send(self) -> list[tuple[bytes, Peer]]:
        """Messages to send since the last call, in order."""
        out, self._out = self._out, []
        return out

    def get_timer(self) -> float | None:
        """The earliest deadline of any transaction, or None when no timer runs."""
        return self._timers.next_deadline()

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first."""
        while (due := self._timers.pop_due(now)) is not None:
            owner, timer = due
            if isinstance(owner, TransactionRecord):
                self._apply(owner, TIMER_INPUTS[timer], now)
            else:
                self._apply_2xx(owner, TIMER_INPUTS[timer], now)

    # -- creation and removal ----------------------------------------------------------

    def _check_capacity(self) -> None:
        if self.live_transactions >= self._max:
            raise LimitExceededError(
                f"{self._max} transactions alive (sip.max_transactions)", status_hint=503
            )

    def _create(
        self,
        kind: TransactionKind,
        peer: Peer,
        request: SipRequest,
        key: ClientKey | ServerKey,
        reliable: bool,
        now: float,
        data: bytes = b"",
    ) -> TransactionRecord:
        state, timers = INITIAL[kind]
        txn = TransactionRecord(
            next(self._ids), kind, state, peer, request, key, reliable, self.config.t1, data
        )
        self._start_timers(txn, timers, now)
        return txn

    def _new_server(
        self,
        request: SipRequest,
        key: ServerKey,
        source: Peer,
        now: float,
        raw: bytes | None,
    ) -> TransactionRecord:
        invite = request.method == "INVITE"
        kind = TransactionKind.INVITE_SERVER if invite else TransactionKind.NON_INVITE_SERVER
        txn = self._create(kind, source, request, key, source.transport.reliable, now)
        self._server[txn.txn_id] = txn
        self._server_keys[key] = txn
        if invite and not isinstance(key, BranchKey):
            txn.legacy_ack = legacy_ack_key(request)
            self._legacy_acks[txn.legacy_ack] = txn
        if raw is not None:
            txn.raw = raw
            self._raw[raw] = txn
        self.stats.server_transactions += 1
        return txn

    def _remove(self, txn: TransactionRecord) -> None:
        self._timers.stop_all(txn)
        key = txn.key
        if isinstance(key, ClientKey):
            self._client.pop(txn.txn_id, None)
            if self._client_keys.get(key) is txn:
                del self._client_keys[key]
            return
        self._server.pop(txn.txn_id, None)
        if self._server_keys.get(key) is txn:
            del self._server_keys[key]
        if txn.legacy_ack is not None and self._legacy_acks.get(txn.legacy_ack) is txn:
            del self._legacy_acks[txn.legacy_ack]
        if txn.raw is not None and self._raw.get(txn.raw) is txn:
            del self._raw[txn.raw]

    # -- the state machines ----------------------------------------------------------

    def _apply(
        self,
        txn: TransactionRecord,
        event: TransactionInput,
        now: float,
        message: SipRequest | SipResponse | None = None,
        source: Peer | None = None,
    ) -> None:
        """Run the table transition for ``(txn.state, event)``."""
        transition = TABLES[txn.kind].get((txn.state, event))
        if transition is None:
            if event in TU_INPUTS:
                raise self._refusal(txn, event)
            self.stats.ignored_inputs += 1
            return
        txn.state = transition.target
        for action in transition.actions:
            self._run(txn, action, now, message, source)
        if transition.target is _S.TERMINATED:
            self._remove(txn)
            return
        self._switch_timers(txn, transition, now)

    def _check_tu_input(self, txn: TransactionRecord, event: TransactionInput) -> None:
        """Raise ``LocalProtocolError`` unless the table allows ``event`` now."""
        if (txn.state, event) not in TABLES[txn.kind]:
            raise self._refusal(txn, event)

    @staticmethod
    def _refusal(txn: TransactionRecord, event: TransactionInput) -> LocalProtocolError:
        return LocalProtocolError(
            f"{event.value} is not allowed in state {txn.state.value} "
            f"of a {txn.kind.value} transaction"
        )

    def _switch_timers(self, txn: TransactionRecord, transition: Transition, now: float) -> None:
        for timer in transition.stop:
            self._timers.stop(txn, timer)
        self._start_timers(txn, transition.start, now)

    def _start_timers(self, owner: _Owner, timers: tuple[Timer, ...], now: float) -> None:
        reliable = isinstance(owner, TransactionRecord) and owner.reliable
        fire_now: list[Timer] = []
        for timer in timers:
            delay = timer_delay(timer, self.config, reliable=reliable, interval=owner.interval)
            if delay > 0:
                self._timers.start(owner, timer, now + delay)
            elif delay == 0:
                fire_now.append(timer)
        for timer in fire_now:  # Timers D, I, J, K on reliable transports (§17)
            assert isinstance(owner, TransactionRecord)
            self._apply(owner, TIMER_INPUTS[timer], now)

    def _run(
        self,
        txn: TransactionRecord,
        action: Action,
        now: float,
        message: SipRequest | SipResponse | None,
        source: Peer | None,
    ) -> None:
        stats = self.stats
        if action is Action.SEND_REQUEST:
            self._out.append((txn.request_bytes, txn.peer))
            stats.retransmissions_sent += 1
        elif action is Action.PASS_RESPONSE_TO_TU:
            assert isinstance(message, SipResponse)
            self._events.append(ResponseReceived(ClientTransactionId(txn.txn_id), message))
        elif action is Action.SEND_ACK:
            if not txn.ack_bytes:
                assert isinstance(message, SipResponse)
                txn.ack_bytes = bytes(build_ack_for_non_2xx(txn.request, message))
            self._out.append((txn.ack_bytes, txn.peer))
        elif action is Action.SEND_RESPONSE:
            assert isinstance(message, SipResponse)
            txn.last_response = message
            txn.last_response_bytes = bytes(message)
            self._out.append((txn.last_response_bytes, txn.peer))
        elif action is Action.RESEND_RESPONSE:
            if txn.last_response_bytes:
                self._out.append((txn.last_response_bytes, txn.peer))
                stats.retransmissions_sent += 1
        elif action is Action.START_2XX_RETRANSMISSION:
            assert txn.last_response is not None
            self._start_2xx(txn, dialog_key(txn.last_response), now)
        elif action is Action.PASS_ACK_TO_TU:
            assert isinstance(message, SipRequest) and source is not None
            self._events.append(AckReceived(message, source))
        elif action is Action.REPORT_CANCEL:
            assert isinstance(message, SipRequest)
            self._events.append(CancelReceived(ServerTransactionId(txn.txn_id), message))
        elif action is Action.REPORT_TIMEOUT:
            stats.timeouts += 1
            self._events.append(TransactionTimedOut(self._public_id(txn)))
        elif action is Action.REPORT_TRANSPORT_ERROR:
            self._events.append(TransportError(self._public_id(txn)))
        elif action is Action.ABSORB:
            stats.retransmissions_absorbed += 1
        else:
            txn.interval = self._next_interval(action, txn.interval)

    def _next_interval(self, action: Action, interval: float) -> float:
        if action is Action.BACKOFF:
            return interval * 2
        if action is Action.BACKOFF_CAPPED:
            return min(interval * 2, self.config.t2)
        if action is Action.INTERVAL_T2:
            return self.config.t2
        raise LocalProtocolError(f"action {action.name} does not apply here")

    @staticmethod
    def _public_id(txn: TransactionRecord) -> ClientTransactionId | ServerTransactionId:
        if txn.kind.is_client:
            return ClientTransactionId(txn.txn_id)
        return ServerTransactionId(txn.txn_id)

    # -- §13.3.1.4: the UAS core's 2xx retransmission ---------------------------------------

    def _start_2xx(self, txn: TransactionRecord, key: DialogKey, now: float) -> None:
        if key in self._pending_2xx:
            return
        pending = Retransmission2xx(
            key, _S.ACCEPTED, txn.peer, txn.last_response_bytes, self.config.t1
        )
        self._pending_2xx[key] = pending
        self._start_timers(pending, (Timer.RETRANSMIT_2XX, Timer.WAIT_ACK), now)

    def _apply_2xx(self, pending: Retransmission2xx, event: TransactionInput, now: float) -> None:
        transition = RETRANSMIT_2XX_TABLE.get((pending.state, event))
        if transition is None:
            self.stats.ignored_inputs += 1
            return
        pending.state = transition.target
        for action in transition.actions:
            if action is Action.RESEND_RESPONSE:
                self._out.append((pending.data, pending.peer))
                self.stats.retransmissions_sent += 1
            elif action is Action.REPORT_ACK_TIMEOUT:
                self.stats.ack_timeouts += 1
                self._events.append(AckTimeout(pending.key))
            else:
                pending.interval = self._next_interval(action, pending.interval)
        if transition.target is not _S.ACCEPTED:
            self._timers.stop_all(pending)
            del self._pending_2xx[pending.key]
            return
        for timer in transition.stop:
            self._timers.stop(pending, timer)
        self._start_timers(pending, transition.start, now)
