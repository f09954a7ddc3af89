"""Call legs over the endpoint: INVITE sessions driven by asyncio (layer L2).

:class:`UserAgent` is the endpoint's :class:`~hotline.sip.endpoint.SipApplication`.
It keeps one :class:`~hotline.sip.dlg_session.InviteSession` per call leg,
feeds it what the transaction layer delivers, sends what it asks for, and
hands its events to a :class:`LegHandler` (call control, or a test's
answering machine).  Legs are found by (Call-ID, our tag); session timers sit
in one heap, so the endpoint re-arms a single loop timer.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.sip.auth import AuthDecision
from hotline.sip.dialog import new_tag
from hotline.sip.dlg_events import DialogTerminated, SessionEvent
from hotline.sip.dlg_session import InviteSession
from hotline.sip.dlg_session_base import SendRequest, SendResponse, SessionConfig
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_response
from hotline.sip.peer import Peer
from hotline.sip.txn_model import ClientTransactionId, ServerTransactionId
from hotline.sip.uri import SipUri, Uri

__all__ = ["Leg", "LegHandler", "UserAgent"]

log = structlog.get_logger("hotline.sip.ua")


@dataclass(eq=False, slots=True)
class Leg:
    """One call leg: its INVITE session and where its peer is."""

    leg_id: int
    session: InviteSession
    peer: Peer
    local_tag: str
    admitted: AuthDecision | None = None
    user_data: dict[str, object] = field(default_factory=dict)

    @property
    def call_id(self) -> str:
        return self.session.call_id


class LegHandler(Protocol):
    """Call control above the user agent."""

    def on_incoming(self, ua: UserAgent, leg: Leg, offer: bytes | None) -> None:
        """A new INVITE: ring, answer or reject ``leg``."""
        ...

    def on_event(self, ua: UserAgent, leg: Leg, event: SessionEvent) -> None:
        """Anything else the leg's session reports (confirmed, BYE, hold, INFO, ...)."""
        ...


