"""SIP trunks of telecom operators: configuration, inbound matching, call slots.

Pure code (no I/O, no clock).  A :class:`TrunkTable` is built from the
administrator's trunk configs (:class:`TrunkConfig`, which extends the stored
``hotline.store.accounts.Trunk`` with routing and presentation settings).  It

* tells which trunk an inbound INVITE came from and which service number it
  called (:meth:`TrunkTable.match_inbound`): trust by source network or by the
  digest user the trunk authenticated as; the called number is the
  Request-URI user (RFC 3261 §8.2.2.1), else the To user (a provider that
  delivers to our registered Contact, §10.2, keeps the number in To);
* orders the trunks that may carry an outbound call (:meth:`TrunkTable.route`),
  which :class:`hotline.calls.trunk_outbound.OutboundAttempt` walks with
  failover;
* counts concurrent calls per trunk with :class:`CallSlot` tokens that cannot
  go negative or be released twice (R4: per-trunk limit of concurrent calls).

Inbound numbers are written as numbers in any form (``122``,
``+7 495 111-22-33``) or as ``DID=service`` (``+74951112233=122``: the DID the
operator delivers stands for the service number 122).  A form that is not a
valid number (a carrier's ``+7122``) is matched literally, digits only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from hotline.calls.numbers import (
    DEFAULT_PLAN,
    DialFormat,
    NumberingPlan,
    NumberKind,
    PhoneNumber,
)
from hotline.core.errors import ConfigurationError, LocalProtocolError, RemoteProtocolError
from hotline.sip.auth import TrustedNetworks
from hotline.sip.regclient import RegistrationConfig
from hotline.sip.uri import SipUri, TelUri, Uri

__all__ = [
    "DEFAULT_OUTBOUND_KINDS",
    "MAX_INBOUND_NUMBERS",
    "MAX_TRUNKS",
    "CallSlot",
    "Direction",
    "InboundMatch",
    "InboundRequest",
    "OutboundPolicy",
    "TrunkConfig",
    "TrunkCredentials",
    "TrunkRecord",
    "TrunkStats",
    "TrunkTable",
    "TrustKind",
    "registration_config",
]

#: Most trunks in one table, and inbound numbers on one trunk (config limits).
MAX_TRUNKS = 64
MAX_INBOUND_NUMBERS = 1000
#: Outbound kinds allowed when a trunk says nothing: no premium, no international,
#: no short (emergency) numbers unless the administrator opts in (toll fraud).
DEFAULT_OUTBOUND_KINDS = frozenset({NumberKind.MOBILE, NumberKind.GEOGRAPHIC, NumberKind.TOLL_FREE})
_TRANSPORTS = ("udp", "tcp", "tls")
_DEFAULT_PORTS = {"udp": 5060, "tcp": 5060, "tls": 5061}
_USER_RE = re.compile(r"\+?[0-9]{1,20}")
_LITERAL_SEPARATORS = str.maketrans("", "", " \t-.()")


class Direction(Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class TrustKind(Enum):
    """Why an inbound request was accepted as coming from a trunk."""

    NETWORK = "network"
    DIGEST = "digest"


class TrunkRecord(Protocol):
    """The stored trunk (``hotline.store.accounts.Trunk``), read structurally."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def transport(self) -> str: ...
    @property
    def trusted_networks(self) -> tuple[str, ...]: ...
    @property
    def inbound_numbers(self) -> tuple[str, ...]: ...
    @property
    def max_calls(self) -> int: ...
    @property
    def enabled(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class TrunkCredentials:
    """Our account at the provider: answers its digest challenges, registers."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Which destinations a trunk carries, and in what order of preference.

    ``prefixes`` are canonical (``+7495``, ``+79``, ``112``); empty means any.
    A longer matching prefix wins over ``priority``; lower ``priority`` first.
    """

    enabled: bool = True
    priority: int = 100
    kinds: frozenset[NumberKind] = DEFAULT_OUTBOUND_KINDS
    prefixes: tuple[str, ...] = ()

    def prefix_match(self, number: PhoneNumber) -> int | None:
        """Length of the longest prefix matching ``number`` (0: no prefixes set); None: refused."""
        if not self.enabled or number.kind not in self.kinds:
            return None
        if not self.prefixes:
            return 0
        lengths = [len(p) for p in self.prefixes if number.number.startswith(p)]
        return max(lengths) if lengths else None


@dataclass(frozen=True, slots=True)
class TrunkConfig:
    """One trunk as the call path sees it.

    ``caller_id`` is the From user on outbound calls (the 122 presentation;
    some providers want the DID here), ``asserted_identity`` the
    P-Asserted-Identity user (RFC 3325 §9.1; defaults to ``caller_id``).
    ``inbound_user`` is the digest user name the trunk authenticates with
    when it is not trusted by address; ``credentials`` are ours at the
    provider (challenges on outbound calls, and REGISTER when ``register``).
    """

    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    trusted_networks: tuple[str, ...] = ()
    inbound_numbers: tuple[str, ...] = ()
    max_calls: int = 30
    enabled: bool = True
    dial_format: DialFormat = DialFormat.E164
    caller_id: str = "122"
    asserted_identity: str | None = None
    send_asserted_identity: bool = True
    from_domain: str | None = None
    user_phone: bool = True
    inbound_user: str | None = None
    credentials: TrunkCredentials | None = None
    register: bool = False
    register_expires_s: int = 600
    outbound: OutboundPolicy = OutboundPolicy()

    @property
    def uri_port(self) -> int | None:
        """The port to write in a URI: None when it is the transport's default."""
        return None if _DEFAULT_PORTS.get(self.transport.lower()) == self.port else self.port

    @classmethod
    def from_record(cls, record: TrunkRecord) -> TrunkConfig:
        """A config from the stored trunk (other settings at their defaults; use ``replace``)."""
        return cls(
            name=record.name,
            host=record.host,
            port=record.port,
            transport=record.transport,
            trusted_networks=tuple(record.trusted_networks),
            inbound_numbers=tuple(record.inbound_numbers),
            max_calls=record.max_calls,
            enabled=record.enabled,
        )

    def validate(self) -> None:
        """Raise ``ConfigurationError`` naming the field when a setting is unusable."""
        where = f"trunks.{self.name or '?'}"
        if not self.name or len(self.name) > 100:
            raise ConfigurationError(f"{where}.name", "must be 1..100 characters")
        if not self.host:
            raise ConfigurationError(f"{where}.host", "is empty")
        if not 1 <= self.port <= 65535:
            raise ConfigurationError(f"{where}.port", f"{self.port} is not 1..65535")
        if self.transport.lower() not in _TRANSPORTS:
            raise ConfigurationError(
                f"{where}.transport", f"{self.transport!r} not in {_TRANSPORTS}"
            )
        if self.max_calls < 0:
            raise ConfigurationError(f"{where}.max_calls", "is negative")
        for net in self.trusted_networks:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ConfigurationError(
                    f"{where}.trusted_networks", f"bad network {net!r}"
                ) from None
        if len(self.inbound_numbers) > MAX_INBOUND_NUMBERS:
            raise ConfigurationError(f"{where}.inbound_numbers", f"more than {MAX_INBOUND_NUMBERS}")
        for ident, setting in (
            (self.caller_id, "caller_id"),
            (self.asserted_identity, "asserted_identity"),
        ):
            if ident is not None and _USER_RE.fullmatch(ident) is None:
                raise ConfigurationError(
                    f"{where}.{setting}", f"{ident!r} is not digits with an optional +"
                )
        if self.register and self.credentials is None:
            raise ConfigurationError(
                f"{where}.credentials", "registration needs a user name and password"
            )
        if self.register_expires_s < 60:
            raise ConfigurationError(f"{where}.register_expires_s", "is under 60 s")


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """What inbound matching needs from an INVITE (build it from a ``SipRequest``).

    ``source_host`` is the address the request came from (not Via: that is
    the peer's claim); ``auth_user`` the digest user name the request was
    authenticated as, if any.
    """

    source_host: str
    request_uri: Uri
    to_uri: Uri | None = None
    from_uri: Uri | None = None
    asserted_uri: Uri | None = None
    auth_user: str | None = None


@dataclass(frozen=True, slots=True)
class InboundMatch:
    """An inbound call accepted from ``trunk`` for ``service_number``.

    ``called`` is the dialled number as the trunk delivered it, normalised
    (None when it matched a literal entry); ``caller`` the caller's number
    from P-Asserted-Identity or From, None when withheld or unusable.
    """

    trunk: TrunkConfig
    trust: TrustKind
    called: PhoneNumber | None
    called_key: str
    service_number: str
    caller: PhoneNumber | None


@dataclass(frozen=True, slots=True)
class TrunkStats:
    """Per-trunk figures for /metrics (totals are monotonic counters)."""

    trunk: str
    limit: int
    active: int
    inbound_total: int
    outbound_total: int
    refused_at_limit_total: int
    failovers_total: int


class _Counter:
    """Active calls of one trunk; only :class:`CallSlot` changes ``active``."""

    __slots__ = ("active", "failovers", "limit", "refused", "serial", "totals")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self.serial = 0
        self.refused = 0
        self.failovers = 0
        self.totals = dict.fromkeys(Direction, 0)


class CallSlot:
    """A held place in a trunk's concurrent-call limit; release it exactly once."""

    __slots__ = ("_counter", "_released", "direction", "serial", "trunk")

    def __init__(self, trunk: str, direction: Direction, counter: _Counter) -> None:
        counter.serial += 1
        counter.active += 1
        counter.totals[direction] += 1
        self.trunk = trunk
        self.direction = direction
        self.serial = counter.serial
        self._counter = counter
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Give the place back; a second release is our bug (``LocalProtocolError``)."""
        if self._released:
            raise LocalProtocolError(f"call slot {self.trunk}#{self.serial} released twice")
        self._released = True
        self._counter.active -= 1

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"<CallSlot {self.trunk}#{self.serial} {self.direction.value} {state}>"


@dataclass(frozen=True, slots=True)
class _InboundEntry:
    key: str  # canonical number, or "#" + literal digits
    service: str


def _literal_key(text: str) -> str | None:
    cleaned = text.translate(_LITERAL_SEPARATORS)
    return "#" + cleaned if _USER_RE.fullmatch(cleaned) else None


def _entry_key(text: str, plan: NumberingPlan) -> tuple[str, str] | None:
    """``(key, canonical-or-literal)`` of one number in config or in a request."""
    try:
        number = plan.parse(text)
    except RemoteProtocolError:
        literal = _literal_key(text)
        return None if literal is None else (literal, literal[1:])
    return number.number, number.number


def _inbound_entries(trunk: TrunkConfig, plan: NumberingPlan) -> dict[str, str]:
    entries: dict[str, str] = {}
    for item in trunk.inbound_numbers:
        did, eq, service = item.partition("=")
        did_key = _entry_key(did.strip(), plan)
        service_key = _entry_key(service.strip(), plan) if eq else did_key
        if did_key is None or service_key is None:
            raise ConfigurationError(
                f"trunks.{trunk.name}.inbound_numbers", f"{item!r} is not a number or DID=number"
            )
        entries[did_key[0]] = service_key[1]
    return entries


@dataclass(slots=True)
class _Entry:
    config: TrunkConfig
    inbound: dict[str, str]
    networks: TrustedNetworks


class TrunkTable:
    """The trunks of the node; rebuilt in place by :meth:`reconfigure` (no restart)."""

    def __init__(
        self, trunks: Iterable[TrunkConfig] = (), *, plan: NumberingPlan = DEFAULT_PLAN
    ) -> None:
        self.plan = plan
        self._entries: dict[str, _Entry] = {}
        self._counters: dict[str, _Counter] = {}
        self.listeners: list[Callable[[tuple[TrunkConfig, ...]], None]] = []
        """Told the new trunks after each :meth:`reconfigure` (e.g. to register at providers)."""
        self.reconfigure(trunks)

    # -- configuration ---------------------------------------------------------------

    def reconfigure(self, trunks: Iterable[TrunkConfig]) -> None:
        """Replace the configs; calls in progress keep their slots (limits apply to new ones)."""
        entries: dict[str, _Entry] = {}
        for trunk in trunks:
            trunk.validate()
            if trunk.name in entries:
                raise ConfigurationError(f"trunks.{trunk.name}", "two trunks with one name")
            if len(entries) >= MAX_TRUNKS:
                raise ConfigurationError("trunks", f"more than {MAX_TRUNKS}")
            networks = TrustedNetworks((net, trunk.name) for net in trunk.trusted_networks)
            entries[trunk.name] = _Entry(trunk, _inbound_entries(trunk, self.plan), networks)
        self._entries = entries
        for name, counter in list(self._counters.items()):
            if name in entries:
                counter.limit = entries[name].config.max_calls
            elif counter.active == 0:
                del self._counters[name]
            else:
                counter.limit = 0
        for name, entry in entries.items():
            self._counters.setdefault(name, _Counter(entry.config.max_calls))
        for listener in self.listeners:
            listener(self.trunks)

    @property
    def trunks(self) -> tuple[TrunkConfig, ...]:
        return tuple(e.config for e in self._entries.values())

    def get(self, name: str) -> TrunkConfig | None:
        entry = self._entries.get(name)
        return None if entry is None else entry.config

    # -- call slots ------------------------------------------------------------------

    def acquire(self, name: str, direction: Direction) -> CallSlot | None:
        """A slot on trunk ``name``; None when it is at its limit, disabled or unknown."""
        entry = self._entries.get(name)
        counter = self._counters.get(name)
        if entry is None or counter is None or not entry.config.enabled:
            return None
        if counter.active >= counter.limit:
            counter.refused += 1
            return None
        return CallSlot(name, direction, counter)

    def active_calls(self, name: str) -> int:
        counter = self._counters.get(name)
        return 0 if counter is None else counter.active

    def note_failover(self, name: str) -> None:
        """Count a failover away from trunk ``name`` (for /metrics)."""
        counter = self._counters.get(name)
        if counter is not None:
            counter.failovers += 1

    def stats(self) -> tuple[TrunkStats, ...]:
        return tuple(
            TrunkStats(
                trunk=name,
                limit=c.limit,
                active=c.active,
                inbound_total=c.totals[Direction.INBOUND],
                outbound_total=c.totals[Direction.OUTBOUND],
                refused_at_limit_total=c.refused,
                failovers_total=c.failovers,
            )
            for name, c in sorted(self._counters.items())
        )

    # -- inbound ---------------------------------------------------------------------

    def sources(self, source_host: str, auth_user: str | None = None) -> tuple[TrunkConfig, ...]:
        """Enabled trunks the request may come from: by digest user, else by source network."""
        return self._sources(source_host, auth_user)[0]

    def _sources(
        self, source_host: str, auth_user: str | None
    ) -> tuple[tuple[TrunkConfig, ...], TrustKind]:
        enabled = [e for e in self._entries.values() if e.config.enabled]
        if auth_user is not None:
            by_user = tuple(e.config for e in enabled if e.config.inbound_user == auth_user)
            if by_user:
                return by_user, TrustKind.DIGEST
        by_net = tuple(e.config for e in enabled if e.networks.match(source_host) is not None)
        return by_net, TrustKind.NETWORK

    def match_inbound(self, request: InboundRequest) -> InboundMatch:
        """The trunk and service number of an inbound call.

        Raises ``RemoteProtocolError``: 403 when no trunk trusts the source,
        404 (or 484 for an incomplete number) when the called number is not
        one the trunk serves.  The caller then takes a slot with
        ``acquire(match.trunk.name, Direction.INBOUND)``: None means the trunk
        is at its limit (answer 503).
        """
        candidates, trust = self._sources(request.source_host, request.auth_user)
        if not candidates:
            raise RemoteProtocolError("request does not come from a known trunk", status_hint=403)
        keys, parse_error = self._called_keys(request)
        for trunk in candidates:
            inbound = self._entries[trunk.name].inbound
            for key, number in keys:
                service = inbound.get(key)
                if service is not None:
                    return InboundMatch(
                        trunk=trunk,
                        trust=trust,
                        called=number,
                        called_key=key.lstrip("#"),
                        service_number=service,
                        caller=self.plan.caller_id(request.asserted_uri or request.from_uri),
                    )
        if parse_error is not None and parse_error.status_hint == 484:
            raise parse_error  # overlap dialling: the number may still grow (RFC 3261 §21.4.22)
        raise RemoteProtocolError(
            f"the called number is not served on trunk {candidates[0].name}", status_hint=404
        )

    def _called_keys(
        self, request: InboundRequest
    ) -> tuple[list[tuple[str, PhoneNumber | None]], RemoteProtocolError | None]:
        """Lookup keys of the Request-URI user, then of the To user; the first parse error."""
        keys: list[tuple[str, PhoneNumber | None]] = []
        first_error: RemoteProtocolError | None = None
        for uri in (request.request_uri, request.to_uri):
            if uri is None:
                continue
            try:
                number = self.plan.parse(uri)
            except RemoteProtocolError as exc:
                first_error = first_error or exc
                literal = _literal_key(_uri_user(uri))
                if literal is not None:
                    keys.append((literal, None))
                continue
            keys.append((number.number, number))
        return keys, first_error

    # -- outbound --------------------------------------------------------------------

    def route(self, destination: PhoneNumber) -> tuple[TrunkConfig, ...]:
        """Enabled trunks that may carry a call to ``destination``, best first.

        Order: longest matching prefix, then ``priority`` (lower first), then
        name.  Limits are not looked at here: the attempt skips a full trunk
        at the moment it would use it.
        """
        ranked: list[tuple[int, int, str, TrunkConfig]] = []
        for entry in self._entries.values():
            trunk = entry.config
            if not trunk.enabled:
                continue
            match = trunk.outbound.prefix_match(destination)
            if match is not None:
                ranked.append((-match, trunk.outbound.priority, trunk.name, trunk))
        ranked.sort(key=lambda item: item[:3])
        return tuple(item[3] for item in ranked)


def _uri_user(uri: Uri) -> str:
    """The user part of a sip URI (without telephone parameters) or a tel number."""
    if isinstance(uri, TelUri):
        return uri.number
    if isinstance(uri, SipUri) and uri.user is not None:
        return uri.user.split(";", 1)[0]
    return ""


def registration_config(
    trunk: TrunkConfig, *, contact: SipUri, via_sent_by: str, via_transport: str = "UDP"
) -> RegistrationConfig | None:
    """The REGISTER settings of a trunk that needs registration (RFC 3261 §10.2), else None."""
    if not trunk.register or trunk.credentials is None:
        return None
    domain = trunk.from_domain or trunk.host
    return RegistrationConfig(
        registrar=SipUri(host=trunk.host, port=trunk.uri_port),
        aor=SipUri(host=domain, user=trunk.credentials.username),
        contact=contact,
        username=trunk.credentials.username,
        password=trunk.credentials.password,
        via_sent_by=via_sent_by,
        via_transport=via_transport,
        expires_s=trunk.register_expires_s,
    )
