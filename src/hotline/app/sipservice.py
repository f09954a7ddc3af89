"""Wiring of the SIP stack into the node: credentials, trunks, bindings, metrics.

Phones' digest HA1s come from the operators table; trunks' trusted networks
from the trunks table; registrar bindings are restored at start-up and
written back (off the event loop, through one owned writer task) as phones
register, refresh, unregister or expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from hotline.app.settings import Settings
from hotline.calls.trunks import TrunkConfig, registration_config
from hotline.core.clock import Clock
from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.auth import RateLimiter, SipAuthPolicy, TrustedNetworks
from hotline.sip.digest import DigestAlgorithm, DigestServer, FailureThrottle
from hotline.sip.endpoint import EndpointConfig, SipEndpoint
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_response
from hotline.sip.msg_grammar import EMPTY_PARAMS, Params
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.qualify import Qualifier
from hotline.sip.regclient import (
    RegistrationClient,
    RegistrationRunner,
    RegistrationState,
    TimerHandleLike,
)
from hotline.sip.registrar import Binding, BindingChange, BindingChanged, Registrar
from hotline.sip.trace import SipTracer
from hotline.sip.txn_model import TimerConfig
from hotline.sip.uri import SipUri
from hotline.store.accounts import AccountsRepository
from hotline.store.bindings import BindingsRepository, StoredBinding
from hotline.store.db import Database

__all__ = ["SipCollector", "SipService", "TrunkRegistrations"]

log = structlog.get_logger("hotline.sip.service")

UNREGISTER_WAIT_S = 2.0
"""How long stopping waits for the providers to confirm the un-REGISTERs."""

SendRequest = Callable[[SipRequest, Peer, Callable[[SipResponse], None]], object]
LocalAddress = Callable[[TransportKind], "tuple[str, int] | None"]
CallLater = Callable[[float, Callable[[], None]], TimerHandleLike]


@dataclass(frozen=True, slots=True)
class _Registration:
    trunk: TrunkConfig
    runner: RegistrationRunner


class TrunkRegistrations:
    """Keeps the node registered at every provider whose trunk asks for it (RFC 3261 §10.2).

    :meth:`sync` is given the trunks each time they are (re)configured; once
    started, a :class:`RegistrationRunner` per registering trunk sends REGISTER
    through ``send`` (the endpoint's client transactions), answers challenges,
    refreshes before expiry and backs off after failures.  A trunk removed or
    changed is un-registered (``Expires: 0``); :meth:`stop` un-registers all.
    """

    def __init__(
        self,
        send: SendRequest,
        local: LocalAddress,
        now: Callable[[], float],
        call_later: CallLater | None = None,
    ) -> None:
        self._send = send
        self._local = local
        self._now = now
        self._call_later = call_later
        self._wanted: dict[str, TrunkConfig] = {}
        self._active: dict[str, _Registration] = {}
        self._leaving: list[RegistrationClient] = []
        self._started = False
        self.on_settled: Callable[[], None] | None = None
        """Called when the last un-REGISTER is answered (stopping waits for it)."""

    def sync(self, trunks: Iterable[TrunkConfig]) -> None:
        """The trunks as configured now: start, restart or stop registrations to match."""
        self._wanted = {
            t.name: t for t in trunks if t.enabled and t.register and t.credentials is not None
        }
        if self._started:
            self._apply()

    def start(self, call_later: CallLater | None = None) -> None:
        if call_later is not None:
            self._call_later = call_later
        self._started = True
        self._apply()

    def states(self) -> dict[str, RegistrationState]:
        """Each registering trunk's state, by trunk name."""
        return {name: reg.runner.client.state for name, reg in self._active.items()}

    def unregister_all(self) -> None:
        """Send the un-REGISTERs (stop); :meth:`pending` tells when they are answered."""
        self._started = False
        for reg in self._active.values():
            self._leave(reg)
        self._active.clear()

    def pending(self) -> bool:
        """True while an un-REGISTER awaits its answer."""
        self._leaving = [c for c in self._leaving if c.state is RegistrationState.UNREGISTERING]
        return bool(self._leaving)

    def _leave(self, reg: _Registration) -> None:
        reg.runner.stop()
        if reg.runner.client.state is RegistrationState.UNREGISTERING:
            self._leaving.append(reg.runner.client)

    def _apply(self) -> None:
        for name, reg in list(self._active.items()):
            if self._wanted.get(name) != reg.trunk:
                del self._active[name]
                self._leave(reg)
        for name, trunk in self._wanted.items():
            if name in self._active:
                continue
            runner = self._runner(trunk)
            if runner is None:
                continue
            self._active[name] = _Registration(trunk, runner)
            runner.start()
            log.info("trunk registering", trunk=name, registrar=trunk.host)

    def _runner(self, trunk: TrunkConfig) -> RegistrationRunner | None:
        kind = TransportKind(trunk.transport.upper())
        local = self._local(kind)
        if local is None or self._call_later is None or trunk.credentials is None:
            log.warning("trunk not registered: no local address", trunk=trunk.name)
            return None
        host, port = local
        params = (
            EMPTY_PARAMS
            if kind is TransportKind.UDP
            else Params((("transport", kind.value.lower()),))
        )
        contact = SipUri(host=host, port=port, user=trunk.credentials.username, params=params)
        config = registration_config(
            trunk, contact=contact, via_sent_by=f"{host}:{port}", via_transport=kind.value
        )
        if config is None:
            return None
        peer = Peer(kind, trunk.host, trunk.port)
        call_later = self._call_later

        def send(request: SipRequest, on_response: Callable[[SipResponse], None]) -> None:
            def answered(response: SipResponse) -> None:
                on_response(response)
                if self.on_settled is not None and self._leaving and not self.pending():
                    self.on_settled()

            try:
                self._send(request, peer, answered)
            except (LocalProtocolError, RemoteProtocolError, OSError) as exc:
                log.warning("REGISTER not sent", trunk=trunk.name, error=str(exc))
                failed = make_response(request, 503)
                call_later(0.0, lambda: answered(failed))

        return RegistrationRunner(RegistrationClient(config), send, call_later, self._now)


class SipService:
    """The node component that runs the SIP endpoint."""

    name = "sip"

    def __init__(self, settings: Settings, db: Database, clock: Clock, secret: bytes) -> None:
        self._settings = settings
        self._accounts = AccountsRepository(db)
        self._bindings = BindingsRepository(db)
        self._clock = clock
        self._ha1: dict[tuple[str, DigestAlgorithm], str] = {}
        sip = settings.sip
        algorithms = tuple(DigestAlgorithm(a) for a in sip.digest_algorithms)
        self.digest = DigestServer(sip.realm, secret, algorithms=algorithms)
        self.trusted = TrustedNetworks()
        auth = SipAuthPolicy(
            self.digest,
            self._lookup,
            trusted=self.trusted,
            throttle=FailureThrottle(
                max_failures=sip.max_auth_failures,
                window_s=sip.auth_failure_window_s,
                ban_s=sip.ban_s,
            ),
            unauthenticated_rate=RateLimiter(
                sip.unauthenticated_rate_per_s, 3 * sip.unauthenticated_rate_per_s
            ),
        )
        tls: ssl.SSLContext | None = None
        if sip.tls_cert is not None and sip.tls_key is not None:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(sip.tls_cert, sip.tls_key)
        self.tracer = SipTracer(settings.data_dir / "sip-trace.log", clock.utcnow)
        if sip.trace:
            self.tracer.trace_all(True)
        self.endpoint = SipEndpoint(
            clock=clock,
            config=EndpointConfig(
                host=settings.sip_host,
                port=settings.sip_port,
                tls_port=sip.tls_port if tls is not None else None,
                tls_context=tls,
                timers=TimerConfig(t1=sip.t1_s, t2=sip.t2_s, t4=sip.t4_s),
                user_agent=sip.user_agent,
            ),
            auth=auth,
            registrar=Registrar(),
            tracer=self.tracer,
            on_binding=self._binding_changed,
        )
        self._writes: asyncio.Queue[BindingChanged | None] = asyncio.Queue(maxsize=10_000)
        self._writer: asyncio.Task[None] | None = None
        self.qualifier: Qualifier | None = None
        self._qualify_task: asyncio.Task[None] | None = None
        self.registrations = TrunkRegistrations(
            self.endpoint.request, self._local_address, clock.monotonic
        )
        """Our registrations at providers (trunks with ``register``); fed by the trunk table."""

    def _local_address(self, kind: TransportKind) -> tuple[str, int] | None:
        """Our address for a provider's Via and Contact: a wildcard bind is replaced by
        ``HOTLINE_MEDIA_HOST`` (the server's address) when that is set."""
        ep = self.endpoint
        local = {
            TransportKind.UDP: ep.local_udp,
            TransportKind.TCP: ep.local_tcp,
            TransportKind.TLS: ep.local_tls,
        }[kind]
        if local is None:
            return None
        host, port = local
        advertised = self._settings.media_host
        if advertised and host in ("0.0.0.0", "::"):
            return advertised, port
        return host, port

    # -- credentials ---------------------------------------------------------------

    def _lookup(self, username: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
        if realm != self.digest.realm:
            return None
        return self._ha1.get((username, algorithm.base))

    def reload_accounts(self) -> None:
        """Read operators' credentials and trunks' networks again (blocking; call in a thread)."""
        table: dict[tuple[str, DigestAlgorithm], str] = {}
        for op in self._accounts.operators():
            if not op.enabled or op.sip_realm != self.digest.realm:
                continue
            table[(op.sip_username, DigestAlgorithm.MD5)] = op.ha1_md5
            table[(op.sip_username, DigestAlgorithm.SHA256)] = op.ha1_sha256
        self._ha1 = table
        networks = [
            (net, t.name)
            for t in self._accounts.trunks()
            if t.enabled
            for net in t.trusted_networks
        ]
        self.endpoint.auth.trusted = TrustedNetworks(networks)

    # -- bindings ----------------------------------------------------------------

    def _binding_changed(self, change: BindingChanged) -> None:
        if self.qualifier is not None and change.change in (
            BindingChange.REMOVED,
            BindingChange.EXPIRED,
        ):
            self.qualifier.forget(change.binding)
        try:
            self._writes.put_nowait(change)
        except asyncio.QueueFull:
            log.warning("binding write queue full: change not persisted", aor=change.binding.aor)

    async def _write_bindings(self) -> None:
        while (change := await self._writes.get()) is not None:
            b = change.binding
            try:
                if change.change in (BindingChange.ADDED, BindingChange.REFRESHED):
                    await asyncio.to_thread(self._bindings.save, _stored(b))
                else:
                    await asyncio.to_thread(self._bindings.delete, b.aor, b.contact)
            except (SQLAlchemyError, OSError) as exc:  # the database may be down; keep serving
                log.warning("binding not persisted", aor=b.aor, error=str(exc))

    # -- Component ---------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.reload_accounts)
        now = self.endpoint.wall_now()
        stored = await asyncio.to_thread(self._bindings.live, now)
        for s in stored:
            self.endpoint.registrar.restore(_binding(s), now)
        try:
            await self.endpoint.start()
        except OSError as exc:
            host, port = self._settings.sip_host, self._settings.sip_port
            raise OSError(f"SIP {host}:{port}: {exc.strerror or exc} (HOTLINE_SIP_PORT)") from None
        loop = asyncio.get_running_loop()
        self._writer = loop.create_task(self._write_bindings(), name="sip-bindings")
        self.registrations.start(loop.call_later)
        log.info("sip ready", operators=len(self._ha1) // 2, bindings_restored=len(stored))

    def refuse_new(self) -> None:
        self.endpoint.refuse_new()

    def active(self) -> int:
        app = self.endpoint.app
        return int(getattr(app, "active_legs", 0))

    async def _qualify_loop(self) -> None:
        qualifier = self.qualifier
        assert qualifier is not None
        while True:
            await asyncio.sleep(min(5.0, qualifier.interval_s))
            registrar = self.endpoint.registrar
            wall = self.endpoint.wall_now()
            bindings = [b for user in registrar.users() for b in registrar.bindings(user, wall)]
            for binding in qualifier.due(bindings, self._clock.monotonic()):
                self._ping(qualifier, binding)

    def _ping(self, qualifier: Qualifier, binding: Binding) -> None:
        sent_at = self._clock.monotonic()

        def done(response: SipResponse) -> None:
            qualifier.record(binding, response, sent_at, self._clock.monotonic())

        try:
            self.endpoint.request(qualifier.build(binding), binding.source, done)
        except (LocalProtocolError, RemoteProtocolError) as exc:
            log.info("qualify not sent", aor=binding.aor, error=str(exc))

    async def stop(self) -> None:
        if self._qualify_task is not None:
            self._qualify_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._qualify_task
            self._qualify_task = None
        settled = asyncio.Event()
        self.registrations.on_settled = settled.set
        self.registrations.unregister_all()
        if self.registrations.pending():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settled.wait(), UNREGISTER_WAIT_S)
        await self.endpoint.stop()
        if self._writer is not None:
            await self._writes.put(None)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._writer, timeout=5.0)
            self._writer = None


def _stored(b: Binding) -> StoredBinding:
    return StoredBinding(
        aor=b.aor,
        contact=b.contact,
        expires_at=b.expires_at,
        call_id=b.call_id,
        cseq=b.cseq,
        q=b.q,
        source_transport=b.source.transport.value,
        source_host=b.source.host,
        source_port=b.source.port,
        user_agent=b.user_agent,
    )


def _binding(s: StoredBinding) -> Binding:
    return Binding(
        aor=s.aor,
        contact=s.contact,
        expires_at=s.expires_at,
        call_id=s.call_id,
        cseq=s.cseq,
        q=s.q,
        source=Peer(TransportKind(s.source_transport), s.source_host, s.source_port),
        user_agent=s.user_agent,
    )


class SipCollector(Collector):
    """SIP counters for /metrics."""

    def __init__(self, service: SipService) -> None:
        self._service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        ep = self._service.endpoint
        st = ep.stats
        counters = {
            "hotline_sip_requests_received": ("SIP requests received", st.requests_in),
            "hotline_sip_responses_received": ("SIP responses received", st.responses_in),
            "hotline_sip_parse_errors": ("Malformed SIP messages", st.parse_errors),
            "hotline_sip_dropped_banned": ("Messages dropped from banned sources", st.dropped_banned),
            "hotline_sip_dropped_rate": ("Messages dropped over the rate limit", st.dropped_rate),
            "hotline_sip_auth_challenges": ("Digest challenges sent", st.challenges),
            "hotline_sip_auth_bans": ("Sources banned after failed digests", ep.auth.throttle.bans_total),
            "hotline_sip_registrations": ("Successful REGISTER requests", st.registrations),
            "hotline_sip_retransmissions_absorbed": ("Retransmitted requests absorbed", ep.txn.stats.retransmissions_absorbed),
            "hotline_sip_transaction_timeouts": ("Transactions timed out", ep.txn.stats.timeouts),
            "hotline_sip_traced_messages": ("Messages written to the SIP trace", self._service.tracer.messages_traced),
        }  # fmt: skip
        for name, (help_text, value) in counters.items():
            family = CounterMetricFamily(name, help_text)
            family.add_metric([], value)
            yield family
        by_status = CounterMetricFamily(
            "hotline_sip_responses_sent", "SIP responses sent by status", labels=["status"]
        )
        for status, count in sorted(st.by_status_out.items()):
            by_status.add_metric([str(status)], count)
        yield by_status
        gauges = {
            "hotline_sip_bindings": ("Registered contacts", ep.registrar.count()),
            "hotline_sip_transactions": ("Live SIP transactions", ep.txn.live_transactions),
            "hotline_sip_connections": ("Open TCP/TLS connections", ep.transport.connection_count),
        }
        if self._service.qualifier is not None:
            up, down = self._service.qualifier.counts()
            gauges["hotline_sip_contacts_reachable"] = ("Registered contacts answering OPTIONS", up)
            gauges["hotline_sip_contacts_unreachable"] = (
                "Registered contacts not answering OPTIONS",
                down,
            )
        for name, (help_text, value) in gauges.items():
            gauge = GaugeMetricFamily(name, help_text)
            gauge.add_metric([], value)
            yield gauge
        registered = GaugeMetricFamily(
            "hotline_trunk_registered",
            "1 while the node is registered at the trunk's provider",
            labels=["trunk"],
        )
        for trunk, state in sorted(self._service.registrations.states().items()):
            registered.add_metric([trunk], 1.0 if state is RegistrationState.REGISTERED else 0.0)
        yield registered
