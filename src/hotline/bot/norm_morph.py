"""Grammatical context for reading numbers: which case and gender a number takes.

A number is read in the case its preposition governs («до пяти», «к пяти»,
«о пяти») or, when the noun after it is in an unambiguous oblique case, in
that noun's case («в пяти километрах»); a number ending in 1 or 2 takes the
gender of the noun it counts («одна минута», «две недели»).  Counted nouns
agree with the number («1 рубль», «2 рубля», «5 рублей»).

pymorphy3 (OpenCorpora dictionary) does the morphology; this module holds one
:class:`Morphology` per normaliser (loading the dictionary takes a fraction of
a second, so it is done once, by whoever builds the normaliser).
"""

from __future__ import annotations

import re
from typing import Final

import pymorphy3  # type: ignore[import-untyped]

from hotline.bot.norm_numbers import Case, Gender, takes_singular

__all__ = [
    "PREPOSITION_CASES",
    "Morphology",
    "next_words",
    "preceding_word",
    "sentence_ends_at",
]

PREPOSITION_CASES: Final[dict[str, Case]] = {
    "без": Case.GENITIVE,
    "для": Case.GENITIVE,
    "до": Case.GENITIVE,
    "из": Case.GENITIVE,
    "от": Case.GENITIVE,
    "около": Case.GENITIVE,
    "после": Case.GENITIVE,
    "кроме": Case.GENITIVE,
    "у": Case.GENITIVE,
    "с": Case.GENITIVE,
    "со": Case.GENITIVE,
    "более": Case.GENITIVE,
    "менее": Case.GENITIVE,
    "больше": Case.GENITIVE,
    "меньше": Case.GENITIVE,
    "свыше": Case.GENITIVE,
    "порядка": Case.GENITIVE,
    "вместо": Case.GENITIVE,
    "среди": Case.GENITIVE,
    "в течение": Case.GENITIVE,
    "позднее": Case.GENITIVE,
    "позже": Case.GENITIVE,
    "ранее": Case.GENITIVE,
    "раньше": Case.GENITIVE,
    "начиная с": Case.GENITIVE,
    "к": Case.DATIVE,
    "ко": Case.DATIVE,
    "согласно": Case.DATIVE,
    "благодаря": Case.DATIVE,
    "в": Case.ACCUSATIVE,
    "во": Case.ACCUSATIVE,
    "на": Case.ACCUSATIVE,
    "за": Case.ACCUSATIVE,
    "через": Case.ACCUSATIVE,
    "про": Case.ACCUSATIVE,
    "по": Case.ACCUSATIVE,
    "между": Case.INSTRUMENTAL,
    "перед": Case.INSTRUMENTAL,
    "над": Case.INSTRUMENTAL,
    "о": Case.PREPOSITIONAL,
    "об": Case.PREPOSITIONAL,
    "при": Case.PREPOSITIONAL,
}
"""The case a preposition (or comparative) most often governs before a number."""

_OBLIQUE_TAGS: Final = {
    "datv": Case.DATIVE,
    "ablt": Case.INSTRUMENTAL,
    "loct": Case.PREPOSITIONAL,
    "loc2": Case.PREPOSITIONAL,
}
_GENDER_TAGS: Final = {"masc": Gender.MASCULINE, "femn": Gender.FEMININE, "neut": Gender.NEUTER}
_MIN_SCORE: Final = 0.05
_ADJECTIVE_SCORE: Final = 0.1
_MAX_WORD_CHARS: Final = 40
_CONTEXT_CHARS: Final = 60
_PRECEDING_RE: Final = re.compile(r"([А-Яа-яЁё]+)(?:\s+([А-Яа-яЁё]+))?\s*$")
_SENTENCE_END_RE: Final = re.compile(r"\s*$|\s+[А-ЯЁA-Z«\"]")
_NEXT_WORDS_RE: Final = re.compile(r"[^\S\n]*([А-Яа-яЁё]+)(?:[^\S\n]+([А-Яа-яЁё]+))?")


def sentence_ends_at(text: str, position: int) -> bool:
    """Whether a period consumed just before ``position`` also closed the sentence.

    True at the end of the text or before a capital letter: «до 2026 г. Затем …».
    """
    return _SENTENCE_END_RE.match(text, position) is not None


def preceding_word(text: str, position: int) -> str | None:
    """The word right before ``position`` (lower case), or a two-word preposition.

    Punctuation between the word and ``position`` breaks the link: after
    «звоните, 5» there is no governing word.
    """
    window = text[max(0, position - _CONTEXT_CHARS) : position]
    match = _PRECEDING_RE.search(window)
    if match is None:
        return None
    first, second = match.group(1).lower(), match.group(2)
    if second is not None:
        pair = f"{first} {second.lower()}"
        if pair in PREPOSITION_CASES:
            return pair
        return second.lower()
    return first


def next_words(text: str, position: int) -> tuple[str, ...]:
    """Up to two Cyrillic words right after ``position`` on the same line (lower case)."""
    match = _NEXT_WORDS_RE.match(text, position, min(len(text), position + _CONTEXT_CHARS))
    if match is None:
        return ()
    return tuple(word.lower() for word in match.groups() if word is not None)


