"""Abbreviations, acronyms and weekdays read out in full.

Three kinds of shortening are common in standard answers and prompts:

* phrases with periods (т.е., т.к., и т.д.) → fixed words; one that can close a
  sentence (и т.д.) keeps the period when the sentence ends there;
* nouns of addresses and legal references (ул., д. 5, ст. 12) → the noun, in
  the case the preposition before it governs («на ул. Ленина» → «на улице
  Ленина»); some are only read so before a number or a capitalised name,
  because alone they mean something else (д., п., ст., г.);
* acronyms in capitals: a table of how each is said (МФЦ → «эм эф цэ», СНИЛС
  → «снилс»); an unknown one is spelled by Russian letter names, unless it is
  an ordinary word written in capitals for emphasis (НЕТ).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from hotline.bot.norm_morph import Morphology, preceding_word, sentence_ends_at
from hotline.bot.norm_numbers import Case

__all__ = [
    "ACRONYMS",
    "LETTER_NAMES",
    "NOUN_PREPOSITION_CASES",
    "Abbreviation",
    "AbbreviationExpander",
    "AbbreviationKind",
    "default_abbreviations",
    "expand_acronyms",
    "expand_weekdays",
    "spell_letters",
]

LETTER_NAMES: Final = {
    "А": "а",
    "Б": "бэ",
    "В": "вэ",
    "Г": "гэ",
    "Д": "дэ",
    "Е": "е",
    "Ё": "ё",
    "Ж": "жэ",
    "З": "зэ",
    "И": "и",
    "Й": "и краткое",
    "К": "ка",
    "Л": "эл",
    "М": "эм",
    "Н": "эн",
    "О": "о",
    "П": "пэ",
    "Р": "эр",
    "С": "эс",
    "Т": "тэ",
    "У": "у",
    "Ф": "эф",
    "Х": "ха",
    "Ц": "цэ",
    "Ч": "чэ",
    "Ш": "ша",
    "Щ": "ща",
    "Ъ": "твёрдый знак",
    "Ы": "ы",
    "Ь": "мягкий знак",
    "Э": "э",
    "Ю": "ю",
    "Я": "я",
}

ACRONYMS: Final = {
    # read as words
    "СНИЛС": "снилс",
    "ЗАГС": "загс",
    "ВУЗ": "вуз",
    "ОСАГО": "осаго",
    "КАСКО": "каско",
    "ГОСТ": "гост",
    "МИД": "мид",
    "ОМОН": "омон",
    "СИЗО": "сизо",
    "ЖЭК": "жэк",
    "ДЭЗ": "дэз",
    "ФАП": "фап",
    "ЕСИА": "есиа",
    # spelled out, with a pronunciation that differs from plain letter names
    "ЕГЭ": "е гэ э",
    "ОГЭ": "о гэ э",
    # Latin ones met in answers
    "SMS": "эс эм эс",
    "PDF": "пэ дэ эф",
    "QR": "кью ар",
    "ID": "ай ди",
    "IT": "ай ти",
}
"""How acronyms are said; one not listed is spelled letter by letter (МФЦ → «эм эф цэ»)."""

NOUN_PREPOSITION_CASES: Final[dict[str, Case]] = {
    "в": Case.PREPOSITIONAL,
    "во": Case.PREPOSITIONAL,
    "на": Case.PREPOSITIONAL,
    "о": Case.PREPOSITIONAL,
    "об": Case.PREPOSITIONAL,
    "при": Case.PREPOSITIONAL,
    "до": Case.GENITIVE,
    "от": Case.GENITIVE,
    "у": Case.GENITIVE,
    "около": Case.GENITIVE,
    "из": Case.GENITIVE,
    "с": Case.GENITIVE,
    "со": Case.GENITIVE,
    "для": Case.GENITIVE,
    "без": Case.GENITIVE,
    "возле": Case.GENITIVE,
    "напротив": Case.GENITIVE,
    "к": Case.DATIVE,
    "ко": Case.DATIVE,
    "по": Case.DATIVE,
    "согласно": Case.DATIVE,
    "за": Case.INSTRUMENTAL,
    "перед": Case.INSTRUMENTAL,
    "над": Case.INSTRUMENTAL,
    "между": Case.INSTRUMENTAL,
}
"""The case of a place or document noun after a preposition («на улице», «по статье»)."""

_SPELL_MAX_CHARS: Final = 5


class AbbreviationKind(enum.Enum):
    """How an abbreviation is read and when."""

    PHRASE = "phrase"
    """Fixed words, anywhere (т.е. → то есть)."""
    NOUN = "noun"
    """A noun inflected after a preposition (ул. → улица / улице)."""
    NOUN_BEFORE_NUMBER = "noun_before_number"
    """A noun only before a number (д. 5 → дом 5)."""
    NOUN_BEFORE_NAME = "noun_before_name"
    """A noun only before a capitalised name (г. Москва → город Москва)."""


@dataclass(frozen=True, slots=True)
class Abbreviation:
    """One written shortening and its reading.

    ``written`` uses periods and hyphens as written (spaces after the periods
    are optional in the text); ``ends_sentence`` keeps the period when the
    sentence ends on it (… и т.д. Далее …).
    """

    written: str
    reading: str
    kind: AbbreviationKind
    ends_sentence: bool = False


_DEFAULT_ABBREVIATIONS: Final = (
    Abbreviation("т.е.", "то есть", AbbreviationKind.PHRASE),
    Abbreviation("т.к.", "так как", AbbreviationKind.PHRASE),
    Abbreviation("т.н.", "так называемый", AbbreviationKind.PHRASE),
    Abbreviation("т.о.", "таким образом", AbbreviationKind.PHRASE),
    Abbreviation("т.ч.", "том числе", AbbreviationKind.PHRASE),
    Abbreviation("т.д.", "так далее", AbbreviationKind.PHRASE, ends_sentence=True),
    Abbreviation("т.п.", "тому подобное", AbbreviationKind.PHRASE, ends_sentence=True),
    Abbreviation("и др.", "и другие", AbbreviationKind.PHRASE, ends_sentence=True),
    Abbreviation("и пр.", "и прочее", AbbreviationKind.PHRASE, ends_sentence=True),
    Abbreviation("напр.", "например", AbbreviationKind.PHRASE),
    Abbreviation("см.", "смотрите", AbbreviationKind.PHRASE),
    Abbreviation("прим.", "примечание", AbbreviationKind.PHRASE),
    Abbreviation("тел.", "телефон", AbbreviationKind.PHRASE),
    Abbreviation("им.", "имени", AbbreviationKind.PHRASE),
    Abbreviation("зам.", "заместитель", AbbreviationKind.PHRASE),
    Abbreviation("ул.", "улица", AbbreviationKind.NOUN),
    Abbreviation("просп.", "проспект", AbbreviationKind.NOUN),
    Abbreviation("пр-т", "проспект", AbbreviationKind.NOUN),
    Abbreviation("пер.", "переулок", AbbreviationKind.NOUN),
    Abbreviation("пл.", "площадь", AbbreviationKind.NOUN),
    Abbreviation("наб.", "набережная", AbbreviationKind.NOUN),
    Abbreviation("б-р", "бульвар", AbbreviationKind.NOUN),
    Abbreviation("обл.", "область", AbbreviationKind.NOUN),
    Abbreviation("р-н", "район", AbbreviationKind.NOUN),
    Abbreviation("мкр.", "микрорайон", AbbreviationKind.NOUN),
    Abbreviation("мкр-н", "микрорайон", AbbreviationKind.NOUN),
    Abbreviation("д.", "дом", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("кв.", "квартира", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("корп.", "корпус", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("стр.", "строение", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("каб.", "кабинет", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("эт.", "этаж", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("оф.", "офис", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("пом.", "помещение", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("ст.", "статья", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("ч.", "часть", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("п.", "пункт", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("пп.", "подпункт", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("гл.", "глава", AbbreviationKind.NOUN_BEFORE_NUMBER),
    Abbreviation("г.", "город", AbbreviationKind.NOUN_BEFORE_NAME),
    Abbreviation("с.", "село", AbbreviationKind.NOUN_BEFORE_NAME),
    Abbreviation("пос.", "посёлок", AbbreviationKind.NOUN_BEFORE_NAME),
    Abbreviation("п.", "посёлок", AbbreviationKind.NOUN_BEFORE_NAME),
)

_WEEKDAYS: Final = {
    "пн": "понедельник",
    "вт": "вторник",
    "ср": "среда",
    "чт": "четверг",
    "пт": "пятница",
    "сб": "суббота",
    "вс": "воскресенье",
}
_WEEKDAY_ALT: Final = "пн|вт|ср|чт|пт|сб|вс"
_WEEKDAY_RANGE_RE: Final = re.compile(
    rf"(?<![А-Яа-яЁё])({_WEEKDAY_ALT})\.?[^\S\n]?[–—-][^\S\n]?({_WEEKDAY_ALT})\.?(?![А-Яа-яЁё])",
    re.IGNORECASE,
)
_WEEKDAY_SINGLE_RE: Final = re.compile(
    r"(?<![А-Яа-яЁё])(Пн|Вт|Ср|Чт|Пт|Сб|Вс)\.?(?=[\s,:;]|$)",
)
_ACRONYM_RE: Final = re.compile(r"(?<![\w-])([A-Z]{2,6}|[А-ЯЁ]{2,6})([а-яё]{1,3})?(?![\w])")
_CAPS_WORD_RE: Final = re.compile(r"(?<![\w-])[А-ЯЁ]{7,}(?![\w])")
_NUMBER_AHEAD_RE: Final = re.compile(r"[^\S\n]?\d")
_NAME_AHEAD_RE: Final = re.compile(r"[^\S\n]?[А-ЯЁ][а-яё]")
_DIGIT_BEFORE_RE: Final = re.compile(r"\d[^\S\n]?$")


def default_abbreviations() -> tuple[Abbreviation, ...]:
    """The built-in table (a copy an administrator's additions can extend)."""
    return _DEFAULT_ABBREVIATIONS


def spell_letters(word: str) -> str:
    """Capital Cyrillic letters by name: «МФЦ» → «эм эф цэ»; other characters kept."""
    return " ".join(LETTER_NAMES.get(letter, letter) for letter in word)


def _pattern(written: str) -> str:
    parts = re.split(r"([.\- ])", written)
    pieces: list[str] = []
    for part in parts:
        if part == ".":
            pieces.append(r"\.[^\S\n]?")
        elif part == " ":
            pieces.append(r"[^\S\n]+")
        elif part:
            pieces.append(re.escape(part))
    pattern = "".join(pieces)
    if pattern.endswith(r"[^\S\n]?"):
        pattern = pattern[: -len(r"[^\S\n]?")]
    return rf"(?<![\w.\-]){pattern}(?![\w\-])"


class AbbreviationExpander:
    """The abbreviation table compiled once into one regular expression."""

    __slots__ = ("_by_key", "_regex")

    def __init__(self, entries: tuple[Abbreviation, ...] = _DEFAULT_ABBREVIATIONS) -> None:
        grouped: dict[str, list[Abbreviation]] = {}
        for entry in entries:
            grouped.setdefault(_canonical(entry.written), []).append(entry)
        self._by_key = {key: tuple(value) for key, value in grouped.items()}
        writtens = sorted({group[0].written for group in grouped.values()}, key=len, reverse=True)
        self._regex = re.compile("|".join(_pattern(w) for w in writtens), re.IGNORECASE)

    def expand(self, text: str, morphology: Morphology) -> str:
        """Replace every abbreviation of the table by its reading; others stay as written."""

        def replace(match: re.Match[str]) -> str:
            written = match.group(0)
            for entry in self._by_key.get(_canonical(written), ()):
                reading = _reading(entry, match, morphology)
                if reading is not None:
                    return _match_capital(written, reading)
            return written

        return self._regex.sub(replace, text)


def _canonical(written: str) -> str:
    return re.sub(r"\s+", "", written).lower()


def _reading(entry: Abbreviation, match: re.Match[str], morphology: Morphology) -> str | None:
    text, end = match.string, match.end()
    if entry.kind is AbbreviationKind.PHRASE:
        if _DIGIT_BEFORE_RE.search(text, max(0, match.start() - 2), match.start()):
            return None
        if entry.ends_sentence and sentence_ends_at(text, end):
            return f"{entry.reading}."
        return entry.reading
    if entry.kind is AbbreviationKind.NOUN_BEFORE_NUMBER and not _NUMBER_AHEAD_RE.match(text, end):
        return None
    if entry.kind is AbbreviationKind.NOUN_BEFORE_NAME and (
        not _NAME_AHEAD_RE.match(text, end) or not match.group(0)[:1].islower()
    ):
        return None
    case = NOUN_PREPOSITION_CASES.get(preceding_word(text, match.start()) or "", Case.NOMINATIVE)
    noun = entry.reading if case is Case.NOMINATIVE else morphology.inflect(entry.reading, case)
    spacer = "" if text[end : end + 1].isspace() or end >= len(text) else " "
    return noun + spacer


def _match_capital(written: str, reading: str) -> str:
    if written[:1].isupper() and reading:
        return reading[0].upper() + reading[1:]
    return reading


def _at_sentence_start(text: str, position: int) -> bool:
    """Whether only spaces stand between ``position`` and the text's start or a sentence end."""
    start = max(0, position - 16)
    before = text[start:position].rstrip()
    if not before:
        return start == 0
    return before[-1] in ".!?…"


def expand_weekdays(text: str) -> str:
    """«Пн–Пт» → «с понедельника по пятницу»; a capitalised «Сб» alone → «суббота»."""

    def replace_range(match: re.Match[str]) -> str:
        first = _WEEKDAYS[match.group(1).lower()]
        last = _WEEKDAYS[match.group(2).lower()]
        preposition = "С" if _at_sentence_start(match.string, match.start()) else "с"
        return f"{preposition} {_WEEKDAY_GENITIVE[first]} по {_WEEKDAY_ACCUSATIVE[last]}"

    def replace_single(match: re.Match[str]) -> str:
        name = _WEEKDAYS[match.group(1).lower()]
        if _at_sentence_start(match.string, match.start()):
            return name[0].upper() + name[1:]
        return name

    return _WEEKDAY_SINGLE_RE.sub(replace_single, _WEEKDAY_RANGE_RE.sub(replace_range, text))


_WEEKDAY_GENITIVE: Final = {
    "понедельник": "понедельника",
    "вторник": "вторника",
    "среда": "среды",
    "четверг": "четверга",
    "пятница": "пятницы",
    "суббота": "субботы",
    "воскресенье": "воскресенья",
}
_WEEKDAY_ACCUSATIVE: Final = {
    "понедельник": "понедельник",
    "вторник": "вторник",
    "среда": "среду",
    "четверг": "четверг",
    "пятница": "пятницу",
    "суббота": "субботу",
    "воскресенье": "воскресенье",
}


def expand_acronyms(
    text: str, morphology: Morphology, acronyms: Mapping[str, str] | None = None
) -> str:
    """Say acronyms: the table first, then ordinary words in capitals, then letter names.

    A word acronym may carry a lower-case ending (СНИЛСа → «снилса»).  Words
    in capitals longer than an acronym are lower-cased (emphasis, not letters).
    """
    table = ACRONYMS if acronyms is None else {**ACRONYMS, **acronyms}

    def replace(match: re.Match[str]) -> str:
        letters, ending = match.group(1), match.group(2) or ""
        known = table.get(letters)
        if known is not None:
            if ending and " " in known:
                return match.group(0)
            return known + ending
        if ending or not _is_cyrillic(letters):
            return match.group(0)
        if morphology.is_plain_word(letters.lower()):
            return letters.lower()
        if len(letters) > _SPELL_MAX_CHARS:
            return letters.lower()
        return spell_letters(letters)

    expanded = _ACRONYM_RE.sub(replace, text)
    return _CAPS_WORD_RE.sub(lambda match: match.group(0).lower(), expanded)


def _is_cyrillic(word: str) -> bool:
    return all("А" <= letter <= "я" or letter in "Ёё" for letter in word)
