"""Phone numbers, ordinals, amounts with units, percent, currency and plain numbers.

* Phones (+7 or 8, then a code from 3xx to 9xx and seven digits, with or
  without separators) are read in the groups they are written in: «+7 912 345-67-89» →
  «плюс семь, девятьсот двенадцать, триста сорок пять, шестьдесят семь,
  восемьдесят девять»; a group with leading zeros → «ноль пять».
* Ordinals by their written ending: «5-й» → «пятый», «в 5-м классе» → «в
  пятом классе»; «3-х» → «трёх»; compounds «5-летний» → «пятилетний».
* Numbers with a unit: «5 руб.» → «пять рублей», «1 500,50 ₽» → «одна тысяча
  пятьсот рублей пятьдесят копеек», «2,5 %» → «две целых пять десятых
  процента», «5 тыс. руб.» → «пять тысяч рублей»; ranges «5–10 %» → «от пяти
  до десяти процентов».
* Any other number is read in the case of its preposition or of the noun
  after it, with the gender of that noun («1 минута» → «одна минута», «до 5
  дней» → «до пяти дней», «в 21 районе» → «в двадцати одном районе»).
* «№ 5» → «номер пять»; «5/2» → «пять дробь два».
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from hotline.bot.norm_morph import (
    PREPOSITION_CASES,
    Morphology,
    next_words,
    preceding_word,
    sentence_ends_at,
)
from hotline.bot.norm_numbers import (
    MAX_CARDINAL,
    Case,
    Gender,
    cardinal,
    compound_prefix,
    decimal_words,
    digit_group,
    digits_one_by_one,
    ordinal,
)

__all__ = [
    "UNITS",
    "Unit",
    "expand_number_signs",
    "expand_ordinals",
    "expand_phones",
    "expand_quantities",
    "read_phone",
]

_SP: Final = r"[^\S\n]"
_MAX_WHOLE_DIGITS: Final = len(str(MAX_CARDINAL))
"""Longer digit runs are read digit by digit (codes, account numbers)."""
_MAX_DIGITS_READ: Final = 40
"""Longer digit runs are left as written."""


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit written after a number: the noun it stands for and what follows that noun."""

    lemma: str
    gender: Gender
    suffix: str = ""
    minor_lemma: str | None = None
    """The hundredth part read from two decimals (рубль → копейка)."""
    indeclinable: bool = False


_RUBLE: Final = Unit("рубль", Gender.MASCULINE, minor_lemma="копейка")
UNITS: Final[dict[str, Unit]] = {
    "руб.": _RUBLE,
    "руб": _RUBLE,
    "р.": _RUBLE,
    "₽": _RUBLE,
    "коп.": Unit("копейка", Gender.FEMININE),
    "коп": Unit("копейка", Gender.FEMININE),
    "%": Unit("процент", Gender.MASCULINE),
    "долл.": Unit("доллар", Gender.MASCULINE, minor_lemma="цент"),
    "$": Unit("доллар", Gender.MASCULINE, minor_lemma="цент"),
    "€": Unit("евро", Gender.MASCULINE, minor_lemma="цент", indeclinable=True),
    "км/ч": Unit("километр", Gender.MASCULINE, suffix=" в час"),
    "км": Unit("километр", Gender.MASCULINE),
    "кг": Unit("килограмм", Gender.MASCULINE),
    "см": Unit("сантиметр", Gender.MASCULINE),
    "мм": Unit("миллиметр", Gender.MASCULINE),
    "м": Unit("метр", Gender.MASCULINE),
    "г": Unit("грамм", Gender.MASCULINE),
    "л": Unit("литр", Gender.MASCULINE),
    "ч.": Unit("час", Gender.MASCULINE),
    "ч": Unit("час", Gender.MASCULINE),
    "мин.": Unit("минута", Gender.FEMININE),
    "мин": Unit("минута", Gender.FEMININE),
    "сек.": Unit("секунда", Gender.FEMININE),
    "сек": Unit("секунда", Gender.FEMININE),
    "дн.": Unit("день", Gender.MASCULINE),
    "мес.": Unit("месяц", Gender.MASCULINE),
    "нед.": Unit("неделя", Gender.FEMININE),
    "шт.": Unit("штука", Gender.FEMININE),
    "чел.": Unit("человек", Gender.MASCULINE),
    "°C": Unit("градус", Gender.MASCULINE, suffix=" Цельсия"),
    "°С": Unit("градус", Gender.MASCULINE, suffix=" Цельсия"),
    "°": Unit("градус", Gender.MASCULINE),
}
"""Unit abbreviations after a number and the nouns they are read as."""

