"""Outbound calls through the trunks: failover across trunks, and the 122 presentation.

Pure code (no I/O, no clock).  :class:`OutboundAttempt` is a sans-IO state
machine that walks the ordered trunks of :meth:`TrunkTable.route` for one
destination.  The driver asks :meth:`~OutboundAttempt.next_target` for where
to send the INVITE, sends it (answering digest challenges itself with the
trunk's credentials), and reports what came back with
:meth:`~OutboundAttempt.result` — a status code, ``408`` when the client
transaction timed out (RFC 3261 §17.1.1.2 Timer B) or
:meth:`~OutboundAttempt.transport_error` (treated as 503, §8.1.3.1).

Failover policy: a trunk's own trouble (408, 5xx, a rejected 401/407) moves
the call to the next trunk; an answer about the destination (404, 486, 603,
every other 4xx/6xx, a 3xx we do not follow) ends the attempt, and so does any
failure after the destination rang (180/183): it was reached, and a second
trunk would ring the person again.  Each trunk's slot is taken when the trunk
is offered and given back when it fails, so that no failover path leaks one.

States (a table, as in h11): ``READY`` (nothing in flight) → ``TRYING`` (an
INVITE out) → ``ANSWERED`` → ``FINISHED``; or ``FAILED`` (a final answer),
``EXHAUSTED`` (no trunk left) and ``CANCELLED``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hotline.calls.numbers import PhoneNumber
from hotline.calls.trunks import CallSlot, Direction, TrunkConfig, TrunkCredentials, TrunkTable
from hotline.core.errors import LocalProtocolError
from hotline.sip.hdr_types import NameAddr
from hotline.sip.msg_grammar import EMPTY_PARAMS, Params
from hotline.sip.uri import SipUri

__all__ = [
    "DEFAULT_FAILOVER_STATUSES",
    "AttemptReason",
    "AttemptRecord",
    "AttemptState",
    "FailoverPolicy",
    "OutboundAttempt",
    "TrunkTarget",
    "from_uri",
    "p_asserted_identity",
    "request_uri",
]

#: Statuses that say "this trunk failed", not "the destination answered".
DEFAULT_FAILOVER_STATUSES = frozenset({401, 407, 408, *range(500, 600)})
_RINGING = frozenset({180, 181, 182, 183})
#: Final status when no trunk carried the call (RFC 3261 §21.4.4, §21.5.4).
_NO_ROUTE_STATUS = 403
_ALL_BUSY_STATUS = 503
_CANCELLED_STATUS = 487


class AttemptState(Enum):
    READY = "ready"
    TRYING = "trying"
    ANSWERED = "answered"
    FINISHED = "finished"
    FAILED = "failed"
    EXHAUSTED = "exhausted"
    CANCELLED = "cancelled"


class _Input(Enum):
    OFFERED = "offered"
    NO_TARGET = "no_target"
    PROVISIONAL = "provisional"
    SUCCESS = "success"
    FAILOVER = "failover"
    FINAL_FAILURE = "final_failure"
    CANCEL = "cancel"
    HANG_UP = "hang_up"


_S, _I = AttemptState, _Input
_TRANSITIONS: dict[tuple[AttemptState, _Input], AttemptState] = {
    (_S.READY, _I.OFFERED): _S.TRYING,
    (_S.READY, _I.NO_TARGET): _S.EXHAUSTED,
    (_S.READY, _I.CANCEL): _S.CANCELLED,
    (_S.TRYING, _I.PROVISIONAL): _S.TRYING,
    (_S.TRYING, _I.SUCCESS): _S.ANSWERED,
    (_S.TRYING, _I.FAILOVER): _S.READY,
    (_S.TRYING, _I.FINAL_FAILURE): _S.FAILED,
    (_S.TRYING, _I.CANCEL): _S.CANCELLED,
    (_S.ANSWERED, _I.HANG_UP): _S.FINISHED,
}
_ENDED = frozenset({_S.FINISHED, _S.FAILED, _S.EXHAUSTED, _S.CANCELLED})


class AttemptReason(Enum):
    """What happened on one trunk, for the call detail record."""

    ANSWERED = "answered"
    FAILED_OVER = "failed_over"
    TRANSPORT_ERROR = "transport_error"
    DESTINATION_ANSWER = "destination_answer"
    AT_LIMIT = "at_limit"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class FailoverPolicy:
    """When to try the next trunk, and how many trunks at most."""

    statuses: frozenset[int] = DEFAULT_FAILOVER_STATUSES
    stop_after_ringing: bool = True
    max_attempts: int = 3


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    trunk: str
    reason: AttemptReason
    status: int | None = None


@dataclass(frozen=True, slots=True)
class TrunkTarget:
    """Where to send the INVITE: URIs and headers built for the chosen trunk."""

    trunk: TrunkConfig
    destination: PhoneNumber
    attempt: int
    request_uri: SipUri
    from_uri: SipUri
    p_asserted_identity: str | None

    @property
    def credentials(self) -> TrunkCredentials | None:
        """Our account at the provider, to answer a 401/407 (RFC 8760)."""
        return self.trunk.credentials


class OutboundAttempt:
    """One outbound call walking its trunks with failover (see the module docstring)."""

    def __init__(
        self,
        table: TrunkTable,
        destination: PhoneNumber,
        *,
        policy: FailoverPolicy | None = None,
        display_name: str | None = None,
    ) -> None:
        self.destination = destination
        self.policy = policy or FailoverPolicy()
        self.state = AttemptState.READY
        self.final_status: int | None = None
        self._table = table
        self._display_name = display_name
        self._route = table.route(destination)
        self._next_index = 0
        self._tried = 0
        self._slot: CallSlot | None = None
        self._target: TrunkTarget | None = None
        self._rang = False
        self._records: list[AttemptRecord] = []

    @property
    def records(self) -> tuple[AttemptRecord, ...]:
        """What happened on each trunk, in order."""
        return tuple(self._records)

    @property
    def target(self) -> TrunkTarget | None:
        """The trunk in use (TRYING or ANSWERED)."""
        return self._target

    @property
    def routable(self) -> bool:
        """False when no trunk accepts this destination at all."""
        return bool(self._route)

    @property
    def ended(self) -> bool:
        return self.state in _ENDED

    def _fire(self, event: _Input) -> None:
        new = _TRANSITIONS.get((self.state, event))
        if new is None:
            raise LocalProtocolError(f"outbound attempt: {event.value} in state {self.state.value}")
        self.state = new

    def next_target(self) -> TrunkTarget | None:
        """The next trunk to try (its slot taken), or None when the attempt is over."""
        if self.state in _ENDED or self.state is AttemptState.ANSWERED:
            return None
        if self.state is not AttemptState.READY:
            raise LocalProtocolError("outbound attempt: next_target() before result()")
        while self._next_index < len(self._route) and self._tried < self.policy.max_attempts:
            trunk = self._route[self._next_index]
            self._next_index += 1
            slot = self._table.acquire(trunk.name, Direction.OUTBOUND)
            if slot is None:
                self._records.append(AttemptRecord(trunk.name, AttemptReason.AT_LIMIT))
                continue
            self._tried += 1
            self._slot = slot
            self._rang = False
            self._target = TrunkTarget(
                trunk=trunk,
                destination=self.destination,
                attempt=self._tried,
                request_uri=request_uri(trunk, self.destination),
                from_uri=from_uri(trunk),
                p_asserted_identity=p_asserted_identity(trunk, self._display_name),
            )
            self._fire(_Input.OFFERED)
            return self._target
        self._fire(_Input.NO_TARGET)
        self.final_status = self._exhausted_status()
        return None

    def result(self, status: int) -> None:
        """Report a response to the INVITE: provisional, 2xx or a final failure."""
        if not 100 <= status <= 699:
            raise LocalProtocolError(f"outbound attempt: status {status} out of range")
        self._answer(status, AttemptReason.FAILED_OVER)

    def transport_error(self) -> None:
        """The INVITE could not be sent or the connection broke: as 503 (RFC 3261 §8.1.3.1)."""
        self._answer(503, AttemptReason.TRANSPORT_ERROR)

    def _answer(self, status: int, failover_reason: AttemptReason) -> None:
        if status < 200:
            self._fire(_Input.PROVISIONAL)
            self._rang = self._rang or status in _RINGING
            return
        trunk = self._current_trunk()
        if status < 300:
            self._fire(_Input.SUCCESS)
            self.final_status = status
            self._records.append(AttemptRecord(trunk, AttemptReason.ANSWERED, status))
            return
        failover = status in self.policy.statuses and not (
            self._rang and self.policy.stop_after_ringing
        )
        if failover:
            self._fire(_Input.FAILOVER)
            self._table.note_failover(trunk)
            self._records.append(AttemptRecord(trunk, failover_reason, status))
        else:
            self._fire(_Input.FINAL_FAILURE)
            self.final_status = status
            self._records.append(AttemptRecord(trunk, AttemptReason.DESTINATION_ANSWER, status))
        self._drop_slot()

    def cancel(self) -> None:
        """The caller gave up before an answer (send CANCEL for a TRYING INVITE).

        A 2xx that crosses the CANCEL is the driver's to ACK and BYE (RFC 3261
        §9.1); it is not reported here.
        """
        trying = self.state is AttemptState.TRYING
        self._fire(_Input.CANCEL)
        self.final_status = _CANCELLED_STATUS
        if trying:
            self._records.append(AttemptRecord(self._current_trunk(), AttemptReason.CANCELLED))
            self._drop_slot()

    def hang_up(self) -> None:
        """The answered call ended: give the trunk's slot back."""
        self._fire(_Input.HANG_UP)
        self._drop_slot()

    def _current_trunk(self) -> str:
        if self._target is None:
            raise LocalProtocolError("outbound attempt: no trunk in use")
        return self._target.trunk.name

    def _drop_slot(self) -> None:
        if self._slot is not None:
            self._slot.release()
            self._slot = None
        if self.state is not AttemptState.ANSWERED:
            self._target = None

    def _exhausted_status(self) -> int:
        if not self._route:
            return _NO_ROUTE_STATUS
        statuses = [r.status for r in self._records if r.status is not None]
        if statuses and all(s == 408 for s in statuses):
            return 408
        return _ALL_BUSY_STATUS


