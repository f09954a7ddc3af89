"""The assistant's Russian phrase catalogue and its reading of replies."""

from __future__ import annotations

import pytest

from hotline.bot.phrases_ru import (
    CONFIRMATION_GRAMMAR,
    Phrase,
    Reply,
    asks_for_operator,
    classify_reply,
    words_of,
)


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("да", Reply.YES),
        ("Да, помогло, спасибо!", Reply.YES),
        ("помог", Reply.YES),
        ("нет", Reply.NO),
        ("не помог", Reply.NO),
        ("Не помогло.", Reply.NO),
        ("да нет", Reply.NO),
        ("оператор", Reply.OPERATOR),
        ("нет, соедините с оператором", Reply.OPERATOR),
        ("[unk]", Reply.UNCLEAR),
        ("", Reply.UNCLEAR),
        ("какая погода", Reply.UNCLEAR),
    ],
)
def test_replies_to_helped_are_read(text: str, reply: Reply) -> None:
    assert classify_reply(text) is reply


def test_words_fold_case_yo_and_markers() -> None:
    assert words_of("Ещё  РАЗ, [unk] Ёлка!") == ("еще", "раз", "елка")
    assert words_of("x" * 5000) == ("x" * 2000,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Позовите оператора", True), ("ОПЕРАТОРОМ", True), ("как оформить пенсию", False)],
)
def test_operator_requests(text: str, expected: bool) -> None:
    assert asks_for_operator(text) is expected


def test_every_grammar_phrase_is_read_as_intended() -> None:
    readings = {phrase: classify_reply(phrase) for phrase in CONFIRMATION_GRAMMAR}
    assert readings["да"] is Reply.YES and readings["не помогло"] is Reply.NO
    assert readings["соедините с оператором"] is Reply.OPERATOR
    assert readings["[unk]"] is Reply.UNCLEAR


def test_phrases_are_russian_and_say_how_to_reach_an_operator() -> None:
    assert "нажмите 0" in Phrase.HELPED and "нажмите 1" in Phrase.HELPED
    assert "оператор" in Phrase.GREETING
    assert Phrase.UNAVAILABLE.startswith("Голосовой помощник сейчас недоступен")
    assert all(any("а" <= ch <= "я" for ch in p.value.lower()) for p in Phrase)
