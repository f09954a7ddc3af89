"""The test peers' ports (support.peers): baresip blocks never collide, nor with the nodes' RTP.

Real sockets on loopback (a bind test is what the allocator does), and two
real baresip processes started side by side.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from support.peers import (
    BARESIP_PORTS,
    NODE_RTP_PORTS,
    PortAllocator,
    PortBlock,
    baresip,
    free_udp_port,
    require,
)

pytestmark = pytest.mark.integration

BLOCK = 8


def _free_region(size: int) -> int:
    """An even port with ``size`` free UDP and TCP ports from it (below the ephemeral range)."""
    for first in range(24000, 32000, 64):
        with ExitStack() as stack:
            try:
                for port in range(first, first + size):
                    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                        s = stack.enter_context(socket.socket(socket.AF_INET, kind))
                        s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return first
    raise AssertionError("no free region of ports for the test")


@contextmanager
def occupied(port: int) -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))
        yield s


def test_blocks_are_exclusive_while_live_and_reused_after_release() -> None:
    first = _free_region(4 * BLOCK)
    pool = PortAllocator(first, first + 4 * BLOCK - 1, block=BLOCK)
    blocks = [pool.acquire() for _ in range(4)]
    assert sorted(b.first for b in blocks) == [first + i * BLOCK for i in range(4)]
    assert set(pool.live()) == set(blocks)
    with pytest.raises(AssertionError, match="no free block"):
        pool.acquire()  # every block is live: never handed out twice
    pool.release(blocks[2])
    assert pool.acquire() == blocks[2]


def test_a_block_with_a_busy_port_is_skipped() -> None:
    first = _free_region(2 * BLOCK)
    pool = PortAllocator(first, first + 2 * BLOCK - 1, block=BLOCK)
    busy = first + BLOCK + 5  # an RTP port of the second block, taken by someone else
    with occupied(busy):
        for _ in range(5):  # whichever block the search starts at
            block = pool.acquire()
            assert block.first == first
            pool.release(block)
        with pool.block() as block:
            assert block.first == first
            with pytest.raises(AssertionError):
                pool.acquire()
        assert pool.live() == ()


def test_port_block_layout() -> None:
    block = PortBlock(21000)
    assert (block.sip_port, block.ctrl_port) == (21000, 21002)
    assert block.config_line() == "rtp_ports 21004-21099"
    ports = range(21000, 21100)
    for other in (block.sip_port, block.ctrl_port, block.rtp_first, block.rtp_last):
        assert other in ports
    with pytest.raises(ValueError):
        PortAllocator(21001, 21100)  # odd start: RTP pairs need even ports


def test_peer_ports_stay_out_of_the_nodes_rtp_ports() -> None:
    assert all(free_udp_port() not in NODE_RTP_PORTS for _ in range(200))
    for start, block in ((b, PortBlock(b)) for b in range(21000, 32700, 100)):
        assert block.rtp_last < min(NODE_RTP_PORTS) and start >= 21000  # below the nodes
        assert block.rtp_last < 32768  # and below the kernel's ephemeral ports


def test_two_baresips_side_by_side_get_ranges_of_their_own(tmp_path: Path) -> None:
    require("baresip")
    account = "<sip:9{n}@127.0.0.1:9;transport=udp>;regint=0;answermode=auto"
    with (
        baresip(tmp_path / "a", account=account.format(n=1)) as a,
        baresip(tmp_path / "b", account=account.format(n=2)) as b,
    ):
        assert a.ports is not None and b.ports is not None
        span_a = range(a.ports.first, a.ports.first + a.ports.size)
        assert b.ports.first not in span_a and a.ports.first != b.ports.first
        assert {a.ports, b.ports} <= set(BARESIP_PORTS.live())
        for peer in (a, b):
            assert peer.ports is not None
            config = (peer.workdir / "config").read_text(encoding="utf-8")
            assert peer.ports.config_line() in config
            assert f"sip_listen 127.0.0.1:{peer.sip_port}" in config
            assert peer.wait_log("baresip is ready", timeout_s=10.0), peer.log()[-2000:]
            assert f"listening on 127.0.0.1:{peer.ctrl_port}" in peer.log()
    assert a.ports not in BARESIP_PORTS.live() and b.ports not in BARESIP_PORTS.live()
