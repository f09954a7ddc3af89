"""Error base classes shared by every layer.

Protocol cores raise :class:`RemoteProtocolError` when the *peer* sent
something we cannot accept (h11's convention): the error says what to answer
through ``status_hint`` (a SIP/HTTP status code) so that a driver can reply
without knowing the parser's internals.  :class:`LocalProtocolError` means our
own code asked a core to do something the protocol forbids: a bug, never the
peer's fault.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "HotlineError",
    "LimitExceededError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
]


class HotlineError(Exception):
    """Base of every error that Hotline code raises on purpose."""


class ConfigurationError(HotlineError):
    """A setting or stored configuration is invalid; ``setting`` names it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class ProtocolError(HotlineError):
    """Base of protocol errors raised by sans-IO cores."""


class RemoteProtocolError(ProtocolError):
    """The peer violated the protocol; answer with ``status_hint`` if answering at all."""

    def __init__(self, message: str, *, status_hint: int = 400) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class LimitExceededError(RemoteProtocolError):
    """Input went past a configured limit (size, count, length)."""


class LocalProtocolError(ProtocolError):
    """Our own code asked a core for something the protocol does not allow."""