class Morphology:
    """pymorphy3 behind the few questions the normaliser asks."""

    __slots__ = ("_analyzer",)

    def __init__(self) -> None:
        self._analyzer = pymorphy3.MorphAnalyzer(lang="ru")

    def case_after(self, preceding: str | None, following: tuple[str, ...]) -> Case:
        """The case of a number between ``preceding`` and the words ``following`` it."""
        for word in following[:1]:
            noun_case = self._oblique_case(word)
            if noun_case is not None:
                return noun_case
        if preceding is not None:
            return PREPOSITION_CASES.get(preceding, Case.NOMINATIVE)
        return Case.NOMINATIVE

    def gender_of(self, following: tuple[str, ...]) -> Gender:
        """Gender of the counted noun: the first word, or the second after a plural adjective."""
        for index, word in enumerate(following[:2]):
            parses = self._parses(word)
            if not parses:
                return Gender.MASCULINE
            if index == 0 and len(following) > 1 and self._may_be_adjective(parses):
                continue
            best = parses[0]
            if best.tag.POS not in ("NOUN", "ADJF", "PRTF"):
                return Gender.MASCULINE
            gender = _GENDER_TAGS.get(str(best.tag.gender))
            if gender is not None:
                return gender
        return Gender.MASCULINE

    def agree(self, lemma: str, number: int, case: Case) -> str:
        """``lemma`` counted by the whole ``number`` in ``case``: («рубль», 5, NOM) → «рублей»."""
        parse = self._noun(lemma)
        if parse is None:
            return lemma
        if case is Case.NOMINATIVE or (case is Case.ACCUSATIVE and not takes_singular(number)):
            agreed = parse.make_agree_with_number(number)
            if agreed is None:
                return lemma
            word = str(agreed.word)
            return _count_form(lemma, word, plural_genitive=not takes_singular(number))
        grammemes = {case.opencorpora_tag, "sing" if takes_singular(number) else "plur"}
        return self._inflect(parse, grammemes, lemma)

    def genitive_singular(self, lemma: str) -> str:
        """«процент» → «процента» (after a decimal: 2,5 процента)."""
        parse = self._noun(lemma)
        return lemma if parse is None else self._inflect(parse, {"gent", "sing"}, lemma)

    def genitive_plural(self, lemma: str) -> str:
        """«рубль» → «рублей» (after тысяча, миллион: 5 тыс. руб.)."""
        parse = self._noun(lemma)
        if parse is None:
            return lemma
        return _count_form(lemma, self._inflect(parse, {"gent", "plur"}, lemma), True)

    def inflect(self, lemma: str, case: Case, *, plural: bool = False) -> str:
        """A noun in ``case``: («улица», PREPOSITIONAL) → «улице»; unknown words unchanged."""
        parse = self._noun(lemma)
        if parse is None:
            return lemma
        return self._inflect(parse, {case.opencorpora_tag, "plur" if plural else "sing"}, lemma)

    def is_plain_word(self, word: str) -> bool:
        """A dictionary word that is not an abbreviation or a name (НЕТ, ВСЕ written in capitals)."""
        parses = self._parses(word)
        if not parses:
            return False
        best = parses[0]
        if not best.is_known:
            return False
        return not ({"Abbr", "Name", "Surn", "Patr", "Geox", "Orgn", "Init"} & best.tag.grammemes)

    @staticmethod
    def _may_be_adjective(parses: list[pymorphy3.analyzer.Parse]) -> bool:
        return any(p.tag.POS in ("ADJF", "PRTF") and p.score >= _ADJECTIVE_SCORE for p in parses)

    def _oblique_case(self, word: str) -> Case | None:
        parses = [p for p in self._parses(word) if p.score >= _MIN_SCORE]
        if not parses or any(p.tag.POS not in ("NOUN", "ADJF", "PRTF") for p in parses):
            return None
        cases = {_OBLIQUE_TAGS.get(str(p.tag.case)) for p in parses}
        if len(cases) != 1:
            return None
        return cases.pop()

    def _noun(self, lemma: str) -> pymorphy3.analyzer.Parse | None:
        for parse in self._parses(lemma):
            if parse.tag.POS == "NOUN" and parse.normal_form == lemma:
                return parse
        return None

    def _parses(self, word: str) -> list[pymorphy3.analyzer.Parse]:
        if not word or len(word) > _MAX_WORD_CHARS:
            return []
        return list(self._analyzer.parse(word))

    @staticmethod
    def _inflect(parse: pymorphy3.analyzer.Parse, grammemes: set[str], fallback: str) -> str:
        inflected = parse.inflect(grammemes)
        return fallback if inflected is None else str(inflected.word)


def _count_form(lemma: str, word: str, plural_genitive: bool) -> str:
    """Counting forms the dictionary gets wrong for numbers: «пять человек», not «людей»."""
    if lemma == "человек" and plural_genitive:
        return "человек"
    return word
