"""Dates, years and clock times read as Russians say them.

* 01.12.2026, 2026-12-01, «1 декабря 2026 г.» → «первое декабря две тысячи
  двадцать шестого года»; the day takes the case of its preposition («до
  первого декабря», «к первому декабря»).
* «2026 г.», «в 2026 году», «2020–2025 гг.», «с 2020 по 2025 г.» → ordinals with the right form of
  «год» («в две тысячи двадцать шестом году»).
* «с 01.12 по 05.12» (day and month after a preposition) → «с первого декабря
  по пятое декабря».
* 14:30 → «четырнадцать тридцать», 9:00 → «девять ноль-ноль», 14:05 →
  «четырнадцать ноль пять»; «до 18:30» → «до восемнадцати тридцати»; a range
  «9:00–18:00» → «с девяти ноль-ноль до восемнадцати ноль-ноль».  9.00 with
  a period counts as a time only after a preposition of time (с, до, в …) or
  in a range, and only when its minutes cannot be a month (9.30, not 9.12).

Impossible dates (31.02.2026) and times (25:00) are left as written.
"""

from __future__ import annotations

import datetime
import re
from typing import Final

from hotline.bot.norm_morph import (
    PREPOSITION_CASES,
    preceding_word,
    sentence_ends_at,
)
from hotline.bot.norm_numbers import Case, Gender, cardinal, ordinal

__all__ = [
    "MONTHS_GENITIVE",
    "expand_dates",
    "expand_times",
    "expand_years",
    "read_date",
    "read_time",
]

MONTHS_GENITIVE: Final = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)

_YEAR_FORMS: Final = {
    Case.NOMINATIVE: ("год", "годы"),
    Case.GENITIVE: ("года", "годов"),
    Case.DATIVE: ("году", "годам"),
    Case.ACCUSATIVE: ("год", "годы"),
    Case.INSTRUMENTAL: ("годом", "годами"),
    Case.PREPOSITIONAL: ("году", "годах"),
}
_YEAR_WORD_CASES: Final = {
    "год": Case.NOMINATIVE,
    "года": Case.GENITIVE,
    "году": Case.PREPOSITIONAL,
    "годом": Case.INSTRUMENTAL,
    "годе": Case.PREPOSITIONAL,
    "годы": Case.NOMINATIVE,
    "годов": Case.GENITIVE,
    "годам": Case.DATIVE,
    "годами": Case.INSTRUMENTAL,
    "годах": Case.PREPOSITIONAL,
}
_YEAR_PREPOSITIONS: Final = {
    "в": Case.PREPOSITIONAL,
    "во": Case.PREPOSITIONAL,
    "о": Case.PREPOSITIONAL,
    "об": Case.PREPOSITIONAL,
    "при": Case.PREPOSITIONAL,
}
_DATIVE_PREPOSITIONS: Final = frozenset({"к", "ко", "по", "согласно"})
_TIME_PREPOSITIONS: Final = frozenset(
    {"с", "со", "до", "в", "во", "к", "ко", "после", "около", "от"}
)
_MIN_YEAR: Final = 1000
_MAX_YEAR: Final = 2999
_MONTH_ALT: Final = "|".join(MONTHS_GENITIVE)
_SP: Final = r"[^\S\n]"
_YEAR_TAIL: Final = rf"(?:{_SP}?(?P<tail>г\.|года(?![а-яё])|г(?![а-яё.])))?"

