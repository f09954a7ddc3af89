"""Report exports: CSV (UTF-8 with BOM) and XLSX with Russian headers, and JSON.

A report becomes a :class:`ReportTable` (English keys, Russian headers from
:mod:`hotline.reports.labels_ru`, plain cell values) and the table is then
rendered:

* :func:`to_csv`: UTF-8 with a byte-order mark, so that Excel opens the
  Cyrillic headers right; ``,`` or ``;`` (the separator a Russian-locale
  Excel expects) between fields, CRLF line ends (RFC 4180, section 2);
* :func:`to_xlsx`: one worksheet written with openpyxl, bold header row,
  ratios in percent format, times as spreadsheet dates, text never taken
  for a formula;
* :func:`to_json`: English keys, ISO 8601 times, for programs.

The timed-out figure is always its own column (docs/metrics.md: never
merged into abandoned), even when every row has zero.  Times are shown in
the report's time zone, without an offset (spreadsheets have none).

Layer L1: pure (bytes out; the caller writes the file).  The database glue
lives in :mod:`hotline.app.cli_report`, because ``hotline.reports`` may not
import ``hotline.store`` (.importlinter, sans-IO contract).
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, tzinfo
from typing import Final, TypeAlias

from hotline.reports.cdr import CallDetailRecord
from hotline.reports.labels_ru import OUTCOME_LABELS, label
from hotline.reports.metrics_row import GroupKey, MetricRow

__all__ = [
    "ALWAYS_SHOWN",
    "CDR_COLUMNS",
    "RATIO_COLUMNS",
    "Cell",
    "ReportTable",
    "cdr_table",
    "summary_table",
    "to_csv",
    "to_json",
    "to_xlsx",
]

Cell: TypeAlias = str | int | float | datetime | None

_KEY_COLUMNS: Final = ("interval_start", "queue_id", "topic", "operator_id", "trunk", "direction")
#: Columns kept even when every row has None there (the decree's figure among them).
ALWAYS_SHOWN: Final = frozenset(
    {"offered", "answered", "abandoned", "short_abandoned", "timed_out"}
)
RATIO_COLUMNS: Final = frozenset(
    {
        "service_level",
        "service_level_answered_only",
        "abandon_rate",
        "timed_out_rate",
        "occupancy",
        "utilisation",
        "bot_containment",
        "ivr_self_service",
        "repeat_rate",
    }
)
CDR_COLUMNS: Final = (
    "call_id",
    "started_at",
    "answered_at",
    "ended_at",
    "caller",
    "called",
    "trunk",
    "direction",
    "topic",
    "queues",
    "operator_id",
    "wait_s",
    "talk_s",
    "hold_s",
    "duration_s",
    "outcome",
    "hung_up_by",
    "end_cause",
    "recording_path",
)
_METRIC_COLUMNS: Final = tuple(f.name for f in fields(MetricRow) if f.name != "key")
_SECONDS_DIGITS: Final = 3
_MAX_SHEET_TITLE: Final = 31
_DATE_FORMAT: Final = "yyyy-mm-dd hh:mm:ss"
_COLUMN_WIDTH: Final = 18
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ReportTable:
    """A report ready to render: column keys, their headers, and rows of cells."""

    title: str
    keys: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    @property
    def headers(self) -> tuple[str, ...]:
        """The Russian column headers."""
        return tuple(label(k) for k in self.keys)

    def column(self, key: str) -> tuple[Cell, ...]:
        i = self.keys.index(key)
        return tuple(r[i] for r in self.rows)


def _local(at: datetime | None, tz: tzinfo) -> datetime | None:
    return None if at is None else at.astimezone(tz).replace(tzinfo=None)


def _plain(value: object) -> Cell:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float):
        return round(value, _SECONDS_DIGITS)
    if value is None or isinstance(value, str | int | datetime):
        return value
    return str(value)


def _key_cell(key: GroupKey, name: str, tz: tzinfo) -> Cell:
    if name == "interval_start":
        return _local(key.interval_start, tz)
    return _plain(getattr(key, name))


def summary_table(
    rows: Sequence[MetricRow], *, tz: tzinfo = UTC, title: str = "Сводный отчёт"
) -> ReportTable:
    """Every figure of ``rows``: a group column only where the report is grouped by it,
    figures that apply to no row (None everywhere) left out, except the queue
    outcomes of :data:`ALWAYS_SHOWN`."""
    key_cols = [c for c in _KEY_COLUMNS if any(_key_cell(r.key, c, tz) is not None for r in rows)]
    metric_cols = [
        c
        for c in _METRIC_COLUMNS
        if c in ALWAYS_SHOWN or any(getattr(r, c) is not None for r in rows)
    ]
    data = tuple(
        (
            *(_key_cell(r.key, c, tz) for c in key_cols),
            *(_plain(getattr(r, c)) for c in metric_cols),
        )
        for r in rows
    )
    return ReportTable(title=title, keys=(*key_cols, *metric_cols), rows=data)


def _cdr_cell(cdr: CallDetailRecord, name: str, tz: tzinfo, show_numbers: bool) -> Cell:
    if name == "caller":
        return cdr.caller if show_numbers else cdr.caller_masked
    if name == "called":
        return cdr.called if show_numbers else cdr.called_masked
    if name == "queues":
        return ", ".join(cdr.queues) or None
    value = getattr(cdr, name)
    if isinstance(value, datetime):
        return _local(value, tz)
    return _plain(value)


def cdr_table(
    records: Sequence[CallDetailRecord],
    *,
    show_numbers: bool = False,
    tz: tzinfo = UTC,
    russian_values: bool = False,
    title: str = "Детализация вызовов",
) -> ReportTable:
    """One row per call.  Numbers are masked unless ``show_numbers`` (personal data).

    ``russian_values`` turns outcome, direction and who-hung-up codes into
    Russian words (for people; codes are better for programs).
    """
    data: list[tuple[Cell, ...]] = []
    for r in records:
        cells = [_cdr_cell(r, c, tz, show_numbers) for c in CDR_COLUMNS]
        if russian_values:
            cells = [
                OUTCOME_LABELS.get(v, v)
                if isinstance(v, str) and c in ("outcome", "direction", "hung_up_by")
                else v
                for c, v in zip(CDR_COLUMNS, cells, strict=True)
            ]
        data.append(tuple(cells))
    return ReportTable(title=title, keys=CDR_COLUMNS, rows=tuple(data))


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _guarded(value: Cell) -> str:
    text = _text(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def to_csv(table: ReportTable, *, delimiter: str = ",", protect_formulas: bool = True) -> bytes:
    """The table as CSV: UTF-8 with BOM, Russian headers, ``delimiter`` ``,`` or ``;``.

    With ``protect_formulas`` a text cell that a spreadsheet would take for a
    formula (``=``, ``+``, ``-``, ``@``, tab, CR first: a caller id is
    caller-controlled, and ``+7…`` is a formula to Excel) gets a leading
    apostrophe.
    """
    if delimiter not in (",", ";"):
        raise ValueError("the CSV separator must be ',' or ';'")
    cell = _guarded if protect_formulas else _text
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(table: ReportTable) -> bytes:
    """The table as an XLSX workbook of one sheet (bytes of the file).

    openpyxl is imported here, so that the rest of the reports (and the
    ``hotline`` command) load without it.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    if ws is None:  # pragma: no cover - a new workbook always has one sheet
        ws = wb.create_sheet()
    ws.title = table.title[:_MAX_SHEET_TITLE]
    ws.append(list(table.headers))
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
    for row in table.rows:
        ws.append(list(row))
    for i, key in enumerate(table.keys, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = _COLUMN_WIDTH
        fmt = "0.0%" if key in RATIO_COLUMNS else None
        for r in range(2, len(table.rows) + 2):
            cell = ws.cell(row=r, column=i)
            if isinstance(cell.value, str) and cell.data_type == "f":
                cell.data_type = "s"  # text, never a formula (caller-controlled values)
            elif isinstance(cell.value, datetime):
                cell.number_format = _DATE_FORMAT
            elif fmt is not None and cell.value is not None:
                cell.number_format = fmt
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _json_value(value: Cell) -> str | int | float | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def to_json(table: ReportTable) -> str:
    """The table as a JSON document: ``{"title", "columns", "rows": [{key: value}]}``."""
    doc = {
        "title": table.title,
        "columns": {k: label(k) for k in table.keys},
        "rows": [
            {k: _json_value(v) for k, v in zip(table.keys, row, strict=True)} for row in table.rows
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)
