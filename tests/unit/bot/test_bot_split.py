"""Cutting normalised text into chunks for streamed synthesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.bot.norm_split import SplitLimits, split_for_speech
from hotline.core.errors import ConfigurationError

ANSWER = (
    "Здравствуйте! Чтобы получить справку о составе семьи, обратитесь в многофункциональный "
    "центр или на портал государственных услуг. Возьмите с собой паспорт. Справку выдают в "
    "течение пяти рабочих дней. Спасибо за обращение."
)


def test_first_chunk_is_the_first_sentence_and_the_rest_are_merged() -> None:
    chunks = split_for_speech(ANSWER, SplitLimits(first_chunk_chars=100, max_chunk_chars=160))
    assert chunks == (
        "Здравствуйте!",
        "Чтобы получить справку о составе семьи, обратитесь в многофункциональный центр или на "
        "портал государственных услуг. Возьмите с собой паспорт.",
        "Справку выдают в течение пяти рабочих дней. Спасибо за обращение.",
    )


def test_a_long_first_sentence_is_cut_at_a_clause() -> None:
    text = "Чтобы получить справку о составе семьи, обратитесь в центр. Спасибо."
    chunks = split_for_speech(text, SplitLimits(first_chunk_chars=45, max_chunk_chars=300))
    assert chunks == ("Чтобы получить справку о составе семьи,", "обратитесь в центр. Спасибо.")


def test_initials_and_line_breaks() -> None:
    text = "Автор А. С. Пушкин. Второе!\nТретье"
    assert split_for_speech(text, SplitLimits(20, 20)) == ("Автор А. С. Пушкин.", "Второе! Третье")
    assert split_for_speech(text, SplitLimits(10, 10)) == (
        "Автор А.",
        "С. Пушкин.",
        "Второе!",
        "Третье",
    )


def test_blank_text_gives_no_chunks() -> None:
    assert split_for_speech(" \n ") == ()


def test_a_word_longer_than_a_chunk_is_cut_hard() -> None:
    chunks = split_for_speech("я" * 25, SplitLimits(10, 10))
    assert chunks == ("я" * 10, "я" * 10, "я" * 5)


def test_chunk_count_is_bounded() -> None:
    chunks = split_for_speech("Да. " * 50, SplitLimits(3, 3, max_chunks=5))
    assert len(chunks) == 5
    assert chunks[:4] == ("Да.",) * 4


@pytest.mark.parametrize(("first", "most", "count"), [(0, 10, 1), (20, 10, 1), (5, 10, 0)])
def test_bad_limits_are_refused(first: int, most: int, count: int) -> None:
    with pytest.raises(ConfigurationError):
        SplitLimits(first, most, count)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("Аа бв.,!?\n—ЁЯ")), max_size=400))
def test_chunks_keep_every_character_in_order_and_respect_the_size(text: str) -> None:
    limits = SplitLimits(first_chunk_chars=30, max_chunk_chars=60)
    chunks = split_for_speech(text, limits)
    assert "".join("".join(chunks).split()) == "".join(text.split())
    assert all(0 < len(chunk) <= limits.max_chunk_chars for chunk in chunks)
    if chunks:
        assert len(chunks[0]) <= limits.first_chunk_chars
