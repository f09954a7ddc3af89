"""Matching messages to transactions (RFC 3261 §17.1.3, §17.2.3) and the §9.1/§17.1.1.3 builders.

Server transactions are keyed by the top Via branch, sent-by and method
(ACK and CANCEL look up the INVITE with method INVITE) when the branch
carries the magic cookie; otherwise by the RFC 2543 rule: Request-URI, To
tag, From tag, Call-ID, CSeq and top Via.  Client transactions are keyed by
branch and CSeq method.  Keys are named tuples: cheap to hash.

The RFC 2543 rule compares the Request-URI and top Via as text rather than
by the §19.1.4 equivalence rules: a retransmission repeats the same bytes.
"""

from __future__ import annotations

from typing import NamedTuple

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_ack, make_cancel

__all__ = [
    "BranchKey",
    "ClientKey",
    "LegacyAckKey",
    "LegacyKey",
    "ServerKey",
    "build_ack_for_non_2xx",
    "build_cancel",
    "client_key",
    "legacy_ack_key",
    "server_key",
]


class BranchKey(NamedTuple):
    """§17.2.3 key for a branch with the magic cookie."""

    branch: str
    host: str
    port: int | None
    method: str


class LegacyKey(NamedTuple):
    """§17.2.3 RFC 2543 key: Request-URI, To tag, From tag, Call-ID, CSeq, top Via."""

    uri: str
    to_tag: str | None
    from_tag: str | None
    call_id: str
    cseq: int
    method: str
    via: str


class LegacyAckKey(NamedTuple):
    """RFC 2543 ACK key: as :class:`LegacyKey` without To tag and method.

    The To tag of the ACK is checked against the tag of the response sent.
    """

    uri: str
    from_tag: str | None
    call_id: str
    cseq: int
    via: str


class ClientKey(NamedTuple):
    """§17.1.3 key: branch of the top Via and CSeq method."""

    branch: str
    method: str


ServerKey = BranchKey | LegacyKey


def server_key(request: SipRequest, method: str) -> ServerKey:
    """The key of the server transaction ``request`` belongs to, for ``method``.

    Raises ``RemoteProtocolError`` when a header the match needs is unreadable.
    """
    via = request.top_via
    branch = via.branch
    if branch is not None and via.has_rfc3261_branch:
        return BranchKey(branch, via.host.lower(), via.port, method)
    return LegacyKey(
        str(request.uri),
        request.to.tag,
        request.from_.tag,
        request.call_id,
        request.cseq.number,
        method,
        str(via),
    )


def legacy_ack_key(request: SipRequest) -> LegacyAckKey:
    """The RFC 2543 ACK key of an INVITE or of the ACK that matches it (§17.2.3)."""
    return LegacyAckKey(
        str(request.uri),
        request.from_.tag,
        request.call_id,
        request.cseq.number,
        str(request.top_via),
    )


def client_key(response: SipResponse) -> ClientKey | None:
    """The client transaction key of ``response``; None when it cannot match any (§17.1.3)."""
    try:
        branch = response.top_via.branch
        method = response.cseq.method
    except RemoteProtocolError:
        return None
    if not branch:
        return None
    return ClientKey(branch, method)


def build_cancel(invite: SipRequest) -> SipRequest:
    """CANCEL for ``invite`` (§9.1): same Request-URI, Call-ID, From, To, CSeq number, top Via, Route.

    Send it with ``send_request`` to the destination of the INVITE, only after a
    provisional response arrived (§9.1).
    """
    if invite.method != "INVITE":
        raise LocalProtocolError(f"build_cancel wants an INVITE, got {invite.method}")
    return make_cancel(invite)


def build_ack_for_non_2xx(invite: SipRequest, response: SipResponse) -> SipRequest:
    """ACK for a 300-699 response to ``invite`` (§17.1.1.3): To from the response, rest as CANCEL.

    The INVITE client transaction sends it by itself; this is public for tests
    and for stateless elements.
    """
    if invite.method != "INVITE":
        raise LocalProtocolError(f"an ACK acknowledges an INVITE, not {invite.method}")
    if not 300 <= response.status <= 699:
        raise LocalProtocolError(f"the ACK of a {response.status} is not built here (§13.2.2.4)")
    return make_ack(invite, response)
