"""SIP: the sans-IO stack (L1) and its asyncio transports, registrar and endpoint (L2)."""