_NUMERIC_DATE_RE: Final = re.compile(
    rf"(?<![\d.,])(?P<day>\d{{1,2}})\.(?P<month>\d{{2}})\.(?P<year>\d{{4}})(?!\d|[.,]\d){_YEAR_TAIL}"
)
_ISO_DATE_RE: Final = re.compile(
    rf"(?<![\d\-.])(?P<year>\d{{4}})-(?P<month>\d{{2}})-(?P<day>\d{{2}})(?![\d\-]){_YEAR_TAIL}"
)
_TEXT_DATE_RE: Final = re.compile(
    rf"(?<![\d.,])(?P<day>\d{{1,2}}){_SP}+(?P<monthname>{_MONTH_ALT})(?![а-яё])"
    rf"(?:{_SP}+(?P<year>\d{{4}})(?!\d){_YEAR_TAIL})?"
)
_YEAR_RANGE_RE: Final = re.compile(
    rf"(?<![\d.,])(?P<first>\d{{4}}){_SP}?[–—-]{_SP}?(?P<last>\d{{4}}){_SP}?"
    r"(?P<word>гг\.|годы|годов|годам|годами|годах)(?![а-яё])"
)
_YEAR_SPAN_RE: Final = re.compile(
    rf"(?<![А-Яа-яЁё])(?P<p1>[сС]|[оО]т){_SP}+(?P<first>\d{{4}}){_SP}+(?P<p2>по|до){_SP}+"
    rf"(?P<last>\d{{4}}){_SP}?(?P<word>гг\.|г\.|годы|год|года)(?![а-яё])"
)
_YEAR_RE: Final = re.compile(
    r"(?<![\d.,])(?P<year>\d{4})(?:-?(?:й|го|м|му|ом))?" + _SP + r"?"
    r"(?P<word>г\.|г(?![а-яё.])|год|года|году|годом|годе)(?![а-яё])"
)
_HOUR: Final = r"(?:[01]?\d|2[0-3])"
_TIME_RANGE_RE: Final = re.compile(
    rf"(?<![\d:.,])(?P<h1>{_HOUR})[:.](?P<m1>[0-5]\d){_SP}?[–—-]{_SP}?"
    rf"(?P<h2>{_HOUR})[:.](?P<m2>[0-5]\d)(?![\d:]|[.,]\d)"
)
_TIME_RE: Final = re.compile(rf"(?<![\d:.,])(?P<h>{_HOUR}):(?P<m>[0-5]\d)(?![\d:]|[.,]\d)")
_DAY_MONTH_RE: Final = re.compile(
    r"(?<![\d.,])(?P<day>0[1-9]|[12]\d|3[01])\.(?P<month>0[1-9]|1[0-2])(?![\d.,]|[.,]\d)"
)
_DOT_TIME_RE: Final = re.compile(rf"(?<![\d:.,])(?P<h>{_HOUR})\.(?P<m>[0-5]\d)(?![\d:.,])")


def read_date(day: int, month: int, year: int | None, case: Case = Case.NOMINATIVE) -> str | None:
    """«первое декабря две тысячи двадцать шестого года»; ``None`` for a date that does not exist."""
    try:
        datetime.date(year if year is not None else 2000, month, day)
    except ValueError:
        return None
    day_words = ordinal(day, case, Gender.NEUTER)
    if day_words is None:
        return None
    words = f"{day_words} {MONTHS_GENITIVE[month - 1]}"
    if year is None:
        return words
    year_words = ordinal(year, Case.GENITIVE)
    return None if year_words is None else f"{words} {year_words} года"


def read_time(hour: int, minute: int, case: Case = Case.NOMINATIVE) -> str | None:
    """Clock time: (14, 30) → «четырнадцать тридцать», (9, 0) → «девять ноль-ноль»."""
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    hour_words = "ноль" if hour == 0 else cardinal(hour, case)
    minute_case = Case.NOMINATIVE if case is Case.ACCUSATIVE else case
    if minute == 0:
        minute_words: str | None = "ноль-ноль"
    elif minute < 10:
        minute_words = f"ноль {cardinal(minute, minute_case, Gender.FEMININE)}"
    else:
        minute_words = cardinal(minute, minute_case, Gender.FEMININE)
    if hour_words is None or minute_words is None:
        return None
    return f"{hour_words} {minute_words}"


def _context_case(text: str, position: int) -> Case:
    word = preceding_word(text, position)
    return Case.NOMINATIVE if word is None else PREPOSITION_CASES.get(word, Case.NOMINATIVE)


def _with_period(words: str, match: re.Match[str]) -> str:
    tail = match.groupdict().get("tail") or match.groupdict().get("word") or ""
    if tail.endswith(".") and sentence_ends_at(match.string, match.end()):
        return f"{words}."
    return words


def expand_dates(text: str) -> str:
    """Numeric, ISO and «1 декабря 2026 г.» dates → words."""

    def numeric(match: re.Match[str]) -> str:
        case = _context_case(match.string, match.start())
        day, month = int(match.group("day")), int(match.group("month"))
        words = read_date(day, month, int(match.group("year")), case)
        return match.group(0) if words is None else _with_period(words, match)

    def textual(match: re.Match[str]) -> str:
        case = _context_case(match.string, match.start())
        month = MONTHS_GENITIVE.index(match.group("monthname")) + 1
        year = match.group("year")
        words = read_date(int(match.group("day")), month, None if year is None else int(year), case)
        return match.group(0) if words is None else _with_period(words, match)

    def day_month(match: re.Match[str]) -> str:
        preceding = preceding_word(match.string, match.start())
        if preceding is None or preceding not in PREPOSITION_CASES:
            return match.group(0)
        case = PREPOSITION_CASES[preceding]
        words = read_date(int(match.group("day")), int(match.group("month")), None, case)
        return match.group(0) if words is None else words

    text = _NUMERIC_DATE_RE.sub(numeric, text)
    text = _ISO_DATE_RE.sub(numeric, text)
    text = _TEXT_DATE_RE.sub(textual, text)
    return _DAY_MONTH_RE.sub(day_month, text)


