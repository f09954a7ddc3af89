"""Many transactions at once: timer heap order, and random interleavings (Hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.errors import LocalProtocolError
from hotline.sip.message import SipRequest
from hotline.sip.msg_build import make_request, make_response
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.transaction import TimerConfig, TransactionLayer, build_cancel
from hotline.sip.txn_model import (
    CancelReceived,
    ClientTransactionId,
    RequestReceived,
    ServerTransactionId,
    Timer,
    TransactionState,
    TransactionTimedOut,
)
from hotline.sip.txn_tables import Transition
from hotline.sip.txn_timers import TimerHeap

PEERS = {
    "UDP": Peer(TransportKind.UDP, "192.0.2.50", 5060),
    "TCP": Peer(TransportKind.TCP, "192.0.2.50", 5060, connection_id=1),
}


def outgoing(method: str, n: int, transport: str = "UDP") -> SipRequest:
    return make_request(
        method,
        "sip:op@192.0.2.50",
        from_="<sip:122@hotline.example>;tag=f",
        to="<sip:op@192.0.2.50>",
        call_id=f"out-{n}",
        cseq=1,
        via=f"SIP/2.0/{transport} 192.0.2.1:5060",
    )


def test_thousand_concurrent_invites_fire_their_timers_in_deadline_order() -> None:
    layer = TransactionLayer()
    started: dict[ClientTransactionId, float] = {}
    first_bytes: dict[bytes, float] = {}
    for n in range(1000):
        now = (n * 7919 % 1000) / 100.0  # start times 0..9.99 s, not in creation order
        tid = layer.send_request(outgoing("INVITE", n), PEERS["UDP"], now)
        started[tid] = now
        [(data, _)] = layer.datagrams_to_send()
        first_bytes[data] = now
    assert layer.live_transactions == 1000
    fired: list[float] = []
    timeouts: list[tuple[float, ClientTransactionId]] = []
    retransmitted_at: dict[bytes, list[float]] = {}
    while (deadline := layer.get_timer()) is not None:
        assert not fired or deadline >= fired[-1]
        fired.append(deadline)
        layer.handle_timer(deadline)
        for data, _ in layer.datagrams_to_send():
            retransmitted_at.setdefault(data, []).append(deadline)
        while (event := layer.next_event()) is not None:
            assert isinstance(event, TransactionTimedOut)
            assert isinstance(event.txn_id, int)
            timeouts.append((deadline, ClientTransactionId(event.txn_id)))
    assert len(timeouts) == 1000
    assert all(abs(t - (started[tid] + 32.0)) < 1e-9 for t, tid in timeouts)
    assert [t for t, _ in timeouts] == sorted(t for t, _ in timeouts)
    offsets = [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert len(retransmitted_at) == 1000
    for data, times in retransmitted_at.items():
        assert [round(t - first_bytes[data], 6) for t in times] == offsets
    assert layer.live_transactions == 0


def test_timer_heap_skips_stopped_timers_and_compacts() -> None:
    @dataclass(eq=False)
    class Owner:
        timers: dict[Timer, int] = field(default_factory=dict)

    heap: TimerHeap[Owner] = TimerHeap()
    owners = [Owner() for _ in range(3000)]
    for n, owner in enumerate(owners):
        heap.start(owner, Timer.A, float(n))
        heap.start(owner, Timer.B, 10_000.0 + n)
    for owner in owners[:2900]:
        heap.stop_all(owner)
    assert len(heap) < 3000  # compacted: stale entries dropped
    assert heap.next_deadline() == 2900.0
    heap.start(owners[-1], Timer.A, 1.0)  # restart: the old entry goes stale
    assert heap.pop_due(1.0) == (owners[-1], Timer.A)
    assert heap.pop_due(2900.0) == (owners[2900], Timer.A)
    assert heap.pop_due(2900.0) is None


# -- Hypothesis: random interleavings never raise and everything ends --------------------------------

METHODS = ["INVITE", "OPTIONS", "BYE", "CANCEL", "ACK", "REGISTER"]
TRANSPORTS = st.sampled_from(["UDP", "TCP"])


@dataclass(frozen=True)
class PeerRequest:
    method: str
    branch: int
    cookie: bool  # the branch has the magic cookie
    transport: str
    to_tag: str | None


@dataclass(frozen=True)
class PeerResponse:
    index: int  # which client request it answers
    status: int


@dataclass(frozen=True)
class TuRequest:
    method: str
    transport: str


@dataclass(frozen=True)
class TuAnswer:
    index: int  # which unanswered server transaction
    status: int


@dataclass(frozen=True)
class Advance:
    seconds: float


@dataclass(frozen=True)
class TransportFailure:
    index: int  # which client transaction


Operation = PeerRequest | PeerResponse | TuRequest | TuAnswer | Advance | TransportFailure

peer_request = st.builds(
    PeerRequest,
    st.sampled_from(METHODS),
    st.integers(0, 3),
    st.booleans(),
    TRANSPORTS,
    st.sampled_from([None, "t1", "t2"]),
)
peer_response = st.builds(
    PeerResponse, st.integers(0, 7), st.sampled_from([100, 180, 200, 302, 486, 503])
)
tu_request = st.builds(TuRequest, st.sampled_from(["INVITE", "OPTIONS", "CANCEL"]), TRANSPORTS)
tu_answer = st.builds(TuAnswer, st.integers(0, 7), st.sampled_from([180, 200, 404, 487]))
advance = st.builds(Advance, st.floats(0.0, 40.0, allow_nan=False))
transport_error = st.builds(TransportFailure, st.integers(0, 7))
operations: st.SearchStrategy[list[Operation]] = st.lists(
    st.one_of(
        peer_request, peer_request, peer_response, tu_request, tu_answer, tu_answer, advance,
        transport_error,
    ),
    min_size=15,
    max_size=60,
)  # fmt: skip


def peer_bytes(method: str, branch: int, cookie: bool, transport: str, to_tag: str | None) -> bytes:
    via_branch = f";branch={'z9hG4bK' if cookie else 'old'}-{branch}"
    to = "<sip:122@hotline.example>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} sip:122@hotline.example SIP/2.0",
        f"Via: SIP/2.0/{transport} 198.51.100.1:5060{via_branch}",
        "Max-Forwards: 70",
        "From: <sip:c@198.51.100.1>;tag=c",
        f"To: {to}",
        f"Call-ID: in-{branch}",
        f"CSeq: 1 {method}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response_bytes(request: bytes, status: int) -> bytes:
    head = request.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]
    kept = [
        line
        for line in head
        if line.split(b":")[0] in (b"Via", b"From", b"To", b"Call-ID", b"CSeq")
    ]
    lines = [f"SIP/2.0 {status} X".encode(), *(
        line + b";tag=u" if line.startswith(b"To:") and status > 100 else line for line in kept
    ), b"Content-Length: 0"]  # fmt: skip
    return b"\r\n".join(lines) + b"\r\n\r\n"


class Harness:
    """A TU that answers what it is asked and cancels what rings forever."""

    def __init__(self) -> None:
        self.layer = TransactionLayer(TimerConfig())
        self.now = 0.0
        self.unanswered: dict[ServerTransactionId, SipRequest] = {}
        self.clients: list[tuple[ClientTransactionId, SipRequest, bytes, Peer]] = []
        self.cancelled: set[ClientTransactionId] = set()
        self.count = 0

    def drain(self) -> None:
        self.layer.datagrams_to_send()
        while (event := self.layer.next_event()) is not None:
            if isinstance(event, RequestReceived):
                self.unanswered[event.txn_id] = event.request
            elif isinstance(event, CancelReceived):
                assert event.txn_id in self.unanswered

    def answer(self, sid: ServerTransactionId, status: int) -> None:
        request = self.unanswered[sid]
        if request.method != "INVITE" and status == 487:
            status = 200
        self.layer.send_response(sid, make_response(request, status, to_tag="uas"), self.now)
        if status >= 200:
            del self.unanswered[sid]

    def start(self, method: str, transport: str) -> None:
        peer = PEERS[transport]
        if method == "CANCEL":
            ringing = [
                c for c in self.clients if c[1].method == "INVITE" and c[0] not in self.cancelled
            ]
            if not ringing:
                return
            invite_tid, invite, _, peer = ringing[-1]
            request = build_cancel(invite)
            tid = self.layer.send_request(request, peer, self.now)  # refused in Calling (§9.1)
            self.cancelled.add(invite_tid)
            self.clients.append((tid, request, bytes(request), peer))
            return
        self.count += 1
        request = outgoing(method, self.count, transport)
        tid = self.layer.send_request(request, peer, self.now)
        self.clients.append((tid, request, bytes(request), peer))

    def step(self, op: Operation) -> None:
        layer = self.layer
        if isinstance(op, PeerRequest):
            data = peer_bytes(op.method, op.branch, op.cookie, op.transport, op.to_tag)
            layer.receive_datagram(data, PEERS[op.transport], self.now)
        elif isinstance(op, PeerResponse) and self.clients:
            _, _, sent, peer = self.clients[op.index % len(self.clients)]
            layer.receive_datagram(response_bytes(sent, op.status), peer, self.now)
        elif isinstance(op, TuRequest):
            self.start(op.method, op.transport)
        elif isinstance(op, TuAnswer) and self.unanswered:
            sids = sorted(self.unanswered)
            self.answer(sids[op.index % len(sids)], op.status)
        elif isinstance(op, Advance):
            self.now += op.seconds
            layer.handle_timer(self.now)
        elif isinstance(op, TransportFailure) and self.clients:
            layer.report_transport_error(self.clients[op.index % len(self.clients)][0], self.now)
        self.drain()

    def finish(self) -> None:
        """Answer everything, cancel what rings, then stay idle for 64*T1 + T4."""
        for sid in sorted(self.unanswered):
            self.answer(sid, 486)
        for tid, request, _, _ in list(self.clients):
            ringing = self.layer.state_of(tid) is TransactionState.PROCEEDING
            if request.method == "INVITE" and tid not in self.cancelled and ringing:
                self.cancelled.add(tid)
                self.layer.send_request(build_cancel(request), PEERS["UDP"], self.now)
        self.drain()
        end = self.now + 64 * 0.5 + 5.0
        while (deadline := self.layer.get_timer()) is not None and deadline <= end:
            self.layer.handle_timer(deadline)
            self.drain()


@settings(max_examples=200, deadline=None)
@given(operations)
def test_random_interleavings_never_raise_and_every_transaction_ends(
    ops: list[Operation],
) -> None:
    harness = Harness()
    refused: list[tuple[Operation, str]] = []
    for op in ops:
        try:
            harness.step(op)
        except LocalProtocolError as exc:  # the TU may be refused, never the peer
            refused.append((op, str(exc)))
    # The only refusal: a CANCEL before any provisional response (§9.1).
    assert all(isinstance(op, TuRequest) and "Calling" in why for op, why in refused)
    harness.finish()
    layer = harness.layer
    assert layer.live_transactions == 0
    assert layer.pending_2xx == 0
    assert layer.get_timer() is None


def test_transition_tables_use_rfc_names() -> None:
    from hotline.sip.txn_tables import TABLES

    names = {t.target.value for table in TABLES.values() for t in table.values()}
    assert names <= {
        "Calling",
        "Trying",
        "Proceeding",
        "Completed",
        "Confirmed",
        "Accepted",
        "Terminated",
    }
    assert all(isinstance(t, Transition) for table in TABLES.values() for t in table.values())
