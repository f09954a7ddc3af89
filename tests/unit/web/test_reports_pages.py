"""Report pages: totals with the timed-out calls on their own line, SVG charts, audited exports."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import httpx
from openpyxl import load_workbook

from hotline.reports.events import CallCentreEvent, EventKind
from hotline.web.i18n import MESSAGES_RU
from unit.web.admin_support import audit_rows, session
from unit.web.conftest import Web
from unit.web.recordings_support import call_events, store_events
from unit.web.web_support import START

SINCE = (START - timedelta(hours=3)).replace(tzinfo=None).isoformat(timespec="minutes")
PERIOD = {"since": SINCE, "until": START.replace(tzinfo=None).isoformat(timespec="minutes")}


async def _seed(web: Web, tmp_path: Path) -> None:
    at = START - timedelta(hours=2)
    events, _ = call_events(
        "c-ok",
        at=at,
        caller="+79161234567",
        topic="social",
        operator="101",
        path=tmp_path / "c-ok.wav",
    )
    medical, _ = call_events(
        "c-med",
        at=at,
        caller="+79035554433",
        topic="health",
        operator="101",
        path=tmp_path / "c-med.wav",
    )
    late = at + timedelta(minutes=5)
    events += [
        *medical,
        CallCentreEvent(
            kind=EventKind.CALL_ARRIVED,
            timestamp=late,
            call_id="c-late",
            payload={"caller": "+79997776655"},
        ),
        CallCentreEvent(
            kind=EventKind.QUEUE_ENTERED,
            timestamp=late,
            call_id="c-late",
            queue_id="social",
            topic="social",
            payload={"position": 1},
        ),
        CallCentreEvent(
            kind=EventKind.QUEUE_TIMED_OUT,
            timestamp=late + timedelta(seconds=120),
            call_id="c-late",
            queue_id="social",
            topic="social",
            payload={"wait_s": 120.0, "action": "message_and_end"},
        ),
        CallCentreEvent(
            kind=EventKind.CALL_ENDED,
            timestamp=late + timedelta(seconds=125),
            call_id="c-late",
            payload={"who_hung_up": "system", "cause": "timed_out"},
        ),
    ]
    await store_events(web.db, tmp_path / "journal.jsonl", events)


async def test_reports_page_totals_charts_and_staffing(web: Web, tmp_path: Path) -> None:
    await _seed(web, tmp_path)
    async with session(web.app, "supervisor") as supervisor:
        page = await supervisor.http.get("/reports", params=PERIOD)
        assert page.status_code == 200
        text = page.text
        assert 'class="timed-out"' in text
        timed_out_row = text.split('class="timed-out"', 1)[1].split("</tr>", 1)[0]
        assert MESSAGES_RU["reports.col.timed_out"] in timed_out_row
        assert "<td>1</td>" in timed_out_row  # the decree's figure, not merged into abandoned
        assert "/reports/chart/intervals.svg?" in text
        assert 'id="staffing"' in text and 'id="exports"' in text
        for name in ("intervals", "topics", "operators"):
            chart = await supervisor.http.get(f"/reports/chart/{name}.svg", params=PERIOD)
            assert chart.status_code == 200
            assert chart.headers["content-type"] == "image/svg+xml"
            assert chart.content.lstrip().startswith(b"<?xml")
            assert b"<svg" in chart.content
        summary = (await supervisor.http.get("/api/v1/reports/summary", params=PERIOD)).json()
        staffing = (await supervisor.http.get("/api/v1/reports/staffing", params=PERIOD)).json()
    assert sum(r["timed_out"] for r in summary["rows"]) == 1
    assert sum(r["abandoned"] for r in summary["rows"]) == 0
    assert sum(r["offered"] for r in summary["rows"]) == 3
    assert summary["columns"]["timed_out"] == "Не принято: превышена норма ожидания"
    assert {r["queue_id"] for r in staffing["rows"]} == {"social", "health"}
    assert audit_rows(web.db, "report.exported") == []


async def test_exports_are_audited_and_mask_numbers_for_auditors(web: Web, tmp_path: Path) -> None:
    await _seed(web, tmp_path)
    params = {**PERIOD, "kind": "calls", "format": "csv"}
    async with session(web.app, "auditor") as auditor:
        r = await auditor.http.get("/api/v1/reports/export", params=params)
        assert r.status_code == 200
        assert r.headers["content-disposition"].startswith('attachment; filename="hotline-calls-')
        csv_text = r.content.decode("utf-8-sig")
    assert "*******67" in csv_text and "+79161234567" not in csv_text
    assert "+79035554433" not in csv_text and "+7 903" not in csv_text  # medical: left out
    async with session(web.app, "medic") as medic:
        r = await medic.http.get("/api/v1/reports/export", params=params)
        assert "+79035554433" in r.content.decode("utf-8-sig")
        r = await medic.http.get(
            "/api/v1/reports/export", params={**PERIOD, "kind": "summary", "format": "xlsx"}
        )
        assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    headers = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert "Не принято: превышена норма ожидания" in headers
    rows = audit_rows(web.db, "report.exported")
    assert [(e.actor, e.object, e.details["format"]) for e in rows] == [
        ("medic", "report:summary", "xlsx"),
        ("medic", "report:calls", "csv"),
        ("auditor", "report:calls", "csv"),
    ]
    assert rows[2].details["numbers"] is False and rows[1].details["numbers"] is True


async def test_report_permissions_and_bad_periods(web: Web, client: httpx.AsyncClient) -> None:
    async with session(web.app, "operator1") as operator:
        assert (await operator.http.get("/reports")).status_code == 403
        assert (await operator.http.get("/api/v1/reports/export")).status_code == 403
    async with session(web.app, "admin") as admin:  # may view, may not export
        page = await admin.http.get("/reports")
        assert page.status_code == 200 and 'id="exports"' not in page.text
        assert (await admin.http.get("/api/v1/reports/export")).status_code == 403
        r = await admin.http.get(
            "/api/v1/reports/summary", params={"since": "2026-01-01T00:00", "until": "2026-12-01"}
        )
        assert r.status_code == 422
        page = await admin.http.get("/reports", params={"since": "2020-01-01T00:00"})
        assert 'id="reports-error"' in page.text
