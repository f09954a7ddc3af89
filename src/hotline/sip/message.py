"""SIP request and response models (RFC 3261 §7) with typed header accessors.

A message holds its start-line fields, a :class:`~hotline.sip.headers.Headers`
container and the body as ``bytes``.  Typed accessors (:meth:`SipMessage.via`,
:attr:`SipMessage.cseq`, :attr:`SipMessage.from_`...) parse on first use,
memoise the result in the headers, and raise
``RemoteProtocolError(status_hint=400)`` naming the header when it is missing
or malformed.  ``bytes(message)`` writes the message with a Content-Length
that matches the body (§18.3, §20.14).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import cast

from hotline.core.errors import RemoteProtocolError
from hotline.sip.hdr_types import (
    MAX_CSEQ,
    CSeq,
    NameAddr,
    Via,
    parse_call_id,
    parse_cseq,
    parse_name_addr,
    parse_token_list,
    parse_uint,
    parse_via,
)
from hotline.sip.headers import Headers
from hotline.sip.msg_grammar import bad_header, split_list
from hotline.sip.uri import Uri

__all__ = ["WIRE_MEMO", "SipMessage", "SipRequest", "SipResponse"]

#: Memo key of the header section's wire bytes, kept by the parser when
#: serialising would reproduce them exactly (dropped on any header change).
WIRE_MEMO = "wire"


def _missing(label: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"missing {label} header", status_hint=400)


class SipMessage(ABC):
    """Behaviour shared by :class:`SipRequest` and :class:`SipResponse`."""

    __slots__ = ()

    headers: Headers
    body: bytes

    @abstractmethod
    def start_line(self) -> str:
        """The request or status line, without CRLF."""

    # -- helpers ---------------------------------------------------------------

    def _required(self, key: str, label: str) -> str:
        value = self.headers.single(key, label)
        if value is None:
            raise _missing(label)
        return value

    def _name_addrs(self, name: str) -> tuple[NameAddr, ...]:
        return tuple(parse_name_addr(v, name) for v in self.headers.values(name))

    # -- typed accessors (memoised in the headers until they change) -------------

    def via(self) -> tuple[Via, ...]:
        """Every Via value, top first (§20.42)."""
        found = self.headers.memo("via")
        if found is None:
            found = tuple(parse_via(v) for v in self.headers.values("Via"))
            self.headers.remember("via", found)
        return cast(tuple[Via, ...], found)

    @property
    def top_via(self) -> Via:
        """The first Via value (parsed alone: lower Vias are parsed by :meth:`via`)."""
        headers = self.headers
        found = headers.memo("top-via")
        if found is None:
            lines = headers.get_all_by_key("via")
            if not lines:
                raise _missing("Via")
            first = lines[0]
            if "," in first:
                first = split_list(first, "Via")[0]
            found = parse_via(first)
            headers.remember("top-via", found)
        return cast(Via, found)

    @property
    def cseq(self) -> CSeq:
        """The CSeq (§20.16)."""
        found = self.headers.memo("cseq")
        if found is None:
            found = parse_cseq(self._required("cseq", "CSeq"))
            self.headers.remember("cseq", found)
        return cast(CSeq, found)

    @property
    def call_id(self) -> str:
        """The Call-ID (§20.8)."""
        found = self.headers.memo("call-id")
        if found is None:
            found = parse_call_id(self._required("call-id", "Call-ID"))
            self.headers.remember("call-id", found)
        return cast(str, found)

    @property
    def from_(self) -> NameAddr:
        """The From header (§20.20)."""
        found = self.headers.memo("from")
        if found is None:
            found = parse_name_addr(self._required("from", "From"), "From")
            self.headers.remember("from", found)
        return cast(NameAddr, found)

    @property
    def to(self) -> NameAddr:
        """The To header (§20.39)."""
        found = self.headers.memo("to")
        if found is None:
            found = parse_name_addr(self._required("to", "To"), "To")
            self.headers.remember("to", found)
        return cast(NameAddr, found)

    def contacts(self) -> tuple[NameAddr, ...]:
        """Every Contact value (§20.10); empty for ``Contact: *`` (see :attr:`contact_is_wildcard`)."""
        if self.contact_is_wildcard:
            return ()
        found = self.headers.memo("contact")
        if found is None:
            found = self._name_addrs("Contact")
            self.headers.remember("contact", found)
        return cast(tuple[NameAddr, ...], found)

    @property
    def contact_is_wildcard(self) -> bool:
        """True for ``Contact: *`` (a REGISTER removing every binding, §10.2.2)."""
        values = self.headers.values("Contact")
        if "*" not in values:
            return False
        if len(values) != 1:
            raise bad_header("Contact", "'*' together with other values")
        return True

    def route(self) -> tuple[NameAddr, ...]:
        """Every Route value, in order (§20.34)."""
        return self._name_addrs("Route")

    def record_route(self) -> tuple[NameAddr, ...]:
        """Every Record-Route value, in order (§20.30)."""
        return self._name_addrs("Record-Route")

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards, 0..255 (§20.22); ``None`` when absent."""
        value = self.headers.single("max-forwards", "Max-Forwards")
        return None if value is None else parse_uint(value, "Max-Forwards", 255)

    @property
    def content_length(self) -> int | None:
        """Content-Length as received (§20.14); ``None`` when absent."""
        value = self.headers.single("content-length", "Content-Length")
        return None if value is None else parse_uint(value, "Content-Length", MAX_CSEQ)

    @property
    def expires(self) -> int | None:
        """Expires in seconds (§20.19); values past 2**32-1 are clamped to it."""
        value = self.headers.single("expires", "Expires")
        return None if value is None else parse_uint(value, "Expires", MAX_CSEQ, clamp=True)

    @property
    def content_type(self) -> str | None:
        """Content-Type as written (§20.15)."""
        return self.headers.single("content-type", "Content-Type")

    def _tokens(self, name: str) -> tuple[str, ...]:
        return parse_token_list(self.headers.values(name), name)

    def require(self) -> tuple[str, ...]:
        """Require option tags (§20.32)."""
        return self._tokens("Require")

    def proxy_require(self) -> tuple[str, ...]:
        """Proxy-Require option tags (§20.29)."""
        return self._tokens("Proxy-Require")

    def supported(self) -> tuple[str, ...]:
        """Supported option tags (§20.37)."""
        return self._tokens("Supported")

    def unsupported(self) -> tuple[str, ...]:
        """Unsupported option tags (§20.40)."""
        return self._tokens("Unsupported")

    def allow(self) -> tuple[str, ...]:
        """Allow methods (§20.5)."""
        return self._tokens("Allow")

    # -- serialisation ---------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Wire form; the first Content-Length line is rewritten (or added) to match the body."""
        body = self.body
        keys, names, values = self.headers.columns()
        length = str(len(body))
        wire = self.headers.memo(WIRE_MEMO)
        if (
            isinstance(wire, bytes)
            and keys.count("content-length") == 1
            and values[keys.index("content-length")] == length
        ):
            start = self.start_line().encode("utf-8", "surrogateescape")
            return b"".join((start, b"\r\n", wire, b"\r\n\r\n", body))
        if "content-length" in keys:
            index = keys.index("content-length")
            values = list(values)
            values[index] = length
            if keys.count("content-length") > 1:
                keep = [i for i, key in enumerate(keys) if key != "content-length" or i == index]
                names = [names[i] for i in keep]
                values = [values[i] for i in keep]
            lines = "\r\n".join(map(": ".join, zip(names, values, strict=True)))
        else:
            lines = "\r\n".join(map(": ".join, zip(names, values, strict=True)))
            lines = f"{lines}\r\nContent-Length: {length}" if lines else f"Content-Length: {length}"
        text = f"{self.start_line()}\r\n{lines}\r\n\r\n"
        return text.encode("utf-8", "surrogateescape") + body

    def __bytes__(self) -> bytes:
        return self.to_bytes()


@dataclass(slots=True)
class SipRequest(SipMessage):
    """A request: ``method``, Request-URI ``uri``, headers and body (§7.1)."""

    method: str
    uri: Uri
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def start_line(self) -> str:
        """``METHOD uri SIP/2.0``."""
        return f"{self.method} {self.uri} SIP/2.0"


@dataclass(slots=True)
class SipResponse(SipMessage):
    """A response: status code, reason phrase (may be empty), headers and body (§7.2)."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def start_line(self) -> str:
        """``SIP/2.0 code reason``."""
        return f"SIP/2.0 {self.status} {self.reason}"

    @property
    def is_provisional(self) -> bool:
        """True for 1xx."""
        return self.status < 200

    @property
    def is_success(self) -> bool:
        """True for 2xx."""
        return 200 <= self.status < 300
