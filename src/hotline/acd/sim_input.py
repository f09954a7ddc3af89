"""The simulator's tables: a forecast and a staffing plan, parsed from CSV text.

Pure parsing (L1): the caller reads the file and passes its text with a
``source`` name (the file name) used in every message.  A bad table raises
:class:`SimInputError` (a :class:`~hotline.core.errors.RemoteProtocolError`)
naming the source, the row (spreadsheet numbering: the header is row 1) and
the column, so that one line tells the user what to fix.

Forecast (one row per interval of a day, equal spacing)
    ``start`` (HH:MM), ``calls`` (expected arrivals in the interval, >= 0, may
    be fractional: it is a Poisson mean), ``aht_s`` (average handle time in
    seconds, talk + hold + wrap-up as in docs/metrics.md) and optionally
    ``patience_s`` (mean caller patience; an empty cell or no column: callers
    never give up).  The interval length is the spacing of the starts (a
    single row uses ``default_interval_s``); the last interval must end by
    24:00.

Staffing (a step function of the time of day)
    ``start`` (HH:MM) and ``operators`` (logged in from then on, >= 0).

Both accept ``,`` or ``;`` as the delimiter (the second is what a Russian
spreadsheet exports; with it a decimal comma is accepted too), an optional
UTF-8 byte-order mark and blank lines.  Unknown columns are errors (a typo in
``patience_s`` must not silently switch abandonment off).
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from hotline.core.errors import LimitExceededError, RemoteProtocolError

__all__ = [
    "DAY_S",
    "MAX_TABLE_BYTES",
    "MAX_TABLE_ROWS",
    "Forecast",
    "ForecastRow",
    "SimInputError",
    "StaffingRow",
    "format_clock",
    "parse_forecast",
    "parse_handle_samples",
    "parse_staffing",
]

DAY_S: Final = 86_400
MAX_TABLE_BYTES: Final = 1 << 20  # 1 MiB of CSV text
MAX_TABLE_ROWS: Final = 1_440  # one row per minute of a day
MAX_SAMPLES: Final = 1_000_000
MAX_LINE_CHARS: Final = 1_000
MAX_CALLS_PER_INTERVAL: Final = 1_000_000.0
MAX_SECONDS: Final = float(DAY_S)
MAX_OPERATORS: Final = 20_000  # EngineLimits.max_operators

_TIME: Final = re.compile(r"\s*(\d{1,2}):(\d{2})\s*")
_FORECAST_COLUMNS: Final = ("start", "calls", "aht_s", "patience_s")
_STAFFING_COLUMNS: Final = ("start", "operators")


class SimInputError(RemoteProtocolError):
    """A bad forecast, staffing plan or sample list: ``source``, ``row`` and ``column`` say where."""

    def __init__(
        self, source: str, problem: str, *, row: int | None = None, column: str = ""
    ) -> None:
        where = source
        if row is not None:
            where += f", row {row}"
        if column:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem}", status_hint=400)
        self.source = source
        self.row = row
        self.column = column
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ForecastRow:
    """One interval of the forecast; ``row`` is its row in the source (for messages)."""

    start_s: int
    calls: float
    aht_s: float
    patience_s: float | None
    row: int


@dataclass(frozen=True, slots=True)
class Forecast:
    """A day's forecast: equally spaced intervals of ``interval_s`` seconds."""

    source: str
    interval_s: int
    rows: tuple[ForecastRow, ...]

    @property
    def starts_s(self) -> tuple[int, ...]:
        """Start of every interval, seconds after midnight."""
        return tuple(r.start_s for r in self.rows)


@dataclass(frozen=True, slots=True)
class StaffingRow:
    """From ``start_s`` (seconds after midnight) on, ``operators`` are logged in."""

    start_s: int
    operators: int
    row: int


def format_clock(seconds: float) -> str:
    """``HH:MM`` for a time of day in seconds (24:00 for the end of the day)."""
    minutes = round(seconds / 60.0)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# -- low-level reading -------------------------------------------------------------


def _check_size(text: str, source: str, limit: int = MAX_TABLE_BYTES) -> None:
    if len(text) > limit:
        raise LimitExceededError(f"{source}: larger than {limit} characters")


def _records(text: str, source: str) -> tuple[list[str], Iterator[tuple[int, list[str]]], bool]:
    """The header and ``(row, cells)`` of every non-blank record; and the decimal-comma flag."""
    _check_size(text, source)
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE_CHARS:
            raise SimInputError(source, f"line longer than {MAX_LINE_CHARS} characters", row=number)
    first = next((line for line in lines if line.strip()), "")
    if not first:
        raise SimInputError(source, "the table is empty (a header row is needed)")
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in cells]
                continue
            rows.append((reader.line_num, [cell.strip() for cell in cells]))
            if len(rows) > MAX_TABLE_ROWS:
                raise LimitExceededError(f"{source}: more than {MAX_TABLE_ROWS} rows")
    except csv.Error as exc:
        raise SimInputError(source, f"not valid CSV ({exc})", row=reader.line_num) from None
    if header is None:
        raise SimInputError(source, "the table is empty (a header row is needed)")
    return header, iter(rows), delimiter == ";"


def _columns(
    header: Sequence[str], source: str, known: Sequence[str], required: Sequence[str]
) -> dict[str, int]:
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        if name not in known:
            expected = ", ".join(known)
            raise SimInputError(source, f"unknown column (expected {expected})", row=1, column=name)
        if name in index:
            raise SimInputError(source, "column given twice", row=1, column=name)
        index[name] = position
    for name in required:
        if name not in index:
            raise SimInputError(source, "missing column", row=1, column=name)
    return index


