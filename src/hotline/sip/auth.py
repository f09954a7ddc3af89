"""Who may send us a request: trusted trunks, digest-authenticated phones, nobody else.

Sans-IO policy (takes ``now``): the endpoint asks :meth:`SipAuthPolicy.check`
for every out-of-dialog request that needs it and acts on the decision.

Hardening (issue: SIP stack, item 8):

- Every unauthenticated request gets the same challenge whatever its user
  part: a known and an unknown extension look identical (no enumeration).
- A wrong password and an unknown user fail identically (the digest server
  compares against a dummy HA1 for unknown users).
- After ``max_failures`` failed digests within a window a source address is
  banned: its requests are dropped without an answer for ``ban_s``.
- Unauthenticated requests are rate-limited per source address (token bucket);
  past the limit they are dropped.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from hotline.sip.digest import CredentialLookup, DigestServer, FailureThrottle, VerifyStatus
from hotline.sip.message import SipRequest
from hotline.sip.peer import Peer

__all__ = ["AuthDecision", "AuthOutcome", "RateLimiter", "SipAuthPolicy", "TrustedNetworks"]


class AuthOutcome(Enum):
    TRUSTED = "trusted"  # from a trunk's trusted network
    AUTHENTICATED = "authenticated"  # valid digest credentials
    CHALLENGE = "challenge"  # answer 401 with ``challenges``
    BAD_REQUEST = "bad_request"  # malformed credentials: 400
    DROP = "drop"  # banned or over the rate limit: no answer at all


@dataclass(frozen=True, slots=True)
class AuthDecision:
    outcome: AuthOutcome
    user: str | None = None  # the authenticated user, or the trunk name when trusted
    challenges: tuple[str, ...] = ()


class TrustedNetworks:
    """Source networks of trunks that are trusted without a password."""

    def __init__(self, networks: Iterable[tuple[str, str]] = ()) -> None:
        self._nets: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
        for cidr, name in networks:
            self._nets.append((ipaddress.ip_network(cidr, strict=False), name))

    def match(self, host: str) -> str | None:
        """The trunk name whose network holds ``host``, or None."""
        try:
            addr = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None
        for net, name in self._nets:
            if addr.version == net.version and addr in net:
                return name
        return None


class RateLimiter:
    """A token bucket per source address, bounded in memory."""

    def __init__(self, rate_per_s: float, burst: float, max_sources: int = 10_000) -> None:
        self._rate = rate_per_s
        self._burst = burst
        self._max = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.dropped = 0

    def allow(self, source: str, now: float) -> bool:
        tokens, last = self._buckets.pop(source, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        else:
            self.dropped += 1
        self._buckets[source] = (tokens, now)
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return allowed


class SipAuthPolicy:
    """Decides, per request, whether it may go on."""

    def __init__(
        self,
        digest: DigestServer,
        lookup: CredentialLookup,
        *,
        trusted: TrustedNetworks | None = None,
        throttle: FailureThrottle | None = None,
        unauthenticated_rate: RateLimiter | None = None,
    ) -> None:
        self.digest = digest
        self._lookup = lookup
        self.trusted = trusted or TrustedNetworks()
        self.throttle = throttle or FailureThrottle()
        self.rate = unauthenticated_rate or RateLimiter(rate_per_s=20.0, burst=60.0)
        self.failures = 0

    def check(
        self, request: SipRequest, source: Peer, now: float, *, allow_trusted: bool = True
    ) -> AuthDecision:
        """Trusted source, valid credentials, or what to do instead."""
        if allow_trusted:
            trunk = self.trusted.match(source.host)
            if trunk is not None:
                return AuthDecision(AuthOutcome.TRUSTED, user=trunk)
        if self.throttle.is_banned(source.host, now):
            return AuthDecision(AuthOutcome.DROP)
        value = request.headers.get("Authorization")
        if value is not None and value.lstrip().split(None, 1)[0].lower() != "digest":
            value = None  # a scheme we do not know: challenge in ours (RFC 4475 §3.3.7)
        if value is None:
            if not self.rate.allow(source.host, now):
                return AuthDecision(AuthOutcome.DROP)
            return AuthDecision(AuthOutcome.CHALLENGE, challenges=tuple(self.digest.challenge(now)))
        result = self.digest.verify(now, request.method, value, self._lookup)
        if result.status is VerifyStatus.OK:
            self.throttle.record_success(source.host, now)
            return AuthDecision(AuthOutcome.AUTHENTICATED, user=result.username)
        if result.status is VerifyStatus.STALE:
            return AuthDecision(
                AuthOutcome.CHALLENGE, challenges=tuple(self.digest.challenge(now, stale=True))
            )
        if result.status is VerifyStatus.MALFORMED:
            return AuthDecision(AuthOutcome.BAD_REQUEST)
        self.failures += 1
        if self.throttle.record_failure(source.host, now):
            return AuthDecision(AuthOutcome.DROP)
        if not self.rate.allow(source.host, now):
            return AuthDecision(AuthOutcome.DROP)
        return AuthDecision(AuthOutcome.CHALLENGE, challenges=tuple(self.digest.challenge(now)))
