"""Parsing SIP messages from bytes (RFC 3261 §7, §18.3, §25; RFC 4475).

:func:`parse_message` reads one datagram.  :func:`parse_head` and
:func:`finish_message` are the two halves that the stream framer
(:mod:`hotline.sip.framing`) uses around Content-Length framing.

Every failure is a :class:`SipParseError` (a ``RemoteProtocolError``) with a
``status_hint`` (400, 505, 416, or 513 for size) and, for a request whose
headers could be read, ``partial``: the request as far as it was parsed, so
that a driver can still answer it (§8.2, §18.2.1 need Via, From, To, Call-ID,
CSeq).  Limits past which input is refused are in :class:`ParseLimits`.

Strictness chosen for RFC 4475 §3.1.2: extra spaces in the request line,
``<>`` or LWS in the Request-URI, headers in the Request-URI, display names
with non-token characters, spaces inside ``<>`` and unbalanced quotes are
rejected (400).  Line folding, LWS around separators, leading zeros, compact
forms and bare-LF line ends are accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

from hotline.core.errors import LimitExceededError, RemoteProtocolError
from hotline.sip.hdr_types import (
    MAX_CSEQ,
    is_valid_name_addr,
    parse_call_id,
    parse_cseq,
    parse_name_addr,
    parse_uint,
)
from hotline.sip.headers import COMPACT_FORMS, Headers
from hotline.sip.message import WIRE_MEMO, SipRequest, SipResponse
from hotline.sip.msg_grammar import TOKEN_BYTES, TOKEN_CLASS
from hotline.sip.uri import AbsoluteUri, SipUri, Uri, parse_uri

__all__ = [
    "ParseLimits",
    "ParsedHead",
    "SipLimitError",
    "SipParseError",
    "find_head_end",
    "finish_message",
    "parse_head",
    "parse_message",
]

_TOKEN_RE = re.compile(rf"[{TOKEN_CLASS}]+")
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.I)
_STATUS_RE = re.compile(r"[1-6][0-9][0-9]")
_HEADER_LINE_RE = re.compile(rf"[{TOKEN_CLASS}]+[ \t]*:.*", re.S)
# Bytes to delete from the LF-joined header names: what remains is not a token.
_TOKEN_BYTES_LF = TOKEN_BYTES + b"\n"
_WS = " \t"
_COMPACT_KEYS = {short: full.lower() for short, full in COMPACT_FORMS.items()}
_COMPACT_KEY_SET = frozenset(_COMPACT_KEYS)
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_THIRD = itemgetter(2)
_WS_TUPLE = (" ", "\t")


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on what the parser accepts from a peer."""

    max_message_bytes: int = 65536
    max_header_count: int = 256
    max_line_length: int = 8192
    max_via_count: int = 70


_DEFAULT_LIMITS = ParseLimits()


class SipParseError(RemoteProtocolError):
    """A message could not be parsed; ``partial`` holds what was read of a request."""

    def __init__(
        self, message: str, *, status_hint: int = 400, partial: SipRequest | None = None
    ) -> None:
        super().__init__(message, status_hint=status_hint)
        self.partial = partial


class SipLimitError(SipParseError, LimitExceededError):
    """A :class:`ParseLimits` bound was exceeded."""


@dataclass(slots=True)
class ParsedHead:
    """Start line and headers of a message whose body is not attached yet.

    ``deferred`` is an error found in the start line that does not break
    framing (bad version, unknown URI scheme...): it is raised by
    :func:`finish_message` once the body has been consumed.
    """

    message: SipRequest | SipResponse | None
    content_length: int | None
    deferred: SipParseError | None = None

    @property
    def partial(self) -> SipRequest | None:
        """The request read so far, for error replies."""
        return self.message if isinstance(self.message, SipRequest) else None


def find_head_end(data: bytes | bytearray, start: int = 0) -> tuple[int, int] | None:
    """``(end of headers, start of body)`` of the message at ``start``, or ``None``."""
    crlf = data.find(b"\r\n\r\n", start)
    lf = data.find(b"\n\n", start) if crlf == -1 else data.find(b"\n\n", start, crlf)
    if lf != -1:
        end = lf - 1 if lf > start and data[lf - 1] == 0x0D else lf
        return end, lf + 2
    if crlf != -1:
        return crlf, crlf + 4
    return None


