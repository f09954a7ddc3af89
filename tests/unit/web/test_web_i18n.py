"""Every text key used anywhere exists in the catalogue; every 4xx has a code and a message."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import httpx
import pytest
from fastapi import Depends

from hotline.web.auth import public
from hotline.web.errors import ErrorCode
from hotline.web.i18n import MESSAGES_RU, Catalogue
from hotline.web.pages import NAV
from hotline.web.permissions import Permission, Role
from unit.web.conftest import Web

WEB = Path(str(resources.files("hotline.web")))
KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_]+\.[a-z0-9_.]+)["']""")
KEY_ARG = re.compile(
    r"""_key\s*=\s*["']([a-z0-9_.]+)["']|["']((?:page|audit|login|nav)\.[a-z0-9_.]+)["']"""
)


PERMISSIONS = {p.value for p in Permission}


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        keys.update(KEY.findall(text))
        for a, b in KEY_ARG.findall(text):
            if not (a or b).endswith(".html") and (a or b) not in PERMISSIONS:
                keys.add(a or b)
    keys.update(f"error.{code.value}" for code in ErrorCode)
    keys.update(f"role.{role.value}" for role in Role)
    keys.update(item.label_key for item in NAV)
    return keys


def test_every_used_key_is_in_the_catalogue() -> None:
    used = _used_keys()
    assert len(used) > 40
    missing = sorted(k for k in used if k not in MESSAGES_RU)
    assert missing == []


def test_catalogue_texts_are_russian() -> None:
    for key, text in MESSAGES_RU.items():
        if re.search("[a-zA-Zа-яА-ЯёЁ]", re.sub(r"\{[a-z_]+\}", "", text)):
            assert re.search("[а-яА-ЯёЁ]", text), key


def test_unknown_key_shows_the_key_and_placeholders_fill(caplog: pytest.LogCaptureFixture) -> None:
    catalogue = Catalogue()
    assert catalogue.text("no.such.key") == "no.such.key"
    assert "no.such.key" in caplog.text
    assert catalogue.text("error.locked_out", minutes=15).endswith("через 15 мин.")
    assert catalogue.text("error.locked_out", wrong=1).startswith("Слишком много")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/nothing", 404, "not_found"),
        ("DELETE", "/api/v1/auth/me", 405, "method_not_allowed"),
        ("GET", "/api/v1/audit", 401, "not_authenticated"),
        ("POST", "/api/v1/auth/login", 422, "validation_failed"),
    ],
)
async def test_4xx_answers_carry_a_code_and_a_russian_message(
    client: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    r = await client.request(method, path, json={} if method == "POST" else None)
    assert r.status_code == status
    body = r.json()
    assert body["code"] == code
    assert body["message"] == MESSAGES_RU[f"error.{code}"]


async def test_an_unexpected_error_is_a_json_500_without_details(web: Web) -> None:
    def boom() -> None:
        raise RuntimeError("secret internals")

    web.app.add_api_route("/api/v1/boom", boom, dependencies=[Depends(public())])
    transport = httpx.ASGITransport(app=web.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hotline.test") as http:
        r = await http.get("/api/v1/boom")
    assert r.status_code == 500
    assert r.json() == {"code": "internal", "message": "Внутренняя ошибка сервера."}
