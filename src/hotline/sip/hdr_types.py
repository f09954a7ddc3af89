"""Typed SIP header values and their parsers (RFC 3261 §20, §25.1; RFC 3581).

Each parser takes one header value (already unfolded and, for list headers,
split at commas) and raises ``RemoteProtocolError(status_hint=400)`` whose
message names the header.  The dataclasses are frozen; ``str()`` writes a
value back in canonical form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hotline.core.errors import RemoteProtocolError
from hotline.sip.msg_grammar import (
    EMPTY_PARAMS,
    TOKEN_BYTES,
    TOKEN_CLASS,
    Params,
    bad_header,
    fast_factory,
    is_plain,
    match_quoted,
    parse_params,
    plain_params,
    quote_string,
    unquote_string,
)
from hotline.sip.uri import (
    SIP_ADDR_SPEC_FAST_PATTERN,
    SIP_URI_FAST_PATTERN,
    SipUri,
    Uri,
    parse_uri,
    sip_uri_from_fast_match,
)

__all__ = [
    "MAX_CSEQ",
    "CSeq",
    "NameAddr",
    "Via",
    "is_valid_name_addr",
    "parse_call_id",
    "parse_cseq",
    "parse_name_addr",
    "parse_token_list",
    "parse_uint",
    "parse_via",
    "require_sip_uri",
]

#: Largest CSeq number and delta-seconds value (RFC 3261 §8.1.1.5, §20.19).
MAX_CSEQ = 2**32 - 1

_TOKEN_RE = re.compile(rf"[{TOKEN_CLASS}]+")
_DISPLAY_TOKENS_RE = re.compile(rf"[{TOKEN_CLASS}]+(?:[ \t]+[{TOKEN_CLASS}]+)*")
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID_RE = re.compile(rf"{_WORD}(?:@{_WORD})?")
_CSEQ_RE = re.compile(rf"([0-9]+)[ \t]+([{TOKEN_CLASS}]+)")
_DIGITS_RE = re.compile(r"[0-9]+")
_VIA_RE = re.compile(
    rf"([{TOKEN_CLASS}]+)[ \t]*/[ \t]*([{TOKEN_CLASS}]+)[ \t]*/[ \t]*([{TOKEN_CLASS}]+)"
    r"[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.\-]*)(?:[ \t]*:[ \t]*([0-9]{1,5}))?"
    r"[ \t]*(.*)",
    re.S,
)
# Fast paths of name-addr / addr-spec with a plain sip URI.  Groups: quoted
# display name (no escapes), token display name, URI text, the five URI groups
# of SIP_URI_FAST_PATTERN, then the header parameters.
_NAME_ADDR_FAST_RE = re.compile(
    rf'(?:"([^"\\\r\n]*)"[ \t]*|([{TOKEN_CLASS}]+(?:[ \t]+[{TOKEN_CLASS}]+)*)[ \t]*)?'
    rf"<({SIP_URI_FAST_PATTERN})>(.*)",
    re.S,
)
# Strict check of the common name-addr / addr-spec shapes: what it accepts,
# parse_name_addr accepts too (so the parse can wait until someone asks).
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_PARAMCHAR = r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$]"
_SIP_STRICT = (
    r"[Ss][Ii][Pp][Ss]?:(?:[A-Za-z0-9\-_.!~*'()&=+$,]+@)?[A-Za-z0-9_][A-Za-z0-9_.\-]*"
    rf"(?::{_PORT})?"
)
_HEADER_PARAMS_STRICT = (
    rf"(?>[ \t]*;[ \t]*[{TOKEN_CLASS}]+(?:[ \t]*=[ \t]*[{TOKEN_CLASS}:\[\]]+)?)*[ \t]*"
)
_NAME_ADDR_VALID_RE = re.compile(
    rf'(?:"[^"\\\r\n]*"[ \t]*|[{TOKEN_CLASS}]+(?:[ \t]+[{TOKEN_CLASS}]+)*[ \t]*)?'
    rf"<{_SIP_STRICT}(?>;{_PARAMCHAR}+(?:={_PARAMCHAR}+)?)*>{_HEADER_PARAMS_STRICT}"
    rf"|{_SIP_STRICT}{_HEADER_PARAMS_STRICT}"
)
_ADDR_SPEC_FAST_RE = re.compile(
    rf"((?!))?((?!))?({SIP_ADDR_SPEC_FAST_PATTERN})((?:[ \t]*;.*)?)", re.S
)  # the two never-matching groups stand for the absent display name
# sent-by host and port, ";", "=" and parameter characters (no LWS, no quotes).
_PLAIN_VIA_BYTES = TOKEN_BYTES + b":[];="
_HOST_BYTES = b"-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_TTL_RE = re.compile(r"[0-9]{1,3}")
_QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``[display-name] <uri> *(;param)`` of From, To, Contact, Route... (§20.10, §25.1).

    ``display_name`` is unquoted and unescaped; ``None`` when absent.
    """

    uri: Uri
    display_name: str | None = None
    params: Params = EMPTY_PARAMS

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (From/To, §19.3)."""
        return self.params.get("tag")

    @property
    def expires(self) -> int | None:
        """The Contact ``expires`` parameter; values past 2**32-1 are clamped to it (RFC 4475 §3.1.2.4)."""
        value = self.params.get("expires")
        if value is None:
            return None
        return parse_uint(value, "Contact expires", MAX_CSEQ, clamp=True)

    @property
    def q(self) -> float | None:
        """The Contact ``q`` preference, 0.0 to 1.0 (§20.10)."""
        value = self.params.get("q")
        if value is None:
            return None
        if _QVALUE_RE.fullmatch(value) is None:
            raise bad_header("Contact", f"bad q value {value[:20]!r}")
        return float(value)

    def with_tag(self, tag: str) -> NameAddr:
        """Copy with the ``tag`` parameter set."""
        return NameAddr(self.uri, self.display_name, self.params.with_param("tag", tag))

    def __str__(self) -> str:
        display = "" if self.display_name is None else quote_string(self.display_name) + " "
        return f"{display}<{self.uri}>{self.params}"


_make_name_addr = fast_factory(NameAddr)


def is_valid_name_addr(value: str) -> bool:
    """Cheap check: True when ``value`` is a common-shape name-addr that
    :func:`parse_name_addr` accepts; False means "parse it to know"."""
    return _NAME_ADDR_VALID_RE.fullmatch(value) is not None


def parse_name_addr(value: str, header: str) -> NameAddr:
    """Parse ``name-addr / addr-spec`` followed by header parameters.

    ``caller<sip:...>`` (no LWS before ``<``) is accepted (RFC 4475 §3.1.1.6).
    In addr-spec form the URI ends at the first ``;`` (those are header
    parameters, RFC 3261 §20) and may not contain ``,`` or ``?`` (§20.10).
    """
    fast = _NAME_ADDR_FAST_RE.fullmatch(value) or _ADDR_SPEC_FAST_RE.fullmatch(value)
    if fast is not None:
        quoted, tokens, text, scheme, user, host, port, uri_params, params = fast.groups()
        sip_uri = sip_uri_from_fast_match(text, scheme, user, host, port, uri_params, header)
        if sip_uri is not None:
            return _make_name_addr(
                sip_uri, tokens if quoted is None else quoted, parse_params(params, header)
            )
    display: str | None = None
    if value.startswith('"'):
        end = match_quoted(value)
        if end < 0:
            raise bad_header(header, "unterminated quoted display name")
        display = unquote_string(value[:end])
        rest = value[end:].lstrip(" \t")
        if not rest.startswith("<"):
            raise bad_header(header, "quoted display name without <URI>")
    else:
        lt = value.find("<")
        rest = value[lt:] if lt >= 0 else ""
        if lt > 0:
            display_raw = value[:lt].rstrip(" \t")
            if _DISPLAY_TOKENS_RE.fullmatch(display_raw) is None:
                raise bad_header(header, f"bad display name {display_raw[:40]!r}")
            display = display_raw
    if rest:
        gt = rest.find(">")
        if gt < 0:
            raise bad_header(header, "missing >")
        uri_text, params_text = rest[1:gt], rest[gt + 1 :]
        if uri_text != uri_text.strip(" \t"):
            raise bad_header(header, "whitespace inside <>")
    else:
        uri_text, semi, params_text = value.partition(";")
        uri_text = uri_text.rstrip(" \t")
        params_text = semi + params_text
        if "," in uri_text or "?" in uri_text or " " in uri_text or "\t" in uri_text:
            raise bad_header(header, "URI with ',', '?' or spaces must be inside <>")
    if not uri_text:
        raise bad_header(header, "empty URI")
    uri = parse_uri(uri_text, header)
    return _make_name_addr(uri, display, parse_params(params_text, header))


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host[:port];params`` (§20.42, RFC 3581)."""

    transport: str
    host: str
    port: int | None = None
    params: Params = EMPTY_PARAMS
    protocol_name: str = "SIP"
    protocol_version: str = "2.0"

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter (``z9hG4bK...`` for RFC 3261 elements, §8.1.1.7)."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter (§18.2.1)."""
        return self.params.get("received")

    @property
    def has_rport(self) -> bool:
        """True when ``rport`` is present, with or without a value (RFC 3581)."""
        return self.params.has("rport")

    @property
    def rport(self) -> int | None:
        """The ``rport`` port number; ``None`` when absent or still valueless."""
        value = self.params.get("rport")
        if not value:
            return None
        if _DIGITS_RE.fullmatch(value) is None or len(value) > 5 or int(value) > 65535:
            raise bad_header("Via", f"bad rport {value[:20]!r}")
        return int(value)

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter."""
        return self.params.get("maddr")

    @property
    def ttl(self) -> int | None:
        """The ``ttl`` parameter (0..255)."""
        value = self.params.get("ttl")
        if value is None:
            return None
        if _TTL_RE.fullmatch(value) is None or int(value) > 255:
            raise bad_header("Via", f"bad ttl {value[:20]!r}")
        return int(value)

    @property
    def sent_by(self) -> str:
        """``host`` or ``host:port``."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def has_rfc3261_branch(self) -> bool:
        """True when the branch starts with the magic cookie and has more (§17.2.3)."""
        branch = self.branch
        return branch is not None and len(branch) > 7 and branch.startswith("z9hG4bK")

    def with_param(self, name: str, value: str | None) -> Via:
        """Copy with parameter ``name`` set."""
        return Via(
            self.transport, self.host, self.port, self.params.with_param(name, value),
            self.protocol_name, self.protocol_version,
        )  # fmt: skip

    def with_source(self, host: str, port: int) -> Via:
        """Record the packet source on a received request's top Via.

        RFC 3261 §18.2.1: add ``received`` when sent-by is a name or another
        address.  RFC 3581 §4: when ``rport`` is present without a value, fill
        it with the source port and always add ``received``.
        """
        via = self
        if self.has_rport and self.params.get("rport") == "":
            via = via.with_param("rport", str(port)).with_param("received", host)
        elif self.host.strip("[]").lower() != host.strip("[]").lower():
            via = via.with_param("received", host)
        return via

    def __str__(self) -> str:
        return (
            f"{self.protocol_name}/{self.protocol_version}/{self.transport} "
            f"{self.sent_by}{self.params}"
        )


