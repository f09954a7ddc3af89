"""Registration of our node at a provider's registrar (RFC 3261 §10.2), sans-IO.

Some telecom operators deliver calls for 122 only to a registered contact.
:class:`RegistrationClient` keeps one such registration alive: it sends
REGISTER, answers digest challenges (401/407) with the account's credentials,
follows 423 (Min-Expires), refreshes before expiry, retries with growing
back-off after failures, and unregisters on stop.  The driver sends each
request from :meth:`next_request` through a client transaction and feeds the
final response back (a synthetic 408 when the transaction timed out).

States: ``UNREGISTERED → REGISTERING → REGISTERED``; failures go to
``RETRY_WAIT`` (back-off) and a wrong password to ``FAILED`` (retried after
the longest back-off, so that a fixed password heals without a restart).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.dialog import new_call_id, new_tag
from hotline.sip.digest import DigestClient
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_request
from hotline.sip.txn_model import new_branch
from hotline.sip.uri import SipUri

__all__ = [
    "RegistrationClient",
    "RegistrationConfig",
    "RegistrationRunner",
    "RegistrationState",
    "TimerHandleLike",
]


class TimerHandleLike(Protocol):
    """What ``loop.call_later`` returns (kept abstract: this module imports no asyncio)."""

    def cancel(self) -> None: ...


class RegistrationState(Enum):
    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    RETRY_WAIT = "retry_wait"
    FAILED = "failed"
    UNREGISTERING = "unregistering"


@dataclass(frozen=True, slots=True)
class RegistrationConfig:
    registrar: SipUri  # Request-URI of the REGISTER (the provider's domain)
    aor: SipUri  # our address of record at the provider (To and From)
    contact: SipUri  # where the provider should send calls
    username: str
    password: str
    via_sent_by: str
    via_transport: str = "UDP"
    expires_s: int = 600
    retry_s: tuple[float, ...] = (5.0, 30.0, 60.0, 120.0, 300.0)
    max_auth_rounds: int = 2


class RegistrationClient:
    """One registration kept alive; timers as data."""

    def __init__(self, config: RegistrationConfig) -> None:
        self.config = config
        self.state = RegistrationState.UNREGISTERED
        self.registered_until: float | None = None
        self.last_status: int | None = None
        self._call_id = new_call_id(config.via_sent_by)
        self._tag = new_tag()
        self._cseq = secrets.randbelow(2**16) + 1
        self._expires = config.expires_s
        self._digest = DigestClient(config.username, config.password)
        self._auth_rounds = 0
        self._failures = 0
        self._timer: float | None = None
        self._pending: SipRequest | None = None
        self._outgoing: list[SipRequest] = []

    # -- driver interface ---------------------------------------------------------------

    def start(self, now: float) -> None:
        if self.state not in (RegistrationState.UNREGISTERED, RegistrationState.FAILED):
            return
        self._send_register(self._expires, authorization=None)

    def stop(self, now: float) -> None:
        """Unregister (Expires: 0) when registered; otherwise just stop."""
        self._timer = None
        self._pending = None  # a refresh in flight is superseded by the unregister
        if self.state is RegistrationState.REGISTERED:
            self._send_register(0, authorization=None)
            self.state = RegistrationState.UNREGISTERING
        else:
            self.state = RegistrationState.UNREGISTERED

    def next_request(self) -> SipRequest | None:
        return self._outgoing.pop(0) if self._outgoing else None

    def get_timer(self) -> float | None:
        return self._timer

    def handle_timer(self, now: float) -> None:
        if self._timer is None or now < self._timer:
            return
        self._timer = None
        if self.state in (
            RegistrationState.REGISTERED,
            RegistrationState.RETRY_WAIT,
            RegistrationState.FAILED,
        ):
            if (
                self.state is RegistrationState.REGISTERED
                and self.registered_until is not None
                and now >= self.registered_until
            ):
                self.state = RegistrationState.RETRY_WAIT
            self._send_register(self._expires, authorization=None)

    def receive_response(self, response: SipResponse, now: float) -> None:
        """The final response to our last REGISTER (1xx are ignored)."""
        if response.status < 200 or self._pending is None:
            return
        if self.state is RegistrationState.UNREGISTERED:
            self._pending = None  # stopped meanwhile
            return
        request, self._pending = self._pending, None
        self.last_status = response.status
        status = response.status
        if self.state is RegistrationState.UNREGISTERING:
            if (
                status in (401, 407)
                and self._auth_rounds < self.config.max_auth_rounds
                and self._answer_challenge(response, request, expires=0)
            ):
                return
            self.state = RegistrationState.UNREGISTERED
            self.registered_until = None
            return
        if 200 <= status < 300:
            self._auth_rounds = 0
            self._failures = 0
            granted = self._granted_expires(response)
            self.state = RegistrationState.REGISTERED
            self.registered_until = now + granted
            # Refresh early: at half the interval for short ones, else 60 s before expiry.
            self._timer = now + max(granted / 2, granted - 60)
            return
        if status in (401, 407):
            if self._auth_rounds < self.config.max_auth_rounds and self._answer_challenge(
                response, request, expires=self._expires
            ):
                return
            self.state = RegistrationState.FAILED
            self._auth_rounds = 0
            self._timer = now + self.config.retry_s[-1]
            return
        if status == 423:
            min_expires = response.headers.get("Min-Expires")
            if min_expires is not None and min_expires.strip().isdigit():
                self._expires = max(self._expires, int(min_expires.strip()))
                self._send_register(self._expires, authorization=None)
                return
        self._retry_later(now)

    # -- internals ---------------------------------------------------------------------

    def _retry_later(self, now: float) -> None:
        delays = self.config.retry_s
        self.state = RegistrationState.RETRY_WAIT
        self._timer = now + delays[min(self._failures, len(delays) - 1)]
        self._failures += 1
        self._auth_rounds = 0

    def _granted_expires(self, response: SipResponse) -> int:
        """The expiry the registrar granted our contact (§10.2.4)."""
        try:
            for contact in response.contacts():
                uri = contact.uri
                if (
                    isinstance(uri, SipUri)
                    and uri.user == self.config.contact.user
                    and uri.host.lower() == self.config.contact.host.lower()
                    and (uri.port or 5060) == (self.config.contact.port or 5060)
                    and contact.expires is not None
                ):
                    return max(1, contact.expires)
            if response.expires is not None:
                return max(1, response.expires)
        except RemoteProtocolError:
            pass
        return self._expires

    def _answer_challenge(
        self, response: SipResponse, request: SipRequest, *, expires: int
    ) -> bool:
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        values = response.headers.get_all(header)
        try:
            answer = self._digest.authorize(
                values, "REGISTER", str(request.uri), cnonce=secrets.token_hex(8)
            )
        except RemoteProtocolError:
            answer = None
        if answer is None:
            return False
        self._auth_rounds += 1
        name = "Authorization" if response.status == 401 else "Proxy-Authorization"
        self._send_register(expires, authorization=(name, answer))
        return True

    def _send_register(self, expires: int, *, authorization: tuple[str, str] | None) -> None:
        cfg = self.config
        self._cseq += 1
        headers = [("Expires", str(expires))]
        if authorization is not None:
            headers.append(authorization)
        request = make_request(
            "REGISTER",
            cfg.registrar,
            from_=NameAddr(cfg.aor).with_tag(self._tag),
            to=NameAddr(cfg.aor),
            call_id=self._call_id,
            cseq=self._cseq,
            via=f"SIP/2.0/{cfg.via_transport} {cfg.via_sent_by};branch={new_branch()};rport",
            contact=NameAddr(cfg.contact),
            headers=headers,
        )
        if self._pending is not None:
            raise LocalProtocolError("a REGISTER is already outstanding")
        self._pending = request
        self._outgoing.append(request)
        if self.state is not RegistrationState.UNREGISTERING:
            self.state = (
                RegistrationState.REGISTERING
                if self.state is not RegistrationState.REGISTERED
                else RegistrationState.REGISTERED
            )


class RegistrationRunner:
    """Drives one :class:`RegistrationClient` over an endpoint (layer L2, asyncio).

    ``send(request, on_response)`` starts a client transaction (the endpoint's
    ``request`` bound to the provider's address); ``call_later(delay, fn)``
    schedules the timer (the loop's ``call_later``); ``now()`` is monotonic.
    """

    def __init__(
        self,
        client: RegistrationClient,
        send: Callable[[SipRequest, Callable[[SipResponse], None]], object],
        call_later: Callable[[float, Callable[[], None]], TimerHandleLike],
        now: Callable[[], float],
    ) -> None:
        self.client = client
        self._send = send
        self._call_later = call_later
        self._now = now
        self._handle: TimerHandleLike | None = None

    def start(self) -> None:
        self.client.start(self._now())
        self._flush()

    def stop(self) -> None:
        self.client.stop(self._now())
        self._flush()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _on_response(self, response: SipResponse) -> None:
        self.client.receive_response(response, self._now())
        self._flush()

    def _on_timer(self) -> None:
        self._handle = None
        self.client.handle_timer(self._now())
        self._flush()

    def _flush(self) -> None:
        while (request := self.client.next_request()) is not None:
            self._send(request, self._on_response)
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        when = self.client.get_timer()
        if when is not None:
            self._handle = self._call_later(max(0.0, when - self._now()), self._on_timer)
