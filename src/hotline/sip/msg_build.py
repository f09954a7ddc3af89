"""Building SIP messages: responses to a request, new requests, CANCEL and ACK.

Values copied from a received request keep their received text, so a
response carries the peer's Via/From/To/Call-ID/CSeq byte for byte
(RFC 3261 §8.2.6.2).  Bad arguments from our own code raise
:class:`~hotline.core.errors.LocalProtocolError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.hdr_types import MAX_CSEQ, NameAddr, Via
from hotline.sip.headers import Headers
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_grammar import is_token
from hotline.sip.uri import Uri, parse_uri

__all__ = [
    "REASON_PHRASES",
    "make_ack",
    "make_cancel",
    "make_request",
    "make_response",
    "reason_phrase",
]

#: Default reason phrases (RFC 3261 §21 and the IANA SIP response-code registry).
REASON_PHRASES: Mapping[int, str] = MappingProxyType(
    {
        100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
        183: "Session Progress", 199: "Early Dialog Terminated", 200: "OK",
        202: "Accepted", 204: "No Notification", 300: "Multiple Choices",
        301: "Moved Permanently", 302: "Moved Temporarily", 305: "Use Proxy",
        380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
        402: "Payment Required", 403: "Forbidden", 404: "Not Found",
        405: "Method Not Allowed", 406: "Not Acceptable",
        407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
        412: "Conditional Request Failed", 413: "Request Entity Too Large",
        414: "Request-URI Too Long", 415: "Unsupported Media Type",
        416: "Unsupported URI Scheme", 417: "Unknown Resource-Priority",
        420: "Bad Extension", 421: "Extension Required",
        422: "Session Interval Too Small", 423: "Interval Too Brief",
        428: "Use Identity Header", 429: "Provide Referrer Identity",
        433: "Anonymity Disallowed", 436: "Bad Identity-Info",
        437: "Unsupported Certificate", 438: "Invalid Identity Header",
        439: "First Hop Lacks Outbound Support", 440: "Max-Breadth Exceeded",
        469: "Bad Info Package", 470: "Consent Needed",
        480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
        482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete",
        485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
        488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending",
        493: "Undecipherable", 494: "Security Agreement Required",
        500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
        503: "Service Unavailable", 504: "Server Time-out",
        505: "Version Not Supported", 513: "Message Too Large",
        580: "Precondition Failure", 600: "Busy Everywhere", 603: "Decline",
        604: "Does Not Exist Anywhere", 606: "Not Acceptable", 607: "Unwanted",
        608: "Rejected",
    }
)  # fmt: skip

_CLASS_PHRASES = {
    1: "Trying", 2: "OK", 3: "Redirect", 4: "Client Error", 5: "Server Error", 6: "Global Failure",
}  # fmt: skip


def reason_phrase(status: int) -> str:
    """The usual reason phrase of ``status`` (a generic one for unknown codes, §21)."""
    return REASON_PHRASES.get(status) or _CLASS_PHRASES.get(status // 100, "Unknown")


def _raw_values(request: SipRequest, name: str) -> list[str]:
    return request.headers.get_all(name)


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    copy_record_route: bool = False,
) -> SipResponse:
    """A response to ``request`` (§8.2.6).

    Via (every value, in order), From, To, Call-ID and CSeq are copied; a
    To tag is added when ``to_tag`` is given and the request's To has none;
    Timestamp is copied into a 100 (§8.2.6.1); Record-Route is copied when
    ``copy_record_route`` is set (a dialog-creating response, §12.1.1).  Works
    on the ``partial`` request of a parse error, copying what is there.
    """
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"status code {status} out of range")
    if to_tag is not None and not is_token(to_tag):
        raise LocalProtocolError(f"To tag {to_tag!r} is not a token")
    out = Headers()
    for value in _raw_values(request, "Via"):
        out.add("Via", value)
    if copy_record_route:
        for value in _raw_values(request, "Record-Route"):
            out.add("Record-Route", value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        for value in _raw_values(request, name):
            if name == "To" and to_tag is not None:
                try:
                    has_tag = request.to.tag is not None
                except RemoteProtocolError:
                    has_tag = True  # unreadable To: copy it unchanged
                if not has_tag:
                    value = f"{value};tag={to_tag}"
            out.add(name, value)
    if status == 100:
        for value in _raw_values(request, "Timestamp"):
            out.add("Timestamp", value)
    for name, value in headers:
        out.add(name, value)
    reason = reason_phrase(status) if reason is None else reason
    if "\r" in reason or "\n" in reason:
        raise LocalProtocolError("CR or LF in a reason phrase")
    return SipResponse(status, reason, out, body)


def _to_uri(uri: Uri | str) -> Uri:
    if not isinstance(uri, str):
        return uri
    try:
        return parse_uri(uri)
    except RemoteProtocolError as exc:
        raise LocalProtocolError(str(exc)) from None


def make_request(
    method: str,
    uri: Uri | str,
    *,
    from_: NameAddr | str,
    to: NameAddr | str,
    call_id: str,
    cseq: int,
    via: Via | str | None = None,
    max_forwards: int = 70,
    contact: NameAddr | str | None = None,
    route: Iterable[NameAddr | str] = (),
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> SipRequest:
    """A new request with the headers of §8.1.1 in the usual order.

    ``via`` may be left out for the client transaction to add with its
    branch (§8.1.1.7).  Content-Length is written by serialisation.
    """
    if not is_token(method):
        raise LocalProtocolError(f"method {method!r} is not a token")
    if not 0 <= cseq <= MAX_CSEQ:
        raise LocalProtocolError(f"CSeq number {cseq} out of range")
    if not 0 <= max_forwards <= 255:
        raise LocalProtocolError(f"Max-Forwards {max_forwards} out of range")
    out = Headers()
    if via is not None:
        out.add("Via", str(via))
    out.add("Max-Forwards", str(max_forwards))
    for hop in route:
        out.add("Route", str(hop))
    out.add("From", str(from_))
    out.add("To", str(to))
    out.add("Call-ID", call_id)
    out.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        out.add("Contact", str(contact))
    for name, value in headers:
        out.add(name, value)
    if content_type is not None:
        out.add("Content-Type", content_type)
    return SipRequest(method, _to_uri(uri), out, body)


def _hop_request(request: SipRequest, method: str, to_value: str) -> SipRequest:
    out = Headers()
    out.add("Via", request.headers.values("Via")[0])
    out.add("Max-Forwards", "70")
    for value in _raw_values(request, "Route"):
        out.add("Route", value)
    for value in _raw_values(request, "From"):
        out.add("From", value)
    out.add("To", to_value)
    out.add("Call-ID", request.call_id)
    out.add("CSeq", f"{request.cseq.number} {method}")
    return SipRequest(method, request.uri, out)


def make_cancel(request: SipRequest) -> SipRequest:
    """CANCEL for ``request`` (§9.1): same R-URI, Call-ID, From, To, CSeq number, top Via, Route."""
    to_value = request.headers.get("To")
    if to_value is None:
        raise LocalProtocolError("cannot cancel a request without To")
    return _hop_request(request, "CANCEL", to_value)


def make_ack(request: SipRequest, response: SipResponse) -> SipRequest:
    """ACK for a non-2xx final ``response`` to INVITE ``request`` (§17.1.1.3).

    To comes from the response (with its tag); the rest as for CANCEL.
    """
    if response.status < 300:
        raise LocalProtocolError("the ACK of a 2xx belongs to the dialog (§13.2.2.4)")
    to_value = response.headers.get("To")
    if to_value is None:
        raise LocalProtocolError("response without To")
    return _hop_request(request, "ACK", to_value)
