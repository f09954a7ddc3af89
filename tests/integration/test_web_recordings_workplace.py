"""The administration and report pages in headless Chromium (their ES modules, no CDN).

An administrator saves a queue through ``/admin/queues`` and validates the
voice menu on ``/admin/flows`` (the error names the node); a supervisor's
``/reports`` page loads its three server-drawn SVG charts.  Screenshots are
kept in the test's directory as artefacts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright
from prometheus_client import CollectorRegistry

from hotline.core.clock import SystemClock
from hotline.store.db import Database
from hotline.store.queues import QueuesRepository
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.conftest import Health
from unit.web.recordings_support import serving
from unit.web.web_support import FAST_HASHER, PASSWORD, add_users

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[tuple[str, Database]]:
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    try:
        await asyncio.to_thread(db.migrate)
        await asyncio.to_thread(add_users, db)
        app = create_web_app(
            WebConfig(),
            db,
            SystemClock(),
            health=Health(),
            registry=CollectorRegistry(),
            hasher=FAST_HASHER,
        )
        async with serving(app) as base:
            yield base, db
    finally:
        db.dispose()


async def _log_in(page: Page, base: str, username: str) -> None:
    login = await page.request.post(
        f"{base}/api/v1/auth/login",
        data={"username": username, "password": PASSWORD},
        headers={"Origin": base},
    )
    assert login.status == 200, await login.text()


async def test_admin_and_report_pages_work_in_a_browser(
    site: tuple[str, Database], tmp_path: Path
) -> None:
    base, db = site
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            admin = await browser.new_page()
            errors: list[str] = []
            admin.on("pageerror", lambda exc: errors.append(str(exc)))
            await _log_in(admin, base, "admin")
            await admin.goto(f"{base}/admin/queues")
            form = admin.locator('form.admin-action[data-method="PUT"]')
            await form.locator('input[name="id"]').fill("social")
            await form.locator('textarea[name="body"]').fill(
                '{"name": "Социальная сфера", "topic": "social", "config": {"max_wait_s": 90}}'
            )
            await form.locator('button[type="submit"]').click()
            await form.locator(".result.ok").wait_for(timeout=10_000)
            assert "Сохранено" in await form.locator(".result").inner_text()
            await admin.locator("#admin-list table").wait_for(timeout=10_000)
            assert "social" in await admin.locator("#admin-list").inner_text()
            await admin.screenshot(path=str(tmp_path / "admin-queues.png"), full_page=True)

            await admin.goto(f"{base}/admin/flows")
            yaml_box = admin.locator("#flow-yaml")
            for _ in range(100):
                if "greeting" in await yaml_box.input_value():
                    break
                await asyncio.sleep(0.05)
            text = await yaml_box.input_value()
            await yaml_box.fill(text.replace("next: incident", "next: nowhere", 1))
            check = admin.locator('form.admin-action[data-url$="/check"]')
            await check.locator('button[type="submit"]').click()
            await check.locator(".result.bad").wait_for(timeout=10_000)
            assert "узел greeting" in await check.locator(".result").inner_text()
            await admin.screenshot(path=str(tmp_path / "admin-flows.png"), full_page=True)
            assert errors == []

            supervisor = await browser.new_page()
            await _log_in(supervisor, base, "supervisor")
            await supervisor.goto(f"{base}/reports")
            images = supervisor.locator("img.chart")
            assert await images.count() == 3
            for i in range(3):
                await images.nth(i).scroll_into_view_if_needed()
            await supervisor.wait_for_load_state("networkidle")
            widths = [
                await images.nth(i).evaluate("img => img.complete ? img.naturalWidth : 0")
                for i in range(3)
            ]
            assert all(w > 100 for w in widths), widths
            await supervisor.screenshot(path=str(tmp_path / "reports.png"), full_page=True)
        finally:
            await browser.close()
    stored = QueuesRepository(db).get("social")
    assert stored is not None and stored.config["max_wait_s"] == 90
