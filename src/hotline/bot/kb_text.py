"""Russian text for answer matching: words, lemmas and character n-grams (pure).

A recognised question is lower-cased (``ё`` read as ``е``), split into words,
and every word is reduced to its dictionary form by pymorphy3 (OpenCorpora
dictionary; unknown words get the analyser's guess).  Function words
(prepositions, conjunctions, particles, interjections, pronouns) and the
fillers of spoken questions («здравствуйте», «скажите», «пожалуйста», «ну»,
«вот», ...) carry no meaning for matching and are dropped.

Recognition errors change letters inside words and so change lemmas; the
character n-grams of the words (with word boundaries marked) survive most
single-letter errors, so the matcher scores those as well.

Lemmas are cached per :class:`Lemmatizer` (bounded), since the same words
come back in every question.
"""

from __future__ import annotations

import re
from typing import Final

import pymorphy3  # type: ignore[import-untyped]

__all__ = [
    "MAX_TEXT_CHARS",
    "MAX_WORDS",
    "Lemmatizer",
    "char_ngrams",
    "words",
]

MAX_TEXT_CHARS: Final = 2000
"""Longer input is cut: a spoken question is far shorter."""
MAX_WORDS: Final = 200
MAX_CACHE: Final = 50_000
_WORD_RE: Final = re.compile(r"[a-zа-я0-9]+")
_SKIP_POS: Final = frozenset({"PREP", "CONJ", "PRCL", "INTJ", "NPRO"})
STOP_LEMMAS: Final = frozenset(
    {
        # fillers and politeness of spoken questions
        "алло",
        "здравствовать",
        "здравствуйте",
        "добрый",
        "день",
        "утро",
        "вечер",
        "пожалуйста",
        "спасибо",
        "сказать",
        "подсказать",
        "девушка",
        "ну",
        "вот",
        "вообще",
        "это",
        "этот",
        "тот",
        "такой",
        "какой",
        "там",
        "тут",
        "то",
        "есть",
        "быть",
        "мочь",
        "хотеть",
        "знать",
        "узнать",
        "слышать",
        "говорить",
        "интересовать",
        "извинить",
        "вопрос",
        "весь",
        "свой",
        "наш",
        "ваш",
        "мой",
        "очень",
        "уже",
        "еще",
        "как",
        "где",
        "куда",
        "когда",
        "что",
        "кто",
        "сейчас",
        "просто",
    }
)


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (``ё`` as ``е``), at most :data:`MAX_WORDS`."""
    lowered = text[:MAX_TEXT_CHARS].lower().replace("ё", "е")
    return _WORD_RE.findall(lowered)[:MAX_WORDS]


def char_ngrams(tokens: list[str], n: int = 3) -> list[str]:
    """Character ``n``-grams of each word, the word's ends marked by ``_``."""
    grams: list[str] = []
    for token in tokens:
        padded = f"_{token}_"
        if len(padded) <= n:
            grams.append(padded)
            continue
        grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


class Lemmatizer:
    """Words to content lemmas with pymorphy3, cached."""

    def __init__(self) -> None:
        self._morph = pymorphy3.MorphAnalyzer()
        self._cache: dict[str, str | None] = {}

    def lemma(self, word: str) -> str | None:
        """The dictionary form of ``word``, or None for a function word or filler."""
        cached = self._cache.get(word, "")
        if cached != "":
            return cached
        result = self._analyse(word)
        if len(self._cache) >= MAX_CACHE:
            self._cache.clear()
        self._cache[word] = result
        return result

    def _analyse(self, word: str) -> str | None:
        if word.isdigit():
            return word
        parses = self._morph.parse(word)
        if not parses:
            return word
        best = parses[0]
        if best.tag.POS in _SKIP_POS:
            return None
        lemma = str(best.normal_form).replace("ё", "е")
        if lemma in STOP_LEMMAS or word in STOP_LEMMAS:
            return None
        return lemma

    def is_known(self, word: str) -> bool:
        """True when the dictionary holds ``word`` (not a guess from its ending)."""
        return bool(self._morph.word_is_known(word))

    def lemmas(self, text: str) -> list[str]:
        """Content lemmas of ``text`` in order (repeats kept: BM25 counts them)."""
        out: list[str] = []
        for word in words(text):
            lemma = self.lemma(word)
            if lemma is not None:
                out.append(lemma)
        return out