_MULTIPLIERS: Final = {
    "тыс.": Unit("тысяча", Gender.FEMININE),
    "тыс": Unit("тысяча", Gender.FEMININE),
    "млн.": Unit("миллион", Gender.MASCULINE),
    "млн": Unit("миллион", Gender.MASCULINE),
    "млрд.": Unit("миллиард", Gender.MASCULINE),
    "млрд": Unit("миллиард", Gender.MASCULINE),
    "трлн.": Unit("триллион", Gender.MASCULINE),
    "трлн": Unit("триллион", Gender.MASCULINE),
}


def _alternation(keys: list[str]) -> str:
    parts = []
    for key in sorted(keys, key=len, reverse=True):
        escaped = re.escape(key)
        parts.append(escaped if not key[-1].isalpha() else rf"{escaped}(?![а-яёa-z])")
    return "|".join(parts)


_NUMBER: Final = rf"\d{{1,3}}(?:{_SP}\d{{3}})+(?!\d)|\d+"
_QUANTITY_RE: Final = re.compile(
    rf"(?<![\w.,:/+\-−])(?P<sign>[-−]{_SP}?)?"
    rf"(?P<int>{_NUMBER})(?:[.,](?P<frac>\d+))?"
    rf"(?:{_SP}?[–—-]{_SP}?(?P<int2>{_NUMBER})(?:[.,](?P<frac2>\d+))?)?"
    rf"(?:{_SP}?(?P<mult>{_alternation(list(_MULTIPLIERS))}))?"
    rf"(?:{_SP}?(?P<unit>{_alternation(list(UNITS))}))?"
    r"(?![\w]|:\d)"
)
_PHONE_SEP: Final = rf"{_SP}?[-()]?{_SP}?"
_PHONE_RE: Final = re.compile(
    rf"(?<![\w+])(?P<country>\+7|8){_PHONE_SEP}(?P<g1>[3-9]\d{{2}}){_PHONE_SEP}(?P<g2>\d{{3}})"
    rf"{_SP}?-?{_SP}?(?P<g3>\d{{2}}){_SP}?-?{_SP}?(?P<g4>\d{{2}})(?![\d\w])"
)
_LOCAL_PHONE_RE: Final = re.compile(r"(?<![\w\-])(\d{3})-(\d{2})-(\d{2})(?![\w\-])")
_ORDINAL_RE: Final = re.compile(r"(?<![\w.,])(?P<n>\d{1,15})-(?P<suffix>[а-яё]{1,12})(?![\w])")
_NUMBER_SIGN_RE: Final = re.compile(rf"№(?P<double>№)?{_SP}?(?=\d)")
_FRACTION_RE: Final = re.compile(r"(?<![\w./])(\d{1,6})/(\d{1,6})(?![\w/])")
_CARDINAL_SUFFIXES: Final = {
    "х": Case.GENITIVE,
    "ех": Case.GENITIVE,
    "ёх": Case.GENITIVE,
    "ух": Case.GENITIVE,
    "ти": Case.GENITIVE,
    "и": Case.GENITIVE,
    "мя": Case.INSTRUMENTAL,
    "ми": Case.GENITIVE,
}
_ORDINAL_CASE_ORDER: Final = (
    Case.NOMINATIVE,
    Case.GENITIVE,
    Case.DATIVE,
    Case.ACCUSATIVE,
    Case.INSTRUMENTAL,
    Case.PREPOSITIONAL,
)
_GENDER_ORDER: Final = (Gender.MASCULINE, Gender.FEMININE, Gender.NEUTER)


