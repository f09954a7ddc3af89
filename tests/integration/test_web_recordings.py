"""Recordings over a real HTTP server: reason, audit, Range requests, and a real browser seeking.

The web app runs under uvicorn on a loopback port (port 0, a fresh database
and recordings directory); httpx speaks HTTP/1.1 to it over TCP, and headless
Chromium plays the recording in an ``<audio>`` element and seeks in it (the
browser fetches byte ranges itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from hotline.core.clock import SystemClock
from hotline.store.audit import AuditLog
from hotline.store.db import Database
from hotline.web.admin_live import AdminPaths, install_admin_paths
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from unit.web.conftest import Health
from unit.web.recordings_support import RECORDING, call_events, serving, store_events
from unit.web.web_support import FAST_HASHER, PASSWORD, add_users, log_in

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[str, Database, str]]:
    db = Database(f"sqlite:///{tmp_path / 'hotline.db'}")
    try:
        await asyncio.to_thread(db.migrate)
        await asyncio.to_thread(add_users, db)
        directory = tmp_path / "recordings"
        directory.mkdir()
        clock = SystemClock()
        events, rid = call_events(
            "call-1",
            at=clock.utcnow() - timedelta(hours=1),
            caller="+79161234567",
            topic="social",
            operator="101",
            path=directory / "call-1.wav",
        )
        await store_events(db, tmp_path / "journal.jsonl", events)
        app = create_web_app(
            WebConfig(),
            db,
            clock,
            health=Health(),
            registry=CollectorRegistry(),
            hasher=FAST_HASHER,
            extra=[install_admin_paths(AdminPaths(recordings_dir=directory))],
        )
        async with serving(app) as base:
            yield base, db, rid
    finally:
        db.dispose()


async def test_range_requests_over_tcp(served: tuple[str, Database, str]) -> None:
    base, db, rid = served
    async with httpx.AsyncClient(base_url=base, timeout=5.0) as http:
        csrf = await log_in(http, "supervisor")
        headers = {"X-CSRF-Token": csrf}
        r = await http.post(f"/api/v1/recordings/{rid}/access", json={}, headers=headers)
        assert r.status_code == 400 and r.json()["code"] == "reason_required"
        r = await http.post(
            f"/api/v1/recordings/{rid}/access", json={"reason": "проверка жалобы"}, headers=headers
        )
        url = r.json()["url"]
        head = await http.get(url, headers={"Range": "bytes=0-43"})
        assert head.status_code == 206 and head.content == RECORDING[:44]
        assert head.content[:4] == b"RIFF" and head.content[8:12] == b"WAVE"
        middle = await http.get(url, headers={"Range": "bytes=20000-"})
        assert middle.status_code == 206
        assert middle.headers["content-length"] == str(len(RECORDING) - 20000)
        assert middle.content == RECORDING[20000:]
    played = AuditLog(db).query(action="recording.played").items
    assert [(e.actor, e.reason) for e in played] == [("supervisor", "проверка жалобы")]


async def test_a_browser_plays_and_seeks(served: tuple[str, Database, str]) -> None:
    from playwright.async_api import async_playwright

    base, db, rid = served
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            login = await page.request.post(
                f"{base}/api/v1/auth/login",
                data={"username": "supervisor", "password": PASSWORD},
                headers={"Origin": base},
            )
            assert login.status == 200, await login.text()
            since = (SystemClock().utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
            await page.goto(f"{base}/recordings?since={since}")
            await page.click(f"button.play[data-id='{rid}']")
            await page.fill("#reason", "контроль качества")
            await page.click("#access button[type=submit]")
            duration = await page.evaluate(
                """() => new Promise((resolve) => {
                    const audio = document.getElementById('audio');
                    if (audio.readyState >= 1) { resolve(audio.duration); return; }
                    audio.addEventListener('loadedmetadata', () => resolve(audio.duration));
                })"""
            )
            assert abs(duration - 2.0) < 0.05
            seeked = await page.evaluate(
                """() => new Promise((resolve) => {
                    const audio = document.getElementById('audio');
                    audio.pause();
                    audio.addEventListener('seeked', () => resolve(audio.currentTime), {once: true});
                    audio.currentTime = 1.5;
                })"""
            )
            assert abs(seeked - 1.5) < 0.05
        finally:
            await browser.close()
    played = AuditLog(db).query(action="recording.played").items
    assert [(e.actor, e.reason) for e in played] == [("supervisor", "контроль качества")]
