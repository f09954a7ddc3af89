"""Digest computations (RFC 7616 §3.4, RFC 2617 §3.2.2, RFC 8760 for SIP).

The response of a digest exchange is::

    HA1      = H(username ":" realm ":" password)
    HA1-sess = H(HA1 ":" nonce ":" cnonce)                    (the -sess variants)
    HA2      = H(method ":" digest-uri)                       (qop=auth or no qop)
    HA2      = H(method ":" digest-uri ":" H(entity-body))    (qop=auth-int)
    response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   (with qop)
    response = H(HA1 ":" nonce ":" HA2)                             (RFC 2069, no qop)

where H is MD5 or SHA-256 in lowercase hex.  Text is hashed as UTF-8
(RFC 7616 §4; SIP is UTF-8, RFC 3261 §7.1).  A credential store keeps HA1
(:func:`ha1`), never the password.
"""

from __future__ import annotations

import enum
import hashlib

from hotline.core.errors import LocalProtocolError

__all__ = ["DigestAlgorithm", "compute_response", "ha1", "session_ha1"]


class DigestAlgorithm(enum.StrEnum):
    """Digest algorithms (RFC 7616 §3.3 and §6.1, RFC 8760 §2)."""

    MD5 = "MD5"
    MD5_SESS = "MD5-sess"
    SHA256 = "SHA-256"
    SHA256_SESS = "SHA-256-sess"

    @classmethod
    def from_token(cls, token: str | None) -> DigestAlgorithm | None:
        """The algorithm named by ``token`` (case-insensitive), MD5 if absent, None if unknown.

        RFC 7616 §3.3: without an ``algorithm`` parameter, MD5 is meant.
        """
        if token is None:
            return cls.MD5
        lowered = token.lower()
        for algorithm in cls:
            if algorithm.value.lower() == lowered:
                return algorithm
        return None

    @property
    def is_session(self) -> bool:
        """True for the ``-sess`` variants (HA1 bound to nonce and cnonce)."""
        return self in (DigestAlgorithm.MD5_SESS, DigestAlgorithm.SHA256_SESS)

    @property
    def base(self) -> DigestAlgorithm:
        """The hash without ``-sess``: what a credential store keys HA1 by."""
        if self is DigestAlgorithm.MD5_SESS:
            return DigestAlgorithm.MD5
        if self is DigestAlgorithm.SHA256_SESS:
            return DigestAlgorithm.SHA256
        return self

    @property
    def hex_length(self) -> int:
        """Length of a hash in lowercase hex: 32 for MD5, 64 for SHA-256."""
        return 32 if self.base is DigestAlgorithm.MD5 else 64

    def hash_hex(self, data: str | bytes) -> str:
        """H(data) in lowercase hex; text is hashed as UTF-8."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        if self.base is DigestAlgorithm.MD5:
            return hashlib.md5(raw, usedforsecurity=False).hexdigest()
        return hashlib.sha256(raw).hexdigest()


def ha1(
    username: str, realm: str, password: str, algorithm: DigestAlgorithm = DigestAlgorithm.MD5
) -> str:
    """HA1 = H(username:realm:password), the value a credential store keeps.

    For a ``-sess`` algorithm this is the HA1 of its base hash: the session
    HA1 is derived per exchange (:func:`session_ha1`).  Store one HA1 per base
    algorithm (MD5 and SHA-256) for each user.
    """
    return algorithm.base.hash_hex(f"{username}:{realm}:{password}")


def session_ha1(ha1_hex: str, nonce: str, cnonce: str, algorithm: DigestAlgorithm) -> str:
    """The ``-sess`` HA1 = H(HA1:nonce:cnonce) (RFC 7616 §3.4.2)."""
    return algorithm.base.hash_hex(f"{ha1_hex}:{nonce}:{cnonce}")


def compute_response(
    *,
    ha1_hex: str,
    algorithm: DigestAlgorithm,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; RFC 2069 form when ``qop`` is None).

    ``ha1_hex`` is the stored HA1 (:func:`ha1`); the ``-sess`` derivation is
    applied here.  ``nc`` is the 8-hex-digit nonce count as sent.  Raises
    LocalProtocolError when ``qop`` or a ``-sess`` algorithm lacks ``nc`` or
    ``cnonce``, or ``qop`` is not ``auth``/``auth-int``: the caller must
    validate peer input first.
    """
    if algorithm.is_session:
        if cnonce is None:
            raise LocalProtocolError(f"{algorithm} needs a cnonce")
        ha1_hex = session_ha1(ha1_hex, nonce, cnonce, algorithm)
    if qop is None:
        ha2 = algorithm.hash_hex(f"{method}:{uri}")
        return algorithm.hash_hex(f"{ha1_hex}:{nonce}:{ha2}")
    if qop == "auth":
        ha2 = algorithm.hash_hex(f"{method}:{uri}")
    elif qop == "auth-int":
        ha2 = algorithm.hash_hex(f"{method}:{uri}:{algorithm.hash_hex(body)}")
    else:
        raise LocalProtocolError(f"unsupported qop {qop!r}")
    if nc is None or cnonce is None:
        raise LocalProtocolError("qop needs nc and cnonce")
    return algorithm.hash_hex(f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
