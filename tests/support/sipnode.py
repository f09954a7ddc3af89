"""An in-process SIP endpoint on loopback for integration tests."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from hotline.core.clock import SystemClock
from hotline.sip.auth import RateLimiter, SipAuthPolicy, TrustedNetworks
from hotline.sip.digest import DigestAlgorithm, DigestServer, FailureThrottle, ha1
from hotline.sip.endpoint import EndpointConfig, SipApplication, SipEndpoint
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.registrar import Binding, Registrar
from hotline.sip.transport import TransportLimits
from hotline.sip.txn_model import TimerConfig

REALM = "hotline122"
SECRET = b"integration-test-secret-key-0123"


def credential_lookup(users: Mapping[str, str]):  # type: ignore[no-untyped-def]
    table = {
        (user, alg): ha1(user, REALM, pw, alg)
        for user, pw in users.items()
        for alg in (DigestAlgorithm.MD5, DigestAlgorithm.SHA256)
    }

    def lookup(username: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
        if realm != REALM:
            return None
        return table.get((username, algorithm.base))

    return lookup


@asynccontextmanager
async def sip_endpoint(
    *,
    users: Mapping[str, str] | None = None,
    trusted: Iterable[tuple[str, str]] = (),
    app: SipApplication | None = None,
    max_failures: int = 10,
    port: int = 0,
    untrusted_rate_per_s: float = 1000.0,
    algorithms: Iterable[DigestAlgorithm] = (DigestAlgorithm.MD5,),
    tls_context: ssl.SSLContext | None = None,
    timers: TimerConfig | None = None,
    transport_limits: TransportLimits | None = None,
) -> AsyncIterator[SipEndpoint]:
    """A SIP endpoint on 127.0.0.1 (UDP and TCP on one free port)."""
    policy = SipAuthPolicy(
        DigestServer(REALM, SECRET, algorithms=tuple(algorithms)),
        credential_lookup(users or {}),
        trusted=TrustedNetworks(trusted),
        throttle=FailureThrottle(max_failures=max_failures, window_s=60.0, ban_s=600.0),
        unauthenticated_rate=RateLimiter(
            rate_per_s=untrusted_rate_per_s, burst=untrusted_rate_per_s
        ),
    )
    endpoint = SipEndpoint(
        clock=SystemClock(),
        config=EndpointConfig(
            host="127.0.0.1",
            port=port,
            timers=timers or TimerConfig(),
            transport_limits=transport_limits or TransportLimits(),
            untrusted_rate_per_s=untrusted_rate_per_s,
            untrusted_burst=untrusted_rate_per_s,
            tls_port=0 if tls_context is not None else None,
            tls_context=tls_context,
        ),
        auth=policy,
        registrar=Registrar(),
    )
    endpoint.app = app
    await endpoint.start()
    try:
        yield endpoint
    finally:
        await endpoint.stop()


def bind_udp_phone(endpoint: SipEndpoint, aor: str, port: int, call_id: str) -> None:
    """Put ``aor``'s contact at 127.0.0.1:``port`` into the registrar, as a REGISTER would."""
    now = endpoint.wall_now()
    endpoint.registrar.restore(
        Binding(
            aor=aor,
            contact=f"sip:{aor}@127.0.0.1:{port}",
            expires_at=now + 300,
            call_id=call_id,
            cseq=1,
            q=None,
            source=Peer(TransportKind.UDP, "127.0.0.1", port),
        ),
        now,
    )
