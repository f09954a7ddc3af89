"""The SIP transaction layer, sans-IO (RFC 3261 §17, §9, §13.3.1.4; RFC 6026 §7).

:class:`TransactionLayer` holds every client and server transaction of an
endpoint.  It reads no clock and opens no socket (the aioquic/h11 shape)::

    layer.receive(message, source, now)       # or receive_datagram(data, source, now)
    while (event := layer.next_event()) is not None:
        ...                                   # the TU reacts: send_response, send_request
    for data, peer in layer.datagrams_to_send():
        transport.send(data, peer)
    deadline = layer.get_timer()              # re-arm one timer; when due:
    layer.handle_timer(now)

The four state machines are the tables of :mod:`hotline.sip.txn_tables`.
Every message is serialised once; retransmissions reuse its bytes.
Retransmitted requests are matched with the top Via only (the RFC 2543 rule
also reads To, From, Call-ID and CSeq) and never reach the TU.  The layer
answers CANCEL itself (200, or 481 when nothing matches, §9.2), sends 100
Trying for INVITE (§17.2.1), and retransmits a 2xx to INVITE until its ACK
arrives (the UAS core's duty in §13.3.1.4, kept here).  Responses go back to
the packet's source (RFC 3581 symmetric routing; on streams, the same
connection, §18.2.2).  When ``max_transactions`` are alive, new requests are
answered 503 without state.
"""

from __future__ import annotations

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_response
from hotline.sip.msg_parse import parse_message
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.txn_engine import (
    TransactionEngine,
    TransactionRecord,
    dialog_key,
    new_tag,
    response_input,
)
from hotline.sip.txn_match import (
    BranchKey,
    ClientKey,
    ServerKey,
    build_ack_for_non_2xx,
    build_cancel,
    client_key,
    legacy_ack_key,
    server_key,
)
from hotline.sip.txn_model import (
    AckReceived,
    ClientTransactionId,
    DialogKey,
    RequestReceived,
    ServerTransactionId,
    StrayResponse,
    TimerConfig,
    TransactionKind,
    new_branch,
)
from hotline.sip.txn_tables import TransactionInput

__all__ = [
    "Peer",
    "TimerConfig",
    "TransactionLayer",
    "TransportKind",
    "build_ack_for_non_2xx",
    "build_cancel",
]

_I = TransactionInput