def read_phone(groups: tuple[str, ...]) -> str | None:
    """Phone groups as written ("+7", "912", "345", "67", "89") → words joined by commas."""
    words = []
    for group in groups:
        if group.startswith("+"):
            read = digit_group(group[1:])
            words.append(None if read is None else f"плюс {read}")
        else:
            words.append(digit_group(group))
    if any(word is None for word in words):
        return None
    return ", ".join(word for word in words if word is not None)


def expand_phones(text: str) -> str:
    """Russian phone numbers (+7/8 and ten digits; local 345-67-89) → groups of words."""

    def full(match: re.Match[str]) -> str:
        read = read_phone(match.group("country", "g1", "g2", "g3", "g4"))
        return match.group(0) if read is None else read

    def local(match: re.Match[str]) -> str:
        read = read_phone(match.groups())
        return match.group(0) if read is None else read

    return _LOCAL_PHONE_RE.sub(local, _PHONE_RE.sub(full, text))


def expand_number_signs(text: str) -> str:
    """«№ 5» → «номер 5», «№№» → «номера»; «5/2» → «пять дробь два»."""

    def sign(match: re.Match[str]) -> str:
        return "номера " if match.group("double") else "номер "

    def fraction(match: re.Match[str]) -> str:
        first, second = cardinal(int(match.group(1))), cardinal(int(match.group(2)))
        if first is None or second is None:
            return match.group(0)
        return f"{first} дробь {second}"

    return _FRACTION_RE.sub(fraction, _NUMBER_SIGN_RE.sub(sign, text))


def expand_ordinals(text: str, morphology: Morphology) -> str:
    """Numbers with a written ending: ordinals (5-й), cardinals (3-х) and compounds (5-летний)."""

    def replace(match: re.Match[str]) -> str:
        number, suffix = int(match.group("n")), match.group("suffix")
        following = next_words(match.string, match.end())
        preceding = preceding_word(match.string, match.start())
        case = morphology.case_after(preceding, following)
        read = _read_suffixed(number, suffix, case, morphology.gender_of(following))
        return match.group(0) if read is None else read

    return _ORDINAL_RE.sub(replace, text)


def _read_suffixed(number: int, suffix: str, case: Case, gender: Gender) -> str | None:
    if suffix in _CARDINAL_SUFFIXES:
        if suffix == "х" and number >= 10 and number % 10 == 0:
            return ordinal(number, Case.GENITIVE, plural=True)
        suffix_case = _CARDINAL_SUFFIXES[suffix]
        if suffix == "ми" and case is Case.INSTRUMENTAL:
            suffix_case = Case.INSTRUMENTAL
        return cardinal(number, suffix_case)
    for form in _ordinal_forms(number, case, gender):
        if form.endswith(suffix):
            return form
    if len(suffix) >= 3:
        prefix = compound_prefix(number)
        return None if prefix is None else prefix + suffix
    return None


def _ordinal_forms(number: int, case: Case, gender: Gender) -> list[str]:
    """Ordinal forms, the context's case and the noun's gender first."""
    forms: list[str] = []
    cases = (case, *(c for c in _ORDINAL_CASE_ORDER if c is not case))
    genders = (gender, *(g for g in _GENDER_ORDER if g is not gender))
    for each_case in cases:
        for each_gender in genders:
            form = ordinal(number, each_case, each_gender)
            if form is not None:
                forms.append(form)
        plural = ordinal(number, each_case, plural=True)
        if plural is not None:
            forms.append(plural)
    return forms


def expand_quantities(text: str, morphology: Morphology) -> str:
    """Every remaining number (with its range, multiplier and unit) → words."""

    def replace(match: re.Match[str]) -> str:
        read = _read_quantity(match, morphology)
        if read is None:
            return match.group(0)
        unit = match.group("unit") or match.group("mult") or ""
        if unit.endswith(".") and sentence_ends_at(match.string, match.end()):
            return f"{read}."
        return read

    return _QUANTITY_RE.sub(replace, text)


