"""The web layer's configuration: a plain frozen dataclass built by ``hotline.app``.

``hotline.app.settings.WebSettings`` (``[web]`` / ``HOTLINE_WEB__*``) is the
operator-facing form; the node turns it into a :class:`WebConfig`, so the web
layer does not depend on the composition root.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path

from hotline.core.errors import ConfigurationError

__all__ = ["WebConfig", "check_transport", "is_loopback"]


@dataclass(frozen=True, slots=True)
class WebConfig:
    """Knobs of sessions, lockout and transport security (defaults suit production).

    ``tz`` is the service's local time for the report pages and exports
    (``HOTLINE_TIMEZONE``, which the node passes as a ``ZoneInfo``); UTC when
    the app is built without it.
    """

    tls_cert: Path | None = None
    tls_key: Path | None = None
    behind_proxy: bool = False  # a reverse proxy terminates TLS in front of the node
    session_ttl_s: float = 12 * 3600.0  # absolute lifetime of a session
    session_idle_s: float = 30 * 60.0  # a session unused this long expires
    touch_interval_s: float = 60.0  # last_seen is written at most this often
    lockout_user_failures: int = 5  # failed logins of one username within the window
    lockout_source_failures: int = 20  # failed logins from one address within the window
    lockout_window_s: float = 15 * 60.0
    api_docs: bool = True  # /docs and /openapi.json
    tz: tzinfo = UTC  # the service's local time for reports (HOTLINE_TIMEZONE)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` whenever the browser reaches us over HTTPS."""
        return self.tls or self.behind_proxy


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_transport(host: str, config: WebConfig) -> None:
    """Refuse plain HTTP on a non-loopback address unless a proxy terminates TLS (R12f)."""
    if config.tls or config.behind_proxy or is_loopback(host):
        return
    raise ConfigurationError(
        "HOTLINE_WEB__TLS_CERT",
        f"plain HTTP on {host} would expose passwords and personal data: configure "
        "HOTLINE_WEB__TLS_CERT and HOTLINE_WEB__TLS_KEY, or set HOTLINE_WEB__BEHIND_PROXY=true "
        "when a reverse proxy terminates TLS, or listen on 127.0.0.1",
    )
