"""Digest header values: ``WWW-Authenticate``/``Proxy-Authenticate`` challenges and
``Authorization``/``Proxy-Authorization`` credentials (RFC 3261 §25.1, §22.4;
RFC 7616 §3.3, §3.4).

The grammar is ``scheme 1*SP auth-param *("," auth-param)`` with
``auth-param = token "=" (token / quoted-string)``; names are
case-insensitive (kept lowercased), quoted strings may hold ``\\``-escapes.
Parsing is linear and bounded (:data:`MAX_HEADER_LENGTH`, :data:`MAX_PARAMS`,
:data:`MAX_PARAM_LENGTH`); any fault raises
:class:`~hotline.core.errors.RemoteProtocolError` (status_hint 400) or its
subclass :class:`~hotline.core.errors.LimitExceededError`, nothing else.

Lenient where peers differ in practice: values that RFC 3261 wants as tokens
(``algorithm``, ``qop``, ``nc``, ``stale``) are accepted quoted too, and
unquoted values may hold any visible character but ``,`` and ``"``.  A
parameter given twice is an error (RFC 7616 §3.4).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError

__all__ = [
    "MAX_HEADER_LENGTH",
    "MAX_PARAMS",
    "MAX_PARAM_LENGTH",
    "AuthHeader",
    "DigestChallenge",
    "DigestCredentials",
    "format_auth_header",
    "parse_auth_header",
    "parse_challenge",
    "parse_credentials",
]

MAX_HEADER_LENGTH = 4_096
"""Longest header value accepted, in characters."""
MAX_PARAMS = 32
"""Most auth-params accepted in one header value."""
MAX_PARAM_LENGTH = 1_024
"""Longest single parameter value accepted, in characters."""

_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_UNQUOTED_RE = re.compile(r"[^\s,\"\\\x00-\x1f\x7f]+")
_WHITESPACE = " \t\r\n"
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class AuthHeader:
    """A parsed authentication header value: the scheme and its parameters.

    ``params`` holds (lowercased name, unquoted value) pairs in wire order.
    """

    scheme: str
    params: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """The value of parameter ``name`` (case-insensitive), None if absent."""
        lowered = name.lower()
        for key, value in self.params:
            if key == lowered:
                return value
        return None


def _malformed(problem: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed authentication header: {problem}", status_hint=400)


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _read_quoted(text: str, index: int) -> tuple[str, int]:
    """Read the quoted-string starting at ``text[index] == '"'``; return value, next index."""
    chars: list[str] = []
    index += 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return "".join(chars), index + 1
        if char == "\\":
            index += 1
            if index >= len(text):
                break
            char = text[index]
        if _FORBIDDEN_IN_VALUE.match(char) is not None:
            raise _malformed("control character in a quoted string")
        chars.append(char)
        if len(chars) > MAX_PARAM_LENGTH:
            raise LimitExceededError("authentication parameter longer than the limit")
        index += 1
    raise _malformed("unterminated quoted string")


def _read_pattern(text: str, index: int, pattern: re.Pattern[str], what: str) -> tuple[str, int]:
    match = pattern.match(text, index)
    if match is None:
        raise _malformed(f"expected {what} at position {index}")
    if len(match[0]) > MAX_PARAM_LENGTH:
        raise LimitExceededError("authentication parameter longer than the limit")
    return match[0], match.end()


def parse_auth_header(value: str) -> AuthHeader:
    """Parse ``scheme param=value, ...`` (RFC 3261 §25.1 challenge/credentials)."""
    if len(value) > MAX_HEADER_LENGTH:
        raise LimitExceededError("authentication header longer than the limit")
    index = _skip_whitespace(value, 0)
    scheme, index = _read_pattern(value, index, _TOKEN_RE, "an auth scheme")
    if index < len(value) and value[index] not in _WHITESPACE:
        raise _malformed("the scheme must be followed by a space")
    params: list[tuple[str, str]] = []
    seen: set[str] = set()
    while True:
        index = _skip_whitespace(value, index)
        while index < len(value) and value[index] == ",":  # empty list elements
            index = _skip_whitespace(value, index + 1)
        if index >= len(value):
            break
        name, index = _read_pattern(value, index, _TOKEN_RE, "a parameter name")
        index = _skip_whitespace(value, index)
        if index >= len(value) or value[index] != "=":
            raise _malformed(f"parameter {name[:40]!r} has no value")
        index = _skip_whitespace(value, index + 1)
        if index < len(value) and value[index] == '"':
            param_value, index = _read_quoted(value, index)
        else:
            param_value, index = _read_pattern(value, index, _UNQUOTED_RE, "a parameter value")
        lowered = name.lower()
        if lowered in seen:
            raise _malformed(f"parameter {lowered[:40]!r} given twice")
        if len(params) >= MAX_PARAMS:
            raise LimitExceededError("too many authentication parameters")
        seen.add(lowered)
        params.append((lowered, param_value))
        index = _skip_whitespace(value, index)
        if index < len(value) and value[index] != ",":
            raise _malformed(f"expected ',' at position {index}")
    return AuthHeader(scheme, tuple(params))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_auth_header(scheme: str, params: Sequence[tuple[str, str, bool]]) -> str:
    """``scheme name=value, ...`` from (name, value, quoted) triples.

    Raises LocalProtocolError for a value holding a control character or an
    unquoted value that is not a token: either would corrupt the message.
    """
    parts: list[str] = []
    for name, value, quoted in params:
        if _FORBIDDEN_IN_VALUE.search(value) is not None:
            raise LocalProtocolError(f"control character in auth parameter {name}")
        if not quoted and _TOKEN_RE.fullmatch(value) is None:
            raise LocalProtocolError(f"auth parameter {name} must be a token: {value!r}")
        parts.append(f"{name}={_quote(value) if quoted else value}")
    return f"{scheme} {', '.join(parts)}"


def _digest(value: str) -> AuthHeader:
    header = parse_auth_header(value)
    if header.scheme.lower() != "digest":
        raise _malformed(f"scheme {header.scheme[:40]!r} is not Digest")
    return header


def _required(header: AuthHeader, name: str) -> str:
    value = header.get(name)
    if value is None:
        raise _malformed(f"Digest parameter {name} missing")
    return value


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """A Digest challenge (``WWW-Authenticate``/``Proxy-Authenticate``, RFC 7616 §3.3).

    ``algorithm`` is the token as sent (None if absent, which means MD5);
    ``qop`` the lowercased options (empty for an RFC 2069 challenge).
    """

    realm: str
    nonce: str
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None

    def to_header(self) -> str:
        """The challenge as a header value (RFC 3261 §25.1 quoting)."""
        params: list[tuple[str, str, bool]] = [("realm", self.realm, True)]
        if self.domain is not None:
            params.append(("domain", self.domain, True))
        params.append(("nonce", self.nonce, True))
        if self.opaque is not None:
            params.append(("opaque", self.opaque, True))
        if self.stale:
            params.append(("stale", "true", False))
        if self.algorithm is not None:
            params.append(("algorithm", self.algorithm, False))
        if self.qop:
            params.append(("qop", ",".join(self.qop), True))
        return format_auth_header("Digest", params)


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """Digest credentials (``Authorization``/``Proxy-Authorization``, RFC 7616 §3.4).

    Values are as sent; ``algorithm`` is None when absent (MD5), ``qop`` is
    lowercased, ``nc`` is the raw 8-hex-digit text.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str | None = None
    cnonce: str | None = None
    nc: str | None = None
    qop: str | None = None
    opaque: str | None = None

    def to_header(self) -> str:
        """The credentials as a header value (RFC 3261 §25.1 quoting)."""
        params: list[tuple[str, str, bool]] = [
            ("username", self.username, True),
            ("realm", self.realm, True),
            ("nonce", self.nonce, True),
            ("uri", self.uri, True),
            ("response", self.response, True),
        ]
        if self.algorithm is not None:
            params.append(("algorithm", self.algorithm, False))
        if self.cnonce is not None:
            params.append(("cnonce", self.cnonce, True))
        if self.opaque is not None:
            params.append(("opaque", self.opaque, True))
        if self.qop is not None:
            params.append(("qop", self.qop, False))
        if self.nc is not None:
            params.append(("nc", self.nc, False))
        return format_auth_header("Digest", params)


def parse_challenge(value: str) -> DigestChallenge:
    """A ``WWW-Authenticate``/``Proxy-Authenticate`` value as :class:`DigestChallenge`."""
    header = _digest(value)
    qop = header.get("qop")
    stale = header.get("stale")
    return DigestChallenge(
        realm=_required(header, "realm"),
        nonce=_required(header, "nonce"),
        algorithm=header.get("algorithm"),
        qop=tuple(o.strip().lower() for o in qop.split(",") if o.strip()) if qop else (),
        opaque=header.get("opaque"),
        stale=stale is not None and stale.lower() == "true",
        domain=header.get("domain"),
    )


def parse_credentials(value: str) -> DigestCredentials:
    """An ``Authorization``/``Proxy-Authorization`` value as :class:`DigestCredentials`."""
    header = _digest(value)
    qop = header.get("qop")
    return DigestCredentials(
        username=_required(header, "username"),
        realm=_required(header, "realm"),
        nonce=_required(header, "nonce"),
        uri=_required(header, "uri"),
        response=_required(header, "response"),
        algorithm=header.get("algorithm"),
        cnonce=header.get("cnonce"),
        nc=header.get("nc"),
        qop=qop.lower() if qop is not None else None,
        opaque=header.get("opaque"),
    )
