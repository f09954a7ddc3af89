"""The registrar's binding table (RFC 3261 §10.3), sans-IO.

The driver authenticates a REGISTER first (digest), then calls
:meth:`Registrar.register` with the authenticated user name; the registrar
checks that the To address belongs to that user, applies the Contact
changes and says what to answer.  ``now`` is wall-clock epoch seconds (so
that bindings stored in the database survive a restart with their expiry).

Rules applied (§10.3 steps 5–8):

- ``Contact: *`` only with ``Expires: 0`` and as the only contact, else 400;
  it removes every binding of the AoR whose Call-ID differs or whose CSeq is
  lower (§10.3 step 6).
- The expiry of a contact is its ``expires`` parameter, else the Expires
  header, else the default; a non-zero expiry below ``min_expires_s`` → 423
  with Min-Expires; above ``max_expires_s`` it is cut down.
- A binding refreshed with the same Call-ID and a CSeq not higher than the
  stored one → 500 (out of order, step 7).
- At most ``max_contacts`` bindings per AoR (new ones beyond → 403).

Contact URI parameters (RFC 4475 cparam01/02) stay part of the contact URI;
header parameters (``expires``, ``q``) do not.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace

from hotline.core.errors import RemoteProtocolError
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest
from hotline.sip.peer import Peer
from hotline.sip.uri import SipUri, Uri

__all__ = [
    "Binding",
    "BindingChange",
    "BindingChanged",
    "RegisterOutcome",
    "Registrar",
    "RegistrarPolicy",
]


@dataclass(frozen=True, slots=True)
class RegistrarPolicy:
    default_expires_s: int = 3600
    min_expires_s: int = 60
    max_expires_s: int = 7200
    max_contacts: int = 10
    max_aors: int = 100_000


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of an address of record."""

    aor: str
    contact: str  # the contact URI as registered (URI parameters kept)
    expires_at: float  # epoch seconds
    call_id: str
    cseq: int
    q: float | None
    source: Peer  # where the REGISTER came from: requests go there (NAT)
    user_agent: str | None = None

    def remaining_s(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))


class BindingChange:
    ADDED = "added"
    REFRESHED = "refreshed"
    REMOVED = "removed"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class BindingChanged:
    """A binding appeared, was refreshed, removed by the phone, or expired."""

    change: str
    binding: Binding


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """What to answer: ``status`` and, for 200, the current bindings."""

    status: int
    reason: str | None = None
    bindings: tuple[Binding, ...] = ()
    min_expires_s: int | None = None
    changes: tuple[BindingChanged, ...] = ()


@dataclass(slots=True)
class _Aor:
    bindings: dict[str, Binding] = field(default_factory=dict)  # key: contact key


def _contact_key(uri: Uri) -> str:
    """A comparison key for contact URIs (§10.3 step 7 uses §19.1.4 equality)."""
    if isinstance(uri, SipUri):
        params = ";".join(sorted(f"{k.lower()}={v or ''}" for k, v in uri.params))
        return f"{uri.scheme}:{uri.user or ''}@{uri.host.lower()}:{uri.port or ''};{params}"
    return str(uri)


def aor_key(uri: Uri) -> str:
    """The address of record of a To URI, as a string key (user@host, scheme-free)."""
    if isinstance(uri, SipUri):
        return f"{uri.user or ''}@{uri.host.lower()}"
    return str(uri)


