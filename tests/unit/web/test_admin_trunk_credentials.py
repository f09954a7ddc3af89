"""A trunk's credentials and registration through the administration API.

The password is write-only (never answered, never audited); a trunk saved
with ``register`` and credentials reaches the provider registrations
(:class:`~hotline.app.sipservice.TrunkRegistrations`) through the real
:class:`~hotline.calls.trunks.TrunkTable` and
:class:`~hotline.app.stored_config.TrunksReload`, without a restart.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.sipservice import TrunkRegistrations
from hotline.app.stored_config import TrunksReload, stored_trunks
from hotline.calls.trunks import TrunkConfig, TrunkCredentials, TrunkTable
from hotline.core.clock import FakeClock
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_response
from hotline.sip.msg_parse import parse_message
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.regclient import RegistrationState
from hotline.store.audit import AuditAction
from hotline.store.db import Database
from hotline.store.trunk_credentials import TrunkCredentialsRepository
from hotline.web.admin_live import AcdLiveConfiguration, install_live_configuration
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.admin_support import audit_rows, session
from unit.web.conftest import Health
from unit.web.web_support import FAST_HASHER

URL = "/api/v1/admin/trunks/t1"
PASSWORD = "s3cret-at-provider"
BASE = {"name": "rostelecom", "host": "192.0.2.10", "port": 5080, "inbound_numbers": ["122"]}
WITH_LOGIN = {**BASE, "username": "4951234567", "password": PASSWORD, "realm": "provider"}


class Sip:
    def reload_accounts(self) -> None:
        return None


@dataclass
class Sink:
    """What the registrations were told at each reconfiguration of the trunk table."""

    told: list[tuple[TrunkConfig, ...]] = field(default_factory=list)

    def sync(self, trunks: tuple[TrunkConfig, ...]) -> None:
        self.told.append(trunks)


@dataclass
class Endpoint:
    """The endpoint's client transactions as TrunkRegistrations uses them: requests kept."""

    sent: list[tuple[SipRequest, Peer]] = field(default_factory=list)
    waiting: list[Callable[[SipResponse], None]] = field(default_factory=list)

    def send(self, request: SipRequest, peer: Peer, cb: Callable[[SipResponse], None]) -> None:
        self.sent.append((request, peer))
        self.waiting.append(cb)

    def grant(self) -> None:
        """The provider accepts the last REGISTER (200 with the asked-for expiry)."""
        request, _ = self.sent[-1]
        contact = request.headers.get("Contact")
        expires = request.headers.get("Expires")
        headers = [("Contact", f"{contact};expires={expires}")]
        wire = parse_message(bytes(make_response(request, 200, to_tag="p1", headers=headers)))
        assert isinstance(wire, SipResponse)
        self.waiting.pop()(wire)

    def local(self, kind: TransportKind) -> tuple[str, int] | None:
        return ("127.0.0.1", 5060) if kind is TransportKind.UDP else None

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        return Timer()


class Timer:
    """A timer that never fires (the test answers nothing, so no refresh is due)."""

    def cancel(self) -> None:
        return None


@dataclass
class Live:
    table: TrunkTable
    sink: Sink
    endpoint: Endpoint
    registrations: TrunkRegistrations


@pytest.fixture
def live() -> Live:
    table, sink, endpoint = TrunkTable(), Sink(), Endpoint()
    registrations = TrunkRegistrations(
        endpoint.send, endpoint.local, lambda: 1000.0, endpoint.call_later
    )
    registrations.start()
    table.listeners.append(sink.sync)
    table.listeners.append(registrations.sync)
    return Live(table, sink, endpoint, registrations)


@pytest.fixture
def app(db: Database, clock: FakeClock, config: WebConfig, live: Live) -> FastAPI:
    target = AcdLiveConfiguration(
        AcdService(AcdEngine(), clock),
        sip=Sip(),
        trunks=TrunksReload(functools.partial(stored_trunks, db), live.table),
    )
    return create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[install_live_configuration(target)],
    )


