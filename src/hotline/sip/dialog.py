"""SIP dialogs (RFC 3261 §12) and a bounded table of them.

A :class:`Dialog` is the peer-to-peer relationship one INVITE (or REFER)
creates: its id (Call-ID, local tag, remote tag), local and remote CSeq,
local and remote URI, the remote target (the peer's Contact) and the route
set (from Record-Route).  It is sans-IO: it builds requests and checks
received messages, and never sends anything.

Creating one:

- UAS: :meth:`Dialog.from_incoming_invite` with the INVITE and the 1xx/2xx
  we answer it with (§12.1.1: route set = Record-Route *as received*,
  remote target = the request's Contact, remote CSeq = the request's).
- UAC: :meth:`Dialog.from_response` with the INVITE we sent and a 1xx/2xx
  carrying a To tag (§12.1.2: route set = Record-Route *reversed*).  One
  INVITE may create several early dialogs when a proxy forks it: one per To
  tag.  The first 2xx confirms its dialog; :meth:`Dialog.receive_response`
  recomputes the route set from that 2xx (§13.2.2.4).

Using one:

- :meth:`Dialog.create_request` builds an in-dialog request (§12.2.1.1):
  Request-URI = remote target and Route = route set (loose routing), or the
  strict-routing form when the first route lacks ``;lr``; CSeq = local CSeq
  + 1 except for ACK, which reuses the INVITE's number.  CANCEL is built by
  :func:`hotline.sip.msg_build.make_cancel` from the request it cancels (§9.1).
  The top Via is added only when the dialog knows our ``sent-by``
  (``via_sent_by``); otherwise the client transaction adds it.
- :meth:`Dialog.receive_request` checks an in-dialog request (§12.2.2):
  a CSeq below the remote CSeq raises ``RemoteProtocolError(status_hint=500)``,
  a request on a terminated dialog ``status_hint=481``; target refresh
  requests (INVITE, UPDATE, SUBSCRIBE, NOTIFY) replace the remote target.
- :meth:`Dialog.receive_response` follows responses (§12.2.1.2): a 2xx to a
  target refresh request replaces the remote target; 481 or 408 ends the dialog.

:class:`~hotline.sip.dlg_table.DialogTable` keeps dialogs by id, finds the
one of an incoming request and matches ``Replaces`` headers.
"""

from __future__ import annotations

import enum
import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipMessage, SipRequest, SipResponse
from hotline.sip.msg_build import make_request
from hotline.sip.txn_model import new_branch
from hotline.sip.uri import SipUri, Uri

__all__ = [
    "CONTACT_METHODS",
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogId",
    "DialogState",
    "new_call_id",
    "new_tag",
]

#: Requests that replace the remote target (RFC 3261 §12.2, RFC 3311 §5.1, RFC 6665 §4.1).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})
#: Requests that carry our Contact: target refreshes and REFER (RFC 3515 §2.4.1).
CONTACT_METHODS = TARGET_REFRESH_METHODS | {"REFER"}

_INITIAL_CSEQ_LIMIT = 2**31  # §8.1.1.5: the first CSeq is below 2**31
_MAX_CSEQ = 2**32 - 1


def new_tag() -> str:
    """A fresh From/To tag: 64 random bits (§19.3 asks for at least 32)."""
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    """A fresh Call-ID, ``random@host`` (§8.1.1.4)."""
    return f"{secrets.token_hex(12)}@{host}"


class DialogState(enum.Enum):
    """Dialog states of RFC 3261 §12: early (1xx), confirmed (2xx), terminated."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID, local tag and remote tag, as *we* see them (§12)."""

    call_id: str
    local_tag: str
    remote_tag: str

    @classmethod
    def of_request(cls, request: SipRequest) -> DialogId | None:
        """The id of the dialog an incoming request belongs to; None without both tags."""
        local, remote = request.to.tag, request.from_.tag
        if not local or not remote:
            return None
        return cls(request.call_id, local, remote)

    @classmethod
    def of_response(cls, response: SipResponse) -> DialogId | None:
        """The id of the dialog a response to our request belongs to; None without both tags."""
        local, remote = response.from_.tag, response.to.tag
        if not local or not remote:
            return None
        return cls(response.call_id, local, remote)


