"""SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966 minimal).

Parsed components are stored *unescaped* (``%HH`` decoded exactly once, never
recursively: ``v%61lue%25%34%31`` is ``value%41``), and the text as received is
kept so that ``str(uri)`` gives back the original bytes.  A URI built in code
(or changed with :func:`dataclasses.replace` or a ``with_*`` method) has no
raw form and is written from its components, escaping what needs it.

``__eq__`` is structural.  URI *equivalence* (RFC 3261 §19.1.4, RFC 3966 §4)
is :meth:`SipUri.equivalent` and friends.

Any scheme other than sip/sips/tel parses as :class:`AbsoluteUri` (opaque);
whether such a URI is acceptable is the caller's decision (RFC 4475 §3.3.2).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from hotline.core.errors import RemoteProtocolError
from hotline.sip.msg_grammar import EMPTY_PARAMS, Params, fast_factory

__all__ = [
    "SIP_ADDR_SPEC_FAST_PATTERN",
    "SIP_URI_FAST_PATTERN",
    "AbsoluteUri",
    "SipUri",
    "TelUri",
    "Uri",
    "parse_uri",
    "sip_uri_from_fast_match",
]

_ESC = r"%[0-9A-Fa-f]{2}"
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_USER_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,;?/]|{_ESC})+")
_PASSWORD_RE = re.compile(rf"(?:[{_UNRESERVED}&=+$,]|{_ESC})*")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_IPV6_REF_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_PORT_RE = re.compile(r"[0-9]{1,5}")
_PARAMCHARS_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESC})+")
_HNAME_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESC})+")
_HVALUE_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESC})*")
_TEL_NUMBER_RE = re.compile(
    r"\+[0-9().\-]*[0-9][0-9().\-]*|[0-9A-Fa-f*#().\-]*[0-9A-Fa-f*#][0-9A-Fa-f*#().\-]*"
)
_OPAQUE_RE = re.compile(r'[^\s<>"]+')
_VISUAL_SEPARATORS = str.maketrans("", "", "-.()")
# Fast path: the common shape (no escapes, no password, no IPv6, no headers).
# Groups: scheme, user, host, port, params (with its leading ";").
_SIP_FAST_HEAD = (
    rf"([Ss][Ii][Pp][Ss]?):(?:([{_UNRESERVED}&=+$,]+)@)?([A-Za-z0-9_][A-Za-z0-9_.\-]*)"
    r"(?::([0-9]{1,5}))?"
)
SIP_URI_FAST_PATTERN = _SIP_FAST_HEAD + r"((?:;[A-Za-z0-9\-_.!~*'()\[\]/:&+$=]*)*)"
#: The same without URI parameters (an addr-spec, where ``;`` starts header params).
SIP_ADDR_SPEC_FAST_PATTERN = _SIP_FAST_HEAD + "()"
_SIP_FAST_RE = re.compile(SIP_URI_FAST_PATTERN)
_USER_SAFE = "!~*'()&=+$,;?/"
_PASSWORD_SAFE = "!~*'()&=+$,"
_PARAM_SAFE = "!~*'()[]/:&+$"
_HEADER_SAFE = "!~*'()[]/?:+$"
# §19.1.4: these parameters make two URIs differ when only one has them.
_SIGNIFICANT_PARAMS = frozenset({"user", "ttl", "method", "maddr", "transport"})


def _bad(where: str, problem: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed URI in {where}: {problem}", status_hint=400)


def _unescape(text: str) -> str:
    return unquote(text, errors="surrogateescape") if "%" in text else text


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe, errors="surrogateescape")


def _parse_uri_params(text: str, where: str) -> Params:
    """``*( ";" pname [ "=" pvalue ] )`` of a URI; ``text`` starts after the first ``;``."""
    items: list[tuple[str, str | None]] = []
    for piece in text.split(";"):
        name, eq, value = piece.partition("=")
        if _PARAMCHARS_RE.fullmatch(name) is None:
            raise _bad(where, f"bad URI parameter {piece[:40]!r}")
        if eq:
            if _PARAMCHARS_RE.fullmatch(value) is None:
                raise _bad(where, f"bad value of URI parameter {name[:40]!r}")
            items.append((_unescape(name), _unescape(value)))
        else:
            items.append((_unescape(name), None))
    return Params(items)


def _parse_uri_headers(text: str, where: str) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for piece in text.split("&"):
        name, eq, value = piece.partition("=")
        if not eq or _HNAME_RE.fullmatch(name) is None or _HVALUE_RE.fullmatch(value) is None:
            raise _bad(where, f"bad URI header {piece[:40]!r}")
        headers.append((_unescape(name), _unescape(value)))
    return tuple(headers)


def _format_uri_params(params: Params) -> str:
    return "".join(
        f";{_escape(k, _PARAM_SAFE)}"
        if v is None
        else f";{_escape(k, _PARAM_SAFE)}={_escape(v, _PARAM_SAFE)}"
        for k, v in params
    )


def _params_key(params: Params) -> dict[str, str | None]:
    return {k.lower(): (None if v is None else v.lower()) for k, v in params}


def _host_key(host: str) -> str:
    if host.startswith("["):
        try:
            return "[" + ipaddress.IPv6Address(host[1:-1]).compressed + "]"
        except ValueError:
            return host.lower()
    return host.lower()


@dataclass(frozen=True, slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1.1); ``host`` keeps IPv6 brackets."""

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = EMPTY_PARAMS
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "sip"
    _raw: str = field(default="", init=False, repr=False, compare=False)

    @classmethod
    def parse(cls, text: str, where: str = "URI") -> SipUri:
        """Parse a sip/sips URI; anything else raises ``RemoteProtocolError`` (400)."""
        uri = parse_uri(text, where)
        if not isinstance(uri, SipUri):
            raise _bad(where, f"not a sip/sips URI: {text[:60]!r}")
        return uri

    @property
    def secure(self) -> bool:
        """True for ``sips:``."""
        return self.scheme == "sips"

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased."""
        value = self.params.get("transport")
        return None if value is None else value.lower()

    @property
    def lr(self) -> bool:
        """True when the loose-routing ``lr`` parameter is present (RFC 3261 §19.1.1)."""
        return self.params.has("lr")

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter."""
        return self.params.get("maddr")

    @property
    def user_param(self) -> str | None:
        """The ``user`` parameter (``phone``, ``ip``...), lower-cased."""
        value = self.params.get("user")
        return None if value is None else value.lower()

    @property
    def host_port(self) -> str:
        """``host`` or ``host:port`` as in a Via sent-by."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def with_param(self, name: str, value: str | None) -> SipUri:
        """Copy with URI parameter ``name`` set (written anew from components)."""
        return SipUri(
            self.host, self.user, self.password, self.port,
            self.params.with_param(name, value), self.headers, self.scheme,
        )  # fmt: skip

    def without_param(self, name: str) -> SipUri:
        """Copy without URI parameter ``name``."""
        return SipUri(
            self.host, self.user, self.password, self.port,
            self.params.without(name), self.headers, self.scheme,
        )  # fmt: skip

    def without_headers(self) -> SipUri:
        """Copy without the ``?header=value`` part (never turn it into real headers)."""
        return SipUri(self.host, self.user, self.password, self.port, self.params, (), self.scheme)

    def address_of_record(self) -> str:
        """Canonical AoR: ``scheme:user@host[:port]``, unescaped, no parameters (§10.3)."""
        user = "" if self.user is None else f"{self.user}@"
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}:{user}{_host_key(self.host)}{port}"

    def equivalent(self, other: Uri) -> bool:
        """URI comparison of RFC 3261 §19.1.4."""
        if not isinstance(other, SipUri):
            return False
        if (self.scheme, self.user, self.password, self.port) != (
            other.scheme, other.user, other.password, other.port,
        ):  # fmt: skip
            return False
        if _host_key(self.host) != _host_key(other.host):
            return False
        mine, theirs = _params_key(self.params), _params_key(other.params)
        for name in mine.keys() | theirs.keys():
            if name in mine and name in theirs:
                if mine[name] != theirs[name]:
                    return False
            elif name in _SIGNIFICANT_PARAMS:
                return False
        return {k.lower(): v for k, v in self.headers} == {k.lower(): v for k, v in other.headers}

    def __str__(self) -> str:
        if self._raw:
            return self._raw
        text = f"{self.scheme}:"
        if self.user is not None:
            text += _escape(self.user, _USER_SAFE)
            if self.password is not None:
                text += ":" + _escape(self.password, _PASSWORD_SAFE)
            text += "@"
        text += self.host_port + _format_uri_params(self.params)
        if self.headers:
            text += "?" + "&".join(
                f"{_escape(k, _HEADER_SAFE)}={_escape(v, _HEADER_SAFE)}" for k, v in self.headers
            )
        return text


@dataclass(frozen=True, slots=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966), minimal: the number and its parameters."""

    number: str
    params: Params = EMPTY_PARAMS
    _raw: str = field(default="", init=False, repr=False, compare=False)

    @property
    def is_global(self) -> bool:
        """True for a global number (``+`` and E.164 digits)."""
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators (``-``, ``.``, ``(``, ``)``)."""
        return self.number.translate(_VISUAL_SEPARATORS)

    @property
    def phone_context(self) -> str | None:
        """The ``phone-context`` parameter of a local number."""
        return self.params.get("phone-context")

    def equivalent(self, other: Uri) -> bool:
        """Comparison of RFC 3966 §4: separators ignored, parameters unordered."""
        if not isinstance(other, TelUri):
            return False
        return self.digits.lower() == other.digits.lower() and _params_key(
            self.params
        ) == _params_key(other.params)

    def __str__(self) -> str:
        return self._raw or f"tel:{self.number}{_format_uri_params(self.params)}"


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """A URI of any other scheme (``http:``, ``isbn:``, ``urn:``...), kept opaque."""

    scheme: str
    opaque: str

    def equivalent(self, other: Uri) -> bool:
        """Same scheme (case-insensitive) and same opaque part."""
        return (
            isinstance(other, AbsoluteUri)
            and self.scheme.lower() == other.scheme.lower()
            and self.opaque == other.opaque
        )

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}" if self.scheme else self.opaque


Uri = SipUri | TelUri | AbsoluteUri
_make_sip_uri = fast_factory(SipUri)
_make_tel_uri = fast_factory(TelUri)


def _parse_sip(text: str, scheme: str, rest: str, where: str) -> SipUri:
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user_raw, colon, password_raw = userinfo.partition(":")
        if _USER_RE.fullmatch(user_raw) is None:
            raise _bad(where, f"bad user part {user_raw[:40]!r}")
        user = _unescape(user_raw)
        if colon:
            if _PASSWORD_RE.fullmatch(password_raw) is None:
                raise _bad(where, "bad password")
            password = _unescape(password_raw)
    headers: tuple[tuple[str, str], ...] = ()
    qmark = rest.find("?")
    if qmark >= 0:
        headers = _parse_uri_headers(rest[qmark + 1 :], where)
        rest = rest[:qmark]
    params = EMPTY_PARAMS
    semi = rest.find(";")
    if semi >= 0:
        params = _parse_uri_params(rest[semi + 1 :], where)
        rest = rest[:semi]
    port_text = ""
    if rest.startswith("["):
        close = rest.find("]") + 1
        host, after = rest[:close], rest[close:]
        if close == 0 or _IPV6_REF_RE.fullmatch(host) is None:
            raise _bad(where, f"bad IPv6 reference {rest[:60]!r}")
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _bad(where, f"bad IPv6 address {host[:60]!r}") from None
        if after:
            if after[0] != ":":
                raise _bad(where, f"junk after host {after[:40]!r}")
            port_text = after[1:]
    else:
        host, colon, port_text = rest.partition(":")
        if _HOSTNAME_RE.fullmatch(host) is None:
            raise _bad(where, f"bad host {host[:60]!r}")
        if colon and not port_text:
            raise _bad(where, "empty port")
    port: int | None = None
    if port_text:
        if _PORT_RE.fullmatch(port_text) is None or int(port_text) > 65535:
            raise _bad(where, f"bad port {port_text[:20]!r}")
        port = int(port_text)
    return _make_sip_uri(host, user, password, port, params, headers, scheme, text)


def sip_uri_from_fast_match(
    text: str,
    scheme: str,
    user: str | None,
    host: str,
    port_text: str | None,
    params_text: str,
    where: str,
) -> SipUri | None:
    """Build a URI from the groups of :data:`SIP_URI_FAST_PATTERN`; ``None`` if the port is too big."""
    port = None if port_text is None else int(port_text)
    if port is not None and port > 65535:
        return None
    params = _parse_uri_params(params_text[1:], where) if params_text else EMPTY_PARAMS
    return _make_sip_uri(host, user, None, port, params, (), scheme.lower(), text)


def parse_uri(text: str, where: str = "URI") -> Uri:
    """Parse a URI; ``where`` names its place (``Request-URI``, ``To``...) in errors."""
    fast = _SIP_FAST_RE.fullmatch(text)
    if fast is not None:
        scheme, user, host, port_text, params_text = fast.groups()
        uri = sip_uri_from_fast_match(text, scheme, user, host, port_text, params_text, where)
        if uri is not None:
            return uri
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME_RE.fullmatch(scheme) is None:
        raise _bad(where, f"no scheme in {text[:60]!r}")
    lscheme = scheme.lower()
    if lscheme in ("sip", "sips"):
        return _parse_sip(text, lscheme, rest, where)
    if lscheme == "tel":
        number, semi, params_text = rest.partition(";")
        if _TEL_NUMBER_RE.fullmatch(number) is None:
            raise _bad(where, f"bad telephone number {number[:40]!r}")
        params = _parse_uri_params(params_text, where) if semi else EMPTY_PARAMS
        return _make_tel_uri(number, params, text)
    if _OPAQUE_RE.fullmatch(rest) is None:
        raise _bad(where, f"bad {scheme[:20]!r} URI")
    return AbsoluteUri(scheme, rest)