def _bad_line(lines: list[str]) -> SipParseError:
    """The error for the first line that is not ``name: value``."""
    for line in lines:
        if _HEADER_LINE_RE.fullmatch(line) is None:
            return SipParseError(f"malformed header line {line[:60]!r}")
    return SipParseError("malformed header section")  # pragma: no cover - unreachable


def _are_tokens(names: list[str]) -> bool:
    """True when every name is a non-empty ``token`` (one C-level pass)."""
    joined = "\n".join(names)
    return (
        "" not in names
        and joined.isascii()
        and not joined.encode("ascii").translate(None, _TOKEN_BYTES_LF)
    )


def _fast_headers(block: str) -> tuple[Headers, bool] | None:
    """Headers of a plain section (CRLF lines ``name: value``) in a few C-level passes.

    Every CRLF becomes ``": \n"`` and the text is split at ``": "``; the
    pieces alternate name/value exactly when every line has one ``": "`` at
    its name's end, which the LF counts below prove.  ``None`` sends
    anything else (folding, no space after the colon, ``": "`` inside a
    value, bare CR/LF...) to the general path.
    """
    replaced = block.replace("\r\n", ": \n")
    pieces = replaced.split(": ")
    if len(pieces) % 2:
        return None
    names = pieces[0::2]
    values = pieces[1::2]
    boundaries = len(names) - 1
    joined = "\n".join(names)  # "Via\n\nMax-Forwards\n\n..." when aligned
    if (
        joined.count("\n") != 2 * boundaries
        or joined.count("\n\n") != boundaries
        or not joined.isascii()
        or joined.encode("ascii").translate(None, _TOKEN_BYTES_LF)
    ):
        return None
    clean = joined.split("\n\n")
    value_text = "".join(values)
    if "" in clean or "\r" in value_text or "\n" in value_text:
        return None
    canonical = not (
        min(values)[:1] <= " "
        or " : \n" in replaced
        or "\t: \n" in replaced
        or replaced.endswith(_WS_TUPLE)
    )
    if not canonical:
        values = [value.strip(_WS) for value in values]
    keys = joined.lower().split("\n\n")
    if not _COMPACT_KEY_SET.isdisjoint(keys):
        keys = [_COMPACT_KEYS.get(key, key) for key in keys]
    return Headers.from_parsed(keys, clean, values), canonical


def _split_lines(text: str, limits: ParseLimits) -> list[str]:
    """Lines of a header section; CRLF expected, bare LF accepted, bare CR refused."""
    lines = text.split("\r\n")
    line_feeds = text.count("\n")
    if len(lines) != line_feeds + 1 or text.count("\r") != line_feeds:
        if text.count("\r") != text.count("\r\n"):
            raise SipParseError("bare CR in the header section")
        lines = text.replace("\r\n", "\n").split("\n")
    longest = limits.max_line_length
    if len(text) > longest and max(map(len, lines)) > longest:
        raise SipLimitError(f"a line is longer than {longest} bytes")
    if len(lines) > limits.max_header_count:
        raise SipLimitError(f"more than {limits.max_header_count} header lines")
    return lines


def _unfold(lines: list[str], limits: ParseLimits) -> list[str]:
    """Join continuation lines (starting with SP/HT) to their header (§7.3.1)."""
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not out:
                raise SipParseError("continuation line before the first header")
            out[-1] = f"{out[-1].rstrip(_WS)} {line.strip(_WS)}"
        else:
            out.append(line)
    if max(map(len, out)) > limits.max_line_length:
        raise SipLimitError(f"a folded header is longer than {limits.max_line_length} bytes")
    return out


def _parse_headers(lines: list[str], limits: ParseLimits) -> Headers:
    """Split header lines into names and values (§7.3)."""
    if not lines:
        return Headers()
    if min(lines)[:1] <= " ":  # some line starts with SP, HT or a control character
        lines = _unfold(lines, limits)
    # Fast path: every line is "name: value" (a plain token, then ": ").
    parts = list(map(str.partition, lines, repeat(": ")))
    names = list(map(_FIRST, parts))
    if all(map(_SECOND, parts)) and _are_tokens(names):
        values = list(map(_THIRD, parts))
        if min(values)[:1] <= " " or any(map(str.endswith, values, repeat(_WS_TUPLE))):
            values = [value.strip(_WS) for value in values]
    else:
        parts = list(map(str.partition, lines, repeat(":")))
        names = [part[0].rstrip(_WS) for part in parts]
        if not all(map(_SECOND, parts)) or not _are_tokens(names):
            raise _bad_line(lines)
        values = [part[2].strip(_WS) for part in parts]
    keys = list(map(str.lower, names))
    if min(map(len, keys)) == 1:
        keys = [_COMPACT_KEYS.get(key, key) for key in keys]
    return Headers.from_parsed(keys, names, values)