def _single_contact(message: SipMessage, what: str) -> NameAddr | None:
    contacts = message.contacts()
    if not contacts:
        return None
    if len(contacts) > 1:
        raise RemoteProtocolError(f"{what} with more than one Contact", status_hint=400)
    return contacts[0]


def _strict_uri(uri: Uri) -> Uri:
    """A route URI made fit for a Request-URI (§12.2.1.1, §19.1.1: no headers, no method)."""
    if isinstance(uri, SipUri):
        return uri.without_headers().without_param("method")
    return uri


class Dialog:
    """One dialog's state (RFC 3261 §12); build with the two ``from_*`` factories."""

    __slots__ = (
        "_id", "_is_uac", "_last_invite_cseq", "_local", "_local_contact", "_local_seq",
        "_remote", "_remote_seq", "_remote_target", "_rng", "_route_set", "_secure",
        "_state", "_via_sent_by", "_via_transport",
    )  # fmt: skip

    def __init__(
        self,
        *,
        dialog_id: DialogId,
        state: DialogState,
        is_uac: bool,
        local: NameAddr,
        remote: NameAddr,
        remote_target: Uri,
        route_set: tuple[NameAddr, ...],
        local_seq: int | None,
        remote_seq: int | None,
        secure: bool,
        local_contact: NameAddr | None,
        via_sent_by: str | None = None,
        via_transport: str = "UDP",
        rng: random.Random | None = None,
    ) -> None:
        self._id = dialog_id
        self._state = state
        self._is_uac = is_uac
        self._local = local
        self._remote = remote
        self._remote_target = remote_target
        self._route_set = route_set
        self._local_seq = local_seq
        self._remote_seq = remote_seq
        self._secure = secure
        self._local_contact = local_contact
        self._via_sent_by = via_sent_by
        self._via_transport = via_transport
        self._rng = rng or random.Random()
        self._last_invite_cseq = local_seq if is_uac else None

    # -- creation ----------------------------------------------------------------------

    @classmethod
    def from_incoming_invite(
        cls,
        request: SipRequest,
        response: SipResponse,
        *,
        secure: bool | None = None,
        via_sent_by: str | None = None,
        via_transport: str = "UDP",
        rng: random.Random | None = None,
    ) -> Dialog:
        """The UAS side (§12.1.1): ``response`` is the 101-299 we answer ``request`` with.

        ``secure`` defaults to "the Request-URI is sips:" (the transport's
        TLS is the driver's knowledge: pass it when known).
        """
        if not 101 <= response.status <= 299:
            raise LocalProtocolError("only a 101-299 response creates a dialog (§12.1)")
        local_tag = response.to.tag
        remote_tag = request.from_.tag
        if not local_tag:
            raise LocalProtocolError("a dialog-creating response needs our To tag")
        if not remote_tag:
            raise RemoteProtocolError("request without a From tag", status_hint=400)
        contact = _single_contact(request, request.method)
        if contact is None:
            raise RemoteProtocolError(
                f"{request.method} without Contact cannot create a dialog", status_hint=400
            )
        uri = request.uri
        is_secure = secure if secure is not None else isinstance(uri, SipUri) and uri.secure
        return cls(
            dialog_id=DialogId(request.call_id, local_tag, remote_tag),
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            is_uac=False,
            local=response.to,
            remote=request.from_,
            remote_target=contact.uri,
            route_set=request.record_route(),
            local_seq=None,
            remote_seq=request.cseq.number,
            secure=is_secure,
            local_contact=_single_contact(response, "response"),
            via_sent_by=via_sent_by,
            via_transport=via_transport,
            rng=rng,
        )

    @classmethod
    def from_response(
        cls,
        request: SipRequest,
        response: SipResponse,
        *,
        secure: bool | None = None,
        via_sent_by: str | None = None,
        via_transport: str = "UDP",
        rng: random.Random | None = None,
    ) -> Dialog:
        """The UAC side (§12.1.2): ``response`` is a 101-299 with a To tag to ``request``.

        A response without Contact (some gateways' 18x) leaves the remote
        target at the Request-URI until a later response brings one.
        """
        if not 101 <= response.status <= 299:
            raise LocalProtocolError("only a 101-299 response creates a dialog (§12.1)")
        remote_tag = response.to.tag
        local_tag = request.from_.tag
        if not remote_tag:
            raise RemoteProtocolError("dialog-creating response without a To tag")
        if not local_tag:
            raise LocalProtocolError("our request has no From tag")
        contact = _single_contact(response, "response")
        uri = request.uri
        is_secure = secure if secure is not None else isinstance(uri, SipUri) and uri.secure
        return cls(
            dialog_id=DialogId(request.call_id, local_tag, remote_tag),
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            is_uac=True,
            local=request.from_,
            remote=response.to,
            remote_target=contact.uri if contact is not None else request.uri,
            route_set=tuple(reversed(response.record_route())),
            local_seq=request.cseq.number,
            remote_seq=None,
            secure=is_secure,
            local_contact=_single_contact(request, request.method),
            via_sent_by=via_sent_by,
            via_transport=via_transport,
            rng=rng,
        )

    # -- state -------------------------------------------------------------------------

    @property
    def id(self) -> DialogId:
        """Call-ID, local tag, remote tag."""
        return self._id

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self._id.call_id

    @property
    def local_tag(self) -> str:
        """Our tag."""
        return self._id.local_tag

    @property
    def remote_tag(self) -> str:
        """The peer's tag."""
        return self._id.remote_tag

    @property
    def state(self) -> DialogState:
        """EARLY, CONFIRMED or TERMINATED."""
        return self._state

    @property
    def is_uac(self) -> bool:
        """True when we sent the request that created the dialog."""
        return self._is_uac

    @property
    def local_seq(self) -> int | None:
        """The CSeq number of our last request; None before the first."""
        return self._local_seq

    @property
    def remote_seq(self) -> int | None:
        """The highest CSeq number received from the peer; None before the first."""
        return self._remote_seq

    @property
    def local(self) -> NameAddr:
        """Our From (as UAC) or To (as UAS) address, with our tag."""
        return self._local

    @property
    def remote(self) -> NameAddr:
        """The peer's address, with its tag."""
        return self._remote

    @property
    def local_uri(self) -> Uri:
        """The local URI (§12.1)."""
        return self._local.uri

    @property
    def remote_uri(self) -> Uri:
        """The remote URI (§12.1)."""
        return self._remote.uri

    @property
    def remote_target(self) -> Uri:
        """Where in-dialog requests go: the peer's latest Contact."""
        return self._remote_target

    @property
    def route_set(self) -> tuple[NameAddr, ...]:
        """The route set, in the order of the Route headers we send."""
        return self._route_set

    @property
    def secure(self) -> bool:
        """The secure flag (§12.1: sips over TLS)."""
        return self._secure

    @property
    def local_contact(self) -> NameAddr | None:
        """Our Contact in this dialog."""
        return self._local_contact

    @property
    def last_invite_cseq(self) -> int | None:
        """The CSeq number of our last INVITE (what an ACK for its 2xx reuses)."""
        return self._last_invite_cseq

    @property
    def next_hop(self) -> Uri:
        """Where the transport sends in-dialog requests: the first route, else the target."""
        return self._route_set[0].uri if self._route_set else self._remote_target

    def confirm(self) -> None:
        """We (the UAS) sent a 2xx on this early dialog: it is confirmed (§12.1.1)."""
        if self._state is DialogState.EARLY:
            self._state = DialogState.CONFIRMED

    def terminate(self) -> None:
        """End the dialog (BYE sent or received, final non-2xx, 481/408)."""
        self._state = DialogState.TERMINATED

    def set_local_contact(self, contact: NameAddr) -> None:
        """Change our Contact (sent in the next target refresh request)."""
        self._local_contact = contact

    # -- requests we send (§12.2.1.1) --------------------------------------------------

    def _cseq_for(self, method: str, cseq: int | None) -> int:
        if method == "ACK":
            number = cseq if cseq is not None else self._last_invite_cseq
            if number is None:
                raise LocalProtocolError("ACK without an INVITE to acknowledge")
            return number
        if cseq is not None:
            raise LocalProtocolError("only an ACK takes an explicit CSeq number")
        if self._local_seq is None:
            number = self._rng.randrange(1, _INITIAL_CSEQ_LIMIT)
        else:
            number = self._local_seq + 1
            if number > _MAX_CSEQ:
                raise LocalProtocolError("local CSeq exhausted")
        self._local_seq = number
        if method == "INVITE":
            self._last_invite_cseq = number
        return number

    def _request_uri_and_route(self) -> tuple[Uri, tuple[NameAddr, ...]]:
        routes = self._route_set
        if not routes:
            return self._remote_target, ()
        first = routes[0].uri
        if isinstance(first, SipUri) and first.lr:
            return self._remote_target, routes
        # Strict routing (§12.2.1.1): the first route becomes the Request-URI and
        # the remote target goes last in Route.
        return _strict_uri(first), (*routes[1:], NameAddr(self._remote_target))

    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        cseq: int | None = None,
        via: str | None = None,
    ) -> SipRequest:
        """An in-dialog request (§12.2.1.1); ``cseq`` only for an ACK of an older INVITE.

        The top Via is ``via`` when given, else one with a fresh branch when
        the dialog knows ``via_sent_by``, else none (the transaction adds it).
        """
        method = method.upper()
        if method == "CANCEL":
            raise LocalProtocolError("build CANCEL with msg_build.make_cancel (§9.1)")
        if self._state is DialogState.TERMINATED and method not in ("ACK", "BYE"):
            raise LocalProtocolError(f"{method} on a terminated dialog")
        number = self._cseq_for(method, cseq)
        uri, route = self._request_uri_and_route()
        if via is None and self._via_sent_by is not None:
            via = f"SIP/2.0/{self._via_transport} {self._via_sent_by};branch={new_branch()};rport"
        contact = self._local_contact if method in CONTACT_METHODS else None
        if body and content_type is None:
            raise LocalProtocolError("a body needs a Content-Type")
        return make_request(
            method,
            uri,
            from_=self._local,
            to=self._remote,
            call_id=self._id.call_id,
            cseq=number,
            via=via,
            contact=contact,
            route=route,
            headers=extra_headers,
            body=body,
            content_type=content_type if body else None,
        )

    # -- messages we receive -----------------------------------------------------------

    def _refresh_target(self, message: SipMessage, what: str) -> None:
        contact = _single_contact(message, what)
        if contact is not None:
            self._remote_target = contact.uri

    def receive_request(self, request: SipRequest) -> None:
        """Check an in-dialog request and update the dialog (§12.2.2).

        Raises ``RemoteProtocolError`` with ``status_hint`` 481 on a
        terminated dialog or a request of another dialog, 500 for a CSeq
        below the remote CSeq.  ACK and CANCEL skip the CSeq check (they
        carry the INVITE's number).
        """
        if DialogId.of_request(request) != self._id:
            raise RemoteProtocolError("request does not belong to this dialog", status_hint=481)
        if self._state is DialogState.TERMINATED:
            raise RemoteProtocolError("dialog already terminated", status_hint=481)
        method = request.method
        if method in ("ACK", "CANCEL"):
            return
        number = request.cseq.number
        if self._remote_seq is not None and number < self._remote_seq:
            raise RemoteProtocolError(
                f"CSeq {number} below the dialog's remote CSeq {self._remote_seq}",
                status_hint=500,
            )
        self._remote_seq = number
        if method in TARGET_REFRESH_METHODS:
            self._refresh_target(request, method)

    def receive_response(self, response: SipResponse) -> DialogState:
        """Follow a response to one of our requests in this dialog; returns the new state.

        For the dialog-creating INVITE of an early dialog: a 1xx or 2xx with
        a Contact refreshes the remote target, a 2xx confirms the dialog and
        recomputes the route set (§13.2.2.4), a final non-2xx ends it.
        Otherwise a 2xx to a target refresh request refreshes the target and
        481 or 408 ends the dialog (§12.2.1.2).
        """
        if self._state is DialogState.TERMINATED:
            return self._state
        status, method = response.status, response.cseq.method
        initial = (
            self._state is DialogState.EARLY
            and self._is_uac
            and method == "INVITE"
            and response.cseq.number == self._last_invite_cseq
        )
        if initial:
            if status >= 300:
                self._state = DialogState.TERMINATED
            elif status >= 101:
                self._refresh_target(response, "response")
                if status >= 200:
                    self._route_set = tuple(reversed(response.record_route()))
                    self._state = DialogState.CONFIRMED
            return self._state
        if status in (408, 481):
            self._state = DialogState.TERMINATED
        elif 200 <= status < 300 and method in TARGET_REFRESH_METHODS:
            self._refresh_target(response, "response")
        return self._state

    def __repr__(self) -> str:
        role = "UAC" if self._is_uac else "UAS"
        return f"<Dialog {role} {self._state.value} {self._id}>"
