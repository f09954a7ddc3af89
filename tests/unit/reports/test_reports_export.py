"""CSV, XLSX and JSON exports with Russian headers (hotline.reports.export)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from reports_log import K, Log, at

from hotline.reports.cdr import build_cdrs
from hotline.reports.export import (
    CDR_COLUMNS,
    ReportTable,
    cdr_table,
    summary_table,
    to_csv,
    to_json,
    to_xlsx,
)
from hotline.reports.labels_ru import CDR_LABELS, SUMMARY_LABELS, label
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import Dimension, Interval
from hotline.reports.metrics_row import MetricRow

START, END = at(0), at(3600)
MSK = ZoneInfo("Europe/Moscow")


def _log() -> Log:
    log = Log()
    log.queued_call("c1", "health", 0, outcome=K.QUEUE_ANSWERED, wait_s=10, topic="health")
    log.queued_call("c2", "health", 100, outcome=K.QUEUE_ABANDONED, wait_s=40, topic="health")
    log.queued_call("c3", "social", 200, outcome=K.QUEUE_TIMED_OUT, wait_s=120, topic="social")
    log.queued_call("c4", "social", 1000, outcome=K.QUEUE_TIMED_OUT, wait_s=120, topic="social")
    return log


def _rows(by: list[Dimension]) -> tuple[MetricRow, ...]:
    return compute_report(_log().events, start=START, end=END, interval=Interval.MIN60, by=by)


def test_every_metric_field_has_a_russian_header() -> None:
    from dataclasses import fields

    names = {f.name for f in fields(MetricRow)} - {"key"}
    assert names <= set(SUMMARY_LABELS)
    assert set(CDR_COLUMNS) <= set(CDR_LABELS)
    assert label("timed_out") == "Не принято: превышена норма ожидания"
    assert label("timed_out") != label("abandoned")
    assert label("no_such_key") == "no_such_key"


def test_summary_table_columns_and_values() -> None:
    table = summary_table(_rows([Dimension.QUEUE]), tz=MSK)
    assert table.keys[:2] == ("interval_start", "queue_id")
    # Grouping by queue: call-wide and operator-time figures do not apply.
    assert "calls" not in table.keys and "occupancy" not in table.keys
    assert table.column("queue_id") == ("health", "social")
    assert table.column("timed_out") == (0, 2)
    assert table.column("abandoned") == (1, 0)
    # 09:00 UTC is 12:00 in Moscow, shown without an offset.
    assert table.column("interval_start") == (datetime(2026, 3, 2, 12, 0),) * 2


def test_timed_out_column_is_there_even_when_all_zero() -> None:
    log = Log()
    log.queued_call("c1", "q", 0, outcome=K.QUEUE_ANSWERED, wait_s=10)
    table = summary_table(compute_report(log.events, start=START, end=END))
    assert table.column("timed_out") == (0,)
    assert table.column("abandoned") == (0,)
    assert "interval_start" not in table.keys


def test_csv_has_bom_russian_headers_and_round_trips() -> None:
    table = summary_table(_rows([Dimension.QUEUE]))
    data = to_csv(table)
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(table.headers)
    assert rows[0][1] == "Очередь"
    header = rows[0].index("Не принято: превышена норма ожидания")
    assert [r[header] for r in rows[1:]] == ["0", "2"]
    assert rows[1][0] == "2026-03-02 09:00:00"


def test_csv_semicolon_separator() -> None:
    table = ReportTable(title="t", keys=("queue_id", "asa_s"), rows=(("a;b", 1.5), (None, 2)))
    text = to_csv(table, delimiter=";").decode("utf-8-sig")
    assert text == 'Очередь;Среднее время ответа (ASA), с\r\n"a;b";1.5\r\n;2\r\n'
    with pytest.raises(ValueError, match="separator"):
        to_csv(table, delimiter="\t")


def test_xlsx_headers_values_and_formats() -> None:
    table = summary_table(_rows([Dimension.TOPIC]), tz=MSK)
    wb = load_workbook(io.BytesIO(to_xlsx(table)))
    ws = wb.active
    assert ws is not None
    assert ws.title == "Сводный отчёт"
    values = list(ws.iter_rows(values_only=True))
    assert values[0] == table.headers
    assert values[0][1] == "Тематика"
    col = table.keys.index("timed_out")
    assert [v[col] for v in values[1:]] == [0, 2]
    assert values[1][0] == datetime(2026, 3, 2, 12, 0)
    sl = table.keys.index("service_level") + 1
    assert ws.cell(row=2, column=sl).number_format == "0.0%"
    assert ws.cell(row=2, column=sl).value == pytest.approx(0.5)  # health: 1 of 2
    assert ws.cell(row=1, column=1).font.bold


def test_cdr_table_masks_numbers_unless_asked() -> None:
    records = build_cdrs(_log().events, end=END)
    masked = cdr_table(records)
    assert masked.column("caller") == ("+7********00",) * 4
    shown = cdr_table(records, show_numbers=True)
    assert shown.column("caller") == ("+70000000000",) * 4
    assert masked.column("outcome") == ("answered", "abandoned", "timed_out", "timed_out")
    ru = cdr_table(records, russian_values=True)
    assert ru.column("outcome")[2] == "не принят: превышена норма ожидания"
    assert ru.column("direction")[0] == "входящий"
    assert ru.column("queues") == ("health", "health", "social", "social")


def test_cdr_xlsx_and_json() -> None:
    records = build_cdrs(_log().events, end=END)
    table = cdr_table(records, tz=MSK)
    ws = load_workbook(io.BytesIO(to_xlsx(table))).active
    assert ws is not None
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("Идентификатор вызова", "Начало", "Ответ оператора")
    assert rows[1][:3] == ("c1", datetime(2026, 3, 2, 12, 0), datetime(2026, 3, 2, 12, 0, 10))
    doc = json.loads(to_json(table))
    assert doc["columns"]["caller"] == "Номер абонента"
    assert doc["rows"][3]["outcome"] == "timed_out"
    assert doc["rows"][0]["started_at"] == "2026-03-02T12:00:00"
    assert doc["rows"][0]["wait_s"] == 10.0


def test_text_is_never_a_formula() -> None:
    table = ReportTable(
        title="t",
        keys=("caller", "topic", "asa_s"),
        rows=(("+79161234567", '=HYPERLINK("x")', -1.5), ("@x", "-y", 2)),
    )
    rows = list(csv.reader(io.StringIO(to_csv(table).decode("utf-8-sig"))))
    assert rows[1:] == [["'+79161234567", '\'=HYPERLINK("x")', "-1.5"], ["'@x", "'-y", "2"]]
    ws = load_workbook(io.BytesIO(to_xlsx(table))).active
    assert ws is not None
    assert ws["B2"].value == '=HYPERLINK("x")'
    assert ws["B2"].data_type == "s"
    assert ws["A2"].value == "+79161234567"
    assert ws["C2"].value == -1.5