def _request_line(line: str, headers: Headers) -> ParsedHead:
    parts = line.split(" ")
    method = parts[0]
    if _TOKEN_RE.fullmatch(method) is None:
        return ParsedHead(None, None, SipParseError(f"malformed request line {line[:60]!r}"))
    if len(parts) != 3 or not parts[1] or not parts[2]:
        guess: Uri = AbsoluteUri("", " ".join(p for p in parts[1:-1] if p))
        partial = SipRequest(method, guess, headers)
        error = SipParseError(
            "request line needs exactly one SP between its parts", partial=partial
        )
        return ParsedHead(partial, None, error)
    uri_text, version = parts[1], parts[2]
    if version == "SIP/2.0" and uri_text[:4] == "sip:" and "?" not in uri_text:
        try:  # the common case first
            return ParsedHead(SipRequest(method, parse_uri(uri_text, "Request-URI"), headers), None)
        except RemoteProtocolError:
            pass
    return _checked_request_line(method, uri_text, version, headers)


def _checked_request_line(method: str, uri_text: str, version: str, headers: Headers) -> ParsedHead:
    uri: Uri = AbsoluteUri("", uri_text)
    problem: str | None = None
    status = 400
    if version.upper() != "SIP/2.0":
        if _VERSION_RE.fullmatch(version):
            problem, status = f"SIP version {version[:20]} not supported", 505
        else:
            problem = f"bad SIP-Version {version[:20]!r}"
    elif uri_text.startswith("<") or "\t" in uri_text:
        problem = "Request-URI must not be enclosed in <> or contain LWS"
    else:
        try:
            uri = parse_uri(uri_text, "Request-URI")
        except RemoteProtocolError as exc:
            problem = str(exc)
        else:
            if isinstance(uri, SipUri) and uri.headers:
                problem = "Request-URI must not carry headers (§19.1.1)"
            elif isinstance(uri, AbsoluteUri):
                problem, status = f"unsupported URI scheme {uri.scheme[:20]!r}", 416
    request = SipRequest(method, uri, headers)
    deferred = None
    if problem is not None:
        deferred = SipParseError(problem, status_hint=status, partial=request)
    return ParsedHead(request, None, deferred)


def _status_line(line: str, headers: Headers) -> ParsedHead:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    response = SipResponse(0, reason, headers)
    if version.upper() != "SIP/2.0":
        error = SipParseError(f"bad SIP-Version in status line {version[:20]!r}")
    elif _STATUS_RE.fullmatch(code) is None:
        error = SipParseError(f"bad status code {code[:20]!r}")
    else:
        response.status = int(code)
        return ParsedHead(response, None)
    return ParsedHead(None, None, error)


def _salvage(first: str, lines: list[str], limits: ParseLimits) -> SipRequest | None:
    """A request made of the well-formed header lines, to answer a malformed one with 400."""
    if first[:4].upper() == "SIP/":
        return None
    good = [line for line in lines if _HEADER_LINE_RE.fullmatch(line) is not None]
    return _request_line(first, _parse_headers(good, limits)).partial


def parse_head(
    data: bytes | bytearray, start: int, end: int, limits: ParseLimits = _DEFAULT_LIMITS
) -> ParsedHead:
    """Parse ``data[start:end]`` (start line and header lines, no blank line).

    Errors that make the header section unreadable, and a missing-or-bad
    Content-Length, are raised; start-line problems are ``deferred``.
    """
    text = data[start:end].decode("utf-8", "surrogateescape")
    first, _, block = text.partition("\r\n")
    headers = None
    if "\n" not in first and "\r" not in first and len(text) <= limits.max_line_length:
        fast = _fast_headers(block)
        if fast is not None:
            headers, canonical = fast
            if canonical:  # serialising gives these very bytes back: keep them
                offset = start + len(first.encode("utf-8", "surrogateescape")) + 2
                headers.remember(WIRE_MEMO, bytes(data[offset:end]))
    if headers is None or len(headers) > limits.max_header_count:
        lines = _split_lines(text, limits)
        first = lines[0]
        try:
            headers = _parse_headers(lines[1:], limits)
        except SipParseError as exc:
            exc.partial = _salvage(first, lines[1:], limits)
            raise
    if first[:4].upper() == "SIP/":
        head = _status_line(first, headers)
    else:
        head = _request_line(first, headers)
    lengths = headers.get_all_by_key("content-length")
    if lengths:
        if len(lengths) > 1:
            raise SipParseError("more than one Content-Length header", partial=head.partial)
        try:
            head.content_length = parse_uint(lengths[0], "Content-Length", MAX_CSEQ)
        except RemoteProtocolError as exc:
            raise SipParseError(str(exc), partial=head.partial) from None
    return head


