"""Operators reachable at a fixed SIP URI: the store, the admin API, the phone directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.callservice import RegistrarPhones, fixed_contact
from hotline.app.stored_config import AgentProfiles
from hotline.core.clock import FakeClock
from hotline.core.ids import OperatorId, QueueId
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.registrar import Binding, Registrar
from hotline.sip.uri import SipUri
from hotline.store.accounts import AccountsRepository, Operator
from hotline.store.db import Database
from hotline.web.admin_live import AcdLiveConfiguration, install_live_configuration
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.admin_support import session
from unit.web.conftest import Health
from unit.web.web_support import FAST_HASHER

OPS = "/api/v1/admin/operators"
WALL = 1_800_000_000.0


@dataclass
class FakeEndpoint:
    """What RegistrarPhones reads of the SIP endpoint: the registrar and the wall clock."""

    registrar: Registrar = field(default_factory=Registrar)

    def wall_now(self) -> float:
        return WALL


def _phones() -> tuple[FakeEndpoint, RegistrarPhones]:
    endpoint = FakeEndpoint()
    return endpoint, RegistrarPhones(cast(SipEndpoint, endpoint))


def _operator(contact_uri: str | None, op_id: str = "op8", user: str = "108") -> Operator:
    return Operator(
        id=op_id,
        name="Оператор 8",
        user_id=None,
        sip_username=user,
        sip_realm="hotline",
        ha1_md5="0" * 32,
        ha1_sha256="0" * 64,
        contact_uri=contact_uri,
    )


def test_fixed_contact_takes_host_port_and_transport_from_the_uri() -> None:
    plain = fixed_contact("sip:desk@192.0.2.7")
    assert plain is not None
    assert plain.peer == Peer(TransportKind.UDP, "192.0.2.7", 5060)
    assert plain.uri == SipUri(host="192.0.2.7", user="desk")
    tcp = fixed_contact("sip:desk@192.0.2.7:5090;transport=tcp")
    assert tcp is not None and tcp.peer == Peer(TransportKind.TCP, "192.0.2.7", 5090)
    tls = fixed_contact("sips:desk@192.0.2.7")
    assert tls is not None and tls.peer == Peer(TransportKind.TLS, "192.0.2.7", 5061)
    assert fixed_contact("tel:+74951234567") is None
    assert fixed_contact("not a uri") is None


def test_a_registration_wins_over_the_fixed_uri_which_does_not_make_the_operator_ready() -> None:
    endpoint, phones = _phones()
    op = OperatorId("108")
    assert phones.contacts(op) == []
    phones.set_fixed(op, "sip:108@192.0.2.8:5062")
    (fixed,) = phones.contacts(op)
    assert fixed.peer == Peer(TransportKind.UDP, "192.0.2.8", 5062)
    endpoint.registrar.restore(
        Binding(
            aor="108",
            contact="sip:108@198.51.100.4:5060",
            expires_at=WALL + 300,
            call_id="reg-1",
            cseq=1,
            q=None,
            source=Peer(TransportKind.UDP, "198.51.100.4", 5060),
        ),
        WALL,
    )
    (registered,) = phones.contacts(op)
    assert registered.peer == Peer(TransportKind.UDP, "198.51.100.4", 5060)
    assert phones.registered() == set()  # readiness of a fixed-URI operator: desk/API only
    phones.set_fixed(op, None)
    assert phones.registered() == {op}


def test_store_keeps_sets_and_clears_the_contact(db: Database) -> None:
    repo = AccountsRepository(db)
    repo.add_operator(_operator("sip:108@192.0.2.8"))
    repo.add_operator(_operator(None, "op9", "109"))
    assert [(o.sip_username, o.contact_uri) for o in repo.operators()] == [
        ("108", "sip:108@192.0.2.8"),
        ("109", None),
    ]
    assert repo.set_operator_contact("op9", "sip:109@192.0.2.9")
    assert repo.set_operator_contact("op8", None)
    assert not repo.set_operator_contact("nobody", "sip:x@192.0.2.1")
    found = repo.operator_by_sip_username("109")
    assert found is not None and found.contact_uri == "sip:109@192.0.2.9"
    assert [o.contact_uri for o in repo.operators()] == [None, "sip:109@192.0.2.9"]
    repo.clear()
    assert repo.operators() == []


@pytest.fixture
def fixed_seen() -> list[tuple[OperatorId, str | None]]:
    return []


@pytest.fixture
def live_app(
    db: Database,
    clock: FakeClock,
    config: WebConfig,
    fixed_seen: list[tuple[OperatorId, str | None]],
) -> FastAPI:
    acd = AcdService(AcdEngine(), clock)
    profiles = AgentProfiles({QueueId("general"): 5})
    profiles.fixed_contacts = lambda op, uri: fixed_seen.append((op, uri))
    return create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[install_live_configuration(AcdLiveConfiguration(acd, profile=profiles))],
    )


async def test_admin_api_validates_stores_and_applies_the_fixed_uri(
    live_app: FastAPI, db: Database, fixed_seen: list[tuple[OperatorId, str | None]]
) -> None:
    body = {
        "id": "op8",
        "name": "Оператор 8",
        "sip_username": "108",
        "sip_realm": "hotline",
        "sip_password": "sip-secret-108",
        "contact_uri": "sip:108@192.0.2.8:5062",
    }
    async with session(live_app, "admin") as admin:
        bad = await admin.post(OPS, {**body, "contact_uri": "tel:+74951234567"})
        assert bad.status_code == 422, bad.text
        r = await admin.post(OPS, body)
        assert r.status_code == 201, r.text
        assert fixed_seen[-1:] == [(OperatorId("108"), "sip:108@192.0.2.8:5062")]
        listed = (await admin.http.get(OPS)).json()
        assert listed[0]["contact_uri"] == "sip:108@192.0.2.8:5062"
        r = await admin.patch(f"{OPS}/op8", {"contact_uri": "sip:desk@192.0.2.9"})
        assert r.status_code == 200, r.text
        assert fixed_seen[-1:] == [(OperatorId("108"), "sip:desk@192.0.2.9")]
        assert (await admin.patch(f"{OPS}/op8", {"contact_uri": "sip:"})).status_code == 422
        r = await admin.patch(f"{OPS}/op8", {"contact_uri": ""})
        assert r.status_code == 200, r.text
        assert fixed_seen[-1:] == [(OperatorId("108"), None)]
        r = await admin.patch(f"{OPS}/op8", {"skills": {"health": 3}})  # keeps the URI as is
        assert r.status_code == 200
    (stored,) = AccountsRepository(db).operators()
    assert stored.contact_uri is None and stored.skills == {"health": 3}
