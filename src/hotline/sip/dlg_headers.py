"""Header values of the dialog extensions: Replaces, Refer-To, Referred-By, events, 100rel.

- ``Replaces`` (RFC 3891 §6): ``callid;to-tag=..;from-tag=..[;early-only]``.
- ``Refer-To`` (RFC 3515 §2.1): a name-addr whose URI may embed headers,
  ``<sip:bob@host?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2>`` for an
  attended transfer (RFC 3891 §5: the embedded Replaces is escaped).
- ``Referred-By`` (RFC 3892 §3): a name-addr with parameters (``cid``).
- ``Event`` and ``Subscription-State`` (RFC 6665 §8.2), as used by the
  implicit REFER subscription (RFC 3515 §2.4.4: ``Event: refer;id=<CSeq>``).
- ``RSeq`` and ``RAck`` (RFC 3262 §7).
- ``Reason`` (RFC 3326): the cause a BYE or CANCEL carries.
- ``message/sipfrag`` status lines in NOTIFY bodies (RFC 3420, RFC 3515 §2.4.5).

Every parser bounds its input (:data:`MAX_VALUE_CHARS`) and raises
:class:`~hotline.core.errors.RemoteProtocolError` with ``status_hint=400``
(or :class:`~hotline.core.errors.LimitExceededError`) naming the header.
``str()`` of each value writes it back in canonical form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hotline.core.errors import LimitExceededError, RemoteProtocolError
from hotline.sip.hdr_types import MAX_CSEQ, NameAddr, parse_call_id, parse_name_addr, parse_uint
from hotline.sip.msg_grammar import TOKEN_CLASS, Params, bad_header, is_token, parse_params
from hotline.sip.uri import SipUri, Uri

__all__ = [
    "MAX_RSEQ",
    "MAX_SIPFRAG_BYTES",
    "MAX_VALUE_CHARS",
    "EventHeader",
    "RAck",
    "ReasonHeader",
    "ReferTo",
    "Replaces",
    "SipfragStatus",
    "SubscriptionState",
    "build_refer_to",
    "parse_event",
    "parse_rack",
    "parse_reason",
    "parse_refer_to",
    "parse_referred_by",
    "parse_replaces",
    "parse_rseq",
    "parse_sipfrag",
    "parse_subscription_state",
]

#: Longest header value these parsers read (a Refer-To with an embedded Replaces fits easily).
MAX_VALUE_CHARS = 2048
#: Largest sipfrag body read from a NOTIFY (RFC 3420 fragments are small).
MAX_SIPFRAG_BYTES = 8192
#: RSeq values are 1 .. 2**31-1 (RFC 3262 §7.1 and §3: the first is below 2**31).
MAX_RSEQ = 2**31 - 1

_RACK_RE = re.compile(rf"([0-9]+)[ \t]+([0-9]+)[ \t]+([{TOKEN_CLASS}]+)")
_SIPFRAG_STATUS_RE = re.compile(rb"SIP/2\.0[ \t]+([1-6][0-9]{2})(?:[ \t]+([^\r\n]*))?")
_EVENT_RE = re.compile(rf"([{TOKEN_CLASS}]+)[ \t]*(.*)", re.S)


def _bounded(value: str, header: str) -> str:
    if len(value) > MAX_VALUE_CHARS:
        raise LimitExceededError(f"{header} header longer than {MAX_VALUE_CHARS} characters")
    return value.strip(" \t")


def _single_param(params: Params, name: str, header: str) -> str | None:
    values = [value for key, value in params if key.lower() == name]
    if len(values) > 1:
        raise bad_header(header, f"parameter {name!r} appears more than once")
    return params.get(name)


# -- Replaces (RFC 3891) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replaces:
    """The dialog an INVITE with ``Replaces`` takes over (RFC 3891 §3, §6).

    ``to_tag`` and ``from_tag`` are as the *sender* saw the target dialog:
    the receiving UA compares ``to_tag`` with its local tag and ``from_tag``
    with its remote tag (§3).  ``params`` keeps any other parameters.
    """

    call_id: str
    to_tag: str
    from_tag: str
    early_only: bool = False
    params: Params = field(default_factory=Params)

    def __post_init__(self) -> None:
        parse_call_id(self.call_id)
        for tag in (self.to_tag, self.from_tag):
            if not is_token(tag):
                raise bad_header("Replaces", f"tag {tag[:40]!r} is not a token")

    def __str__(self) -> str:
        early = ";early-only" if self.early_only else ""
        return f"{self.call_id};to-tag={self.to_tag};from-tag={self.from_tag}{early}{self.params}"


def parse_replaces(value: str, header: str = "Replaces") -> Replaces:
    """Parse a Replaces value; exactly one to-tag and one from-tag are required (§6)."""
    value = _bounded(value, header)
    call_id, semi, rest = value.partition(";")
    call_id = parse_call_id(call_id.rstrip(" \t"))
    params = parse_params(semi + rest, header)
    to_tag = _single_param(params, "to-tag", header)
    from_tag = _single_param(params, "from-tag", header)
    if not to_tag or not from_tag:
        raise bad_header(header, "to-tag and from-tag are both required")
    flags = [value for key, value in params if key.lower() == "early-only"]
    if any(value is not None for value in flags):
        raise bad_header(header, "early-only takes no value")
    early = bool(flags)
    other = params.without("to-tag").without("from-tag").without("early-only")
    try:
        return Replaces(call_id, to_tag, from_tag, early, other)
    except RemoteProtocolError as exc:
        raise bad_header(header, str(exc)) from None


# -- Refer-To (RFC 3515) and Referred-By (RFC 3892) ---------------------------------


@dataclass(frozen=True, slots=True)
class ReferTo:
    """A parsed ``Refer-To`` (RFC 3515 §2.1).

    ``address`` is the header as received; :attr:`uri` is the target with
    the embedded headers removed (never copy them blindly into a request,
    RFC 3261 §19.1.5).  ``replaces`` is the embedded ``Replaces`` of an
    attended transfer; ``embedded_headers`` holds the other ones, unescaped.
    """

    address: NameAddr
    replaces: Replaces | None = None
    embedded_headers: tuple[tuple[str, str], ...] = ()

    @property
    def uri(self) -> Uri:
        """The URI to send the triggered request to."""
        uri = self.address.uri
        return uri.without_headers() if isinstance(uri, SipUri) else uri

    @property
    def method(self) -> str:
        """The method of the triggered request: the ``method`` URI parameter, else INVITE."""
        uri = self.address.uri
        if isinstance(uri, SipUri):
            method = uri.params.get("method")
            if method:
                return method.upper()
        return "INVITE"

    def __str__(self) -> str:
        return str(self.address)


def parse_refer_to(value: str, header: str = "Refer-To") -> ReferTo:
    """Parse a Refer-To value, unescaping an embedded ``?Replaces=`` (RFC 3891 §5)."""
    address = parse_name_addr(_bounded(value, header), header)
    replaces: Replaces | None = None
    others: list[tuple[str, str]] = []
    uri = address.uri
    if isinstance(uri, SipUri):
        for name, hvalue in uri.headers:
            if name.lower() != "replaces":
                others.append((name, hvalue))
            elif replaces is not None:
                raise bad_header(header, "more than one embedded Replaces")
            else:
                replaces = parse_replaces(hvalue, f"{header} embedded Replaces")
    return ReferTo(address, replaces, tuple(others))


def build_refer_to(
    target: SipUri, *, replaces: Replaces | None = None, display_name: str | None = None
) -> ReferTo:
    """A Refer-To for ``target``; with ``replaces`` the header embeds it escaped (RFC 3891 §5)."""
    headers = tuple((n, v) for n, v in target.headers if n.lower() != "replaces")
    extra = () if replaces is None else (("Replaces", str(replaces)),)
    uri = SipUri(
        target.host, target.user, target.password, target.port,
        target.params, (*headers, *extra), target.scheme,
    )  # fmt: skip
    return ReferTo(NameAddr(uri, display_name), replaces, headers)


def parse_referred_by(value: str) -> NameAddr:
    """Parse ``Referred-By`` (RFC 3892 §3): name-addr or addr-spec with parameters."""
    return parse_name_addr(_bounded(value, "Referred-By"), "Referred-By")


# -- Event and Subscription-State (RFC 6665) ----------------------------------------


@dataclass(frozen=True, slots=True)
class EventHeader:
    """``Event: package[.template];id=..`` (RFC 6665 §8.2.1); ``package`` lower-cased."""

    package: str
    event_id: str | None = None
    params: Params = field(default_factory=Params)

    def __str__(self) -> str:
        ident = "" if self.event_id is None else f";id={self.event_id}"
        return f"{self.package}{ident}{self.params}"


def parse_event(value: str) -> EventHeader:
    """Parse an Event (or Allow-Events element) value."""
    value = _bounded(value, "Event")
    match = _EVENT_RE.fullmatch(value)
    if match is None:
        raise bad_header("Event", f"bad event package {value[:40]!r}")
    package, rest = match.groups()
    params = parse_params(rest, "Event")
    event_id = _single_param(params, "id", "Event")
    return EventHeader(package.lower(), event_id or None, params.without("id"))


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """``Subscription-State`` (RFC 6665 §8.2.3): state lower-cased, optional reason/expires."""

    state: str
    reason: str | None = None
    expires_s: int | None = None
    retry_after_s: int | None = None

    @property
    def terminated(self) -> bool:
        """True once the subscription is over (the last NOTIFY)."""
        return self.state == "terminated"

    def __str__(self) -> str:
        text = self.state
        if self.reason is not None:
            text += f";reason={self.reason}"
        if self.expires_s is not None:
            text += f";expires={self.expires_s}"
        if self.retry_after_s is not None:
            text += f";retry-after={self.retry_after_s}"
        return text


def parse_subscription_state(value: str) -> SubscriptionState:
    """Parse ``active|pending|terminated|extension *(;param)``."""
    header = "Subscription-State"
    value = _bounded(value, header)
    state, semi, rest = value.partition(";")
    state = state.strip(" \t")
    if not is_token(state):
        raise bad_header(header, f"bad state {state[:40]!r}")
    params = parse_params(semi + rest, header)

    def number(name: str) -> int | None:
        raw = _single_param(params, name, header)
        return None if raw is None else parse_uint(raw, header, MAX_CSEQ, clamp=True)

    reason = _single_param(params, "reason", header)
    return SubscriptionState(
        state.lower(), reason.lower() if reason else None, number("expires"), number("retry-after")
    )


# -- 100rel (RFC 3262) --------------------------------------------------------------


def parse_rseq(value: str) -> int:
    """Parse ``RSeq: 1*DIGIT`` (1 .. 2**31-1, RFC 3262 §7.1)."""
    number = parse_uint(_bounded(value, "RSeq"), "RSeq", MAX_CSEQ)
    if not 1 <= number <= MAX_RSEQ:
        raise bad_header("RSeq", "value out of range 1..2**31-1")
    return number


@dataclass(frozen=True, slots=True)
class RAck:
    """``RAck: response-num CSeq-num Method`` (RFC 3262 §7.2)."""

    rseq: int
    cseq: int
    method: str

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"


def parse_rack(value: str) -> RAck:
    """Parse an RAck value."""
    match = _RACK_RE.fullmatch(_bounded(value, "RAck"))
    if match is None:
        raise bad_header("RAck", f"expected 'rseq cseq method', got {value[:60]!r}")
    rseq, cseq, method = match.groups()
    return RAck(parse_uint(rseq, "RAck", MAX_RSEQ), parse_uint(cseq, "RAck", MAX_CSEQ), method)


# -- Reason (RFC 3326) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReasonHeader:
    """``Reason: SIP;cause=200;text="Call completed elsewhere"`` or ``Q.850;cause=16``."""

    protocol: str
    cause: int | None = None
    text: str | None = None

    def __str__(self) -> str:
        text = self.protocol
        if self.cause is not None:
            text += f";cause={self.cause}"
        if self.text is not None:
            escaped = self.text.replace("\\", "\\\\").replace('"', '\\"')
            text += f';text="{escaped}"'
        return text


def parse_reason(value: str) -> ReasonHeader:
    """Parse one Reason value (the first one of a list is what callers record)."""
    value = _bounded(value, "Reason")
    protocol, semi, rest = value.partition(";")
    protocol = protocol.strip(" \t")
    if not is_token(protocol):
        raise bad_header("Reason", f"bad protocol {protocol[:40]!r}")
    params = parse_params(semi + rest, "Reason")
    cause_text = _single_param(params, "cause", "Reason")
    cause = None if cause_text is None else parse_uint(cause_text, "Reason", 65535)
    return ReasonHeader(protocol, cause, _single_param(params, "text", "Reason"))


# -- message/sipfrag (RFC 3420) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class SipfragStatus:
    """The status line of a ``message/sipfrag`` NOTIFY body (RFC 3515 §2.4.5)."""

    status: int
    reason: str

    @property
    def final(self) -> bool:
        """True for a final status (the referenced request has completed)."""
        return self.status >= 200

    def to_body(self) -> bytes:
        """The sipfrag body: the status line and CRLF."""
        return f"SIP/2.0 {self.status} {self.reason}\r\n".encode()


def parse_sipfrag(body: bytes) -> SipfragStatus:
    """Read the status line at the start of a sipfrag body (headers after it are ignored)."""
    if len(body) > MAX_SIPFRAG_BYTES:
        raise LimitExceededError(f"sipfrag body larger than {MAX_SIPFRAG_BYTES} bytes")
    first = body.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
    match = _SIPFRAG_STATUS_RE.fullmatch(first)
    if match is None:
        raise RemoteProtocolError(
            f"sipfrag body does not start with a status line: {first[:60]!r}", status_hint=400
        )
    status, reason = match.groups()
    return SipfragStatus(int(status), (reason or b"").decode("utf-8", "replace").strip())
