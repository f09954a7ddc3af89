"""RFC 4475 torture messages against a running endpoint (testing.md, shared INDEX.md).

Each message goes as a raw datagram (and over TCP where its top Via says TCP or
TLS) to a live endpoint; the answer must be what INDEX.md says, and a clean
OPTIONS must still be answered within 1 s after each.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from hotline.sip.endpoint import SipEndpoint
from support.sipnode import sip_endpoint

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "sip" / "rfc4475"
SILENT: frozenset[int] = frozenset()
NORMAL = frozenset({200, 401, 480, 481})  # "process normally": never 400, never 5xx

# file -> acceptable first status codes (an empty set: no answer at all).
EXPECTED: dict[str, frozenset[int]] = {
    "wsinv": NORMAL,
    "intmeth": frozenset({501}),
    "esc01": NORMAL,
    "escnull": frozenset({401}),
    "esc02": frozenset({501}),
    "lwsdisp": frozenset({200}),
    "longreq": NORMAL,
    "dblreq": frozenset({401}),
    "semiuri": frozenset({200}),
    "transports": frozenset({200}),
    "mpart01": frozenset({405, 415}),
    "unreason": SILENT,
    "noreason": SILENT,
    "badinv01": frozenset({400}) | SILENT,
    "clerr": frozenset({400}),
    "ncl": frozenset({400}),
    "scalar02": frozenset({400}),
    "scalarlg": SILENT,
    "quotbal": frozenset({400}),
    "ltgtruri": frozenset({400}),
    "lwsruri": frozenset({400}),
    "lwsstart": frozenset({400}) | NORMAL,
    "trws": frozenset({400, 200}),
    "escruri": frozenset({400}) | NORMAL,
    "baddate": NORMAL,
    "regbadct": frozenset({400, 401}),
    "badaspec": frozenset({400, 200}),
    "baddn": frozenset({400, 200}),
    "badvers": frozenset({505}),
    "mismatch01": frozenset({400}),
    "mismatch02": frozenset({501, 400}),
    "bigcode": SILENT,
    "badbranch": frozenset({400, 200}),
    "insuf": frozenset({400}),
    "unkscm": frozenset({416}),
    "novelsc": frozenset({416, 404}),
    "unksm2": frozenset({400}),
    "bext01": frozenset({420}),
    "invut": frozenset({415}),
    "regaut01": frozenset({401}),
    "multi01": frozenset({400}),
    "mcl01": frozenset({400}),
    "bcast": SILENT,
    "zeromf": frozenset({200, 401}),
    "cparam01": frozenset({401}),
    "cparam02": frozenset({401}),
    "regescrt": frozenset({401}),
    "sdp01": frozenset({401, 406, 400}),
    "inv2543": frozenset({401, 400}),
}
MAY_BE_SILENT = {"badinv01", "insuf"}
STREAM_FILES = {
    "esc02",
    "intmeth",
    "longreq",
    "novelsc",
    "regaut01",
    "scalar02",
    "trws",
    "unkscm",
    "bext01",
}


def _options(port: int, n: int) -> bytes:
    return (
        f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-probe-{n};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1>;tag=p{n}\r\n"
        "To: <sip:probe@127.0.0.1>\r\n"
        f"Call-ID: probe-{n}@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


async def _udp_exchange(
    port: int, data: bytes, wait_s: float, linger_s: float = 0.1
) -> list[bytes]:
    """Send ``data``; collect replies until ``wait_s`` or ``linger_s`` after a final one."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.bind(("127.0.0.1", 0))
    replies: list[bytes] = []
    try:
        await loop.sock_sendto(sock, data, ("127.0.0.1", port))
        deadline = loop.time() + wait_s
        while (left := deadline - loop.time()) > 0:
            try:
                reply = await asyncio.wait_for(loop.sock_recv(sock, 65535), left)
            except TimeoutError:
                break
            replies.append(reply)
            if _status(reply) >= 200:
                deadline = min(deadline, loop.time() + linger_s)
    finally:
        sock.close()
    return replies


def _status(reply: bytes) -> int:
    assert reply.startswith(b"SIP/2.0 "), reply[:80]
    return int(reply.split(b" ", 2)[1])


def _final_statuses(replies: list[bytes]) -> list[int]:
    """Final statuses, counting a retransmission (the same bytes, Timer G) once."""
    return [s for s in (_status(r) for r in dict.fromkeys(replies)) if s >= 200]


async def _assert_still_healthy(endpoint: SipEndpoint, n: int) -> None:
    replies = await _udp_exchange(endpoint.local_udp[1], _options(endpoint.local_udp[1], n), 1.0)  # type: ignore[index]
    assert [_status(r) for r in replies] == [200], "the endpoint stopped answering OPTIONS"