class Registrar:
    """All bindings of this node, with expiry timers as data."""

    def __init__(self, policy: RegistrarPolicy | None = None) -> None:
        self.policy = policy or RegistrarPolicy()
        self._aors: dict[str, _Aor] = {}
        self._expiry: list[tuple[float, str, str]] = []  # (expires_at, aor, contact key)
        self._changes: list[BindingChanged] = []

    # -- queries -------------------------------------------------------------

    def bindings(self, user: str, now: float) -> list[Binding]:
        """Live bindings of ``user``: highest q first, then the newest."""
        aor = self._aors.get(user)
        if aor is None:
            return []
        live = [b for b in aor.bindings.values() if b.expires_at > now]
        live.sort(key=lambda b: (-(b.q if b.q is not None else 1.0), -b.expires_at))
        return live

    def users(self) -> list[str]:
        return sorted(self._aors)

    def count(self) -> int:
        return sum(len(a.bindings) for a in self._aors.values())

    # -- REGISTER ------------------------------------------------------------

    def register(self, request: SipRequest, user: str, source: Peer, now: float) -> RegisterOutcome:
        """Apply an authenticated REGISTER of ``user``; may raise RemoteProtocolError (400)."""
        to_uri = request.to.uri
        if not isinstance(to_uri, SipUri) or to_uri.user != user:
            return RegisterOutcome(403, "Forbidden")
        call_id = request.call_id
        cseq = request.cseq.number
        header_expires = request.expires
        user_agent = request.headers.get("User-Agent")
        aor = self._aors.get(user)
        if request.contact_is_wildcard:
            if header_expires != 0 or len(request.headers.get_all("Contact")) != 1:
                raise RemoteProtocolError("Contact: * needs Expires: 0 and no other contact")
            return self._ok(user, now, self._remove_all(user, call_id, cseq))
        contacts = request.contacts()
        planned: list[tuple[NameAddr, int]] = []
        for contact in contacts:
            expires = contact.expires
            if expires is None:
                expires = header_expires
            if expires is None:
                expires = self.policy.default_expires_s
            if 0 < expires < self.policy.min_expires_s:
                return RegisterOutcome(
                    423, "Interval Too Brief", min_expires_s=self.policy.min_expires_s
                )
            planned.append((contact, min(expires, self.policy.max_expires_s)))
        if aor is None:
            if not planned:
                return self._ok(user, now, [])
            if len(self._aors) >= self.policy.max_aors:
                return RegisterOutcome(503, "Service Unavailable")
            aor = self._aors[user] = _Aor()
        for contact, _ in planned:
            existing = aor.bindings.get(_contact_key(contact.uri))
            if existing is not None and existing.call_id == call_id and cseq <= existing.cseq:
                return RegisterOutcome(500, "Out of Order Request")
        new_keys = {_contact_key(c.uri) for c, e in planned if e > 0} - set(aor.bindings)
        live_now = sum(1 for b in aor.bindings.values() if b.expires_at > now)
        if live_now + len(new_keys) > self.policy.max_contacts:
            return RegisterOutcome(403, "Too Many Contacts")
        changes: list[BindingChanged] = []
        for contact, expires in planned:
            key = _contact_key(contact.uri)
            existing = aor.bindings.get(key)
            if expires == 0:
                if existing is not None:
                    del aor.bindings[key]
                    changes.append(BindingChanged(BindingChange.REMOVED, existing))
                continue
            binding = Binding(
                aor=user,
                contact=str(contact.uri),
                expires_at=now + expires,
                call_id=call_id,
                cseq=cseq,
                q=contact.q,
                source=source,
                user_agent=user_agent,
            )
            aor.bindings[key] = binding
            heapq.heappush(self._expiry, (binding.expires_at, user, key))
            kind = BindingChange.ADDED if existing is None else BindingChange.REFRESHED
            changes.append(BindingChanged(kind, binding))
        if not aor.bindings:
            del self._aors[user]
        return self._ok(user, now, changes)

    def _remove_all(self, user: str, call_id: str, cseq: int) -> list[BindingChanged]:
        aor = self._aors.get(user)
        if aor is None:
            return []
        removed: list[BindingChanged] = []
        for key, binding in list(aor.bindings.items()):
            if binding.call_id != call_id or binding.cseq < cseq:
                del aor.bindings[key]
                removed.append(BindingChanged(BindingChange.REMOVED, binding))
        if not aor.bindings:
            del self._aors[user]
        return removed

    def _ok(self, user: str, now: float, changes: list[BindingChanged]) -> RegisterOutcome:
        self._changes.extend(changes)
        return RegisterOutcome(
            200, "OK", bindings=tuple(self.bindings(user, now)), changes=tuple(changes)
        )

    # -- restore and expiry ---------------------------------------------------

    def restore(self, binding: Binding, now: float) -> None:
        """Load a stored binding at start-up (ignored when already expired)."""
        if binding.expires_at <= now:
            return
        aor = self._aors.setdefault(binding.aor, _Aor())
        key = _contact_key(_parse_contact(binding.contact))
        aor.bindings[key] = binding
        heapq.heappush(self._expiry, (binding.expires_at, binding.aor, key))

    def get_timer(self) -> float | None:
        return self._expiry[0][0] if self._expiry else None

    def handle_timer(self, now: float) -> None:
        """Expire bindings whose time has come."""
        while self._expiry and self._expiry[0][0] <= now:
            expires_at, user, key = heapq.heappop(self._expiry)
            aor = self._aors.get(user)
            if aor is None:
                continue
            binding = aor.bindings.get(key)
            if binding is None or binding.expires_at != expires_at:
                continue  # refreshed or removed since
            del aor.bindings[key]
            if not aor.bindings:
                del self._aors[user]
            self._changes.append(BindingChanged(BindingChange.EXPIRED, binding))

    def next_change(self) -> BindingChanged | None:
        """Binding changes (from REGISTERs and expiry) in order, for the store and the ACD."""
        return self._changes.pop(0) if self._changes else None

    def with_source(self, binding: Binding, source: Peer) -> Binding:
        return replace(binding, source=source)


def _parse_contact(text: str) -> Uri:
    from hotline.sip.uri import parse_uri

    return parse_uri(text, "Contact")
