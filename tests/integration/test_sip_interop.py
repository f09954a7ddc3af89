"""Interop with real SIP peers on loopback: SIPp, baresip, sipvicious (testing.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hotline.sip.useragent import UserAgent
from support.answerer import Answerer
from support.peers import run_sipp
from support.sipnode import sip_endpoint

pytestmark = pytest.mark.integration

LOOPBACK_TRUNK = [("127.0.0.0/8", "local-test")]


async def test_sipp_uac_places_100_calls_without_failure(tmp_path: Path) -> None:
    answerer = Answerer()
    async with sip_endpoint(trusted=LOOPBACK_TRUNK) as endpoint:
        ua = UserAgent(endpoint, answerer)
        port = endpoint.local_udp[1]  # type: ignore[index]
        result = await asyncio.to_thread(
            run_sipp,
            ["-sn", "uac", f"127.0.0.1:{port}", "-s", "122", "-m", "100", "-r", "50", "-l", "50",
             "-d", "200", "-i", "127.0.0.1"],
            workdir=tmp_path / "sipp",
            timeout_s=60,
        )  # fmt: skip
        for _ in range(50):
            if ua.active_legs == 0:
                break
            await asyncio.sleep(0.1)
    assert result.returncode == 0, f"SIPp failed, logs in {result.workdir}\n{result.stdout[-2000:]}"
    assert (result.successful, result.failed) == (100, 0)
    assert answerer.answered == 100
    assert answerer.confirmed == 100
    assert len(answerer.terminated) == 100
    assert all(t.by_remote for t in answerer.terminated)
    assert ua.active_legs == 0


SCENARIOS = Path(__file__).resolve().parent / "scenarios"


async def test_sipp_registers_with_digest(tmp_path: Path) -> None:
    async with sip_endpoint(users={"1001": "correct-horse-1001"}) as endpoint:
        port = endpoint.local_udp[1]  # type: ignore[index]
        result = await asyncio.to_thread(
            run_sipp,
            ["-sf", str(SCENARIOS / "register_digest.xml"), "-au", "1001", "-ap",
             "correct-horse-1001", "-s", "1001", f"127.0.0.1:{port}", "-m", "1", "-i", "127.0.0.1"],
            workdir=tmp_path / "sipp",
            timeout_s=30,
        )  # fmt: skip
        assert result.returncode == 0, f"logs in {result.workdir}\n{result.stdout[-3000:]}"
        assert (result.successful, result.failed) == (1, 0)
        assert endpoint.stats.registrations >= 1
        assert endpoint.registrar.count() == 0  # unregistered at the end


async def test_sipp_register_with_a_wrong_password_fails(tmp_path: Path) -> None:
    async with sip_endpoint(users={"1001": "correct-horse-1001"}) as endpoint:
        port = endpoint.local_udp[1]  # type: ignore[index]
        result = await asyncio.to_thread(
            run_sipp,
            ["-sf", str(SCENARIOS / "register_digest.xml"), "-au", "1001", "-ap", "wrong",
             "-s", "1001", f"127.0.0.1:{port}", "-m", "1", "-i", "127.0.0.1", "-recv_timeout", "3000"],
            workdir=tmp_path / "sipp",
            timeout_s=30,
        )  # fmt: skip
        assert result.failed == 1
        assert endpoint.registrar.count() == 0


async def test_baresip_registers_and_auto_answers_our_call(tmp_path: Path) -> None:
    from hotline.sdp.negotiation import build_offer
    from hotline.sip.dlg_events import DialogConfirmed, DialogTerminated
    from hotline.sip.hdr_types import NameAddr
    from hotline.sip.uri import SipUri, parse_uri
    from support.peers import baresip

    answerer = Answerer()
    async with sip_endpoint(users={"1002": "baresip-secret-1002"}) as endpoint:
        ua = UserAgent(endpoint, answerer)
        port = endpoint.local_udp[1]  # type: ignore[index]
        account = (
            f"<sip:1002@127.0.0.1:{port};transport=udp>;auth_pass=baresip-secret-1002;"
            "answermode=auto;audio_codecs=PCMA,PCMU;regint=120"
        )
        with baresip(tmp_path / "baresip", account=account) as phone:
            for _ in range(100):
                if endpoint.registrar.bindings("1002", endpoint.wall_now()):
                    break
                await asyncio.sleep(0.1)
            bindings = endpoint.registrar.bindings("1002", endpoint.wall_now())
            assert bindings, f"baresip did not register; log:\n{phone.log()[-3000:]}"
            binding = bindings[0]
            offer = bytes(build_offer("127.0.0.1", 41000, session_id=7, version=1))
            leg = ua.call(
                parse_uri(binding.contact),
                binding.source,
                from_=NameAddr(SipUri(host="127.0.0.1", user="122"), "Hotline 122"),
                to=NameAddr(SipUri(host="127.0.0.1", user="1002")),
                offer=offer,
            )
            answerer.outgoing_offers[leg.leg_id] = offer
            for _ in range(100):
                if answerer.confirmed:
                    break
                await asyncio.sleep(0.1)
            assert answerer.confirmed == 1, f"baresip did not answer; log:\n{phone.log()[-3000:]}"
            await asyncio.sleep(0.5)
            ua.hang_up(leg)
            for _ in range(50):
                if answerer.terminated:
                    break
                await asyncio.sleep(0.1)
    confirmed = [e for e in answerer.events if isinstance(e, DialogConfirmed)]
    assert confirmed[0].body is not None and b"PCMA" in confirmed[0].body
    (ended,) = [e for e in answerer.events if isinstance(e, DialogTerminated)]
    assert ended.by_remote is False
    assert ua.active_legs == 0


async def _sipvicious(tool: str, *args: str, timeout_s: float = 90) -> str:
    import subprocess
    import sys

    from support.peers import free_udp_port

    binary = str(Path(sys.executable).with_name(tool))
    proc = await asyncio.create_subprocess_exec(
        binary, *args, "-P", str(free_udp_port()), "-b", "127.0.0.1",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return out.decode("utf-8", "replace")


@pytest.mark.parametrize("method", ["REGISTER", "OPTIONS", "INVITE"])
async def test_svwar_finds_no_extension(method: str) -> None:
    users = {"1001": "pw-a-1001", "1003": "pw-b-1003", "1005": "pw-c-1005"}
    async with sip_endpoint(users=users) as endpoint:
        port = endpoint.local_udp[1]  # type: ignore[index]
        out = await _sipvicious(
            "sipvicious_svwar", "-e990-1010", "-m", method, "-p", str(port), "--force",
            "--maximumtime=10", "127.0.0.1",
        )  # fmt: skip
    assert "found nothing" in out, out[-2000:]
    for ext in users:
        assert f"| {ext} " not in out and f"|{ext}" not in out


async def test_svcrack_finds_no_password_after_100_wrong_ones(tmp_path: Path) -> None:
    words = [f"guess{n:03d}" for n in range(100)] + ["right-password-1001"]
    dictionary = tmp_path / "words.txt"
    dictionary.write_text("\n".join(words) + "\n", encoding="utf-8")
    async with sip_endpoint(users={"1001": "right-password-1001"}, max_failures=10) as endpoint:
        port = endpoint.local_udp[1]  # type: ignore[index]
        out = await _sipvicious(
            "sipvicious_svcrack", "-u", "1001", "-d", str(dictionary), "-p", str(port),
            "--maximumtime=6", "127.0.0.1",
        )  # fmt: skip
        banned = endpoint.auth.throttle.bans_total
    assert "right-password-1001" not in out, out[-2000:]
    assert "found nothing" in out, out[-2000:]
    assert banned >= 1


async def test_tls_transport_answers_options_and_challenges_register(tmp_path: Path) -> None:
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    await asyncio.to_thread(
        subprocess.run,
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    client_ctx.check_hostname = False
    async with sip_endpoint(users={"1001": "pw"}, tls_context=server_ctx) as endpoint:
        assert endpoint.local_tls is not None
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", endpoint.local_tls[1], ssl=client_ctx
        )
        try:
            for n, (method, uri) in enumerate(
                [("OPTIONS", "sip:122@127.0.0.1"), ("REGISTER", "sip:127.0.0.1")]
            ):
                writer.write(
                    (
                        f"{method} {uri} SIP/2.0\r\n"
                        f"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-tls-{n}\r\n"
                        "Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=t1\r\n"
                        "To: <sip:1001@127.0.0.1>\r\nCall-ID: tls-test\r\n"
                        f"CSeq: {n + 1} {method}\r\nContact: <sip:1001@127.0.0.1;transport=tls>\r\n"
                        "Content-Length: 0\r\n\r\n"
                    ).encode()
                )
                await writer.drain()
                status_line = await asyncio.wait_for(reader.readline(), 5)
                assert status_line == (
                    b"SIP/2.0 200 OK\r\n"
                    if method == "OPTIONS"
                    else b"SIP/2.0 401 Unauthorized\r\n"
                )
                headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                assert b"Content-Length: 0" in headers
        finally:
            writer.close()


async def test_we_register_at_a_provider_that_challenges_us() -> None:
    """Client-side digest for REGISTER to a provider (here: a second endpoint of ours)."""
    from hotline.sip.peer import Peer, TransportKind
    from hotline.sip.regclient import (
        RegistrationClient,
        RegistrationConfig,
        RegistrationRunner,
        RegistrationState,
    )
    from hotline.sip.uri import SipUri

    async with (
        sip_endpoint(users={"4951234567": "trunk-secret"}) as provider,
        sip_endpoint() as ours,
    ):
        provider_port = provider.local_udp[1]  # type: ignore[index]
        our_port = ours.local_udp[1]  # type: ignore[index]
        peer = Peer(TransportKind.UDP, "127.0.0.1", provider_port)
        client = RegistrationClient(
            RegistrationConfig(
                registrar=SipUri(host="127.0.0.1", port=provider_port),
                aor=SipUri(host="127.0.0.1", user="4951234567"),
                contact=SipUri(host="127.0.0.1", port=our_port, user="122"),
                username="4951234567",
                password="trunk-secret",
                via_sent_by=f"127.0.0.1:{our_port}",
                expires_s=300,
            )
        )
        loop = asyncio.get_running_loop()
        runner = RegistrationRunner(
            client,
            lambda request, on_response: ours.request(request, peer, on_response),
            loop.call_later,
            ours.clock.monotonic,
        )
        runner.start()
        for _ in range(50):
            if client.state is RegistrationState.REGISTERED:
                break
            await asyncio.sleep(0.05)
        assert client.state is RegistrationState.REGISTERED
        (binding,) = provider.registrar.bindings("4951234567", provider.wall_now())
        assert binding.contact == f"sip:122@127.0.0.1:{our_port}"
        runner.stop()
        for _ in range(50):
            if client.state is RegistrationState.UNREGISTERED:
                break
            await asyncio.sleep(0.05)
        assert client.state is RegistrationState.UNREGISTERED
        assert provider.registrar.count() == 0


async def test_qualify_sees_a_registered_phone_alive_and_then_gone(tmp_path: Path) -> None:
    from hotline.sip.qualify import Qualifier
    from hotline.sip.txn_model import TimerConfig
    from support.peers import baresip

    fast = TimerConfig(t1=0.05, t2=0.4, t4=0.5, timer_d_s=0.5)  # 64*T1 = 3.2 s
    async with sip_endpoint(users={"1004": "pw-1004-x"}, timers=fast) as endpoint:
        port = endpoint.local_udp[1]  # type: ignore[index]
        qualifier = Qualifier(f"127.0.0.1:{port}", interval_s=0.0)
        results: list[int] = []

        async def ping_all() -> None:
            wall = endpoint.wall_now()
            bindings = endpoint.registrar.bindings("1004", wall)
            done = asyncio.Event()
            for binding in qualifier.due(bindings, endpoint.clock.monotonic()):
                sent = endpoint.clock.monotonic()

                def on_response(response, binding=binding, sent=sent):  # type: ignore[no-untyped-def]
                    qualifier.record(binding, response, sent, endpoint.clock.monotonic())
                    results.append(response.status)
                    done.set()

                endpoint.request(qualifier.build(binding), binding.source, on_response)
            await asyncio.wait_for(done.wait(), 10)

        account = f"<sip:1004@127.0.0.1:{port};transport=udp>;auth_pass=pw-1004-x;regint=300"
        with baresip(tmp_path / "phone", account=account):
            for _ in range(100):
                if endpoint.registrar.bindings("1004", endpoint.wall_now()):
                    break
                await asyncio.sleep(0.1)
            (binding,) = endpoint.registrar.bindings("1004", endpoint.wall_now())
            await ping_all()
            assert results == [200]
            assert qualifier.is_reachable("1004", binding.contact)
            assert qualifier.health[("1004", binding.contact)].rtt_s is not None
        # baresip is gone (it may have unregistered: keep the binding to probe it).
        if not endpoint.registrar.bindings("1004", endpoint.wall_now()):
            endpoint.registrar.restore(binding, endpoint.wall_now())
        await ping_all()
        assert results[-1] == 408
        assert not qualifier.is_reachable("1004", binding.contact)
        assert qualifier.counts() == (0, 1)
