"""The node registers at a provider whose trunk asks for it (RFC 3261 §10.2), against SIPp.

A SIPp UAS plays the provider's registrar: every REGISTER is challenged
(401), the answer is checked with ``verifyauth`` and granted for 3 s.  The
node's SIP service must register at start, refresh before the 3 s run out
(a second challenged round), report ``hotline_trunk_registered`` in
/metrics, and un-register (``Expires: 0``) when it stops.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client.registry import CollectorRegistry

from hotline.app.settings import load_settings
from hotline.app.sipservice import SipCollector, SipService
from hotline.calls.trunks import TrunkConfig, TrunkCredentials, TrunkTable
from hotline.core.clock import SystemClock
from hotline.sip.regclient import RegistrationState
from hotline.store.db import Database
from support.peers import free_udp_port, require, run_sipp

pytestmark = pytest.mark.integration

USER, PASSWORD = "hotline122", "reg-secret-pw"

_HEADERS = """      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagReg
      [last_Call-ID:]
      [last_CSeq:]"""


def _round(index: int, expires: str, check: str) -> str:
    """A challenged REGISTER, then the answer checked; ``check`` is the Expires it must ask."""
    return f"""
  <recv request="REGISTER">
    <action>
      <ereg regexp="{check}" search_in="hdr" header="Expires:" check_it="true" assign_to="e1"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      SIP/2.0 401 Unauthorized
{_HEADERS}
      WWW-Authenticate: Digest realm="provider.example", nonce="n[pid][cseq]", algorithm=MD5, qop="auth"
      Content-Length: 0

    ]]>
  </send>
  <recv request="REGISTER">
    <action>
      <verifyauth assign_to="authvalid" username="{USER}" password="{PASSWORD}"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="ok{index}"/>
  <send>
    <![CDATA[
      SIP/2.0 403 Forbidden
{_HEADERS}
      Content-Length: 0

    ]]>
  </send>
  <recv request="INFO" timeout="300"/>
  <label id="ok{index}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
{_HEADERS}
      [last_Contact:]
      Expires: {expires}
      Content-Length: 0

    ]]>
  </send>
"""


REGISTRAR = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="provider registrar with digest">
{_round(1, "3", "^ *120 *$")}
{_round(2, "3", "^ *120 *$")}
{_round(3, "0", "^ *0 *$")}
</scenario>
"""


def _registered(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("hotline_trunk_registered", {"trunk": "provider"})


async def test_node_registers_refreshes_and_unregisters_at_the_provider(
    hotline_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    require("sipp")
    monkeypatch.setenv("HOTLINE_SIP_HOST", "127.0.0.1")
    port = free_udp_port()
    workdir = tmp_path / "registrar"
    workdir.mkdir()
    (workdir / "reg.xml").write_text(REGISTRAR, encoding="ascii")
    settings = load_settings()
    db = Database(settings.database_url)
    db.migrate()
    sip = SipService(settings, db, SystemClock(), b"0123456789abcdef0123456789abcdef")
    registry = CollectorRegistry()
    registry.register(SipCollector(sip))
    trunks = TrunkTable()
    trunks.listeners.append(sip.registrations.sync)  # as the call service wires it
    trunks.reconfigure(
        [
            TrunkConfig(
                name="provider",
                host="127.0.0.1",
                port=port,
                credentials=TrunkCredentials(USER, PASSWORD),
                register=True,
                register_expires_s=120,
            )
        ]
    )
    args = ["-sf", "reg.xml", "-i", "127.0.0.1", "-p", str(port), "-m", "1"]
    registrar = asyncio.create_task(
        asyncio.to_thread(run_sipp, args, workdir=workdir, timeout_s=20)
    )
    try:
        await asyncio.sleep(0.5)  # SIPp is listening
        await sip.start()
        for _ in range(30):
            if _registered(registry) == 1.0:
                break
            await asyncio.sleep(0.1)
        assert _registered(registry) == 1.0
        await asyncio.sleep(2.5)  # the 3 s grant is refreshed at half-time
        assert sip.registrations.states() == {"provider": RegistrationState.REGISTERED}
        assert _registered(registry) == 1.0
    finally:
        await sip.stop()
        result = await registrar
        db.dispose()
    assert sip.registrations.states() == {}
    assert result.successful == 1 and result.failed == 0, (
        f"registrar SIPp, logs in {workdir}\n{result.stdout[-3000:]}"
    )
