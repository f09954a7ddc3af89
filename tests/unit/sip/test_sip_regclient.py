"""Registration at a provider (RFC 3261 §10.2) against our own registrar core, on fake time."""

from __future__ import annotations

from hotline.sip.auth import SipAuthPolicy
from hotline.sip.digest import DigestAlgorithm, DigestServer, ha1
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_response
from hotline.sip.msg_parse import parse_message
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.regclient import RegistrationClient, RegistrationConfig, RegistrationState
from hotline.sip.registrar import Registrar, RegistrarPolicy
from hotline.sip.uri import SipUri

SRC = Peer(TransportKind.UDP, "127.0.0.1", 5060)
REALM = "provider"


def _config(password: str = "trunk-secret", expires: int = 600) -> RegistrationConfig:
    return RegistrationConfig(
        registrar=SipUri(host="provider.example"),
        aor=SipUri(host="provider.example", user="4951234567"),
        contact=SipUri(host="127.0.0.1", port=5060, user="122"),
        username="4951234567",
        password=password,
        via_sent_by="127.0.0.1:5060",
        expires_s=expires,
    )


class Provider:
    """A registrar with digest, answering on the wire format (serialised and parsed again)."""

    def __init__(self, min_expires: int = 60) -> None:
        table = {alg: ha1("4951234567", REALM, "trunk-secret", alg) for alg in DigestAlgorithm}
        self.auth = SipAuthPolicy(
            DigestServer(REALM, b"0123456789abcdef0123"),
            lambda user, realm, alg: table.get(alg) if user == "4951234567" else None,
        )
        self.registrar = Registrar(RegistrarPolicy(min_expires_s=min_expires))

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
        if outcome.min_expires_s:
            headers.append(("Min-Expires", str(outcome.min_expires_s)))
        response = make_response(wire, outcome.status, to_tag="p1", headers=headers)
        parsed = parse_message(bytes(response))
        assert isinstance(parsed, SipResponse)
        return parsed


def _exchange(client: RegistrationClient, provider: Provider, now: float) -> int:
    sent = 0
    while (request := client.next_request()) is not None:
        sent += 1
        client.receive_response(provider.answer(request, now), now)
    return sent


def test_registers_through_a_challenge_and_refreshes_before_expiry() -> None:
    provider = Provider()
    client = RegistrationClient(_config(expires=600))
    client.start(1000.0)
    assert _exchange(client, provider, 1000.0) == 2  # 401, then 200
    assert client.state is RegistrationState.REGISTERED
    assert client.registered_until == 1600.0
    assert provider.registrar.count() == 1
    assert client.get_timer() == 1540.0  # 60 s before expiry
    client.handle_timer(1540.0)
    assert _exchange(client, provider, 1540.0) == 2  # a fresh nonce each time: 401 again
    assert client.registered_until == 2140.0
    client.stop(1600.0)
    assert _exchange(client, provider, 1600.0) == 2
    assert client.state is RegistrationState.UNREGISTERED
    assert provider.registrar.count() == 0


def test_wrong_password_fails_without_looping_and_retries_later() -> None:
    provider = Provider()
    client = RegistrationClient(_config(password="wrong"))
    client.start(0.0)
    sent = _exchange(client, provider, 0.0)
    assert sent == 1 + client.config.max_auth_rounds
    assert client.state is RegistrationState.FAILED
    assert client.get_timer() == 300.0
    assert provider.registrar.count() == 0


def test_interval_too_brief_raises_expires() -> None:
    provider = Provider(min_expires=900)
    client = RegistrationClient(_config(expires=300))
    client.start(0.0)
    _exchange(client, provider, 0.0)
    assert client.state is RegistrationState.REGISTERED
    assert client.registered_until == 900.0


def test_server_failure_backs_off() -> None:
    client = RegistrationClient(_config())
    client.start(0.0)
    for n, delay in enumerate((5.0, 30.0, 60.0, 120.0, 300.0, 300.0)):
        request = client.next_request()
        assert request is not None
        client.receive_response(make_response(request, 503), float(n))
        assert client.state is RegistrationState.RETRY_WAIT
        assert client.get_timer() == float(n) + delay
        client.handle_timer(float(n) + delay)
