"""Number words (num2words behind a typed layer) and the morphology of counted nouns."""

from __future__ import annotations

import pytest

from hotline.bot.norm_morph import Morphology, next_words, preceding_word
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
    takes_singular,
)


@pytest.fixture(scope="module")
def morphology() -> Morphology:
    return Morphology()


@pytest.mark.parametrize(
    ("number", "case", "gender", "words"),
    [
        (122, Case.NOMINATIVE, Gender.MASCULINE, "сто двадцать два"),
        (2, Case.NOMINATIVE, Gender.FEMININE, "две"),
        (1, Case.NOMINATIVE, Gender.NEUTER, "одно"),
        (1, Case.ACCUSATIVE, Gender.FEMININE, "одну"),
        (2, Case.ACCUSATIVE, Gender.MASCULINE, "два"),
        (5, Case.GENITIVE, Gender.MASCULINE, "пяти"),
        (3, Case.INSTRUMENTAL, Gender.MASCULINE, "тремя"),
        (40, Case.GENITIVE, Gender.MASCULINE, "сорока"),
        (5000, Case.GENITIVE, Gender.MASCULINE, "пяти тысяч"),
        (-7, Case.NOMINATIVE, Gender.MASCULINE, "минус семь"),
    ],
)
def test_cardinal(number: int, case: Case, gender: Gender, words: str) -> None:
    assert cardinal(number, case, gender) == words


@pytest.mark.parametrize(
    ("number", "case", "gender", "plural", "words"),
    [
        (1, Case.NOMINATIVE, Gender.NEUTER, False, "первое"),
        (2026, Case.GENITIVE, Gender.MASCULINE, False, "две тысячи двадцать шестого"),
        (2026, Case.PREPOSITIONAL, Gender.MASCULINE, False, "две тысячи двадцать шестом"),
        (3, Case.NOMINATIVE, Gender.FEMININE, False, "третья"),
        (90, Case.GENITIVE, Gender.MASCULINE, True, "девяностых"),
    ],
)
def test_ordinal(number: int, case: Case, gender: Gender, plural: bool, words: str) -> None:
    assert ordinal(number, case, gender, plural=plural) == words


def test_limits_give_none_instead_of_raising() -> None:
    assert cardinal(MAX_CARDINAL + 1) is None
    assert ordinal(-1) is None
    assert decimal_words("1", "12345") is None
    assert decimal_words("x", "1") is None
    assert digit_group("12345") is None
    assert digit_group("١٢") is None
    assert digits_one_by_one("12a") is None
    assert compound_prefix(1234) is None


@pytest.mark.parametrize(
    ("digits", "words"),
    [
        ("912", "девятьсот двенадцать"),
        ("05", "ноль пять"),
        ("00", "ноль ноль"),
        ("012", "ноль двенадцать"),
    ],
)
def test_phone_groups(digits: str, words: str) -> None:
    assert digit_group(digits) == words


def test_decimals_and_prefixes() -> None:
    assert decimal_words("3", "05") == "три целых пять сотых"
    assert compound_prefix(3) == "трёх"
    assert compound_prefix(25) == "двадцатипяти"
    assert compound_prefix(100) == "сто"
    assert [takes_singular(n) for n in (1, 11, 21, 111, 2)] == [True, False, True, False, False]


@pytest.mark.parametrize(
    ("lemma", "number", "case", "form"),
    [
        ("рубль", 1, Case.NOMINATIVE, "рубль"),
        ("рубль", 2, Case.NOMINATIVE, "рубля"),
        ("рубль", 5, Case.NOMINATIVE, "рублей"),
        ("рубль", 21, Case.GENITIVE, "рубля"),
        ("рубль", 5, Case.DATIVE, "рублям"),
        ("минута", 1, Case.ACCUSATIVE, "минуту"),
        ("человек", 5, Case.NOMINATIVE, "человек"),
        ("xyz", 5, Case.NOMINATIVE, "xyz"),
    ],
)
def test_counted_nouns_agree(
    morphology: Morphology, lemma: str, number: int, case: Case, form: str
) -> None:
    assert morphology.agree(lemma, number, case) == form


def test_context_words() -> None:
    text = "Срок не более 5 рабочих дней."
    position = text.index("5")
    assert preceding_word(text, position) == "более"
    assert next_words(text, position + 1) == ("рабочих", "дней")
    assert preceding_word("Звоните, 5", 9) is None


def test_case_and_gender_from_context(morphology: Morphology) -> None:
    assert morphology.case_after("в", ("километрах",)) is Case.PREPOSITIONAL
    assert morphology.case_after("до", ("дней",)) is Case.GENITIVE
    assert morphology.case_after(None, ("дней",)) is Case.NOMINATIVE
    assert morphology.gender_of(("минуты",)) is Gender.FEMININE
    assert morphology.gender_of(("рабочие", "недели")) is Gender.FEMININE
    assert morphology.gender_of(("окна",)) is Gender.NEUTER
    assert morphology.gender_of(("быстро",)) is Gender.MASCULINE
