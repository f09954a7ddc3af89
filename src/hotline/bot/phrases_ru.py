"""The voice assistant's fixed Russian phrases, and the words it listens for (L1, no I/O).

The assistant says only two kinds of text: approved standard answers (R12b,
the knowledge base) and the phrases of :class:`Phrase` below.  It never builds
free text; every phrase here is rendered once and cached
(:mod:`hotline.bot.prompt_cache`), so they start playing at once.

:func:`classify_reply` reads a recognised reply to «Ответ помог?»;
:func:`asks_for_operator` spots a caller asking for a person at any moment.
Both work on lower-cased words (``ё`` folded to ``е``), so that a transcript
from any recogniser compares the same way.
"""

from __future__ import annotations

import enum
import re
from typing import Final

__all__ = [
    "CONFIRMATION_GRAMMAR",
    "MAX_CLASSIFIED_CHARS",
    "Phrase",
    "Reply",
    "asks_for_operator",
    "classify_reply",
    "words_of",
]


class Phrase(enum.StrEnum):
    """Everything the assistant says besides standard answers."""

    GREETING = (
        "Здравствуйте! Я голосовой помощник линии 122. Задайте, пожалуйста, ваш вопрос. "
        "Для соединения с оператором скажите «оператор» или нажмите 0."
    )
    ASK_AGAIN = "Я вас не слышу. Пожалуйста, задайте ваш вопрос."
    REPHRASE = "Извините, я не понял вопрос. Пожалуйста, сформулируйте его по-другому."
    HELPED = (
        "Ответ помог? Скажите «да» или нажмите 1. "
        "Для соединения с оператором скажите «оператор» или нажмите 0."
    )
    HELPED_AGAIN = (
        "Извините, я не расслышал. Ответ помог? Скажите «да» или нажмите 1. "
        "Для соединения с оператором скажите «оператор» или нажмите 0."
    )
    ANOTHER_QUESTION = (
        "Рад, что смог помочь. Если у вас есть другой вопрос, задайте его. Если нет, до свидания."
    )
    GOODBYE = "Спасибо за звонок. До свидания."
    HANDOVER = "Соединяю вас с оператором. Пожалуйста, оставайтесь на линии."
    UNAVAILABLE = "Голосовой помощник сейчас недоступен. Соединяю вас с оператором."


class Reply(enum.Enum):
    """What a caller answered to «Ответ помог?»."""

    YES = "yes"
    NO = "no"
    OPERATOR = "operator"
    UNCLEAR = "unclear"


CONFIRMATION_GRAMMAR: Final[tuple[str, ...]] = (
    "да",
    "да помог",
    "помог",
    "помогло",
    "спасибо",
    "нет",
    "не помог",
    "не помогло",
    "оператор",
    "соедините с оператором",
    "[unk]",
)
"""Phrases a recogniser in grammar mode listens for after «Ответ помог?» (Vosk grammar)."""

MAX_CLASSIFIED_CHARS: Final = 2000
"""Longer transcripts are cut before being read (a recogniser never returns more)."""

_WORD_RE: Final = re.compile(r"[0-9a-zа-я]+")
_YES: Final = frozenset({"да", "помог", "помогло", "помогли", "спасибо", "конечно", "ага", "угу"})
_NO: Final = frozenset({"нет", "неа"})
_NOT_HELPED: Final = frozenset({"помог", "помогло", "помогли"})
_OPERATOR_STEMS: Final = ("оператор",)


def words_of(text: str) -> tuple[str, ...]:
    """Lower-case words of ``text`` (``ё`` as ``е``; punctuation and ``[unk]`` markers dropped)."""
    folded = text[:MAX_CLASSIFIED_CHARS].lower().replace("ё", "е").replace("[unk]", " ")
    return tuple(_WORD_RE.findall(folded))


def asks_for_operator(text: str) -> bool:
    """Whether the caller asked for an operator (any form of «оператор»)."""
    return any(word.startswith(_OPERATOR_STEMS) for word in words_of(text))


def classify_reply(text: str) -> Reply:
    """Read a reply to «Ответ помог?»: operator first, then a «не помог»/«нет», then a «да»."""
    words = words_of(text)
    if any(word.startswith(_OPERATOR_STEMS) for word in words):
        return Reply.OPERATOR
    if any(word in _NO for word in words):
        return Reply.NO
    for before, word in zip(("", *words), words, strict=False):
        if before == "не" and word in _NOT_HELPED:
            return Reply.NO
    if any(word in _YES for word in words):
        return Reply.YES
    return Reply.UNCLEAR