def test_corpus_is_complete() -> None:
    files = sorted(p.stem for p in CORPUS.glob("*.sip"))
    assert len(files) == 49
    assert set(files) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_torture_message_over_udp(name: str) -> None:
    data = (CORPUS / f"{name}.sip").read_bytes()
    async with sip_endpoint(users={"1001": "pw-1001"}) as endpoint:
        port = endpoint.local_udp[1]  # type: ignore[index]
        wait = 0.3 if EXPECTED[name] == SILENT or name in MAY_BE_SILENT else 1.0
        replies = await _udp_exchange(port, data, wait)
        finals = _final_statuses(replies)
        expected = EXPECTED[name]
        if expected == SILENT:
            assert replies == [], f"{name}: a stray/invalid response must be discarded"
        elif name in MAY_BE_SILENT and not finals:
            pass
        else:
            assert len(finals) == 1, f"{name}: expected one final answer, got {finals}"
            assert finals[0] in expected, f"{name}: got {finals[0]}, want one of {sorted(expected)}"
        if name == "bext01":
            unsupported = [
                ln for ln in replies[-1].split(b"\r\n") if ln.lower().startswith(b"unsupported:")
            ]
            assert unsupported == [b"Unsupported: nothingSupportsThis, nothingSupportsThisEither"]
        if name in ("intmeth", "esc02", "mpart01"):
            assert b"\r\nAllow: " in replies[-1]
        if name == "invut":
            assert b"\r\nAccept: application/sdp\r\n" in replies[-1]
        await _assert_still_healthy(endpoint, 1)


async def _tcp_exchange(port: int, data: bytes, wait_s: float) -> list[int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses: list[int] = []
    try:
        writer.write(data)
        await writer.drain()
        buf = b""
        deadline = asyncio.get_running_loop().time() + wait_s
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                chunk = await asyncio.wait_for(reader.read(65535), left)
            except TimeoutError:
                break
            if not chunk:
                break
            buf += chunk
            if any(
                int(p.split(b" ", 1)[0]) >= 200
                for p in buf.split(b"SIP/2.0 ")[1:]
                if p[:3].isdigit()
            ):
                deadline = min(deadline, asyncio.get_running_loop().time() + 0.1)
        statuses.extend(int(part.split(b" ", 1)[0]) for part in buf.split(b"SIP/2.0 ")[1:])
    finally:
        writer.close()
    return statuses


@pytest.mark.parametrize("name", sorted(STREAM_FILES))
async def test_torture_message_over_tcp(name: str) -> None:
    data = (CORPUS / f"{name}.sip").read_bytes()
    async with sip_endpoint(users={"1001": "pw-1001"}) as endpoint:
        port = endpoint.local_tcp[1]  # type: ignore[index]
        statuses = [s for s in await _tcp_exchange(port, data, 1.0) if s >= 200]
        assert len(statuses) == 1 and statuses[0] in EXPECTED[name], f"{name}: {statuses}"
        await _assert_still_healthy(endpoint, 2)


async def test_all_messages_in_a_row_leave_the_server_healthy() -> None:
    async with sip_endpoint(users={"1001": "pw-1001"}) as endpoint:
        port = endpoint.local_udp[1]  # type: ignore[index]
        for n, path in enumerate(sorted(CORPUS.glob("*.sip"))):
            await _udp_exchange(port, path.read_bytes(), 0.05)
            await _assert_still_healthy(endpoint, 100 + n)
        for path in sorted((CORPUS / "variants").glob("*.sip")):
            await _udp_exchange(port, path.read_bytes(), 0.05)
        await _assert_still_healthy(endpoint, 999)


@pytest.mark.parametrize("name", ["clerr", "ncl", "mcl01"])
async def test_broken_framing_over_tcp_closes_the_connection(name: str) -> None:
    """clerr: wait, then close; ncl/mcl01: the framing cannot recover, close (INDEX.md)."""
    from hotline.sip.transport import TransportLimits

    data = (CORPUS / f"{name}.sip").read_bytes()
    limits = TransportLimits(partial_message_timeout_s=0.5)
    async with sip_endpoint(users={"1001": "pw"}, transport_limits=limits) as endpoint:
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.local_tcp[1])  # type: ignore[index]
        try:
            writer.write(data)
            await writer.drain()
            rest = await asyncio.wait_for(reader.read(), 5)  # returns at EOF: the server closed
            assert endpoint.transport.connection_count == 0
            if name != "clerr":
                assert rest.startswith(b"SIP/2.0 400 ")
        finally:
            writer.close()
        await _assert_still_healthy(endpoint, 3)


async def test_tcp_connection_is_reused_for_responses_and_closed_when_idle() -> None:
    from hotline.sip.transport import TransportLimits

    limits = TransportLimits(idle_timeout_s=0.5)
    async with sip_endpoint(transport_limits=limits) as endpoint:
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.local_tcp[1])  # type: ignore[index]
        try:
            for n in range(3):  # three requests, three answers on the same connection
                writer.write(
                    _options(endpoint.local_tcp[1], 50 + n).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
                )  # type: ignore[index]
                await writer.drain()
                assert await asyncio.wait_for(reader.readline(), 2) == b"SIP/2.0 200 OK\r\n"
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            assert endpoint.transport.connection_count == 1
            assert await asyncio.wait_for(reader.read(), 3) == b""  # idle: closed by the server
            assert endpoint.transport.stats.connections_closed_idle == 1
        finally:
            writer.close()


async def test_a_taken_tcp_port_fails_cleanly_without_leaking_the_udp_socket() -> None:
    """UDP and TCP share the port: if TCP's is taken the start fails and UDP is closed again."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        with pytest.raises(OSError, match="address already in use"):
            async with sip_endpoint(port=port):
                pass
    # Warnings are errors in this suite: an unclosed UDP transport would fail the test run.
    async with sip_endpoint(port=port) as endpoint:
        assert endpoint.local_udp is not None and endpoint.local_udp[1] == port
