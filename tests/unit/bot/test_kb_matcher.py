"""The answer matcher's mechanics on a fake embedder: ranking, threshold, topic hint, calibration.

The accuracy targets on the development set need the real embedding model:
tests/integration/test_kb_devset.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.bot.kb import KbEntry, load_kb
from hotline.bot.kb_calib import Sample, cross_validate, fit, fit_logistic
from hotline.bot.kb_embed import CachedEmbedder
from hotline.bot.kb_index import FEATURES, FloatArray, KbIndex
from hotline.bot.kb_match import DEFAULT_CALIBRATION, Calibration, KbMatcher
from hotline.bot.kb_text import Lemmatizer, char_ngrams, words
from hotline.bot.ports import AnswerMatch, AnswerMatcher

PACKAGED = Path(__file__).resolve().parents[3] / "src" / "hotline" / "bot" / "data"
DIM = 128


class HashedTrigrams:
    """A deterministic stand-in for sentence embeddings: hashed character trigrams."""

    def __init__(self) -> None:
        self.calls = 0

    def _one(self, text: str) -> FloatArray:
        vector = np.zeros(DIM, dtype=np.float32)
        for gram in char_ngrams(words(text), 3):
            vector[hashlib.blake2s(gram.encode(), digest_size=2).digest()[0] % DIM] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def queries(self, texts: Sequence[str]) -> FloatArray:
        self.calls += len(texts)
        return np.stack([self._one(t) for t in texts])

    def passages(self, texts: Sequence[str]) -> FloatArray:
        self.calls += len(texts)
        return np.stack([self._one(t) for t in texts])


@pytest.fixture(scope="module")
def lemmatizer() -> Lemmatizer:
    return Lemmatizer()


@pytest.fixture(scope="module")
def entries() -> tuple[KbEntry, ...]:
    return load_kb(PACKAGED / "standard-answers.yaml")


@pytest.fixture(scope="module")
def index(entries: tuple[KbEntry, ...], lemmatizer: Lemmatizer) -> KbIndex:
    return KbIndex(entries, lemmatizer, HashedTrigrams())


def _always(threshold: float) -> Calibration:
    return Calibration(
        weights=DEFAULT_CALIBRATION.weights,
        coefficients=(0.0,) * len(DEFAULT_CALIBRATION.coefficients),
        intercept=0.0,
        threshold=threshold,
    )


def test_matcher_satisfies_the_port(index: KbIndex) -> None:
    matcher: AnswerMatcher = KbMatcher(index)
    assert isinstance(matcher.match("Как оформить пенсию по старости?"), AnswerMatch)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Как оформить пенсию по старости?", "social-02"),
        ("Как вызвать врача на дом?", "health-02"),
        ("Где сделать загранпаспорт?", "state_services-07"),
        ("Как получить военный билет?", "military-07"),
    ],
)
def test_kb_questions_rank_their_entry_first(index: KbIndex, question: str, expected: str) -> None:
    result = KbMatcher(index).match(question)
    assert result.best_candidate == expected


def test_threshold_decides_between_answer_and_hand_over(index: KbIndex) -> None:
    question = "Как оформить пенсию по старости?"
    answered = KbMatcher(index, _always(0.5)).match(question)  # sigmoid(0) = 0.5
    assert answered == AnswerMatch("social-02", 0.5, "social-02", escalate=False)
    handed = KbMatcher(index, _always(0.6)).match(question)
    assert handed == AnswerMatch(None, 0.5, "social-02", escalate=False)


def test_escalate_is_reported_only_with_an_answer(index: KbIndex) -> None:
    question = "Как оформить социального работника для пожилого человека?"  # social-07
    assert KbMatcher(index, _always(0.5)).match(question).escalate is True
    assert KbMatcher(index, _always(0.9)).match(question).escalate is False


@pytest.mark.parametrize("text", ["", "   ", "\t", "!!!", "…"])
def test_empty_questions_are_handed_over(index: KbIndex, text: str) -> None:
    assert KbMatcher(index, _always(0.0)).match(text) == AnswerMatch(None, 0.0)


def test_topic_hint_breaks_a_tie(lemmatizer: Lemmatizer) -> None:
    twins = [
        KbEntry("a-1", "social", "Справка", ("Как получить справку?",), "Ответ А."),
        KbEntry("b-1", "health", "Справка", ("Как получить справку?",), "Ответ А."),
    ]
    matcher = KbMatcher(KbIndex(twins, lemmatizer, HashedTrigrams()), _always(0.0))
    assert matcher.match("Как получить справку?").best_candidate == "a-1"
    assert matcher.match("Как получить справку?", topic="health").best_candidate == "b-1"
    assert matcher.match("Как получить справку?", topic="other").best_candidate == "a-1"


def test_topic_hint_does_not_override_a_clear_winner(index: KbIndex) -> None:
    result = KbMatcher(index).match("Как оформить пенсию по старости?", topic="military")
    assert result.best_candidate == "social-02"


def test_an_empty_knowledge_base_hands_over(lemmatizer: Lemmatizer) -> None:
    matcher = KbMatcher(KbIndex([], lemmatizer, HashedTrigrams()))
    assert matcher.match("Как оформить пенсию?") == AnswerMatch(None, 0.0)


def test_without_embeddings_the_cosine_columns_are_zero(
    entries: tuple[KbEntry, ...], lemmatizer: Lemmatizer
) -> None:
    index = KbIndex(entries[:5], lemmatizer, None)
    assert not index.has_embeddings
    scores = index.scores("Как оформить единое пособие на ребёнка?")
    assert scores.features.shape == (5, len(FEATURES))
    assert scores.features[0, 0] == pytest.approx(1.0)  # best lemma BM25 normalised
    assert np.all(scores.features[:, 2:] == 0.0)
    assert scores.lemma_cover[0] == pytest.approx(1.0)


def test_misrecognised_words_are_corrected(index: KbIndex) -> None:
    assert index.correct("как аформить пенсиу по старасти") == "как оформить пенсию по старости"


def test_calibration_checks_its_shape() -> None:
    with pytest.raises(ValueError, match="weights"):
        Calibration((1.0,), DEFAULT_CALIBRATION.coefficients, 0.0, 0.5)
    with pytest.raises(ValueError, match="coefficients"):
        Calibration(DEFAULT_CALIBRATION.weights, (1.0,), 0.0, 0.5)
    with pytest.raises(ValueError, match="threshold"):
        Calibration(DEFAULT_CALIBRATION.weights, DEFAULT_CALIBRATION.coefficients, 0.0, 1.5)


def test_fit_logistic_recovers_a_known_model() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 2))
    p = 1.0 / (1.0 + np.exp(-(3.0 * x[:, 0] - 2.0 * x[:, 1] + 0.5)))
    y = (rng.random(2000) < p).astype(np.float64)
    coefficients, intercept = fit_logistic(x, y, l2=0.01)
    assert coefficients[0] == pytest.approx(3.0, abs=0.4)
    assert coefficients[1] == pytest.approx(-2.0, abs=0.4)
    assert intercept == pytest.approx(0.5, abs=0.3)


def test_fit_and_cross_validate_on_kb_questions(index: KbIndex) -> None:
    position = {e.id: i for i, e in enumerate(index.entries)}
    samples = [
        Sample(index.scores(q), position[e.id], n)
        for n, e in enumerate(index.entries)
        for q in e.questions[:1]
    ]
    off_topic = ["Какая погода завтра?", "Вызовите такси до вокзала.", "Курс доллара какой?"]
    samples += [Sample(index.scores(q), None, 100 + n) for n, q in enumerate(off_topic)]
    topics = [e.topic for e in index.entries]
    calibration = fit(samples, topics)
    assert 0.05 <= calibration.threshold <= 0.95
    decisions = cross_validate(index, samples, folds=3)
    assert len(decisions) == len(samples)
    right = sum(d.best_candidate == index.entries[s.expected].id
                for d, s in zip(decisions, samples, strict=True) if s.expected is not None)  # fmt: skip
    assert right >= 40  # the KB's own questions, ranked by a held-out fit


def test_cached_embedder_remembers_kb_texts_but_not_questions(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "e.npz"
    inner = HashedTrigrams()
    cached = CachedEmbedder(inner, path)
    first = cached.passages(["Ответ один.", "Ответ два."])
    cached.queries(["Вопрос?"])
    assert inner.calls == 3
    cached.save()
    assert path.is_file()
    cached.queries(["Вопрос звонящего?"])  # after indexing: computed, never kept
    again = CachedEmbedder(HashedTrigrams(), path)
    np.testing.assert_array_equal(again.passages(["Ответ один.", "Ответ два."]), first)
    again.queries(["Вопрос?"])
    assert again._inner.calls == 0  # type: ignore[attr-defined]
    again.queries(["Вопрос звонящего?"])
    assert again._inner.calls == 1  # type: ignore[attr-defined]
    path.write_bytes(b"damaged")
    assert CachedEmbedder(HashedTrigrams(), path).passages(["x"]).shape == (1, DIM)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_match_never_raises(index: KbIndex, text: str) -> None:
    result = KbMatcher(index).match(text)
    assert 0.0 <= result.confidence <= 1.0
    assert result.answer_id is None or result.answer_id == result.best_candidate