def _cell(cells: Sequence[str], index: dict[str, int], name: str) -> str:
    position = index.get(name)
    if position is None or position >= len(cells):
        return ""
    return cells[position]


def _clock(text: str, source: str, row: int, column: str) -> int:
    match = _TIME.fullmatch(text)
    if match is None:
        raise SimInputError(source, f"{text!r} is not a time HH:MM", row=row, column=column)
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        raise SimInputError(source, f"{text!r} is not a time of day", row=row, column=column)
    return hours * 3600 + minutes * 60


def _number(
    text: str,
    source: str,
    row: int,
    column: str,
    *,
    decimal_comma: bool,
    low: float,
    high: float,
    positive: bool = False,
) -> float:
    raw = text.replace(",", ".") if decimal_comma else text
    if not raw:
        raise SimInputError(source, "a number is needed here", row=row, column=column)
    try:
        value = float(raw)
    except ValueError:
        raise SimInputError(source, f"{text!r} is not a number", row=row, column=column) from None
    if not math.isfinite(value):
        raise SimInputError(source, f"{text!r} is not a finite number", row=row, column=column)
    if value < 0:
        raise SimInputError(source, f"{text} is negative", row=row, column=column)
    if positive and value == 0:
        raise SimInputError(source, "must be greater than 0", row=row, column=column)
    if not low <= value <= high:
        raise SimInputError(
            source, f"{text} is out of range {low:g}..{high:g}", row=row, column=column
        )
    return value


# -- the tables --------------------------------------------------------------------


def parse_forecast(text: str, source: str, *, default_interval_s: int = 1800) -> Forecast:
    """Parse a forecast table (see the module docstring)."""
    header, records, comma = _records(text, source)
    index = _columns(header, source, _FORECAST_COLUMNS, _FORECAST_COLUMNS[:3])
    rows: list[ForecastRow] = []
    for row, cells in records:
        start = _clock(_cell(cells, index, "start"), source, row, "start")
        calls = _number(
            _cell(cells, index, "calls"),
            source,
            row,
            "calls",
            decimal_comma=comma,
            low=0.0,
            high=MAX_CALLS_PER_INTERVAL,
        )
        aht = _number(
            _cell(cells, index, "aht_s"),
            source,
            row,
            "aht_s",
            decimal_comma=comma,
            low=0.0,
            high=MAX_SECONDS,
            positive=True,
        )
        patience_text = _cell(cells, index, "patience_s")
        patience = (
            _number(
                patience_text,
                source,
                row,
                "patience_s",
                decimal_comma=comma,
                low=0.0,
                high=MAX_SECONDS,
                positive=True,
            )
            if patience_text
            else None
        )
        if rows and start <= rows[-1].start_s:
            raise SimInputError(
                source, "starts must grow from one row to the next", row=row, column="start"
            )
        rows.append(ForecastRow(start, calls, aht, patience, row))
    if not rows:
        raise SimInputError(source, "no intervals (the table has only a header)")
    interval_s = rows[1].start_s - rows[0].start_s if len(rows) > 1 else default_interval_s
    for before, after in itertools.pairwise(rows):
        if after.start_s - before.start_s != interval_s:
            raise SimInputError(
                source,
                f"intervals must be equally long ({interval_s // 60} min, as the first two rows say)",
                row=after.row,
                column="start",
            )
    if rows[-1].start_s + interval_s > DAY_S:
        raise SimInputError(
            source, "the last interval runs past 24:00", row=rows[-1].row, column="start"
        )
    return Forecast(source, interval_s, tuple(rows))


def parse_staffing(text: str, source: str) -> tuple[StaffingRow, ...]:
    """Parse a staffing plan (see the module docstring)."""
    header, records, comma = _records(text, source)
    index = _columns(header, source, _STAFFING_COLUMNS, _STAFFING_COLUMNS)
    rows: list[StaffingRow] = []
    for row, cells in records:
        start = _clock(_cell(cells, index, "start"), source, row, "start")
        value = _number(
            _cell(cells, index, "operators"),
            source,
            row,
            "operators",
            decimal_comma=comma,
            low=0.0,
            high=float(MAX_OPERATORS),
        )
        if value != int(value):
            raise SimInputError(
                source, f"{value:g} is not a whole number", row=row, column="operators"
            )
        if rows and start <= rows[-1].start_s:
            raise SimInputError(
                source, "starts must grow from one row to the next", row=row, column="start"
            )
        rows.append(StaffingRow(start, int(value), row))
    if not rows:
        raise SimInputError(source, "no rows (the table has only a header)")
    return tuple(rows)


def _looks_numeric(cell: str) -> bool:
    try:
        float(cell.replace(",", "."))
    except ValueError:
        return False
    return True


def parse_handle_samples(text: str, source: str) -> tuple[float, ...]:
    """Talk times in seconds, one per line (an optional header line is skipped)."""
    _check_size(text, source, 16 * MAX_TABLE_BYTES)
    samples: list[float] = []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        cell = line.strip().rstrip(",;")
        if not cell:
            continue
        if not samples and not _looks_numeric(cell):
            continue  # a header such as "talk_s"
        samples.append(
            _number(
                cell,
                source,
                number,
                "talk_s",
                decimal_comma=True,
                low=0.0,
                high=MAX_SECONDS,
                positive=True,
            )
        )
        if len(samples) > MAX_SAMPLES:
            raise LimitExceededError(f"{source}: more than {MAX_SAMPLES} samples")
    if not samples:
        raise SimInputError(source, "no samples")
    return tuple(samples)
