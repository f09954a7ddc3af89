"""The desk and wallboard pages: rendered per role, labels for the scripts, assets served."""

from __future__ import annotations

import html
import json
import re

import pytest
from fastapi import FastAPI

from hotline.core.clock import FakeClock
from hotline.store.db import Database
from hotline.web.config import WebConfig
from unit.web.conftest import client_for
from unit.web.web_support import log_in
from unit.web.workplace_fakes import FakeCalls, add_operators, workplace_app

LABELS = re.compile(r"data-labels='([^']*)'")


@pytest.fixture
def app(db: Database, clock: FakeClock, config: WebConfig) -> FastAPI:
    add_operators(db)
    return workplace_app(db, clock, config, FakeCalls.standard())


async def test_the_desk_page_carries_its_labels_and_script(app: FastAPI) -> None:
    async with client_for(app) as http:
        await log_in(http, "operator1")
        r = await http.get("/desk")
        assert r.status_code == 200
        page = r.text
        assert "<h1" in page and "Рабочее место оператора" in page
        assert '<script type="module" src="/static/js/desk.js"></script>' in page
        assert '<option value="lunch">Обед</option>' in page
        assert '<option value="hoax">Хулиганский вызов</option>' in page
        found = LABELS.search(page)
        assert found is not None
        labels = json.loads(html.unescape(found.group(1)))
        assert labels["state.wrap_up"] == "Обработка после вызова"
        assert labels["topic.health"] == "Здравоохранение"
        assert not any(k.startswith(("error.", "audit.")) for k in labels)
        for asset in ("/static/js/desk.js", "/static/js/live.js", "/static/css/workplace.css"):
            assert (await http.get(asset)).status_code == 200, asset
        assert (await http.get("/wallboard")).status_code == 403


@pytest.mark.parametrize(("user", "controls"), [("supervisor", True), ("admin", False)])
async def test_the_wallboard_page_shows_controls_by_permission(
    app: FastAPI, user: str, controls: bool
) -> None:
    async with client_for(app) as http:
        await log_in(http, user)
        r = await http.get("/wallboard")
    assert r.status_code == 200
    assert "Мониторинг очередей" in r.text and "/static/js/wallboard.js" in r.text
    assert ('data-control="yes"' in r.text) is controls
    assert ('id="reason-options"' in r.text) is controls
