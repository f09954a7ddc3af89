"""Report pages and exports in the service's local time (HOTLINE_TIMEZONE → WebConfig.tz).

A day in Moscow (UTC+03:00) runs from 21:00 UTC of the day before to 21:00
UTC: the calls seeded here sit one second either side of both edges.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from prometheus_client import CollectorRegistry

from hotline.core.clock import FakeClock
from hotline.reports.events import EventKind
from hotline.store.db import Database
from hotline.web.app import create_web_app
from hotline.web.config import WebConfig
from hotline.web.i18n import MESSAGES_RU
from hotline.web.reports_data import zone_label
from unit.reports.reports_log import T0, Log
from unit.web.admin_support import audit_rows, session
from unit.web.conftest import Health, Web
from unit.web.recordings_support import store_events
from unit.web.web_support import FAST_HASHER

MOSCOW = ZoneInfo("Europe/Moscow")
ZONE = "Europe/Moscow, UTC+03:00"
# T0 is 2 March 2026, 09:00 UTC = 12:00 in Moscow; the Moscow day is T0 - 12 h .. T0 + 12 h.
DAY_START_S = -12 * 3600
DAY_END_S = 12 * 3600
LOCAL_DAY = {"since": "2026-03-02T00:00", "until": "2026-03-03T00:00"}
ANSWERED = EventKind.QUEUE_ANSWERED


@pytest.fixture
def config() -> WebConfig:
    return WebConfig(tz=MOSCOW)


async def _seed(web: Web, journal: Path) -> None:
    log = Log()
    log.queued_call("before", "social", DAY_START_S - 1, outcome=ANSWERED, wait_s=5)
    log.queued_call("first", "social", DAY_START_S, outcome=ANSWERED, wait_s=5)
    log.queued_call("last", "social", DAY_END_S - 1, outcome=ANSWERED, wait_s=5)
    log.queued_call("after", "social", DAY_END_S, outcome=ANSWERED, wait_s=5)
    await store_events(web.db, journal, log.events)


def _busy(rows: list[dict[str, object]]) -> dict[object, object]:
    return {r["interval_start"]: r["offered"] for r in rows if r["offered"]}


async def test_a_local_day_is_cut_at_local_midnight(web: Web, tmp_path: Path) -> None:
    await _seed(web, tmp_path / "journal.jsonl")
    async with session(web.app, "supervisor") as supervisor:
        day = await supervisor.http.get(
            "/api/v1/reports/summary", params={**LOCAL_DAY, "interval": "day"}
        )
        hours = await supervisor.http.get(
            "/api/v1/reports/summary", params={**LOCAL_DAY, "interval": "60min"}
        )
    assert day.status_code == 200, day.text
    assert day.json()["time_zone"] == "Europe/Moscow"
    assert [(r["interval_start"], r["offered"]) for r in day.json()["rows"]] == [
        ("2026-03-02T00:00:00", 2)  # "first" and "last"; "before" and "after" are other days
    ]
    rows = hours.json()["rows"]
    assert len(rows) == 24
    assert rows[0]["interval_start"] == "2026-03-02T00:00:00"
    assert _busy(rows) == {"2026-03-02T00:00:00": 1, "2026-03-02T23:00:00": 1}


async def test_an_offset_in_the_query_still_wins(web: Web, tmp_path: Path) -> None:
    await _seed(web, tmp_path / "journal.jsonl")
    params = {"since": "2026-03-01T21:00:00+00:00", "until": "2026-03-01T21:00:01+00:00"}
    async with session(web.app, "supervisor") as supervisor:
        r = await supervisor.http.get("/api/v1/reports/summary", params=params)
    assert r.status_code == 200, r.text
    assert sum(row["offered"] for row in r.json()["rows"]) == 1  # "first" only


async def test_the_default_period_is_today_in_local_time(web: Web, tmp_path: Path) -> None:
    await _seed(web, tmp_path / "journal.jsonl")
    web.clock.advance(12 * 3600)  # 21:00 UTC = 00:00 of 3 March in Moscow: yesterday, whole
    async with session(web.app, "supervisor") as supervisor:
        yesterday = await supervisor.http.get("/api/v1/reports/summary")
        page = await supervisor.http.get("/reports")
    web.clock.advance(3600)  # 01:00 in Moscow: today began at 21:00 UTC
    async with session(web.app, "supervisor") as supervisor:
        today = await supervisor.http.get("/api/v1/reports/summary")
    assert sum(r["offered"] for r in yesterday.json()["rows"]) == 2
    assert 'name="since" value="2026-03-02T00:00"' in page.text
    assert 'name="until" value="2026-03-03T00:00"' in page.text
    # A UTC day would have started at 00:00 UTC and held "first", "last" and "after".
    assert _busy(today.json()["rows"]) == {"2026-03-03T00:00:00": 1}


async def test_the_page_names_the_zone_once_and_shows_local_staffing(
    web: Web, tmp_path: Path
) -> None:
    await _seed(web, tmp_path / "journal.jsonl")
    async with session(web.app, "supervisor") as supervisor:
        page = await supervisor.http.get("/reports", params=LOCAL_DAY)
    text = page.text
    notice = MESSAGES_RU["reports.timezone"].format(zone=ZONE)
    assert text.count(notice) == 1
    assert text.count("UTC+03:00") == 1
    staffing = text.split('id="staffing"', 1)[1].split("</table>", 1)[0]
    assert "<td>2026-03-02 00:00</td>" in staffing
    assert "<td>2026-03-02 23:00</td>" in staffing
    assert "2026-03-01 21:00" not in staffing
    assert f"{MESSAGES_RU['reports.col.interval']}</th>" in staffing


async def test_the_interval_chart_is_labelled_in_local_time(web: Web, tmp_path: Path) -> None:
    await _seed(web, tmp_path / "journal.jsonl")
    async with session(web.app, "supervisor") as supervisor:
        chart = await supervisor.http.get(
            "/reports/chart/intervals.svg", params={**LOCAL_DAY, "interval": "60min"}
        )
    assert chart.status_code == 200
    svg = chart.content.decode("utf-8")
    # matplotlib draws text as paths and keeps each text in a comment.
    assert MESSAGES_RU["reports.chart.time_axis"].format(zone=ZONE) in svg
    assert "02.03 00:00" in svg
    assert "01.03 21:00" not in svg


async def test_exports_carry_local_times_and_name_the_zone(web: Web, tmp_path: Path) -> None:
    await _seed(web, tmp_path / "journal.jsonl")
    async with session(web.app, "medic") as medic:
        summary = await medic.http.get(
            "/api/v1/reports/export",
            params={**LOCAL_DAY, "interval": "60min", "kind": "summary", "format": "csv"},
        )
        calls = await medic.http.get(
            "/api/v1/reports/export", params={**LOCAL_DAY, "kind": "calls", "format": "xlsx"}
        )
        staffing = await medic.http.get(
            "/api/v1/reports/export", params={**LOCAL_DAY, "kind": "staffing", "format": "csv"}
        )
    assert summary.status_code == 200, summary.text
    assert 'filename="hotline-summary-20260302-0000.csv"' in summary.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(summary.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == f"Интервал ({ZONE})"
    assert sum(ZONE in h for h in rows[0]) == 1
    offered = rows[0].index("Поступило в очередь")
    assert {r[0]: r[offered] for r in rows[1:] if r[offered] != "0"} == {
        "2026-03-02 00:00:00": "1",
        "2026-03-02 23:00:00": "1",
    }
    sheet = load_workbook(io.BytesIO(calls.content)).active
    assert sheet is not None
    table = list(sheet.iter_rows(values_only=True))
    header = list(table[0])
    assert f"Начало ({ZONE})" in header
    start = header.index(f"Начало ({ZONE})")
    starts = [r[start] for r in table[1:]]
    assert all(isinstance(at, datetime) for at in starts)
    assert sorted(at for at in starts if isinstance(at, datetime)) == [  # local wall times
        datetime(2026, 3, 2, 0, 0),
        datetime(2026, 3, 2, 23, 59, 59),
    ]
    staff = list(csv.reader(io.StringIO(staffing.content.decode("utf-8-sig")), delimiter=";"))
    assert staff[0][0] == f"Интервал ({ZONE})"
    assert min(r[0] for r in staff[1:]) == "2026-03-02 00:00:00"
    details = audit_rows(web.db, "report.exported")[0].details
    assert details["time_zone"] == "Europe/Moscow"
    assert details["since"] == "2026-03-01T21:00:00+00:00"


async def test_the_openapi_parameters_say_times_are_local(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    params = schema["paths"]["/api/v1/reports/summary"]["get"]["parameters"]
    described = {p["name"]: p.get("description", "") for p in params}
    for name in ("since", "until"):
        assert "HOTLINE_TIMEZONE" in described[name]
        assert "without an offset" in described[name]
    assert "00:00 in that zone" in described["since"]


async def test_utc_still_works_when_configured(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    app = create_web_app(
        WebConfig(),
        db,
        clock,
        health=Health(),
        registry=CollectorRegistry(),
        hasher=FAST_HASHER,
    )
    web = Web(app, db, clock, WebConfig())
    await _seed(web, tmp_path / "journal.jsonl")
    async with session(app, "supervisor") as supervisor:
        hours = await supervisor.http.get(
            "/api/v1/reports/summary", params={**LOCAL_DAY, "interval": "60min"}
        )
        page = await supervisor.http.get("/reports", params=LOCAL_DAY)
    assert hours.json()["time_zone"] == "UTC"
    # The UTC day holds "last" (20:59:59) and "after" (21:00), not "first" (21:00 the day before).
    assert _busy(hours.json()["rows"]) == {"2026-03-02T20:00:00": 1, "2026-03-02T21:00:00": 1}
    assert MESSAGES_RU["reports.timezone"].format(zone="UTC") in page.text


def test_zone_label_names_both_offsets_across_a_summer_time_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = datetime(2026, 3, 29, 0, 0, tzinfo=berlin).astimezone(UTC)
    assert zone_label(berlin, spring, spring + timedelta(days=1)) == (
        "Europe/Berlin, UTC+01:00 / UTC+02:00"
    )
    assert zone_label(MOSCOW, T0, T0 + timedelta(days=93)) == ZONE
    assert zone_label(UTC, T0, T0 + timedelta(hours=1)) == "UTC"
    assert zone_label(ZoneInfo("Asia/Kolkata"), T0, T0 + timedelta(hours=1)) == (
        "Asia/Kolkata, UTC+05:30"
    )
    assert zone_label(ZoneInfo("America/Sao_Paulo"), T0, T0 + timedelta(hours=1)) == (
        "America/Sao_Paulo, UTC-03:00"
    )


def test_the_texts_exist_in_the_catalogue() -> None:
    for key in ("reports.timezone", "reports.chart.time_axis"):
        assert "{zone}" in MESSAGES_RU[key]
    assert "reports.utc" not in MESSAGES_RU
    assert "UTC" not in MESSAGES_RU["reports.col.interval"]
