"""Matching's text helpers: lemmas, character n-grams, spelling correction, noise, figures."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.bot.kb_eval import DevQuery, asr_noise, parse_dev_set, score
from hotline.bot.kb_spell import VocabularyCorrector, levenshtein
from hotline.bot.kb_text import MAX_WORDS, Lemmatizer, char_ngrams, words
from hotline.core.errors import LimitExceededError, RemoteProtocolError


@pytest.fixture(scope="module")
def lemmatizer() -> Lemmatizer:
    return Lemmatizer()


def test_words_lowercase_and_read_yo_as_ye() -> None:
    assert words("Ёлка, 122 — ЁЖ!") == ["елка", "122", "еж"]
    assert len(words("слово " * 1000)) == MAX_WORDS


def test_lemmas_drop_fillers_and_function_words(lemmatizer: Lemmatizer) -> None:
    text = "Здравствуйте, скажите пожалуйста, вот у меня двое детей, могу я оформить пособие?"
    assert lemmatizer.lemmas(text) == ["двое", "ребенок", "оформить", "пособие"]
    assert lemmatizer.lemmas("Алло, алло, вы меня слышите?") == []


def test_lemma_cache_returns_the_same_answer(lemmatizer: Lemmatizer) -> None:
    assert lemmatizer.lemma("пенсии") == "пенсия"
    assert lemmatizer.lemma("пенсии") == "пенсия"
    assert lemmatizer.lemma("и") is None
    assert lemmatizer.is_known("пенсия")
    assert not lemmatizer.is_known("пенсиу")


def test_char_ngrams_mark_word_ends() -> None:
    assert char_ngrams(["мфц"], 4) == ["_мфц", "мфц_"]
    assert char_ngrams(["я"], 4) == ["_я_"]
    assert char_ngrams(["сад"], 3) == ["_са", "сад", "ад_"]


@pytest.mark.parametrize(
    ("a", "b", "limit", "expected"),
    [
        ("пенсия", "пенсия", 2, 0),
        ("пенсия", "пенсиа", 2, 1),
        ("пенсия", "пенся", 2, 1),
        ("кот", "скотт", 2, 2),
        ("абвгд", "вгдеж", 2, 3),  # cut off past the limit
        ("", "абв", 5, 3),
    ],
)
def test_levenshtein(a: str, b: str, limit: int, expected: int) -> None:
    assert levenshtein(a, b, limit) == expected


def test_corrector_maps_unknown_words_to_the_vocabulary(lemmatizer: Lemmatizer) -> None:
    corrector = VocabularyCorrector(
        ["пенсию", "пенсию", "военкомат", "загранпаспорт", "справка"],
        is_known=lemmatizer.is_known,
    )
    assert corrector.correct("пенсиу") == "пенсию"  # one substitution
    assert corrector.correct("ваенкамат") == "военкомат"  # two, long word
    assert corrector.correct("загрнпаспот") == "загранпаспорт"
    assert corrector.correct("погода") == "погода"  # a dictionary word stays
    assert corrector.correct("кот") == "кот"  # short words stay
    assert corrector.correct("ыыыыыы") == "ыыыыыы"  # nothing near
    assert "справка" in corrector


def test_asr_noise_is_seeded_and_near_its_rate() -> None:
    text = "Здравствуйте, подскажите, как оформить пенсию по старости через Госуслуги? " * 4
    noisy = asr_noise(text, 0.1, seed=7)
    assert noisy == asr_noise(text, 0.1, seed=7)
    assert noisy != asr_noise(text, 0.1, seed=8)
    assert asr_noise(text, 0.0, seed=7) == text
    letters = sum(c.isalpha() for c in text)
    changed = [levenshtein(text, asr_noise(text, 0.1, s), letters) / letters for s in range(5)]
    assert 0.07 < sum(changed) / len(changed) < 0.13
    assert asr_noise("122, 2026!", 1.0, seed=1) == "122, 2026!"  # only letters change


def test_parse_dev_set() -> None:
    rows = parse_dev_set("query\texpected_id\nКак дела?\tnone\nПенсия?\tsocial-02\n\n")
    assert rows == (DevQuery("Как дела?", None), DevQuery("Пенсия?", "social-02"))
    with pytest.raises(RemoteProtocolError, match="must start"):
        parse_dev_set("q\tid\n")
    with pytest.raises(RemoteProtocolError, match="line 2"):
        parse_dev_set("query\texpected_id\nno label\n")
    with pytest.raises(LimitExceededError):
        parse_dev_set("query\texpected_id\n" + "а" * 3000 + "\tnone\n")


def test_score_counts_the_three_figures() -> None:
    queries = [
        DevQuery("a", "x"),
        DevQuery("b", "y"),
        DevQuery("c", "z"),
        DevQuery("d", None),
        DevQuery("e", None),
    ]
    figures = score(queries, ["x", None, "w", None, "x"], ["x", "y", "w", "x", "x"])
    assert figures.answerable == 3
    assert figures.unanswerable == 2
    assert figures.top1 == pytest.approx(1 / 3)
    assert figures.candidate_top1 == pytest.approx(2 / 3)
    assert figures.none_handed_over == pytest.approx(1 / 2)
    assert figures.confident_wrong == pytest.approx(2 / 5)  # "w" for z, "x" for none


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.floats(0.0, 1.0), st.integers(0, 2**32))
def test_noise_never_fails(text: str, rate: float, seed: int) -> None:
    noisy = asr_noise(text, rate, seed)
    assert isinstance(noisy, str)