class TransactionLayer(TransactionEngine):
    """Every transaction of one SIP endpoint: the public inputs and the matching.

    ``TransactionLayer(config, *, max_transactions=100_000, send_100_trying=True)``;
    outputs, timers and introspection come from
    :class:`~hotline.sip.txn_engine.TransactionEngine`.
    """

    # -- inputs from the network ---------------------------------------------------------

    def receive(self, message: SipRequest | SipResponse, source: Peer, now: float) -> None:
        """Feed one parsed message from ``source``.

        A request whose Via, To, From, Call-ID or CSeq cannot be read raises
        ``RemoteProtocolError`` (the driver answers 400 without state); a
        response that matches nothing becomes :class:`StrayResponse`.
        """
        if isinstance(message, SipResponse):
            self._receive_response(message, source, now)
        else:
            self._receive_request(message, source, now, None)

    def receive_datagram(self, data: bytes, source: Peer, now: float) -> None:
        """Feed one datagram; a byte-identical retransmission is absorbed before parsing.

        Parse errors propagate as ``SipParseError`` (a ``RemoteProtocolError``).
        """
        txn = self._raw.get(data)
        if txn is not None:
            self._apply(txn, _I.REQUEST_RETRANSMISSION, now)
            return
        message = parse_message(data)
        if isinstance(message, SipResponse):
            self._receive_response(message, source, now)
        else:
            self._receive_request(message, source, now, data)

    def report_transport_error(
        self, txn_id: ClientTransactionId | ServerTransactionId, now: float
    ) -> None:
        """The driver could not send for this transaction (§17.1.4, §17.2.4)."""
        txn = self._client.get(txn_id) or self._server.get(txn_id)
        if txn is None:
            self.stats.ignored_inputs += 1
            return
        self._apply(txn, _I.TRANSPORT_ERROR, now)

    def report_peer_unreachable(self, peer: Peer, now: float) -> None:
        """Sending to ``peer`` failed: every transaction talking to it gets a transport error."""
        for txn in [t for t in (*self._client.values(), *self._server.values()) if t.peer == peer]:
            self._apply(txn, _I.TRANSPORT_ERROR, now)

    # -- inputs from the TU --------------------------------------------------------------

    def send_request(self, request: SipRequest, dest: Peer, now: float) -> ClientTransactionId:
        """Start a client transaction for ``request`` (not ACK) towards ``dest``.

        A top Via without branch gets a fresh ``z9hG4bK`` one (written into
        ``request``); a CANCEL keeps the INVITE's branch (§9.1) and restarts
        Timer B of that INVITE, so it is given up 64*T1 later without a final
        response.  Raises ``LocalProtocolError`` on misuse (a CANCEL before any
        provisional response, §9.1, included) and ``LimitExceededError``
        (status_hint 503) past ``max_transactions``.
        """
        method = request.method
        if method == "ACK":
            raise LocalProtocolError("ACK is not a transaction: use send_stateless (§17.1.1.3)")
        try:
            via = request.top_via
            cseq_method = request.cseq.method
        except RemoteProtocolError as exc:
            raise LocalProtocolError(f"cannot send this request: {exc}") from None
        if cseq_method != method:
            raise LocalProtocolError(f"CSeq method {cseq_method} differs from {method}")
        branch = via.branch
        if branch is None:
            branch = new_branch()
            request.headers.replace_first_value("Via", str(via.with_param("branch", branch)))
        elif not via.has_rfc3261_branch:
            raise LocalProtocolError(f"branch {branch!r} lacks the z9hG4bK cookie (§8.1.1.7)")
        key = ClientKey(branch, method)
        if key in self._client_keys:
            raise LocalProtocolError(f"a {method} client transaction with branch {branch} exists")
        invite = self._client_keys.get(ClientKey(branch, "INVITE")) if method == "CANCEL" else None
        if invite is not None:
            self._check_tu_input(invite, _I.CANCEL_SENT)  # not in Calling (§9.1)
        self._check_capacity()
        kind = (
            TransactionKind.INVITE_CLIENT
            if method == "INVITE"
            else TransactionKind.NON_INVITE_CLIENT
        )
        data = bytes(request)
        txn = self._create(kind, dest, request, key, dest.transport.reliable, now, data)
        self._client[txn.txn_id] = txn
        self._client_keys[key] = txn
        self.stats.client_transactions += 1
        self._out.append((data, dest))
        if invite is not None:
            self._apply(invite, _I.CANCEL_SENT, now)
        return ClientTransactionId(txn.txn_id)

    def send_response(self, txn_id: ServerTransactionId, response: SipResponse, now: float) -> None:
        """Send the TU's ``response`` through server transaction ``txn_id``.

        Raises ``LocalProtocolError`` when the transaction is gone or its
        state forbids the response (a second final response, say).
        """
        txn = self._server.get(txn_id)
        if txn is None:
            raise LocalProtocolError(f"no live server transaction {txn_id}")
        if not 100 <= response.status <= 699:
            raise LocalProtocolError(f"status code {response.status} out of range")
        event = response_input(response.status, from_tu=True)
        if txn.kind is TransactionKind.INVITE_SERVER and event is _I.TU_2XX:
            dialog_key(response)
        self._apply(txn, event, now, response)

    def send_stateless(self, message: SipRequest | SipResponse | bytes, dest: Peer) -> None:
        """Send outside any transaction: the ACK of a 2xx (§13.2.2.4), a stateless reply."""
        self._out.append((message if isinstance(message, bytes) else bytes(message), dest))

    # -- matching --------------------------------------------------------------------

    def _receive_response(self, response: SipResponse, source: Peer, now: float) -> None:
        key = client_key(response)
        txn = None if key is None else self._client_keys.get(key)
        if txn is None:
            self.stats.stray_responses += 1
            self._events.append(StrayResponse(response, source))
            return
        self._apply(txn, response_input(response.status, from_tu=False), now, response)

    def _receive_request(
        self, request: SipRequest, source: Peer, now: float, raw: bytes | None
    ) -> None:
        method = request.method
        if method == "ACK":
            self._receive_ack(request, source, now)
            return
        if method == "CANCEL":
            self._receive_cancel(request, source, now, raw)
            return
        key = server_key(request, method)
        txn = self._server_keys.get(key)
        if txn is not None:
            self._apply(txn, _I.REQUEST_RETRANSMISSION, now)
            return
        txn = self._admit(request, key, source, now, raw)
        if txn is None:
            return
        self._events.append(RequestReceived(ServerTransactionId(txn.txn_id), request, source))
        if method == "INVITE" and self._send_100:
            self._apply(txn, _I.TU_1XX, now, make_response(request, 100))

    def _receive_ack(self, request: SipRequest, source: Peer, now: float) -> None:
        to_tag = request.to.tag
        if to_tag is not None:
            pending = self._pending_2xx.get(DialogKey(request.call_id, request.cseq.number, to_tag))
            if pending is not None:
                self._apply_2xx(pending, _I.ACK, now)
        txn = self._match_ack(request, to_tag)
        if txn is None:
            self._events.append(AckReceived(request, source))
            return
        self._apply(txn, _I.ACK, now, request, source)

    def _match_ack(self, request: SipRequest, to_tag: str | None) -> TransactionRecord | None:
        key = server_key(request, "INVITE")
        if isinstance(key, BranchKey):
            return self._server_keys.get(key)
        txn = self._legacy_acks.get(legacy_ack_key(request))
        if txn is None or txn.last_response is None or txn.last_response.status < 200:
            return None
        try:
            sent_tag = txn.last_response.to.tag
        except RemoteProtocolError:
            return None
        return txn if sent_tag == to_tag else None

    def _receive_cancel(
        self, request: SipRequest, source: Peer, now: float, raw: bytes | None
    ) -> None:
        key = server_key(request, "CANCEL")
        txn = self._server_keys.get(key)
        if txn is not None:
            self._apply(txn, _I.REQUEST_RETRANSMISSION, now)
            return
        invite = self._server_keys.get(server_key(request, "INVITE"))
        txn = self._admit(request, key, source, now, raw)
        if txn is None:
            return
        if invite is None:
            self.stats.unmatched_cancels += 1
            self._apply(txn, _I.TU_300_699, now, make_response(request, 481, to_tag=new_tag()))
            return
        to_tag = self._sent_to_tag(invite) or new_tag()
        self._apply(txn, _I.TU_2XX, now, make_response(request, 200, to_tag=to_tag))
        self._apply(invite, _I.CANCEL, now, request)

    @staticmethod
    def _sent_to_tag(txn: TransactionRecord) -> str | None:
        """The To tag already sent for ``txn``, reused for the 200 to CANCEL (§9.2)."""
        if txn.last_response is None:
            return None
        try:
            return txn.last_response.to.tag
        except RemoteProtocolError:
            return None

    def _admit(
        self, request: SipRequest, key: ServerKey, source: Peer, now: float, raw: bytes | None
    ) -> TransactionRecord | None:
        """A new server transaction, or None after a stateless 503 when full."""
        if self.live_transactions >= self._max:
            self.stats.overload_rejections += 1
            self._out.append((bytes(make_response(request, 503, to_tag=new_tag())), source))
            return None
        return self._new_server(request, key, source, now, raw)