def _year_case(word: str, preceding: str | None) -> Case:
    if word in ("г.", "г", "гг."):
        if preceding is None:
            return Case.NOMINATIVE
        if preceding in _YEAR_PREPOSITIONS:
            return _YEAR_PREPOSITIONS[preceding]
        return PREPOSITION_CASES.get(preceding, Case.NOMINATIVE)
    case = _YEAR_WORD_CASES[word]
    if word == "году" and preceding in _DATIVE_PREPOSITIONS:
        return Case.DATIVE
    return case


def expand_years(text: str) -> str:
    """Years with «г.», «гг.» or a form of «год» → ordinal + the matching form of «год»."""

    def year_range(match: re.Match[str]) -> str:
        first, last = int(match.group("first")), int(match.group("last"))
        if not (_MIN_YEAR <= first <= _MAX_YEAR and _MIN_YEAR <= last <= _MAX_YEAR):
            return match.group(0)
        case = _year_case(match.group("word"), preceding_word(match.string, match.start()))
        first_words, last_words = ordinal(first, case), ordinal(last, case)
        if first_words is None or last_words is None:
            return match.group(0)
        noun = _YEAR_FORMS[case][1]
        return _with_period(f"{first_words} — {last_words} {noun}", match)

    def single(match: re.Match[str]) -> str:
        year = int(match.group("year"))
        if not _MIN_YEAR <= year <= _MAX_YEAR:
            return match.group(0)
        case = _year_case(match.group("word"), preceding_word(match.string, match.start()))
        words = ordinal(year, case)
        if words is None:
            return match.group(0)
        return _with_period(f"{words} {_YEAR_FORMS[case][0]}", match)

    def span(match: re.Match[str]) -> str:
        first, last = int(match.group("first")), int(match.group("last"))
        if not (_MIN_YEAR <= first <= _MAX_YEAR and _MIN_YEAR <= last <= _MAX_YEAR):
            return match.group(0)
        last_case = Case.ACCUSATIVE if match.group("p2") == "по" else Case.GENITIVE
        first_words, last_words = ordinal(first, Case.GENITIVE), ordinal(last, last_case)
        if first_words is None or last_words is None:
            return match.group(0)
        words = (
            f"{match.group('p1')} {first_words} {match.group('p2')} {last_words} "
            f"{_YEAR_FORMS[last_case][0]}"
        )
        return _with_period(words, match)

    text = _YEAR_SPAN_RE.sub(span, text)
    return _YEAR_RE.sub(single, _YEAR_RANGE_RE.sub(year_range, text))


def _month_like(*minutes: str) -> bool:
    """A dotted "01.12" may be a day and month; such minutes are not taken for a time."""
    return any(1 <= int(minute) <= 12 for minute in minutes)


def expand_times(text: str) -> str:
    """Clock times (H:MM; H.MM after a preposition of time) and time ranges → words."""

    def time_range(match: re.Match[str]) -> str:
        if "." in match.group(0) and _month_like(match.group("m1"), match.group("m2")):
            return match.group(0)
        preceding = preceding_word(match.string, match.start())
        if preceding is not None and preceding in PREPOSITION_CASES:
            case = PREPOSITION_CASES[preceding]
            first = read_time(int(match.group("h1")), int(match.group("m1")), case)
            last = read_time(int(match.group("h2")), int(match.group("m2")), case)
            template = "{first} — {last}"
        else:
            first = read_time(int(match.group("h1")), int(match.group("m1")), Case.GENITIVE)
            last = read_time(int(match.group("h2")), int(match.group("m2")), Case.GENITIVE)
            template = "с {first} до {last}"
        if first is None or last is None:
            return match.group(0)
        return template.format(first=first, last=last)

    def single(match: re.Match[str]) -> str:
        case = _context_case(match.string, match.start())
        words = read_time(int(match.group("h")), int(match.group("m")), case)
        return match.group(0) if words is None else words

    def dotted(match: re.Match[str]) -> str:
        if _month_like(match.group("m")):
            return match.group(0)
        if preceding_word(match.string, match.start()) not in _TIME_PREPOSITIONS:
            return match.group(0)
        return single(match)

    text = _TIME_RANGE_RE.sub(time_range, text)
    text = _TIME_RE.sub(single, text)
    return _DOT_TIME_RE.sub(dotted, text)
