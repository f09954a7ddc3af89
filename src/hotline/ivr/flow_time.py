"""Weekday and time-of-day ranges for ``time_condition`` nodes.

A range is a set of weekdays and a span of local time, written as an
administrator would: ``days: mon-fri`` and ``time: "09:00-18:00"``.  The end is
exclusive; ``24:00`` is accepted as an end; a span whose end is before its
start runs past midnight (``22:00-06:00`` on ``fri`` covers Friday 22:00 to
Saturday 06:00: the part after midnight belongs to the day it started on).

Nothing here reads a clock: the interpreter passes the call's arrival time
(an aware datetime), and :func:`in_ranges` converts it to the node's time zone
(IANA name, e.g. ``Europe/Moscow``) with :mod:`zoneinfo`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hotline.core.errors import LocalProtocolError
from hotline.ivr.flow_checks import FlowError

__all__ = [
    "DAY_NAMES",
    "MAX_TIME_RANGES",
    "MINUTES_PER_DAY",
    "TimeRange",
    "check_timezone",
    "in_ranges",
]

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY: Final = 24 * 60
MAX_TIME_RANGES: Final = 32
_EVERY_DAY: Final = frozenset({"*", "all", "daily"})
_SPAN_RE: Final = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_TZ_RE: Final = re.compile(r"[A-Za-z_]+(?:/[A-Za-z0-9_+-]+){0,2}")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Weekdays (0 = Monday) and minutes of the local day: ``[start_min, end_min)``."""

    days: frozenset[int]
    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise FlowError(None, "a time range needs weekdays from 0 (Monday) to 6 (Sunday)")
        if not 0 <= self.start_min < MINUTES_PER_DAY or not 0 < self.end_min <= MINUTES_PER_DAY:
            raise FlowError(None, "a time range needs times from 00:00 to 24:00")
        if self.start_min == self.end_min:
            raise FlowError(None, "a time range may not start and end at the same time")

    @classmethod
    def parse(cls, node: str | None, days: object, span: object) -> TimeRange:
        """Build from the administrator's text: ``days`` like ``mon-fri``, ``span`` like ``09:00-18:00``."""
        try:
            return cls(_parse_days(node, days), *_parse_span(node, span))
        except FlowError as exc:
            raise FlowError(node, exc.problem) from None

    def matches(self, weekday: int, minute: int) -> bool:
        """True if ``minute`` of the local day ``weekday`` falls in this range."""
        if self.start_min < self.end_min:
            return weekday in self.days and self.start_min <= minute < self.end_min
        if weekday in self.days and minute >= self.start_min:
            return True
        return (weekday - 1) % 7 in self.days and minute < self.end_min

    @property
    def days_text(self) -> str:
        """The weekdays in canonical form: runs joined by '-', groups by ',' (``mon-fri,sun``)."""
        if len(self.days) == 7:
            return "daily"
        parts: list[str] = []
        day = 0
        while day < 7:
            if day not in self.days:
                day += 1
                continue
            end = day
            while end + 1 < 7 and end + 1 in self.days:
                end += 1
            parts.append(DAY_NAMES[day] if end == day else f"{DAY_NAMES[day]}-{DAY_NAMES[end]}")
            day = end + 1
        return ",".join(parts)

    @property
    def time_text(self) -> str:
        """The span in canonical form, ``HH:MM-HH:MM``."""
        return f"{_hhmm(self.start_min)}-{_hhmm(self.end_min)}"


def check_timezone(node: str | None, value: object) -> str:
    """An IANA time-zone name known to this machine (``Europe/Moscow``)."""
    if not isinstance(value, str) or len(value) > 64 or _TZ_RE.fullmatch(value) is None:
        raise FlowError(node, f"timezone {value!r} is not an IANA zone name like Europe/Moscow")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FlowError(node, f"timezone {value!r} is unknown") from exc
    return value


def in_ranges(ranges: Iterable[TimeRange], timezone: str, when: datetime) -> bool:
    """True if the aware instant ``when``, seen in ``timezone``, falls in any of ``ranges``."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise LocalProtocolError("time conditions need an aware datetime, not a naive one")
    local = when.astimezone(ZoneInfo(timezone))
    weekday = local.weekday()
    minute = local.hour * 60 + local.minute
    return any(r.matches(weekday, minute) for r in ranges)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _day(node: str | None, name: str) -> int:
    try:
        return DAY_NAMES.index(name)
    except ValueError:
        raise FlowError(
            node, f"unknown weekday {name!r} (use {', '.join(DAY_NAMES)}, or daily)"
        ) from None


def _parse_days(node: str | None, spec: object) -> frozenset[int]:
    if not isinstance(spec, str) or not spec.strip() or len(spec) > 64:
        raise FlowError(node, "days must be text like mon-fri, sat,sun or daily")
    text = spec.strip().lower()
    if text in _EVERY_DAY:
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        start = _day(node, first.strip())
        end = _day(node, last.strip()) if sep else start
        day = start
        days.add(day)
        while day != end:  # a run may wrap over the week's end: fri-mon
            day = (day + 1) % 7
            days.add(day)
    return frozenset(days)


def _parse_span(node: str | None, span: object) -> tuple[int, int]:
    if not isinstance(span, str):
        raise FlowError(node, "time must be text like 09:00-18:00")
    match = _SPAN_RE.fullmatch(span.strip())
    if match is None:
        raise FlowError(node, f"time {span!r} must look like 09:00-18:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise FlowError(node, f"time {span!r} is not a valid span of the day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise FlowError(node, f"time {span!r} is empty (start equals end)")
    return start, end or MINUTES_PER_DAY  # "18:00-00:00" runs to midnight
