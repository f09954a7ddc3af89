"""The SIP endpoint: transports + transaction layer + registrar + auth, driven by asyncio.

The thin driver of architecture.md: it feeds datagrams and stream messages
into :class:`~hotline.sip.transaction.TransactionLayer`, hands transaction
events to the right handler, sends what the layer returns and re-arms ONE
loop timer for all transactions, the registrar and the application.

What it answers by itself (issue "SIP stack", items 6–8):

- malformed requests → the parser's status hint (400, 505, 416, 513) when
  enough of the request was read to answer, else silence;
- ``Max-Forwards: 0`` → 483; an unsupported ``Require`` → 420 with Unsupported;
  a method we know but do not serve (MESSAGE, SUBSCRIBE, PUBLISH) → 405, any
  other unknown method → 501, both with Allow;
- OPTIONS outside a dialog → 200 with Allow/Accept/Supported (the same for every
  Request-URI user: nothing to enumerate);
- REGISTER → digest challenge, then the registrar;
- INVITE and in-dialog requests → the application (:class:`SipApplication`),
  after digest or trusted-trunk admission for a new INVITE.

A banned source (too many failed digests) and an untrusted source over its
request rate are dropped before parsing.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import structlog

from hotline.core.clock import Clock
from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.auth import AuthDecision, AuthOutcome, RateLimiter, SipAuthPolicy
from hotline.sip.framing import is_keepalive_datagram
from hotline.sip.headers import Headers
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_response
from hotline.sip.msg_parse import SipParseError
from hotline.sip.peer import Peer
from hotline.sip.registrar import BindingChanged, Registrar
from hotline.sip.trace import SipTracer
from hotline.sip.transaction import TransactionLayer
from hotline.sip.transport import SipTransport, TransportLimits
from hotline.sip.txn_model import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    ClientTransactionId,
    RequestReceived,
    ResponseReceived,
    ServerTransactionId,
    StrayResponse,
    TimerConfig,
    TransactionTimedOut,
    TransportError,
)
from hotline.sip.uri import SipUri

__all__ = ["EndpointConfig", "EndpointStats", "SipApplication", "SipEndpoint"]

log = structlog.get_logger("hotline.sip.endpoint")

#: Methods we serve; the rest of the well-known ones get 405, anything else 501.
ALLOWED_METHODS = (
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "REFER",
    "NOTIFY", "PRACK",
)  # fmt: skip
KNOWN_UNSERVED = frozenset({"MESSAGE", "SUBSCRIBE", "PUBLISH"})
SUPPORTED = ("replaces", "timer", "100rel")
ALLOW_HEADER = ", ".join(ALLOWED_METHODS)


class SipApplication(Protocol):
    """What sits above the endpoint: call control (or a test user agent)."""

    def on_invite(
        self,
        endpoint: SipEndpoint,
        txn_id: ServerTransactionId,
        request: SipRequest,
        source: Peer,
        admitted: AuthDecision,
    ) -> None:
        """A new INVITE that passed admission; answer through ``endpoint.respond``."""
        ...

    def on_in_dialog(
        self, endpoint: SipEndpoint, txn_id: ServerTransactionId, request: SipRequest, source: Peer
    ) -> None:
        """A request carrying a To tag (BYE, re-INVITE, INFO, REFER, ...)."""
        ...

    def on_ack(self, endpoint: SipEndpoint, request: SipRequest, source: Peer) -> None: ...

    def on_cancel(self, endpoint: SipEndpoint, txn_id: ServerTransactionId) -> None:
        """The INVITE of ``txn_id`` was cancelled: answer it 487."""
        ...

    def on_response(
        self, endpoint: SipEndpoint, txn_id: ClientTransactionId, response: SipResponse
    ) -> None:
        """A response to a request the application sent (provisional and final)."""
        ...

    def on_ack_timeout(self, endpoint: SipEndpoint, call_id: str, to_tag: str) -> None: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    host: str = "0.0.0.0"  # phones and trunks connect from the network
    port: int = 5060
    tls_port: int | None = None
    tls_context: ssl.SSLContext | None = None
    timers: TimerConfig = field(default_factory=TimerConfig)
    user_agent: str | None = None
    transport_limits: TransportLimits = field(default_factory=TransportLimits)
    max_transactions: int = 100_000
    untrusted_rate_per_s: float = 50.0
    untrusted_burst: float = 200.0


@dataclass(slots=True)
class EndpointStats:
    requests_in: int = 0
    responses_in: int = 0
    parse_errors: int = 0
    dropped_banned: int = 0
    dropped_rate: int = 0
    challenges: int = 0
    auth_ok: int = 0
    registrations: int = 0
    keepalives: int = 0
    by_status_out: dict[int, int] = field(default_factory=dict)


class SipEndpoint:
    """One SIP node endpoint; see the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock,
        config: EndpointConfig,
        auth: SipAuthPolicy,
        registrar: Registrar,
        tracer: SipTracer | None = None,
        on_binding: Callable[[BindingChanged], None] | None = None,
    ) -> None:
        self.clock = clock
        self.config = config
        self.auth = auth
        self.registrar = registrar
        self.tracer = tracer
        self.app: SipApplication | None = None
        self.stats = EndpointStats()
        self.txn = TransactionLayer(config.timers, max_transactions=config.max_transactions)
        self.transport = SipTransport(
            on_datagram=self._on_datagram,
            on_message=self._on_stream_message,
            on_stream_error=self._on_stream_error,
            limits=config.transport_limits,
        )
        self._on_binding = on_binding
        self._pre_rate = RateLimiter(config.untrusted_rate_per_s, config.untrusted_burst)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._accepting = True
        self._callbacks: dict[ClientTransactionId, Callable[[SipResponse], None]] = {}
        self.local_udp: tuple[str, int] | None = None
        self.local_tcp: tuple[str, int] | None = None
        self.local_tls: tuple[str, int] | None = None

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        try:
            # UDP and TCP share one port number. With port 0 (any free port) the
            # number the kernel gave UDP may be taken for TCP: try another one.
            attempts = 20 if cfg.port == 0 else 1
            for attempt in range(attempts):
                self.local_udp = await self.transport.listen_udp(cfg.host, cfg.port)
                try:
                    self.local_tcp = await self.transport.listen_stream(cfg.host, self.local_udp[1])
                    break
                except OSError:
                    await self.transport.unlisten_udp()
                    if attempt == attempts - 1:
                        raise
            if cfg.tls_port is not None and cfg.tls_context is not None:
                self.local_tls = await self.transport.listen_stream(
                    cfg.host, cfg.tls_port, tls=cfg.tls_context
                )
        except OSError:
            await self.transport.close()  # nothing half-open is left behind
            raise
        log.info("sip listening", udp=self.local_udp, tcp=self.local_tcp, tls=self.local_tls)
        self._rearm()

    def refuse_new(self) -> None:
        """New INVITEs get 503 from now on; everything else goes on."""
        self._accepting = False

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.transport.close()
        if self.tracer is not None:
            self.tracer.close()

    # -- wall time for nonces and bindings (they must survive a restart) -------------

    def wall_now(self) -> float:
        return self.clock.utcnow().timestamp()

    # -- input ------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, peer: Peer) -> None:
        if is_keepalive_datagram(data):
            self.stats.keepalives += 1
            return
        now = self.clock.monotonic()
        wall = self.wall_now()
        host = peer.host
        if self.auth.throttle.is_banned(host, wall):
            self.stats.dropped_banned += 1
            return
        if self.auth.trusted.match(host) is None and not self._pre_rate.allow(host, now):
            self.stats.dropped_rate += 1
            return
        if self.tracer is not None and self.tracer.active:
            self.tracer.record("in", data, peer, self._local_name(peer))
        try:
            self.txn.receive_datagram(data, peer, now)
        except SipParseError as exc:
            self._answer_parse_error(exc, peer)
        except RemoteProtocolError as exc:
            self._answer_bad_request(data, exc, peer)
        self._pump()

    def _on_stream_message(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        if self.auth.throttle.is_banned(peer.host, self.wall_now()):
            self.stats.dropped_banned += 1
            return
        if self.tracer is not None and self.tracer.active:
            self.tracer.record("in", bytes(message), peer, self._local_name(peer))
        try:
            self.txn.receive(message, peer, self.clock.monotonic())
        except RemoteProtocolError as exc:
            if isinstance(message, SipRequest):
                self._reply_stateless(message, exc.status_hint, str(exc), peer)
        self._pump()

    def _on_stream_error(self, error: SipParseError, peer: Peer) -> None:
        self._answer_parse_error(error, peer)

    def _answer_parse_error(self, exc: SipParseError, peer: Peer) -> None:
        self.stats.parse_errors += 1
        partial = exc.partial
        log.info("sip parse error", peer=str(peer), error=str(exc), status=exc.status_hint)
        if partial is None:
            return
        self._reply_stateless(partial, exc.status_hint, _reason(str(exc)), peer)

    def _answer_bad_request(self, data: bytes, exc: RemoteProtocolError, peer: Peer) -> None:
        """The transaction layer could not read a mandatory header of a parsed request."""
        self.stats.parse_errors += 1
        from hotline.sip.msg_parse import parse_message

        try:
            message = parse_message(data)
        except RemoteProtocolError:
            return
        if isinstance(message, SipRequest) and message.method != "ACK":
            self._reply_stateless(message, exc.status_hint, _reason(str(exc)), peer)

    def _reply_stateless(self, request: SipRequest, status: int, reason: str, peer: Peer) -> None:
        if request.method == "ACK":
            return
        try:
            response = make_response(request, status, reason, headers=self._common_headers())
        except (RemoteProtocolError, LocalProtocolError):
            return  # not even Via/CSeq readable: nothing to answer to
        if not response.headers.get("Via"):
            return
        self.txn.send_stateless(response, peer)
        self._count_status(status)
        self._flush()

    # -- the pump: events out of the transaction layer ---------------------------------

    def _pump(self) -> None:
        while (event := self.txn.next_event()) is not None:
            if isinstance(event, RequestReceived):
                self._on_request(event.txn_id, event.request, event.source)
            elif isinstance(event, ResponseReceived):
                self.stats.responses_in += 1
                self._deliver_response(event.txn_id, event.response)
            elif isinstance(event, AckReceived):
                if self.app is not None:
                    self.app.on_ack(self, event.request, event.source)
            elif isinstance(event, CancelReceived):
                if self.app is not None:
                    self.app.on_cancel(self, event.txn_id)
                else:
                    self._respond_quietly(event.txn_id, event.request, 487)
            elif isinstance(event, TransactionTimedOut | TransportError):
                self._on_txn_failure(event.txn_id, event)
            elif isinstance(event, AckTimeout):
                if self.app is not None:
                    key = event.dialog_key
                    self.app.on_ack_timeout(self, key.call_id, key.to_tag)
            elif isinstance(event, StrayResponse):
                pass  # counted by the layer; never forwarded
        self._flush()

    def _on_txn_failure(
        self,
        txn_id: ClientTransactionId | ServerTransactionId,
        event: TransactionTimedOut | TransportError,
    ) -> None:
        """A client transaction ended without a final response: deliver a synthetic one."""
        status = 408 if isinstance(event, TransactionTimedOut) else 503
        synthetic = SipResponse(status, "Request Timeout" if status == 408 else "Service Unavailable",
                                _empty_headers(), b"")  # fmt: skip
        self._deliver_response(ClientTransactionId(int(txn_id)), synthetic)

    def _deliver_response(self, txn_id: ClientTransactionId, response: SipResponse) -> None:
        callback = self._callbacks.get(txn_id)
        if callback is not None:
            if response.status >= 200:
                del self._callbacks[txn_id]
            callback(response)
        elif self.app is not None:
            self.app.on_response(self, txn_id, response)

    def _flush(self) -> None:
        for data, peer in self.txn.datagrams_to_send():
            if self.tracer is not None and self.tracer.active:
                self.tracer.record("out", data, peer, self._local_name(peer))
            self.transport.send(data, peer)
        self._rearm()

    # -- timers: one loop timer for the layer, the registrar and the app ---------------

    def _rearm(self) -> None:
        deadlines = [self.txn.get_timer()]
        reg = self.registrar.get_timer()
        if reg is not None:
            # The registrar runs on wall time: convert its deadline to monotonic.
            deadlines.append(self.clock.monotonic() + max(0.0, reg - self.wall_now()))
        if self.app is not None:
            deadlines.append(self.app.get_timer())
        when = min((d for d in deadlines if d is not None), default=None)
        if when == self._timer_at and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, when - self.clock.monotonic())
        self._timer = loop.call_at(loop.time() + delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self.clock.monotonic()
        self.txn.handle_timer(now)
        self.registrar.handle_timer(self.wall_now())
        self._drain_bindings()
        if self.app is not None:
            self.app.handle_timer(now)
        self._pump()

    # -- requests -----------------------------------------------------------------------

    def _on_request(self, txn_id: ServerTransactionId, request: SipRequest, source: Peer) -> None:
        self.stats.requests_in += 1
        try:
            via = request.top_via
            request.headers.replace_first_value(
                "Via", str(via.with_source(source.host, source.port))
            )
        except RemoteProtocolError:
            self._respond_quietly(txn_id, request, 400)
            return
        method = request.method
        max_forwards = _max_forwards(request)
        if max_forwards == 0 and method == "INVITE":
            # We would start a new call leg: treat it as a loop (a UAS answering
            # OPTIONS or REGISTER itself processes them as usual, RFC 4475 §3.3.11).
            self._respond_quietly(txn_id, request, 483)
            return
        if method not in ALLOWED_METHODS:
            status = 405 if method in KNOWN_UNSERVED else 501
            self._respond_quietly(txn_id, request, status, headers=[("Allow", ALLOW_HEADER)])
            return
        try:
            required = request.require()
        except RemoteProtocolError:
            required = ()
        unsupported = [r for r in required if r.lower() not in SUPPORTED]
        if unsupported and method not in ("ACK", "CANCEL"):
            self._respond_quietly(
                txn_id, request, 420, headers=[("Unsupported", ", ".join(unsupported))]
            )
            return
        try:
            in_dialog = request.to.tag is not None
        except RemoteProtocolError:
            self._respond_quietly(txn_id, request, 400)
            return
        if in_dialog and method not in ("REGISTER", "OPTIONS"):
            if self.app is not None:
                self.app.on_in_dialog(self, txn_id, request, source)
            else:
                self._respond_quietly(txn_id, request, 481)
            return
        if method == "OPTIONS":
            self._answer_options(txn_id, request)
        elif method == "REGISTER":
            self._on_register(txn_id, request, source)
        elif method == "INVITE":
            self._on_invite(txn_id, request, source)
        else:
            # BYE, INFO, UPDATE, PRACK, NOTIFY, REFER outside a dialog.
            self._respond_quietly(txn_id, request, 481)

    def _answer_options(self, txn_id: ServerTransactionId, request: SipRequest) -> None:
        self._respond_quietly(
            txn_id,
            request,
            200,
            headers=[
                ("Allow", ALLOW_HEADER),
                ("Accept", "application/sdp"),
                ("Supported", ", ".join(SUPPORTED)),
            ],
        )

    def _admit(
        self, txn_id: ServerTransactionId, request: SipRequest, source: Peer, *, allow_trusted: bool
    ) -> AuthDecision | None:
        decision = self.auth.check(request, source, self.wall_now(), allow_trusted=allow_trusted)
        outcome = decision.outcome
        if outcome in (AuthOutcome.TRUSTED, AuthOutcome.AUTHENTICATED):
            self.stats.auth_ok += 1
            return decision
        if outcome is AuthOutcome.CHALLENGE:
            self.stats.challenges += 1
            headers = [("WWW-Authenticate", c) for c in decision.challenges]
            self._respond_quietly(txn_id, request, 401, headers=headers, tag=True)
        elif outcome is AuthOutcome.BAD_REQUEST:
            self._respond_quietly(txn_id, request, 400)
        else:
            # A ban began with this request: one final answer, then silence.
            log.warning("sip source banned after failed digests", source=source.host)
            self._respond_quietly(txn_id, request, 403, tag=True)
        return None

    def _on_register(self, txn_id: ServerTransactionId, request: SipRequest, source: Peer) -> None:
        if not isinstance(request.to.uri, SipUri):
            # An address of record is a SIP or SIPS URI (§10.3 step 3; RFC 4475 §3.3.4).
            self._respond_quietly(txn_id, request, 400, "Bad Request: To is not a SIP URI")
            return
        decision = self._admit(txn_id, request, source, allow_trusted=False)
        if decision is None or decision.user is None:
            return
        try:
            outcome = self.registrar.register(request, decision.user, source, self.wall_now())
        except RemoteProtocolError as exc:
            self._respond_quietly(txn_id, request, exc.status_hint, _reason(str(exc)))
            return
        self._drain_bindings()
        headers: list[tuple[str, str]] = []
        if outcome.status == 200:
            self.stats.registrations += 1
            now = self.wall_now()
            headers.extend(
                ("Contact", f"<{b.contact}>;expires={b.remaining_s(now)}") for b in outcome.bindings
            )
            headers.append(("Date", _http_date(self.clock.utcnow())))
        elif outcome.status == 423 and outcome.min_expires_s is not None:
            headers.append(("Min-Expires", str(outcome.min_expires_s)))
        self._respond_quietly(
            txn_id, request, outcome.status, outcome.reason, headers=headers, tag=True
        )

    def _drain_bindings(self) -> None:
        while (change := self.registrar.next_change()) is not None:
            if self._on_binding is not None:
                self._on_binding(change)

    def _on_invite(self, txn_id: ServerTransactionId, request: SipRequest, source: Peer) -> None:
        content_type = request.content_type
        if request.body and (content_type or "").split(";")[0].strip().lower() != "application/sdp":
            # RFC 3261 §21.4.13 / RFC 4475 §3.3.6: say what we understand.
            self._respond_quietly(
                txn_id, request, 415, headers=[("Accept", "application/sdp")], tag=True
            )
            return
        if not self._accepting:
            self._respond_quietly(txn_id, request, 503, headers=[("Retry-After", "30")], tag=True)
            return
        decision = self._admit(txn_id, request, source, allow_trusted=True)
        if decision is None:
            return
        if self.app is None:
            self._respond_quietly(txn_id, request, 480, tag=True)
            return
        self.app.on_invite(self, txn_id, request, source, decision)

    # -- output helpers for the application ----------------------------------------------

    def _common_headers(self) -> list[tuple[str, str]]:
        return [("Server", self.config.user_agent)] if self.config.user_agent else []

    def respond(self, txn_id: ServerTransactionId, response: SipResponse) -> None:
        """Send the application's response through its server transaction."""
        if self.config.user_agent and response.headers.get("Server") is None:
            response.headers.add("Server", self.config.user_agent)
        self.txn.send_response(txn_id, response, self.clock.monotonic())
        self._count_status(response.status)
        self._flush()

    def _respond_quietly(
        self,
        txn_id: ServerTransactionId,
        request: SipRequest,
        status: int,
        reason: str | None = None,
        *,
        headers: list[tuple[str, str]] | None = None,
        tag: bool = False,
    ) -> None:
        from hotline.sip.dialog import new_tag

        response = make_response(
            request,
            status,
            reason,
            to_tag=new_tag() if tag or status >= 200 else None,
            headers=[*(headers or []), *self._common_headers()],
        )
        try:
            self.txn.send_response(txn_id, response, self.clock.monotonic())
        except LocalProtocolError:
            return  # the transaction is gone (e.g. answered already)
        self._count_status(status)

    def request(
        self,
        request: SipRequest,
        peer: Peer,
        on_response: Callable[[SipResponse], None] | None = None,
    ) -> ClientTransactionId:
        """Start a client transaction.

        Responses go to ``on_response`` when given (a synthetic 408/503 when
        the transaction times out or cannot be sent), else to ``app.on_response``.
        """
        if self.config.user_agent and request.headers.get("User-Agent") is None:
            request.headers.add("User-Agent", self.config.user_agent)
        txn_id = self.txn.send_request(request, peer, self.clock.monotonic())
        if on_response is not None:
            self._callbacks[txn_id] = on_response
        self._flush()
        return txn_id

    def send_stateless(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        """Send outside a transaction (the ACK of a 2xx)."""
        self.txn.send_stateless(message, peer)
        self._flush()

    def poke(self) -> None:
        """The application changed its timers or queued output: flush and re-arm."""
        self._flush()

    def _count_status(self, status: int) -> None:
        self.stats.by_status_out[status] = self.stats.by_status_out.get(status, 0) + 1

    def _local_name(self, peer: Peer) -> str:
        local = self.transport.local_addresses.get(peer.transport)
        return f"{peer.transport.value.lower()}:{local[0]}:{local[1]}" if local else "?"


def _max_forwards(request: SipRequest) -> int | None:
    try:
        return request.max_forwards
    except RemoteProtocolError:
        return None


def _reason(text: str) -> str:
    """A reason phrase from an error text: one line, printable, bounded."""
    clean = "".join(c if c.isprintable() else " " for c in text)
    return ("Bad Request: " + clean)[:120] if clean else "Bad Request"


def _http_date(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _empty_headers() -> Headers:
    return Headers()