async def test_the_password_is_never_answered_nor_audited(app: FastAPI, db: Database) -> None:
    async with session(app, "admin") as admin:
        r = await admin.put(URL, WITH_LOGIN)
        assert r.status_code == 200 and PASSWORD not in r.text
        r = await admin.http.get("/api/v1/admin/trunks")
        assert r.status_code == 200 and PASSWORD not in r.text
        (trunk,) = r.json()
        assert "password" not in trunk
        assert trunk["username"] == "4951234567" and trunk["has_password"] is True
        assert (trunk["realm"], trunk["register"], trunk["register_expires_s"]) == (
            "provider",
            False,
            600,
        )
    rows = [row for row in audit_rows(db, AuditAction.CONFIG_CHANGED) if row.object == "trunk:t1"]
    assert len(rows) == 1
    assert PASSWORD not in json.dumps(dict(rows[0].details))
    assert "password" not in rows[0].details
    assert rows[0].details["password_changed"] is True
    assert rows[0].details["username"] == "4951234567"


async def test_an_omitted_password_keeps_the_stored_one(app: FastAPI, db: Database) -> None:
    repo = TrunkCredentialsRepository(db)
    async with session(app, "admin") as admin:
        assert (await admin.put(URL, WITH_LOGIN)).status_code == 200
        changed = {**BASE, "username": "4951234567", "register": True}
        assert (await admin.put(URL, changed)).status_code == 200
        stored = repo.get("t1")
        assert stored is not None and stored.password == PASSWORD and stored.register is True
        assert stored.realm is None  # the realm was left out this time
        assert (await admin.put(URL, BASE)).status_code == 200  # no username: none at all
        assert repo.get("t1") is None
        r = await admin.http.get("/api/v1/admin/trunks")
        assert r.json()[0]["has_password"] is False and r.json()[0]["username"] is None


@pytest.mark.parametrize(
    "body",
    [
        {**BASE, "register": True},  # no username
        {**BASE, "username": "4951234567", "register": True},  # no password, none stored
        {**BASE, "password": PASSWORD},  # a password without a user name
        {**WITH_LOGIN, "register": True, "register_expires_s": 59},
        {**WITH_LOGIN, "register": True, "register_expires_s": 86_401},
        {**WITH_LOGIN, "username": 'bad"name'},  # would break the Authorization header
        {**WITH_LOGIN, "username": "bad\r\nname"},
        {**WITH_LOGIN, "password": ""},
    ],
)
async def test_unusable_credentials_are_refused(
    app: FastAPI, db: Database, live: Live, body: dict[str, object]
) -> None:
    async with session(app, "admin") as admin:
        r = await admin.put(URL, body)
        assert r.status_code == 422, r.text
        assert PASSWORD not in r.text  # the refusal does not echo the request
    assert TrunkCredentialsRepository(db).get("t1") is None
    assert live.table.get("rostelecom") is None  # nothing saved, nothing applied


async def test_a_registering_trunk_reaches_the_registrations_with_its_credentials(
    app: FastAPI, live: Live
) -> None:
    body = {**WITH_LOGIN, "register": True, "register_expires_s": 120}
    async with session(app, "admin") as admin:
        r = await admin.put(URL, body)
        assert r.json() == {"saved": True, "applied": True, "restart_needed": False}
        (told,) = live.sink.told[-1]
        assert told.credentials == TrunkCredentials("4951234567", PASSWORD)
        assert (told.register, told.register_expires_s, told.name) == (True, 120, "rostelecom")
        ((register, peer),) = live.endpoint.sent
        assert register.method == "REGISTER"
        assert peer == Peer(TransportKind.UDP, "192.0.2.10", 5080)
        assert register.headers.get("Expires") == "120"
        assert register.headers.get("Contact") == "<sip:4951234567@127.0.0.1:5060>"
        live.endpoint.grant()
        assert live.registrations.states() == {"rostelecom": RegistrationState.REGISTERED}
        # Registration switched off: the registration stops (un-REGISTER, Expires: 0).
        r = await admin.put(URL, {**body, "register": False})
        assert r.json()["applied"] is True
    (told,) = live.sink.told[-1]
    assert told.register is False and told.credentials is not None  # still answers challenges
    assert live.registrations.states() == {}
    leaving, _ = live.endpoint.sent[-1]
    assert leaving.method == "REGISTER" and leaving.headers.get("Expires") == "0"
