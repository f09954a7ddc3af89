"""The real node serves the web workplace over HTTPS with a self-signed certificate.

A node runs in-process on loopback with ``HOTLINE_WEB__TLS_CERT/KEY`` set:
login over TLS gives a ``Secure`` cookie and HSTS, the feed's pull API needs a
session, and plain HTTP is not answered on the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hotline.app.node import Node
from hotline.app.settings import Settings, load_settings
from hotline.store.db import Database
from unit.web.web_support import PASSWORD, add_users, log_in

pytestmark = pytest.mark.integration


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-days", "1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@contextlib.asynccontextmanager
async def _running(settings: Settings) -> AsyncIterator[Node]:
    node = Node(settings)
    task = asyncio.create_task(node.run(), name="node")
    try:
        yield node
    finally:
        node.request_stop()
        node.request_stop()  # no drain
        await asyncio.wait_for(task, timeout=30)


async def _wait_ready(http: httpx.AsyncClient) -> None:
    for _ in range(300):
        with contextlib.suppress(httpx.TransportError):
            if (await http.get("/healthz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the node did not answer /healthz over HTTPS in time")


async def test_node_serves_https_with_hsts_and_secure_cookies(
    hotline_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = await asyncio.to_thread(_certificate, tmp_path)
    monkeypatch.setenv("HOTLINE_WEB__TLS_CERT", str(cert))
    monkeypatch.setenv("HOTLINE_WEB__TLS_KEY", str(key))
    monkeypatch.setenv("HOTLINE_FEED__ENABLED", "true")
    monkeypatch.setenv("HOTLINE_FEED__KEY", "feed-signing-key-for-tests")
    settings = load_settings()
    db = Database(settings.database_url)
    try:
        db.migrate()
        add_users(db)
    finally:
        db.dispose()
    port = int(hotline_env["HOTLINE_HTTP_PORT"])
    context = ssl.create_default_context(cafile=str(cert))
    async with _running(settings):
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{port}", verify=context, timeout=5.0
        ) as http:
            await _wait_ready(http)
            feed = await http.get("/api/v1/feed")
            assert (feed.status_code, feed.json()["code"]) == (401, "not_authenticated")
            login = await http.post(
                "/api/v1/auth/login", json={"username": "auditor", "password": PASSWORD}
            )
            assert login.status_code == 200
            cookie = login.headers["set-cookie"].lower()
            assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
            assert login.headers["strict-transport-security"].startswith("max-age=")
            assert (await http.get("/api/v1/feed")).status_code == 200
            audit = (await http.get("/api/v1/audit")).json()["items"]
            assert [(i["actor"], i["action"]) for i in audit] == [("auditor", "auth.login")]
            page = await http.get("/audit")
            assert page.status_code == 200 and "Журнал аудита" in page.text
            assert (await http.get("/static/js/api.js")).status_code == 200
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as plain:
            with pytest.raises(httpx.TransportError):  # the TLS port drops plain HTTP
                await plain.get("/healthz")
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{port}", verify=context, timeout=5.0
        ) as other:
            await log_in(other, "operator1")
            assert (await other.get("/api/v1/feed")).status_code == 403
