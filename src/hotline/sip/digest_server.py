"""Digest server side: challenges and verification (RFC 3261 §22.1, §22.4;
RFC 7616 §3.3-§3.5; RFC 8760).

**Nonces** carry their own proof: ``base64url(version | issued-at ms | 12
random bytes | HMAC-SHA256(secret_key, realm | the former)[:16])``.  Any node
holding ``secret_key`` validates them with no stored state, and their age
comes from the nonce itself.  ``now`` is whatever seconds clock the caller
uses; nodes that share a key across a cluster must pass the same clock (wall
time), a single node may pass monotonic time.  Keep ``secret_key`` stable
across restarts, or every client in the middle of a handshake fails once.

**Nonce counts** (RFC 7616 §3.4: ``nc``) are tracked per nonce in a bounded
LRU after each successful verification: a request whose ``nc`` is not
greater than the last one accepted with that nonce is a replay.  When the
LRU drops a nonce, its issue time raises a watermark; an untracked nonce
issued at or before the watermark is treated as possibly replayed.

**Results.**  :class:`VerifyStatus`:

- ``OK``: authenticated; ``VerifyResult.username`` is the user.
- ``STALE``: the response was right but the nonce is too old, replayed or no
  longer tracked: answer 401/407 with ``challenge(now, stale=True)``; the
  client retries silently with the new nonce (RFC 7616 §3.3).  A replayed
  nonce count is STALE rather than FAILED on purpose (as OpenSIPS does):
  the replay is refused all the same, and phones that reuse a count are not
  told their password is wrong nor counted by the brute-force throttle.
- ``FAILED``: wrong password, **unknown user**, wrong realm, forged nonce,
  unsupported algorithm or qop.  The caller MUST answer every FAILED the same
  way (a fresh 401/407 challenge, or 403), whatever ``reason`` says:
  answering an unknown user differently from a wrong password lets an
  attacker enumerate accounts.  ``reason`` is for logs and metrics only.
  An unknown user is checked against a dummy HA1 so that the work done is
  the same; the credential lookup itself should take the same time for
  known and unknown users.
- ``MALFORMED``: the header does not parse or lacks parameters, or the
  ``uri`` differs from the Request-URI (RFC 7616 §3.4.6): answer 400.

Digests are compared with :func:`hmac.compare_digest`.  The RFC 2069 form
(no ``qop``, hence no nonce count and no replay protection) is accepted only
with ``allow_rfc2069=True``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hotline.core.errors import ConfigurationError, RemoteProtocolError
from hotline.sip.digest_hash import DigestAlgorithm, compute_response
from hotline.sip.digest_header import DigestChallenge, DigestCredentials, parse_credentials

__all__ = [
    "DEFAULT_NONCE_TTL_S",
    "CredentialLookup",
    "DigestServer",
    "VerifyReason",
    "VerifyResult",
    "VerifyStatus",
]

DEFAULT_NONCE_TTL_S = 60.0
"""How long a nonce stays valid after it was issued."""

CredentialLookup = Callable[[str, str, DigestAlgorithm], str | None]
"""``lookup(username, realm, algorithm) -> HA1 hex or None``; ``algorithm`` is a base one."""

_NONCE_VERSION = 1
_NONCE_RANDOM_BYTES = 12
_NONCE_MAC_BYTES = 16
_NONCE_LENGTH = 1 + 8 + _NONCE_RANDOM_BYTES + _NONCE_MAC_BYTES
_MAX_FUTURE_SKEW_MS = 5_000
_NC_RE = re.compile(r"[0-9a-fA-F]{8}")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")


class VerifyStatus(enum.Enum):
    """Outcome of :meth:`DigestServer.verify` (see the module docstring)."""

    OK = "ok"
    STALE = "stale"
    FAILED = "failed"
    MALFORMED = "malformed"


class VerifyReason(enum.StrEnum):
    """Why a verification did not succeed: for logs and metrics, never for the peer."""

    MALFORMED_HEADER = "malformed_header"
    URI_MISMATCH = "uri_mismatch"
    WRONG_REALM = "wrong_realm"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    UNSUPPORTED_QOP = "unsupported_qop"
    QOP_REQUIRED = "qop_required"
    FORGED_NONCE = "forged_nonce"
    OPAQUE_MISMATCH = "opaque_mismatch"
    UNKNOWN_USER = "unknown_user"
    WRONG_RESPONSE = "wrong_response"
    NONCE_EXPIRED = "nonce_expired"
    NONCE_REPLAYED = "nonce_replayed"
    NONCE_UNTRACKED = "nonce_untracked"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """A verification outcome.

    ``username`` is set only when ``status`` is OK; ``claimed_username`` is
    whatever the peer sent (for logs), None if the header did not parse.
    """

    status: VerifyStatus
    username: str | None = None
    reason: VerifyReason | None = None
    claimed_username: str | None = None
    algorithm: DigestAlgorithm | None = None

    @property
    def ok(self) -> bool:
        """True if the request is authenticated."""
        return self.status is VerifyStatus.OK


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes | None:
    if len(text) > 2 * _NONCE_LENGTH:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


class DigestServer:
    """Issues Digest challenges and verifies credentials for one realm.

    ``algorithms`` in order of preference (RFC 8760 §2.4: SHA-256 first);
    ``max_tracked_nonces`` bounds the nonce-count memory; ``random_bytes``
    supplies nonce randomness (injectable for tests).
    """

    def __init__(
        self,
        realm: str,
        secret_key: bytes,
        *,
        nonce_ttl_s: float = DEFAULT_NONCE_TTL_S,
        algorithms: Sequence[DigestAlgorithm] = (DigestAlgorithm.SHA256, DigestAlgorithm.MD5),
        allow_rfc2069: bool = False,
        max_tracked_nonces: int = 16_384,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        if len(secret_key) < 16:
            raise ConfigurationError("secret_key", "needs at least 16 bytes")
        if nonce_ttl_s <= 0:
            raise ConfigurationError("nonce_ttl_s", "must be positive")
        if not algorithms:
            raise ConfigurationError("algorithms", "at least one is needed")
        if max_tracked_nonces < 1:
            raise ConfigurationError("max_tracked_nonces", "must be at least 1")
        self._realm = realm
        self._key = secret_key
        self._ttl_ms = int(nonce_ttl_s * 1000)
        self._algorithms = tuple(dict.fromkeys(algorithms))
        self._allow_rfc2069 = allow_rfc2069
        self._max_tracked = max_tracked_nonces
        self._random_bytes = random_bytes
        self._nonce_counts: OrderedDict[str, int] = OrderedDict()
        self._watermark_ms: int | None = None
        self._opaque = _b64encode(self._mac(b"opaque", b"")[:12])
        self._dummy_ha1 = {
            a: a.hash_hex(self._mac(b"dummy", a.value.encode())) for a in DigestAlgorithm
        }

    @property
    def realm(self) -> str:
        """The protection realm (RFC 3261 §22.1)."""
        return self._realm

    @property
    def tracked_nonces(self) -> int:
        """How many nonces have their count remembered (bounded)."""
        return len(self._nonce_counts)

    def _mac(self, purpose: bytes, data: bytes) -> bytes:
        message = purpose + b"\x00" + self._realm.encode("utf-8") + b"\x00" + data
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def make_nonce(self, now: float) -> str:
        """A fresh self-authenticating nonce issued at ``now``."""
        issued_ms = int(now * 1000)
        body = (
            bytes([_NONCE_VERSION])
            + issued_ms.to_bytes(8, "big", signed=True)
            + self._random_bytes(_NONCE_RANDOM_BYTES)
        )
        return _b64encode(body + self._mac(b"nonce", body)[:_NONCE_MAC_BYTES])

    def _nonce_issued_ms(self, nonce: str) -> int | None:
        """Issue time of an authentic nonce of ours, None if forged or garbled."""
        raw = _b64decode(nonce)
        if raw is None or len(raw) != _NONCE_LENGTH or raw[0] != _NONCE_VERSION:
            return None
        body, mac = raw[:-_NONCE_MAC_BYTES], raw[-_NONCE_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._mac(b"nonce", body)[:_NONCE_MAC_BYTES]):
            return None
        return int.from_bytes(body[1:9], "big", signed=True)

    def challenge(self, now: float, *, stale: bool = False) -> list[str]:
        """``WWW-Authenticate``/``Proxy-Authenticate`` values, one per algorithm.

        In preference order (RFC 8760 §2.4), all with one fresh nonce and
        ``qop="auth"``; ``stale=True`` after a STALE verification.
        """
        nonce = self.make_nonce(now)
        return [
            DigestChallenge(
                realm=self._realm,
                nonce=nonce,
                algorithm=algorithm.value,
                qop=("auth",),
                opaque=self._opaque,
                stale=stale,
            ).to_header()
            for algorithm in self._algorithms
        ]

    def verify(
        self,
        now: float,
        method: str,
        authorization_value: str,
        lookup: CredentialLookup,
        *,
        request_uri: str | None = None,
    ) -> VerifyResult:
        """Check an ``Authorization``/``Proxy-Authorization`` value (RFC 3261 §22.4).

        ``method`` is the request's method (for ACK and CANCEL, the INVITE's
        credentials are not re-checked: RFC 3261 §22.1); ``request_uri``, when
        given, must equal the ``uri`` parameter.
        """
        try:
            credentials = parse_credentials(authorization_value)
        except RemoteProtocolError:
            return VerifyResult(VerifyStatus.MALFORMED, reason=VerifyReason.MALFORMED_HEADER)
        claimed = credentials.username

        def result(status: VerifyStatus, reason: VerifyReason) -> VerifyResult:
            return VerifyResult(status, reason=reason, claimed_username=claimed)

        problem = self._syntax_problem(credentials, request_uri)
        if problem is not None:
            return result(VerifyStatus.MALFORMED, problem)
        algorithm = DigestAlgorithm.from_token(credentials.algorithm)
        if algorithm is None or algorithm not in self._algorithms:
            return result(VerifyStatus.FAILED, VerifyReason.UNSUPPORTED_ALGORITHM)
        if algorithm.is_session and credentials.cnonce is None:
            return result(VerifyStatus.MALFORMED, VerifyReason.MALFORMED_HEADER)
        if credentials.realm != self._realm:
            return result(VerifyStatus.FAILED, VerifyReason.WRONG_REALM)
        if credentials.qop is None and not self._allow_rfc2069:
            return result(VerifyStatus.FAILED, VerifyReason.QOP_REQUIRED)
        if credentials.qop is not None and credentials.qop != "auth":
            return result(VerifyStatus.FAILED, VerifyReason.UNSUPPORTED_QOP)
        issued_ms = self._nonce_issued_ms(credentials.nonce)
        if issued_ms is None:
            return result(VerifyStatus.FAILED, VerifyReason.FORGED_NONCE)
        if credentials.opaque is not None and not hmac.compare_digest(
            credentials.opaque.encode("utf-8"), self._opaque.encode("ascii")
        ):
            return result(VerifyStatus.FAILED, VerifyReason.OPAQUE_MISMATCH)
        mismatch = self._check_response(credentials, algorithm, method, lookup)
        if mismatch is not None:
            return result(VerifyStatus.FAILED, mismatch)
        now_ms = int(now * 1000)
        if not -_MAX_FUTURE_SKEW_MS <= now_ms - issued_ms <= self._ttl_ms:
            return result(VerifyStatus.STALE, VerifyReason.NONCE_EXPIRED)
        replay = self._track(credentials, issued_ms)
        if replay is not None:
            return result(VerifyStatus.STALE, replay)
        return VerifyResult(
            VerifyStatus.OK, username=claimed, claimed_username=claimed, algorithm=algorithm
        )

    def _syntax_problem(
        self, credentials: DigestCredentials, request_uri: str | None
    ) -> VerifyReason | None:
        if credentials.qop is not None and (
            credentials.cnonce is None
            or credentials.nc is None
            or _NC_RE.fullmatch(credentials.nc) is None
            or int(credentials.nc, 16) == 0
        ):
            return VerifyReason.MALFORMED_HEADER
        if _HEX_RE.fullmatch(credentials.response) is None:
            return VerifyReason.MALFORMED_HEADER
        if request_uri is not None and credentials.uri != request_uri:
            return VerifyReason.URI_MISMATCH
        return None

    def _check_response(
        self,
        credentials: DigestCredentials,
        algorithm: DigestAlgorithm,
        method: str,
        lookup: CredentialLookup,
    ) -> VerifyReason | None:
        """None if the response is right; otherwise why not, with equal work either way."""
        stored = lookup(credentials.username, self._realm, algorithm.base)
        ha1_hex = stored.lower() if stored is not None else self._dummy_ha1[algorithm.base]
        expected = compute_response(
            ha1_hex=ha1_hex,
            algorithm=algorithm,
            method=method,
            uri=credentials.uri,
            nonce=credentials.nonce,
            qop=credentials.qop,
            nc=credentials.nc,
            cnonce=credentials.cnonce,
        )
        matches = hmac.compare_digest(
            expected.encode("ascii"), credentials.response.lower().encode("ascii")
        )
        if stored is None:
            return VerifyReason.UNKNOWN_USER
        return None if matches else VerifyReason.WRONG_RESPONSE

    def _track(self, credentials: DigestCredentials, issued_ms: int) -> VerifyReason | None:
        """Record the nonce count of an accepted request; a reason if it is a replay."""
        if credentials.nc is None:
            return None  # RFC 2069 form: no count to track
        nc = int(credentials.nc, 16)
        nonce = credentials.nonce
        last = self._nonce_counts.get(nonce)
        if last is None:
            if self._watermark_ms is not None and issued_ms <= self._watermark_ms:
                return VerifyReason.NONCE_UNTRACKED
        elif nc <= last:
            return VerifyReason.NONCE_REPLAYED
        self._nonce_counts[nonce] = nc
        self._nonce_counts.move_to_end(nonce)
        while len(self._nonce_counts) > self._max_tracked:
            evicted, _ = self._nonce_counts.popitem(last=False)
            evicted_ms = self._nonce_issued_ms(evicted)
            if evicted_ms is not None and (
                self._watermark_ms is None or evicted_ms > self._watermark_ms
            ):
                self._watermark_ms = evicted_ms
        return None
