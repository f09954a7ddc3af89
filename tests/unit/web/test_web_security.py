"""Security headers, HTTPS-only cookies and HSTS, the plain-HTTP refusal, body limits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hotline.core.errors import ConfigurationError
from hotline.web.config import WebConfig, check_transport, is_loopback
from hotline.web.security import CSP
from unit.web.conftest import Web, client_for
from unit.web.web_support import PASSWORD

COMMON = {
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}


@pytest.mark.parametrize("path", ["/login", "/api/v1/auth/me", "/static/css/app.css", "/nothing"])
async def test_every_response_has_the_security_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    r = await client.get(path)
    for name, value in COMMON.items():
        assert r.headers[name] == value
    csp = r.headers["content-security-policy"]
    assert csp == CSP
    assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "microphone=()" in r.headers["permissions-policy"]
    assert "strict-transport-security" not in r.headers  # plain HTTP
    static = path.startswith("/static/")
    assert (r.headers.get("cache-control") == "no-store") is not static


async def test_https_brings_hsts_and_secure_cookies(web: Web) -> None:
    async with client_for(web.app, "https://hotline.test") as http:
        r = await http.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        assert r.status_code == 200
        assert r.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "; secure" in r.headers["set-cookie"].lower()


def test_templates_have_no_inline_script_or_style() -> None:
    from importlib import resources

    root = Path(str(resources.files("hotline.web") / "templates"))
    templates = list(root.glob("*.html"))
    assert templates
    for page in templates:
        text = page.read_text(encoding="utf-8")
        assert "<style" not in text and " style=" not in text, page.name
        assert " onclick=" not in text and "javascript:" not in text, page.name
        for chunk in text.split("<script")[1:]:
            assert chunk.split(">", 1)[1].lstrip().startswith("</script>"), page.name
        assert "http://" not in text and "https://" not in text, page.name  # no CDN


async def test_a_too_large_body_is_refused_before_reading(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/auth/login", content=b"x" * (1024 * 1024 + 1))
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert r.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("10.0.0.5", False), ("::", False), ("hotline.example", False)],
)  # fmt: skip
def test_plain_http_only_on_loopback(host: str, loopback: bool, tmp_path: Path) -> None:
    assert is_loopback(host) is loopback
    if loopback:
        check_transport(host, WebConfig())
    else:
        with pytest.raises(ConfigurationError) as err:
            check_transport(host, WebConfig())
        assert err.value.setting == "HOTLINE_WEB__TLS_CERT"
    check_transport(host, WebConfig(behind_proxy=True))
    check_transport(host, WebConfig(tls_cert=tmp_path / "c", tls_key=tmp_path / "k"))


def test_settings_refuse_plain_http_on_a_public_address(
    hotline_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hotline.app.settings import load_settings

    monkeypatch.setenv("HOTLINE_HTTP_HOST", "0.0.0.0")
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert err.value.setting == "HOTLINE_WEB__TLS_CERT"
    monkeypatch.setenv("HOTLINE_WEB__BEHIND_PROXY", "true")
    monkeypatch.setenv("HOTLINE_WEB__SESSION_IDLE_S", "600")
    settings = load_settings()
    assert (settings.web.behind_proxy, settings.web.session_idle_s) == (True, 600)
    monkeypatch.setenv("HOTLINE_WEB__TLS_CERT", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    assert err.value.setting == "HOTLINE_WEB__TLS_CERT"
