"""Trunks changed in the administration reach the call path's trunk table without a restart.

A real :class:`~hotline.calls.trunks.TrunkTable` behind
:class:`~hotline.app.stored_config.TrunksReload` and the administration API;
slots held by calls in progress survive the reload.
"""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from hotline.acd.router import AcdEngine
from hotline.acd.service import AcdService
from hotline.app.stored_config import TrunksReload, stored_trunks
from hotline.calls.numbers import DEFAULT_PLAN
from hotline.calls.trunks import Direction, TrunkConfig, TrunkTable
from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.web.admin_live import AcdLiveConfiguration, install_live_configuration
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.admin_support import session
from unit.web.conftest import Health
from unit.web.web_support import FAST_HASHER

RT = TrunkConfig(name="rt", host="10.0.0.1", max_calls=2, inbound_numbers=("122",))
MTS = TrunkConfig(name="mts", host="10.0.1.1", max_calls=1)


class Configured:
    """The configs the database would give, and who was told of each reconfiguration."""

    def __init__(self, *trunks: TrunkConfig) -> None:
        self.trunks = list(trunks)
        self.told: list[tuple[tuple[str, ...], int]] = []

    def read(self) -> list[TrunkConfig]:
        return list(self.trunks)

    def listener(self, trunks: tuple[TrunkConfig, ...]) -> None:
        self.told.append((tuple(t.name for t in trunks), threading.get_ident()))


@pytest.fixture
def configured() -> Configured:
    return Configured(RT, MTS)


@pytest.fixture
def table(configured: Configured) -> TrunkTable:
    table = TrunkTable(configured.read())
    table.listeners.append(configured.listener)
    return table


def test_calls_in_progress_keep_their_slots_and_counters_carry_over(
    configured: Configured, table: TrunkTable
) -> None:
    on_rt = table.acquire("rt", Direction.OUTBOUND)
    on_mts = table.acquire("mts", Direction.INBOUND)
    assert on_rt is not None and on_mts is not None
    configured.trunks = [TrunkConfig(name="rt", host="10.0.0.9", port=5080, max_calls=1)]
    assert TrunksReload(configured.read, table)() is True
    assert table.get("rt") == configured.trunks[0] and table.get("mts") is None
    assert table.active_calls("rt") == 1  # the call goes on, counted against the new limit
    assert table.acquire("rt", Direction.OUTBOUND) is None  # 1 of 1 in use
    assert table.active_calls("mts") == 1  # removed, but its call still holds the slot
    assert table.acquire("mts", Direction.OUTBOUND) is None
    on_rt.release()
    on_mts.release()
    assert table.acquire("rt", Direction.OUTBOUND) is not None
    stats = {s.trunk: s for s in table.stats()}
    assert stats["rt"].outbound_total == 2 and stats["rt"].limit == 1  # totals carried over


def test_new_numbers_and_hosts_route_and_match_at_once(
    configured: Configured, table: TrunkTable
) -> None:
    destination = DEFAULT_PLAN.parse("+74951112233")
    assert [t.name for t in table.route(destination)] == ["mts", "rt"]
    configured.trunks = [MTS, TrunkConfig(name="beeline", host="10.0.2.1")]
    assert TrunksReload(configured.read, table)() is True
    assert [t.name for t in table.route(destination)] == ["beeline", "mts"]
    beeline = table.get("beeline")
    assert beeline is not None and beeline.host == "10.0.2.1"
    assert configured.told[-1][0] == ("mts", "beeline")  # registrations are told


def test_a_bad_trunk_keeps_the_old_table(configured: Configured, table: TrunkTable) -> None:
    before = table.trunks
    told = len(configured.told)
    configured.trunks = [RT, TrunkConfig(name="bad", host="10.0.0.2", trusted_networks=("x",))]
    assert TrunksReload(configured.read, table)() is False
    configured.trunks = [RT, RT]  # two trunks with one name
    assert TrunksReload(configured.read, table)() is False
    assert table.trunks == before and len(configured.told) == told


async def test_from_a_worker_thread_the_table_changes_on_the_event_loop(
    configured: Configured, table: TrunkTable
) -> None:
    reload = TrunksReload(configured.read, table, asyncio.get_running_loop())
    configured.trunks = [MTS]
    assert await asyncio.to_thread(reload) is True
    assert table.trunks == (MTS,)
    assert configured.told[-1] == (("mts",), threading.get_ident())  # the loop's thread
    configured.trunks = [RT]
    assert reload() is True  # called on the loop itself: at once
    assert table.trunks == (RT,)


# -- through the administration API ----------------------------------------------------------


class Sip:
    def __init__(self) -> None:
        self.reloads = 0

    def reload_accounts(self) -> None:
        self.reloads += 1


@pytest.fixture
def trunk_table() -> TrunkTable:
    return TrunkTable()


@pytest.fixture
def app(db: Database, clock: FakeClock, config: WebConfig, trunk_table: TrunkTable) -> FastAPI:
    live = AcdLiveConfiguration(
        AcdService(AcdEngine(), clock),
        sip=Sip(),
        trunks=TrunksReload(functools.partial(stored_trunks, db), trunk_table),
    )
    return create_web_app(
        config,
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
        extra=[install_live_configuration(live)],
    )


def test_without_a_trunks_target_the_adapter_says_not_applied(clock: FakeClock) -> None:
    assert AcdLiveConfiguration(AcdService(AcdEngine(), clock)).reload_trunks() is False


async def test_outbound_calls_use_the_trunks_as_the_administrator_left_them(
    app: FastAPI, trunk_table: TrunkTable
) -> None:
    url = "/api/v1/admin/trunks/t1"
    body = {"name": "rostelecom", "host": "10.0.0.1", "max_calls": 1, "inbound_numbers": ["122"]}
    async with session(app, "admin") as admin:
        r = await admin.put(url, body)
        assert r.json() == {"saved": True, "applied": True, "restart_needed": False}
        found = trunk_table.get("rostelecom")
        assert found is not None and found.host == "10.0.0.1" and found.max_calls == 1
        slot = trunk_table.acquire("rostelecom", Direction.OUTBOUND)
        assert slot is not None
        r = await admin.put(url, {**body, "host": "10.0.0.7", "port": 5070, "max_calls": 2})
        assert r.json()["applied"] is True
        found = trunk_table.get("rostelecom")
        assert found is not None and (found.host, found.port) == ("10.0.0.7", 5070)
        assert trunk_table.active_calls("rostelecom") == 1  # the call kept its slot
        assert trunk_table.acquire("rostelecom", Direction.OUTBOUND) is not None  # 2 of 2
        r = await admin.put(url, {**body, "enabled": False})
        assert r.json()["applied"] is True
    assert trunk_table.acquire("rostelecom", Direction.OUTBOUND) is None  # disabled
    assert trunk_table.active_calls("rostelecom") == 2
