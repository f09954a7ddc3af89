"""Where a SIP message came from or goes to: transport kind and address.

Shared by the transaction layer (sans-IO) and the asyncio transports, so a
response travels back exactly the way its request came (RFC 3261 §18.2.2,
RFC 3581 symmetric response routing).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Peer", "TransportKind"]


class TransportKind(StrEnum):
    """The transport tokens of a Via header (RFC 3261 §18, §20.42)."""

    UDP = "UDP"
    TCP = "TCP"
    TLS = "TLS"

    @property
    def reliable(self) -> bool:
        """Reliable transports switch retransmission timers off (§17.1.1.2)."""
        return self is not TransportKind.UDP


@dataclass(frozen=True, slots=True)
class Peer:
    """A remote address on one transport.

    ``connection_id`` names the stream connection a message arrived on (TCP,
    TLS), so that responses reuse it; it is None for UDP and for a request to
    be sent on whatever connection the transport picks or opens.
    """

    transport: TransportKind
    host: str
    port: int
    connection_id: int | None = None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.value.lower()}:{host}:{self.port}"
