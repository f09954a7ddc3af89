"""The node's registrations at providers (RFC 3261 §10.2): TrunkRegistrations on fake time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hotline.app.sipservice import TrunkRegistrations
from hotline.calls.trunks import TrunkConfig, TrunkCredentials, TrunkTable
from hotline.core.errors import LocalProtocolError
from hotline.sip.auth import SipAuthPolicy
from hotline.sip.digest import DigestAlgorithm, DigestServer, ha1
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_response
from hotline.sip.msg_parse import parse_message
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.regclient import RegistrationState
from hotline.sip.registrar import Registrar, RegistrarPolicy

USER, PASSWORD, REALM = "4951234567", "trunk-secret", "provider"
SRC = Peer(TransportKind.UDP, "127.0.0.1", 5070)


def _trunk(name: str = "rt", *, register: bool = True, password: str = PASSWORD) -> TrunkConfig:
    return TrunkConfig(
        name=name,
        host="192.0.2.10",
        port=5080,
        credentials=TrunkCredentials(USER, password),
        register=register,
        register_expires_s=120,
    )


class Provider:
    """A registrar with digest that grants ``granted`` seconds (answers on the wire format)."""

    def __init__(self, granted: int = 120) -> None:
        table = {alg: ha1(USER, REALM, PASSWORD, alg) for alg in DigestAlgorithm}
        self.auth = SipAuthPolicy(
            DigestServer(REALM, b"0123456789abcdef0123"),
            lambda user, realm, alg: table.get(alg) if user == USER else None,
        )
        self.registrar = Registrar(RegistrarPolicy(min_expires_s=1, max_expires_s=granted))

    def answer(self, request: SipRequest, now: float) -> SipResponse:
        wire = parse_message(bytes(request))
        assert isinstance(wire, SipRequest)
        decision = self.auth.check(wire, SRC, now, allow_trusted=False)
        if decision.user is None:
            return make_response(
                wire,
                401,
                to_tag="p1",
                headers=[("WWW-Authenticate", c) for c in decision.challenges],
            )
        outcome = self.registrar.register(wire, decision.user, SRC, now)
        headers = [
            ("Contact", f"<{b.contact}>;expires={b.remaining_s(now)}") for b in outcome.bindings
        ]
        parsed = parse_message(
            bytes(make_response(wire, outcome.status, to_tag="p1", headers=headers))
        )
        assert isinstance(parsed, SipResponse)
        return parsed


@dataclass(slots=True)
class Handle:
    at: float
    fn: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass(slots=True)
class Harness:
    """Fake endpoint and loop: requests wait in ``sent`` until :meth:`answer_all`."""

    now: float = 1000.0
    sent: list[tuple[SipRequest, Peer, Callable[[SipResponse], None]]] = field(default_factory=list)
    timers: list[Handle] = field(default_factory=list)
    fail_send: bool = False

    def send(self, request: SipRequest, peer: Peer, cb: Callable[[SipResponse], None]) -> None:
        if self.fail_send:
            raise LocalProtocolError("no route")
        self.sent.append((request, peer, cb))

    def local(self, kind: TransportKind) -> tuple[str, int] | None:
        return ("127.0.0.1", 5060) if kind is TransportKind.UDP else None

    def call_later(self, delay: float, fn: Callable[[], None]) -> Handle:
        handle = Handle(self.now + delay, fn)
        self.timers.append(handle)
        return handle

    def answer_all(self, provider: Provider) -> list[SipRequest]:
        seen = []
        while self.sent:
            request, _, cb = self.sent.pop(0)
            seen.append(request)
            cb(provider.answer(request, self.now))
        return seen

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [h for h in self.timers if not h.cancelled and h.at <= self.now]
        self.timers = [h for h in self.timers if h not in due]
        for handle in due:
            handle.fn()

    def registrations(self) -> TrunkRegistrations:
        return TrunkRegistrations(self.send, self.local, lambda: self.now, self.call_later)


def test_registers_at_start_through_a_challenge_and_refreshes_before_expiry() -> None:
    h, provider = Harness(), Provider(granted=4)
    regs = h.registrations()
    regs.sync([_trunk(), _trunk("plain", register=False)])
    assert h.sent == []  # nothing before start
    regs.start()
    ((request, peer, _),) = h.sent
    assert peer == Peer(TransportKind.UDP, "192.0.2.10", 5080)
    assert request.headers.get("Contact") == f"<sip:{USER}@127.0.0.1:5060>"
    assert request.headers.get("Expires") == "120"
    assert len(h.answer_all(provider)) == 2  # 401, then with credentials → 200
    assert regs.states() == {"rt": RegistrationState.REGISTERED}
    assert provider.registrar.count() == 1
    h.advance(1.9)
    assert h.sent == []
    h.advance(0.2)  # half of the granted 4 s: refresh
    (refresh,) = h.answer_all(provider)[:1]
    assert refresh.method == "REGISTER" and refresh.headers.get("Expires") == "120"
    assert regs.states() == {"rt": RegistrationState.REGISTERED}


def test_unregister_all_sends_expires_zero_and_settles() -> None:
    h, provider = Harness(), Provider()
    regs = h.registrations()
    settled: list[bool] = []
    regs.on_settled = lambda: settled.append(True)
    regs.sync([_trunk()])
    regs.start()
    h.answer_all(provider)
    regs.unregister_all()
    assert regs.pending()
    assert h.sent[0][0].headers.get("Expires") == "0"
    h.answer_all(provider)
    assert not regs.pending() and settled == [True]
    assert provider.registrar.count() == 0
    assert regs.states() == {}


def test_reconfigured_table_restarts_changed_and_drops_removed_trunks() -> None:
    h, provider = Harness(), Provider()
    regs = h.registrations()
    regs.start()
    table = TrunkTable()
    table.listeners.append(regs.sync)
    table.reconfigure([_trunk()])
    h.answer_all(provider)
    assert regs.states() == {"rt": RegistrationState.REGISTERED}
    table.reconfigure([_trunk(register=False)])
    unregisters = h.answer_all(provider)  # challenged, then with credentials
    assert [r.headers.get("Expires") for r in unregisters] == ["0", "0"]
    assert regs.states() == {} and provider.registrar.count() == 0


def test_wrong_password_fails_and_send_errors_back_off() -> None:
    h, provider = Harness(), Provider()
    regs = h.registrations()
    regs.sync([_trunk(password="wrong")])
    regs.start()
    h.answer_all(provider)
    assert regs.states() == {"rt": RegistrationState.FAILED}

    h2 = Harness(fail_send=True)
    regs2 = h2.registrations()
    regs2.sync([_trunk()])
    regs2.start()
    h2.advance(0.0)  # the synthetic 503 is delivered on the next loop turn
    assert regs2.states() == {"rt": RegistrationState.RETRY_WAIT}
    retry = [t for t in h2.timers if not t.cancelled]
    assert [t.at - h2.now for t in retry] == [5.0]  # the first back-off step


def test_no_local_address_for_the_transport_registers_nothing() -> None:
    h = Harness()
    regs = h.registrations()
    regs.sync([_tcp()])
    regs.start()
    assert h.sent == [] and regs.states() == {}


def _tcp() -> TrunkConfig:
    return TrunkConfig(
        name="tcp",
        host="192.0.2.11",
        transport="tcp",
        credentials=TrunkCredentials(USER, PASSWORD),
        register=True,
    )