class UserAgent:
    """Drives every INVITE session of the node through one endpoint."""

    def __init__(
        self, endpoint: SipEndpoint, handler: LegHandler, *, max_legs: int = 10_000
    ) -> None:
        self.endpoint = endpoint
        self.handler = handler
        self.max_legs = max_legs
        local = endpoint.local_udp or (endpoint.config.host, endpoint.config.port)
        self.config = SessionConfig(
            via_sent_by=f"{local[0]}:{local[1]}",
            t1_s=endpoint.config.timers.t1,
            user_agent=endpoint.config.user_agent,
        )
        self._legs: dict[tuple[str, str], Leg] = {}
        self._server_txn: dict[int, ServerTransactionId] = {}  # id(request) -> txn
        self._client_txn: dict[ClientTransactionId, tuple[Leg, SipRequest]] = {}
        self._timers: list[tuple[float, int]] = []
        self._by_id: dict[int, Leg] = {}
        self._ids = itertools.count(1)
        self.legs_created = 0
        self.legs_ended = 0
        endpoint.app = self

    # -- public --------------------------------------------------------------------------

    @property
    def active_legs(self) -> int:
        return len(self._by_id)

    def contact(self) -> NameAddr:
        host, port = self.endpoint.local_udp or (
            self.endpoint.config.host,
            self.endpoint.config.port,
        )
        return NameAddr(SipUri(host=host, port=port, user="hotline"))

    def call(
        self,
        request_uri: Uri,
        peer: Peer,
        *,
        from_: NameAddr,
        to: NameAddr,
        offer: bytes | None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> Leg:
        """Start an outgoing call leg (the INVITE goes out now)."""
        if len(self._by_id) >= self.max_legs:
            raise LimitExceededError("too many call legs", status_hint=503)
        tag = new_tag()
        session = InviteSession.outgoing(
            now=self._now(),
            config=self.config,
            request_uri=request_uri,
            from_=from_,
            to=to,
            contact=self.contact(),
            body=offer,
            local_tag=tag,
            extra_headers=extra_headers,
        )
        leg = self._add(session, peer, tag, None)
        self._drive(leg)
        return leg

    def ring(self, leg: Leg) -> None:
        leg.session.ring(self._now())
        self._drive(leg)

    def answer(self, leg: Leg, sdp: bytes) -> None:
        leg.session.answer(self._now(), sdp)
        self._drive(leg)

    def reject(self, leg: Leg, status: int = 486) -> None:
        leg.session.reject(self._now(), status)
        self._drive(leg)

    def hang_up(self, leg: Leg) -> None:
        leg.session.hang_up(self._now())
        self._drive(leg)

    def send_ack(self, leg: Leg, sdp: bytes) -> None:
        leg.session.send_ack(self._now(), sdp)
        self._drive(leg)

    def act(self, leg: Leg) -> None:
        """Flush after the caller used ``leg.session`` directly (reinvite, refer, ...)."""
        self._drive(leg)

    # -- SipApplication -------------------------------------------------------------------

    def on_invite(
        self,
        endpoint: SipEndpoint,
        txn_id: ServerTransactionId,
        request: SipRequest,
        source: Peer,
        admitted: AuthDecision,
    ) -> None:
        if len(self._by_id) >= self.max_legs:
            endpoint.respond(txn_id, make_response(request, 503, to_tag=new_tag()))
            return
        tag = new_tag()
        self._server_txn[id(request)] = txn_id
        session = InviteSession.incoming(
            request,
            now=self._now(),
            config=self.config,
            local_contact=self.contact(),
            local_tag=tag,
        )
        leg = self._add(session, source, tag, admitted)
        offer: bytes | None = None
        refused = session.finished
        if not refused:
            event = session.next_event()
            offer = getattr(event, "offer", None)
        if refused:
            self._drive(leg)
            return
        self.handler.on_incoming(self, leg, offer)
        self._drive(leg)

    def on_in_dialog(
        self, endpoint: SipEndpoint, txn_id: ServerTransactionId, request: SipRequest, source: Peer
    ) -> None:
        leg = self._legs.get((request.call_id, request.to.tag or ""))
        if leg is None:
            endpoint.respond(txn_id, make_response(request, 481))
            return
        self._server_txn[id(request)] = txn_id
        leg.session.receive_request(request, self._now())
        self._drive(leg)

    def on_ack(self, endpoint: SipEndpoint, request: SipRequest, source: Peer) -> None:
        try:
            leg = self._legs.get((request.call_id, request.to.tag or ""))
        except RemoteProtocolError:
            return
        if leg is not None:
            leg.session.receive_request(request, self._now())
            self._drive(leg)

    def on_cancel(self, endpoint: SipEndpoint, txn_id: ServerTransactionId) -> None:
        for leg in self._by_id.values():
            if self._server_txn.get(id(leg.session.invite)) == txn_id and not leg.session.is_uac:
                leg.session.receive_cancel(self._now())
                self._drive(leg)
                return

    def on_response(
        self, endpoint: SipEndpoint, txn_id: ClientTransactionId, response: SipResponse
    ) -> None:
        entry = self._client_txn.get(txn_id)
        if entry is None:
            return
        leg, request = entry
        if response.status >= 200:
            del self._client_txn[txn_id]
        if response.status in (408, 503) and not response.headers.get("Via"):
            leg.session.request_failed(request, self._now())  # synthesised by the endpoint
        else:
            leg.session.receive_response(response, self._now())
        self._drive(leg)

    def on_ack_timeout(self, endpoint: SipEndpoint, call_id: str, to_tag: str) -> None:
        leg = self._legs.get((call_id, to_tag))
        if leg is not None:
            leg.session.ack_timeout(self._now())
            self._drive(leg)

    def get_timer(self) -> float | None:
        while self._timers:
            when, leg_id = self._timers[0]
            leg = self._by_id.get(leg_id)
            if leg is not None and leg.session.get_timer() == when:
                return when
            heapq.heappop(self._timers)  # stale
        return None

    def handle_timer(self, now: float) -> None:
        while self._timers and self._timers[0][0] <= now:
            when, leg_id = heapq.heappop(self._timers)
            leg = self._by_id.get(leg_id)
            if leg is None or leg.session.get_timer() != when:
                continue
            leg.session.handle_timer(now)
            self._drive(leg)

    # -- internals ---------------------------------------------------------------------------

    def _now(self) -> float:
        return self.endpoint.clock.monotonic()

    def _add(
        self, session: InviteSession, peer: Peer, tag: str, admitted: AuthDecision | None
    ) -> Leg:
        leg = Leg(next(self._ids), session, peer, tag, admitted)
        self._legs[(session.call_id, tag)] = leg
        self._by_id[leg.leg_id] = leg
        self.legs_created += 1
        return leg

    def _drive(self, leg: Leg) -> None:
        """Send what the session asks for, pass its events up, re-arm its timer."""
        session = leg.session
        while True:
            outputs = session.messages_to_send()
            for out in outputs:
                self._send(leg, out)
            event = session.next_event()
            if event is None and not outputs:
                break
            if event is not None:
                if isinstance(event, DialogTerminated):
                    self._forget(leg)
                self.handler.on_event(self, leg, event)
        when = session.get_timer()
        if when is not None and leg.leg_id in self._by_id:
            heapq.heappush(self._timers, (when, leg.leg_id))
        self.endpoint.poke()

    def _send(self, leg: Leg, out: SendRequest | SendResponse) -> None:
        if isinstance(out, SendResponse):
            txn_id = self._server_txn.get(id(out.request))
            if txn_id is None:
                log.warning("no server transaction for a response", status=out.response.status)
                return
            try:
                self.endpoint.respond(txn_id, out.response)
            except LocalProtocolError as exc:
                log.info("response not sent", status=out.response.status, error=str(exc))
            if out.response.status >= 200:
                self._server_txn.pop(id(out.request), None)
            return
        request = out.request
        if request.method == "ACK":
            self.endpoint.send_stateless(request, leg.peer)
            return
        try:
            client_txn = self.endpoint.request(request, leg.peer)
        except (LocalProtocolError, LimitExceededError) as exc:
            log.warning("request not sent", method=request.method, error=str(exc))
            leg.session.request_failed(request, self._now())
            return
        self._client_txn[client_txn] = (leg, request)

    def _forget(self, leg: Leg) -> None:
        if self._by_id.pop(leg.leg_id, None) is not None:
            self._legs.pop((leg.call_id, leg.local_tag), None)
            self.legs_ended += 1
            self._server_txn.pop(id(leg.session.invite), None)