# -- what goes on the wire ---------------------------------------------------------------


def _phone_params(trunk: TrunkConfig) -> Params:
    return EMPTY_PARAMS.with_param("user", "phone") if trunk.user_phone else EMPTY_PARAMS


def request_uri(trunk: TrunkConfig, destination: PhoneNumber) -> SipUri:
    """``sip:<number in the trunk's dial format>@host[:port];user=phone`` (RFC 3261 §19.1.1)."""
    params = _phone_params(trunk)
    transport = trunk.transport.lower()
    if transport != "udp":
        params = params.with_param("transport", transport)
    user = destination.dial(trunk.dial_format)
    return SipUri(host=trunk.host, user=user, port=trunk.uri_port, params=params)


def from_uri(trunk: TrunkConfig) -> SipUri:
    """The From URI of an outbound call: the caller id 122 (or the configured number)."""
    host = trunk.from_domain or trunk.host
    return SipUri(host=host, user=trunk.caller_id, params=_phone_params(trunk))


def p_asserted_identity(trunk: TrunkConfig, display_name: str | None = None) -> str | None:
    """The P-Asserted-Identity value (RFC 3325 §9.1), or None when the trunk wants none."""
    if not trunk.send_asserted_identity:
        return None
    user = trunk.asserted_identity or trunk.caller_id
    uri = from_uri(trunk)
    asserted = SipUri(host=uri.host, user=user, params=uri.params)
    return str(NameAddr(asserted, display_name))
