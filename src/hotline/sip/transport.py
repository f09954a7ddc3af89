"""SIP transports over asyncio: UDP, TCP and TLS (RFC 3261 §18, §26).

A thin driver: it moves bytes between sockets and the endpoint and keeps
connection bookkeeping, nothing more.  Datagrams are handed over raw (the
endpoint absorbs retransmissions before parsing); stream bytes go through a
:class:`~hotline.sip.framing.StreamFramer` per connection, which yields
parsed messages.

Streams: connections are reused in both directions (a response goes back
on the connection its request came on; a request to an address with an
open connection reuses it), closed after ``idle_timeout_s`` without
traffic, limited in number, and closed when the peer stops reading (write
buffer over its limit) or breaks the framing.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import structlog

from hotline.sip.framing import KeepAlive, KeepAliveKind, StreamFramer
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_parse import ParseLimits, SipParseError
from hotline.sip.peer import Peer, TransportKind

__all__ = ["SipTransport", "TransportLimits", "TransportStats"]

log = structlog.get_logger("hotline.sip.transport")

DatagramHandler = Callable[[bytes, Peer], None]
MessageHandler = Callable[[SipRequest | SipResponse, Peer], None]
StreamErrorHandler = Callable[[SipParseError, Peer], None]


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """Bounds that keep one peer from exhausting the node."""

    max_connections: int = 4096
    idle_timeout_s: float = 600.0
    max_write_buffer_bytes: int = 1 << 20
    connect_timeout_s: float = 5.0
    # A message started but not finished within this time (a Content-Length
    # larger than the body, RFC 4475 clerr over TCP): the connection is closed.
    partial_message_timeout_s: float = 32.0
    parse: ParseLimits = field(default_factory=ParseLimits)


@dataclass(slots=True)
class TransportStats:
    """Counters exported to /metrics."""

    datagrams_in: int = 0
    datagrams_out: int = 0
    stream_messages_in: int = 0
    stream_bytes_out: int = 0
    connections_opened: int = 0
    connections_refused: int = 0
    connections_closed_idle: int = 0
    connections_closed_error: int = 0
    send_failures: int = 0


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self._owner = owner
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's selector datagram transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._owner._udp_received(data, str(addr[0]), int(addr[1]))

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable) for an earlier sendto: not fatal.
        log.debug("udp error", error=str(exc))


class _Stream(asyncio.Protocol):
    """One TCP or TLS connection."""

    def __init__(self, owner: SipTransport, kind: TransportKind, conn_id: int) -> None:
        self._owner = owner
        self.kind = kind
        self.conn_id = conn_id
        self.framer = StreamFramer(owner.limits.parse)
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._partial: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        host, port = transport.get_extra_info("peername")[:2]
        self.peer = Peer(self.kind, str(host), int(port), self.conn_id)
        if not self._owner._register(self):
            transport.abort()
            return
        self._touch()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self._owner.limits.idle_timeout_s, self._on_idle)

    def _on_idle(self) -> None:
        self._owner.stats.connections_closed_idle += 1
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None and self.transport is not None
        self._touch()
        try:
            self.framer.feed(data)
            while True:
                try:
                    item = self.framer.next_message()
                except SipParseError as exc:
                    self._owner._stream_error(exc, self.peer)
                    if self.framer.state.value == "failed":
                        raise
                    continue
                if item is None:
                    break
                if isinstance(item, KeepAlive):
                    if item.kind is KeepAliveKind.PING:
                        self.transport.write(b"\r\n")
                    continue
                self._owner._stream_message(item, self.peer)
        except SipParseError:
            self._owner.stats.connections_closed_error += 1
            self.transport.close()
            return
        if self.framer.buffered_bytes == 0:
            if self._partial is not None:
                self._partial.cancel()
                self._partial = None
        elif self._partial is None:
            loop = asyncio.get_running_loop()
            self._partial = loop.call_later(
                self._owner.limits.partial_message_timeout_s, self._on_partial_timeout
            )

    def _on_partial_timeout(self) -> None:
        self._partial = None
        if self.framer.buffered_bytes and self.transport is not None:
            self._owner.stats.connections_closed_error += 1
            self.transport.close()

    def write(self, data: bytes) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        if self.transport.get_write_buffer_size() > self._owner.limits.max_write_buffer_bytes:
            # The peer does not read: drop it rather than buffer without bound.
            self._owner.stats.connections_closed_error += 1
            self.transport.abort()
            return False
        self.transport.write(data)
        self._touch()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self._partial is not None:
            self._partial.cancel()
        self._owner._unregister(self)
        if not self.closed.done():
            self.closed.set_result(None)


class SipTransport:
    """UDP, TCP and TLS listeners plus outbound streams for one SIP endpoint."""

    def __init__(
        self,
        *,
        on_datagram: DatagramHandler,
        on_message: MessageHandler,
        on_stream_error: StreamErrorHandler,
        limits: TransportLimits | None = None,
        tls_client_context: ssl.SSLContext | None = None,
    ) -> None:
        self.limits = limits or TransportLimits()
        self.stats = TransportStats()
        self._on_datagram = on_datagram
        self._on_message = on_message
        self._on_stream_error = on_stream_error
        self._tls_client = tls_client_context
        self._udp: list[_Udp] = []
        self._servers: list[asyncio.Server] = []
        self._streams: dict[int, _Stream] = {}
        self._by_address: dict[tuple[TransportKind, str, int], int] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.local_addresses: dict[TransportKind, tuple[str, int]] = {}

    # -- listening --------------------------------------------------------------

    async def listen_udp(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(host, port), reuse_port=False
        )
        self._udp.append(protocol)
        bound = transport.get_extra_info("sockname")[:2]
        self.local_addresses.setdefault(TransportKind.UDP, (str(bound[0]), int(bound[1])))
        return str(bound[0]), int(bound[1])

    async def listen_stream(
        self, host: str, port: int, *, tls: ssl.SSLContext | None = None
    ) -> tuple[str, int]:
        kind = TransportKind.TLS if tls is not None else TransportKind.TCP
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Stream(self, kind, next(self._ids)), host, port, ssl=tls, reuse_address=True
        )
        self._servers.append(server)
        bound = server.sockets[0].getsockname()[:2]
        self.local_addresses.setdefault(kind, (str(bound[0]), int(bound[1])))
        return str(bound[0]), int(bound[1])

    async def unlisten_udp(self) -> None:
        """Close the UDP listeners (to retry on another port); streams are untouched."""
        for udp in self._udp:
            if udp.transport is not None:
                udp.transport.close()
        if self._udp:
            await asyncio.wait([u.closed for u in self._udp], timeout=2.0)
        self._udp.clear()
        self.local_addresses.pop(TransportKind.UDP, None)

    # -- bookkeeping --------------------------------------------------------------

    def _register(self, stream: _Stream) -> bool:
        if self._closing or len(self._streams) >= self.limits.max_connections:
            self.stats.connections_refused += 1
            return False
        assert stream.peer is not None
        self._streams[stream.conn_id] = stream
        self._by_address[(stream.kind, stream.peer.host, stream.peer.port)] = stream.conn_id
        self.stats.connections_opened += 1
        return True

    def _unregister(self, stream: _Stream) -> None:
        self._streams.pop(stream.conn_id, None)
        if stream.peer is not None:
            key = (stream.kind, stream.peer.host, stream.peer.port)
            if self._by_address.get(key) == stream.conn_id:
                del self._by_address[key]

    @property
    def connection_count(self) -> int:
        return len(self._streams)

    # -- inbound ------------------------------------------------------------------

    def _udp_received(self, data: bytes, host: str, port: int) -> None:
        self.stats.datagrams_in += 1
        self._on_datagram(data, Peer(TransportKind.UDP, host, port))

    def _stream_message(self, message: SipRequest | SipResponse, peer: Peer) -> None:
        self.stats.stream_messages_in += 1
        self._on_message(message, peer)

    def _stream_error(self, error: SipParseError, peer: Peer) -> None:
        self._on_stream_error(error, peer)

    # -- outbound -----------------------------------------------------------------

    def send(self, data: bytes, peer: Peer) -> None:
        """Send ``data`` to ``peer``; never blocks, never raises for network trouble."""
        if peer.transport is TransportKind.UDP:
            if not self._udp or self._udp[0].transport is None:
                self.stats.send_failures += 1
                return
            self._udp[0].transport.sendto(data, (peer.host, peer.port))
            self.stats.datagrams_out += 1
            return
        stream = self._find_stream(peer)
        if stream is not None:
            if stream.write(data):
                self.stats.stream_bytes_out += len(data)
            else:
                self.stats.send_failures += 1
            return
        if self._closing:
            self.stats.send_failures += 1
            return
        task = asyncio.get_running_loop().create_task(self._connect_and_send(data, peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _find_stream(self, peer: Peer) -> _Stream | None:
        if peer.connection_id is not None:
            found = self._streams.get(peer.connection_id)
            if found is not None:
                return found
        conn_id = self._by_address.get((peer.transport, peer.host, peer.port))
        return self._streams.get(conn_id) if conn_id is not None else None

    async def _connect_and_send(self, data: bytes, peer: Peer) -> None:
        loop = asyncio.get_running_loop()
        tls = self._tls_client if peer.transport is TransportKind.TLS else None
        if peer.transport is TransportKind.TLS and tls is None:
            tls = ssl.create_default_context()
        try:
            _, stream = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Stream(self, peer.transport, next(self._ids)),
                    peer.host,
                    peer.port,
                    ssl=tls,
                    server_hostname=peer.host if tls is not None else None,
                ),
                timeout=self.limits.connect_timeout_s,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            self.stats.send_failures += 1
            log.info("sip connect failed", peer=str(peer), error=str(exc) or type(exc).__name__)
            return
        if stream.write(data):
            self.stats.stream_bytes_out += len(data)

    # -- shutdown -----------------------------------------------------------------

    async def close(self) -> None:
        """Stop listening, close every connection and wait for pending connects."""
        self._closing = True
        for server in self._servers:
            server.close()
        for udp in self._udp:
            if udp.transport is not None:
                udp.transport.close()
        streams = list(self._streams.values())
        for stream in streams:
            if stream.transport is not None:
                stream.transport.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        waiting = [s.closed for s in streams] + [u.closed for u in self._udp]
        if waiting:
            await asyncio.wait(waiting, timeout=2.0)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._udp.clear()
