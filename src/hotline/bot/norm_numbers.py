"""Russian number words: cardinals, ordinals, decimals and digit groups, in any case and gender.

A thin, typed layer over num2words (``lang="ru"``), which knows the six cases,
three genders and the plural for both cardinals and ordinals.  What it does
not do is here: phone-style digit groups with leading zeros («ноль пять»),
the first half of compound adjectives («пяти» in «пятилетний») and hard
limits on the size of what is read.  Every function returns ``None`` for a
number it will not read, so that the caller leaves the original text alone.
"""

from __future__ import annotations

import decimal
import enum
from typing import Final

from num2words import num2words  # type: ignore[import-untyped]

__all__ = [
    "MAX_CARDINAL",
    "MAX_FRACTION_DIGITS",
    "Case",
    "Gender",
    "cardinal",
    "compound_prefix",
    "decimal_words",
    "digit_group",
    "digits_one_by_one",
    "ordinal",
    "takes_singular",
]

MAX_CARDINAL: Final = 10**15 - 1
"""Largest whole number read as a number; longer digit runs are read digit by digit."""

MAX_FRACTION_DIGITS: Final = 4
"""Decimals with more fraction digits than this (ten-thousandths) are left as they are."""

_NUM2WORDS_ERRORS: Final = (
    ArithmeticError,
    IndexError,
    KeyError,
    RuntimeError,  # num2words raises its subclass for forms it does not know
    TypeError,
    ValueError,
)

_DIGIT_WORDS: Final = (
    "ноль",
    "один",
    "два",
    "три",
    "четыре",
    "пять",
    "шесть",
    "семь",
    "восемь",
    "девять",
)

_COMPOUND_PREFIXES: Final = {
    1: "одно",
    40: "сорока",
    90: "девяноста",
    100: "сто",
    1000: "тысяче",
}


class Case(enum.Enum):
    """The six Russian cases, with the codes num2words and pymorphy3 use for each."""

    NOMINATIVE = ("n", "nomn")
    GENITIVE = ("g", "gent")
    DATIVE = ("d", "datv")
    ACCUSATIVE = ("a", "accs")
    INSTRUMENTAL = ("i", "ablt")
    PREPOSITIONAL = ("p", "loct")

    @property
    def num2words_code(self) -> str:
        return self.value[0]

    @property
    def opencorpora_tag(self) -> str:
        return self.value[1]


class Gender(enum.Enum):
    """Grammatical gender of the counted noun (num2words codes)."""

    MASCULINE = "m"
    FEMININE = "f"
    NEUTER = "n"


def takes_singular(number: int) -> bool:
    """Whether a noun counted by ``number`` stays singular in an oblique case (21 рубль, 11 рублей)."""
    return number % 10 == 1 and number % 100 != 11


def cardinal(
    number: int,
    case: Case = Case.NOMINATIVE,
    gender: Gender = Gender.MASCULINE,
) -> str | None:
    """``number`` in words, e.g. ``cardinal(122)`` → «сто двадцать два»; negative → «минус …».

    The accusative is the inanimate one (= nominative), as for things counted
    in prompts.  Returns ``None`` past :data:`MAX_CARDINAL`.
    """
    if abs(number) > MAX_CARDINAL:
        return None
    words = _call(abs(number), "cardinal", case, gender, plural=False)
    if words is None:
        return None
    return f"минус {words}" if number < 0 else words


def ordinal(
    number: int,
    case: Case = Case.NOMINATIVE,
    gender: Gender = Gender.MASCULINE,
    *,
    plural: bool = False,
) -> str | None:
    """The ordinal of ``number`` (``ordinal(2026, Case.GENITIVE)`` → «две тысячи двадцать шестого»)."""
    if not 0 <= number <= MAX_CARDINAL:
        return None
    return _call(number, "ordinal", case, gender, plural=plural)


def decimal_words(integer_digits: str, fraction_digits: str) -> str | None:
    """A decimal fraction: ("3", "05") → «три целых пять сотых».

    Only up to :data:`MAX_FRACTION_DIGITS` fraction digits are read.  Counted
    nouns after a decimal take the genitive singular (2,5 процента).
    """
    if not integer_digits.isdigit() or not fraction_digits.isdigit():
        return None
    if len(fraction_digits) > MAX_FRACTION_DIGITS or len(integer_digits) > 15:
        return None
    try:
        value = decimal.Decimal(f"{integer_digits}.{fraction_digits}")
        words = num2words(value, lang="ru")
    except _NUM2WORDS_ERRORS:
        return None
    return words if isinstance(words, str) else None


def digit_group(digits: str) -> str | None:
    """A group of a phone number as Russians read it: "912" → «девятьсот двенадцать».

    Leading zeros are read one by one: "05" → «ноль пять», "00" → «ноль ноль»,
    "012" → «ноль двенадцать».
    """
    if not digits.isdigit() or not digits.isascii() or len(digits) > 4:
        return None
    significant = digits.lstrip("0")
    words = ["ноль"] * (len(digits) - len(significant))
    if significant:
        number_words = cardinal(int(significant))
        if number_words is None:
            return None
        words.append(number_words)
    return " ".join(words)


def digits_one_by_one(digits: str) -> str | None:
    """Every digit as a word: "007" → «ноль ноль семь» (long codes, numbers with leading zeros)."""
    if not digits.isdigit() or not digits.isascii():
        return None
    return " ".join(_DIGIT_WORDS[int(digit)] for digit in digits)


def compound_prefix(number: int) -> str | None:
    """The numeral stem of a compound adjective: 5 → «пяти» (пятилетний), 3 → «трёх», 1 → «одно»."""
    if number in _COMPOUND_PREFIXES:
        return _COMPOUND_PREFIXES[number]
    if not 2 <= number <= 99:
        return None
    words = cardinal(number, Case.GENITIVE)
    return None if words is None else words.replace(" ", "")


def _call(number: int, to: str, case: Case, gender: Gender, *, plural: bool) -> str | None:
    try:
        words = num2words(
            number,
            lang="ru",
            to=to,
            case=case.num2words_code,
            gender=gender.value,
            plural=plural,
            animate=False,
        )
    except _NUM2WORDS_ERRORS:
        return None
    return words if isinstance(words, str) else None