def _validate(message: SipRequest | SipResponse, limits: ParseLimits) -> None:
    """Eager checks of the headers every element relies on (§8.1.1, §8.2.2).

    The top Via and CSeq are parsed and memoised for the typed accessors;
    Max-Forwards, Call-ID, From and To are checked (From/To are parsed only
    when the cheap check cannot vouch for them); lower Via values are
    counted here and parsed on demand.
    """
    headers = message.headers
    single = headers.single
    via_lines = headers.get_all_by_key("via")
    if not via_lines:
        raise RemoteProtocolError("missing Via header")
    if len(via_lines) + "".join(via_lines).count(",") > limits.max_via_count:
        raise LimitExceededError(f"more than {limits.max_via_count} Via values")
    _ = message.top_via
    cseq_value = single("cseq", "CSeq")
    if cseq_value is None:
        raise RemoteProtocolError("missing CSeq header")
    cseq = parse_cseq(cseq_value)
    headers.remember("cseq", cseq)
    if isinstance(message, SipRequest):
        if cseq.method != message.method:
            raise RemoteProtocolError("CSeq method differs from the request method (§8.1.1.5)")
        max_forwards = single("max-forwards", "Max-Forwards")
        if max_forwards is not None:
            parse_uint(max_forwards, "Max-Forwards", 255)
    call_id = single("call-id", "Call-ID")
    if call_id is None:
        raise RemoteProtocolError("missing Call-ID header")
    parse_call_id(call_id)
    for key, label in (("from", "From"), ("to", "To")):
        value = single(key, label)
        if value is None:
            raise RemoteProtocolError(f"missing {label} header")
        if not is_valid_name_addr(value):
            headers.remember(key, parse_name_addr(value, label))


def finish_message(
    head: ParsedHead, body: bytes, limits: ParseLimits = _DEFAULT_LIMITS
) -> SipRequest | SipResponse:
    """Attach ``body``, raise a deferred start-line error, and check the key headers."""
    message = head.message
    deferred = head.deferred
    if deferred is not None and (message is None or deferred.status_hint != 416):
        raise deferred
    if message is None:
        raise SipParseError("unreadable start line")
    message.body = body
    try:
        _validate(message, limits)
    except LimitExceededError as exc:
        raise SipLimitError(str(exc), partial=head.partial) from None
    except RemoteProtocolError as exc:
        raise SipParseError(str(exc), status_hint=exc.status_hint, partial=head.partial) from None
    if deferred is not None:
        raise deferred
    return message


def parse_message(
    data: bytes, *, limits: ParseLimits = _DEFAULT_LIMITS
) -> SipRequest | SipResponse:
    """Parse one datagram (UDP, §18.3).

    The body is framed by Content-Length and trailing bytes are ignored; with
    no Content-Length the body is the rest of the datagram.  CRLFs before the
    start line are skipped (§7.5).
    """
    if len(data) > limits.max_message_bytes:
        raise SipLimitError(
            f"message larger than {limits.max_message_bytes} bytes", status_hint=513
        )
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    ends = find_head_end(data, start)
    if ends is None:
        raise SipParseError("no empty line after the header section")
    head_end, body_start = ends
    if head_end <= start:
        raise SipParseError("empty message")
    head = parse_head(data, start, head_end, limits)
    length = head.content_length
    available = len(data) - body_start
    if length is None:
        body = data[body_start:]
    elif length > available:
        raise SipParseError(
            f"Content-Length {length} larger than the {available} body bytes received",
            partial=head.partial,
        )
    else:
        body = data[body_start : body_start + length]
    return finish_message(head, bytes(body), limits)