_make_via = fast_factory(Via)


def _plain_via(value: str) -> Via | None:
    """Fast path: ``SIP/2.0/TRANSPORT host[:port][;params]`` with single spaces, no IPv6."""
    protocol, space, rest = value.partition(" ")
    if not space or protocol[:8].upper() != "SIP/2.0/" or not is_plain(rest, _PLAIN_VIA_BYTES):
        return None
    transport = protocol[8:]
    sent_by, semi, params_text = rest.partition(";")
    host, colon, port_text = sent_by.partition(":")
    if not transport.isalpha() or host[:1] in ("", ".", "-") or not is_plain(host, _HOST_BYTES):
        return None
    port: int | None = None
    if colon:
        if not port_text.isdigit() or len(port_text) > 5 or int(port_text) > 65535:
            return None
        port = int(port_text)
    params = EMPTY_PARAMS
    if semi:
        plain = plain_params(semi + params_text, checked=True)
        if plain is None:
            return None
        params = plain
    return _make_via(transport.upper(), host, port, params, "SIP", "2.0")


def parse_via(value: str, header: str = "Via") -> Via:
    """Parse one via-parm; LWS is allowed inside sent-protocol and around ``:``/``;``/``=``."""
    plain = _plain_via(value)
    if plain is not None:
        return plain
    match = _VIA_RE.fullmatch(value)
    if match is None:
        raise bad_header(header, f"bad sent-protocol or sent-by in {value[:60]!r}")
    name, version, transport, host, port_text, rest = match.groups()
    port: int | None = None
    if port_text is not None:
        port = int(port_text)
        if port > 65535:
            raise bad_header(header, f"bad port {port_text}")
    params = parse_params(rest, header)
    return _make_via(transport.upper(), host, port, params, name.upper(), version)


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: number method`` (§20.16); the number is at most 2**32-1."""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_make_cseq = fast_factory(CSeq)


def parse_cseq(value: str) -> CSeq:
    """Parse a CSeq value; leading zeros are allowed (RFC 4475 §3.1.1.1)."""
    number, space, method = value.partition(" ")
    if (
        space
        and number.isdigit()
        and number.isascii()
        and len(number) <= 10
        and _TOKEN_RE.fullmatch(method) is not None
        and int(number) <= MAX_CSEQ
    ):
        return _make_cseq(int(number), method)
    match = _CSEQ_RE.fullmatch(value)
    if match is None:
        raise bad_header("CSeq", f"expected 'number method', got {value[:60]!r}")
    digits, method = match.groups()
    digits = digits.lstrip("0") or "0"
    if len(digits) > 10 or int(digits) > MAX_CSEQ:
        raise bad_header("CSeq", "sequence number larger than 2**32-1")
    return _make_cseq(int(digits), method)


def parse_call_id(value: str) -> str:
    """Check ``callid = word ["@" word]`` (§25.1) and return it unchanged."""
    if _CALL_ID_RE.fullmatch(value) is None:
        raise bad_header("Call-ID", f"bad value {value[:60]!r}")
    return value


def parse_uint(value: str, header: str, maximum: int, *, clamp: bool = False) -> int:
    """Parse ``1*DIGIT`` (leading zeros allowed, no sign).

    Above ``maximum`` the result is ``maximum`` when ``clamp`` is set, else an error.
    """
    if value.isdigit() and value.isascii() and len(value) <= 10:
        number = int(value)
        if number <= maximum:
            return number
    if _DIGITS_RE.fullmatch(value) is None:
        raise bad_header(header, f"expected digits, got {value[:40]!r}")
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(maximum)) or int(digits) > maximum:
        if clamp:
            return maximum
        raise bad_header(header, f"value larger than {maximum}")
    return int(digits)


def parse_token_list(values: list[str], header: str) -> tuple[str, ...]:
    """Check that every value is a token (Require, Supported, Allow... §20)."""
    for value in values:
        if _TOKEN_RE.fullmatch(value) is None:
            raise bad_header(header, f"bad option tag or method {value[:40]!r}")
    return tuple(values)


def require_sip_uri(name_addr: NameAddr, header: str) -> SipUri:
    """The URI of ``name_addr`` if it is sip/sips, else ``RemoteProtocolError`` (400)."""
    if not isinstance(name_addr.uri, SipUri):
        raise RemoteProtocolError(f"{header} URI is not a sip/sips URI", status_hint=400)
    return name_addr.uri
