"""SIP Digest authentication (RFC 3261 §22; RFC 7616, RFC 8760: MD5 and SHA-256).

The public surface of the digest modules, in one place:

- :mod:`hotline.sip.digest_hash`: :class:`DigestAlgorithm`, :func:`ha1` (what
  the credential store keeps instead of passwords), :func:`compute_response`.
- :mod:`hotline.sip.digest_header`: parsing and writing of
  ``WWW-Authenticate``/``Proxy-Authenticate`` and
  ``Authorization``/``Proxy-Authorization`` values, with limits.
- :mod:`hotline.sip.digest_server`: :class:`DigestServer` (challenges with
  self-authenticating nonces, verification with nonce-count replay checks).
- :mod:`hotline.sip.digest_client`: :class:`DigestClient` and
  :func:`answer_challenge` for our requests to providers.
- :mod:`hotline.sip.digest_throttle`: :class:`FailureThrottle` against
  password guessing.

Typical registrar use (the driver owns the clock and the sockets)::

    server = DigestServer(realm, secret_key)
    if throttle.is_banned(src_ip, now):
        drop the request
    value = request's Authorization header value, or None
    if value is None:
        answer 401 with one WWW-Authenticate per server.challenge(now)
    result = server.verify(now, method, value, store.lookup_ha1, request_uri=uri)
    OK        -> throttle.record_success(src_ip, now); go on as result.username
    STALE     -> answer 401 with server.challenge(now, stale=True)
    FAILED    -> throttle.record_failure(src_ip, now); answer 401 with a fresh
                 challenge, the same for every reason (never reveal which)
    MALFORMED -> answer 400
"""

from __future__ import annotations

from hotline.sip.digest_client import (
    CLIENT_ALGORITHM_PREFERENCE,
    DigestClient,
    answer_challenge,
    select_challenge,
)
from hotline.sip.digest_hash import DigestAlgorithm, compute_response, ha1, session_ha1
from hotline.sip.digest_header import (
    AuthHeader,
    DigestChallenge,
    DigestCredentials,
    format_auth_header,
    parse_auth_header,
    parse_challenge,
    parse_credentials,
)
from hotline.sip.digest_server import (
    DEFAULT_NONCE_TTL_S,
    CredentialLookup,
    DigestServer,
    VerifyReason,
    VerifyResult,
    VerifyStatus,
)
from hotline.sip.digest_throttle import FailureThrottle

__all__ = [
    "CLIENT_ALGORITHM_PREFERENCE",
    "DEFAULT_NONCE_TTL_S",
    "AuthHeader",
    "CredentialLookup",
    "DigestAlgorithm",
    "DigestChallenge",
    "DigestClient",
    "DigestCredentials",
    "DigestServer",
    "FailureThrottle",
    "VerifyReason",
    "VerifyResult",
    "VerifyStatus",
    "answer_challenge",
    "compute_response",
    "format_auth_header",
    "ha1",
    "parse_auth_header",
    "parse_challenge",
    "parse_credentials",
    "select_challenge",
    "session_ha1",
]