def _read_quantity(match: re.Match[str], morphology: Morphology) -> str | None:
    text = match.string
    preceding = preceding_word(text, match.start())
    unit = UNITS.get(match.group("unit") or "")
    multiplier = _MULTIPLIERS.get(match.group("mult") or "")
    if unit is None and multiplier is None:
        following = next_words(text, match.end())
        case = morphology.case_after(preceding, following)
        gender = morphology.gender_of(following)
    else:
        case = PREPOSITION_CASES.get(preceding or "", Case.NOMINATIVE)
        gender = (multiplier or unit or _RUBLE).gender
    first = _Number(match.group("int"), match.group("frac"), match.group("sign") is not None)
    if match.group("int2") is None:
        return _read_amount(first, case, gender, multiplier, unit, morphology)
    last = _Number(match.group("int2"), match.group("frac2"), negative=False)
    if unit is not None and preceding not in PREPOSITION_CASES:
        head = first.words(Case.GENITIVE, gender)
        tail = _read_amount(last, Case.GENITIVE, gender, multiplier, unit, morphology)
        return None if head is None or tail is None else f"от {head} до {tail}"
    head = first.words(case, gender)
    tail = _read_amount(last, case, gender, multiplier, unit, morphology)
    return None if head is None or tail is None else f"{head} — {tail}"


@dataclass(frozen=True, slots=True)
class _Number:
    integer: str
    fraction: str | None
    negative: bool

    @property
    def digits(self) -> str:
        return re.sub(r"\s", "", self.integer)

    @property
    def whole(self) -> int | None:
        """The value when it is read as a whole number, else None (a decimal or a code)."""
        digits = self.digits
        if self.fraction is not None or (len(digits) > 1 and digits.startswith("0")):
            return None
        if len(digits) > _MAX_WHOLE_DIGITS:
            return None
        value = int(digits)
        return -value if self.negative else value

    def words(self, case: Case, gender: Gender) -> str | None:
        digits = self.digits
        if len(digits) > _MAX_DIGITS_READ:
            return None
        sign = "минус " if self.negative else ""
        if self.fraction is not None:
            read = decimal_words(digits, self.fraction)
            return None if read is None else sign + read
        if (len(digits) > 1 and digits.startswith("0")) or len(digits) > _MAX_WHOLE_DIGITS:
            read = digits_one_by_one(digits)
            return None if read is None else sign + read
        return cardinal(-int(digits) if self.negative else int(digits), case, gender)


def _read_amount(
    number: _Number,
    case: Case,
    gender: Gender,
    multiplier: Unit | None,
    unit: Unit | None,
    morphology: Morphology,
) -> str | None:
    if (
        unit is not None
        and unit.minor_lemma is not None
        and multiplier is None
        and number.fraction is not None
        and len(number.fraction) == 2
    ):
        return _read_money(number, case, unit, morphology)
    words = number.words(case, gender)
    if words is None:
        return None
    whole = number.whole
    parts = [words]
    if multiplier is not None:
        parts.append(_counted(multiplier, whole, case, morphology))
        if unit is not None:
            parts.append(_genitive_plural(unit, morphology) + unit.suffix)
    elif unit is not None:
        parts.append(_counted(unit, whole, case, morphology) + unit.suffix)
    return " ".join(parts)


def _read_money(number: _Number, case: Case, unit: Unit, morphology: Morphology) -> str | None:
    major = _Number(number.integer, None, number.negative)
    minor_value = int(number.fraction or "0")
    major_words = major.words(case, unit.gender)
    minor_unit = Unit(
        unit.minor_lemma or "", Gender.FEMININE if unit is _RUBLE else Gender.MASCULINE
    )
    minor_words = cardinal(minor_value, case, minor_unit.gender)
    if major_words is None or minor_words is None:
        return None
    return (
        f"{major_words} {_counted(unit, major.whole, case, morphology)} "
        f"{minor_words} {_counted(minor_unit, minor_value, case, morphology)}"
    )


def _counted(unit: Unit, whole: int | None, case: Case, morphology: Morphology) -> str:
    if unit.indeclinable:
        return unit.lemma
    if whole is None:
        return morphology.genitive_singular(unit.lemma)
    return morphology.agree(unit.lemma, abs(whole), case)


def _genitive_plural(unit: Unit, morphology: Morphology) -> str:
    return unit.lemma if unit.indeclinable else morphology.genitive_plural(unit.lemma)
