"""Digest client side: answering a provider's challenge (RFC 3261 §22.2, §22.3).

Used for our outbound INVITE and REGISTER towards trunks.  Among several
challenges (one per algorithm, RFC 8760 §2.4) the strongest one we support is
answered: SHA-256, then SHA-256-sess, MD5, MD5-sess.  ``qop=auth`` is
preferred, ``auth-int`` is used only when it is the sole option, and a
challenge without ``qop`` gets the RFC 2069 form.

The functions are pure: the caller passes the ``cnonce`` (random, from the
driver) and, with :func:`answer_challenge`, the nonce count;
:class:`DigestClient` counts nonces itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from hotline.core.errors import RemoteProtocolError
from hotline.sip.digest_hash import DigestAlgorithm, compute_response, ha1
from hotline.sip.digest_header import DigestChallenge, DigestCredentials, parse_challenge

__all__ = ["CLIENT_ALGORITHM_PREFERENCE", "DigestClient", "answer_challenge", "select_challenge"]

CLIENT_ALGORITHM_PREFERENCE: tuple[DigestAlgorithm, ...] = (
    DigestAlgorithm.SHA256,
    DigestAlgorithm.SHA256_SESS,
    DigestAlgorithm.MD5,
    DigestAlgorithm.MD5_SESS,
)
"""The algorithms we answer, strongest first."""

_MAX_NC = 0xFFFFFFFF


def _rank(challenge: DigestChallenge) -> int | None:
    algorithm = DigestAlgorithm.from_token(challenge.algorithm)
    if algorithm is None or not _usable_qop(challenge):
        return None
    return CLIENT_ALGORITHM_PREFERENCE.index(algorithm)


def _usable_qop(challenge: DigestChallenge) -> bool:
    return not challenge.qop or "auth" in challenge.qop or "auth-int" in challenge.qop


def select_challenge(values: Iterable[str]) -> DigestChallenge | None:
    """The strongest Digest challenge we can answer among header ``values``.

    Values that are not Digest, do not parse, or name an algorithm or qop we
    do not support are skipped (RFC 8760 §2.4: use the first supported one of
    the server's preference, we prefer by strength).  None if none is usable.
    """
    best: tuple[int, DigestChallenge] | None = None
    for value in values:
        try:
            challenge = parse_challenge(value)
        except RemoteProtocolError:
            continue
        rank = _rank(challenge)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, challenge)
    return best[1] if best is not None else None


def answer_challenge(
    challenge: str | DigestChallenge,
    method: str,
    uri: str,
    *,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The ``Authorization``/``Proxy-Authorization`` value answering ``challenge``.

    ``uri`` is the Request-URI as sent (RFC 3261 §22.4), ``nc`` the count of
    requests sent with this nonce (first: 1), ``body`` the message body (for
    ``qop=auth-int``).  Raises RemoteProtocolError when the challenge does
    not parse or names an algorithm or qop we do not support.
    """
    parsed = parse_challenge(challenge) if isinstance(challenge, str) else challenge
    algorithm = DigestAlgorithm.from_token(parsed.algorithm)
    if algorithm is None:
        raise RemoteProtocolError(f"unsupported Digest algorithm {parsed.algorithm!r}")
    if not 0 < nc <= _MAX_NC:
        raise RemoteProtocolError(f"nonce count out of range: {nc}")
    if not parsed.qop:
        qop = None
    elif "auth" in parsed.qop:
        qop = "auth"
    elif "auth-int" in parsed.qop:
        qop = "auth-int"
    else:
        raise RemoteProtocolError(f"unsupported Digest qop {','.join(parsed.qop)!r}")
    uses_cnonce = qop is not None or algorithm.is_session
    nc_text = f"{nc:08x}" if qop is not None else None
    response = compute_response(
        ha1_hex=ha1(username, parsed.realm, password, algorithm),
        algorithm=algorithm,
        method=method,
        uri=uri,
        nonce=parsed.nonce,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce if uses_cnonce else None,
        body=body,
    )
    credentials = DigestCredentials(
        username=username,
        realm=parsed.realm,
        nonce=parsed.nonce,
        uri=uri,
        response=response,
        algorithm=algorithm.value,
        cnonce=cnonce if uses_cnonce else None,
        nc=nc_text,
        qop=qop,
        opaque=parsed.opaque,
    )
    return credentials.to_header()


class DigestClient:
    """Credentials of one account at a provider; counts requests per nonce.

    RFC 7616 §3.4: the nonce count grows by one for every request sent with
    the same nonce and starts again at 1 with a new nonce.
    """

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password
        self._nonce: str | None = None
        self._nc = 0

    @property
    def username(self) -> str:
        """The account's user name."""
        return self._username

    def answer_challenge(
        self,
        challenge: str | DigestChallenge,
        method: str,
        uri: str,
        *,
        cnonce: str,
        nc: int | None = None,
        body: bytes = b"",
    ) -> str:
        """Answer ``challenge``; ``nc`` None means the next count for its nonce."""
        parsed = parse_challenge(challenge) if isinstance(challenge, str) else challenge
        if nc is None:
            if parsed.nonce != self._nonce:
                self._nonce, self._nc = parsed.nonce, 0
            self._nc += 1
            nc = self._nc
        return answer_challenge(
            parsed,
            method,
            uri,
            username=self._username,
            password=self._password,
            cnonce=cnonce,
            nc=nc,
            body=body,
        )

    def authorize(
        self,
        challenge_values: Iterable[str],
        method: str,
        uri: str,
        *,
        cnonce: str,
        body: bytes = b"",
    ) -> str | None:
        """Answer the strongest usable challenge among ``challenge_values``, None if none."""
        challenge = select_challenge(challenge_values)
        if challenge is None:
            return None
        return self.answer_challenge(challenge, method, uri, cnonce=cnonce, body=body)

    def __repr__(self) -> str:
        return f"DigestClient(username={self._username!r}, password=<hidden>)"
