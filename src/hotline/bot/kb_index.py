"""The search index over the standard answers and the scores of one question (pure).

Four signals per (question, entry), each robust in its own way:

* ``lemma``: BM25 (rank-bm25's Okapi variant) over the content lemmas of the
  entry's title and typical questions — exact in meaning, brittle when the
  recogniser mangles a word;
* ``chars``: BM25 over character 4-grams of the words of the title,
  questions and answer — survives most one-letter recognition errors;
* ``cosine``: the best cosine similarity between the question's sentence
  embedding and those of the entry's title and questions (multilingual-e5,
  ``query:`` on both sides: a symmetric comparison);
* ``answer_cosine``: cosine similarity with the answer text's embedding
  (``passage:``, as e5 expects for documents).

The BM25 signals are divided by their best value over the entries (0..1);
their absolute strength is kept as *coverage*: the share of the question's
lemmas (and character 4-grams) found in the best entry.  Before scoring,
words no dictionary knows are corrected towards the knowledge base's
vocabulary (:mod:`hotline.bot.kb_spell`).  The embedder is a port
(:class:`Embedder`); :mod:`hotline.bot.kb_embed` is the adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from rank_bm25 import BM25Okapi  # type: ignore[import-untyped]

from hotline.bot.kb import KbEntry
from hotline.bot.kb_spell import VocabularyCorrector
from hotline.bot.kb_text import Lemmatizer, char_ngrams, words

__all__ = [
    "CHAR_NGRAM",
    "FEATURES",
    "Embedder",
    "KbIndex",
    "QueryScores",
]

CHAR_NGRAM: Final = 4
FEATURES: Final = ("lemma", "chars", "cosine", "answer_cosine")
"""Columns of :attr:`QueryScores.features`, in order."""

FloatArray = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Sentence embeddings, L2-normalised rows (cosine = dot product)."""

    def queries(self, texts: Sequence[str]) -> FloatArray:
        """Embeddings of questions (e5: ``query:`` prefix), shape (len(texts), dim)."""
        ...

    def passages(self, texts: Sequence[str]) -> FloatArray:
        """Embeddings of documents (e5: ``passage:`` prefix), shape (len(texts), dim)."""
        ...


@dataclass(frozen=True, slots=True)
class QueryScores:
    """Every entry's signals for one question.

    ``features`` has one row per entry (index order) and one column per
    :data:`FEATURES` name; BM25 columns are normalised to 0..1 over the entries.
    ``lemma_cover[i]``/``char_cover[i]``: the share of the question's lemmas /
    character n-grams that entry ``i`` contains.
    """

    text: str  # the question after correction
    lemma_count: int
    features: FloatArray
    lemma_cover: FloatArray
    char_cover: FloatArray


def _normalised(scores: npt.NDArray[np.float64]) -> FloatArray:
    best = float(scores.max()) if scores.size else 0.0
    if best <= 0.0:
        return np.zeros(scores.shape, dtype=np.float32)
    return (scores / best).astype(np.float32)


class KbIndex:
    """The standard answers prepared for matching (built once per KB version)."""

    def __init__(
        self, entries: Sequence[KbEntry], lemmatizer: Lemmatizer, embedder: Embedder | None
    ) -> None:
        self.entries: tuple[KbEntry, ...] = tuple(entries)
        self._lemmatizer = lemmatizer
        self._embedder = embedder
        vocabulary = [
            word
            for entry in self.entries
            for text in (entry.title, *entry.questions, entry.answer)
            for word in words(text)
        ]
        self._corrector = VocabularyCorrector(vocabulary, is_known=lemmatizer.is_known)
        lemma_docs = [
            [lemma for text in (e.title, *e.questions) for lemma in lemmatizer.lemmas(text)]
            for e in self.entries
        ]
        full_lemmas = [
            {
                lemma
                for text in (e.title, *e.questions, e.answer)
                for lemma in lemmatizer.lemmas(text)
            }
            for e in self.entries
        ]
        char_docs = [
            char_ngrams(words(" ".join((e.title, *e.questions, e.answer))), CHAR_NGRAM)
            for e in self.entries
        ]
        self._lemma_sets = full_lemmas
        self._char_sets = [set(doc) for doc in char_docs]
        self._bm25_lemma = BM25Okapi(lemma_docs) if self.entries else None
        self._bm25_chars = BM25Okapi(char_docs) if self.entries else None
        owners: list[int] = []
        texts: list[str] = []
        for number, entry in enumerate(self.entries):
            for text in (entry.title, *entry.questions):
                owners.append(number)
                texts.append(text)
        self._owners = np.asarray(owners, dtype=np.int64)
        if embedder is not None and self.entries:
            self._question_vectors: FloatArray | None = embedder.queries(texts)
            self._answer_vectors: FloatArray | None = embedder.passages(
                [e.answer for e in self.entries]
            )
        else:
            self._question_vectors = None
            self._answer_vectors = None

    @property
    def has_embeddings(self) -> bool:
        return self._question_vectors is not None

    def correct(self, text: str) -> str:
        """``text`` as words, unknown words corrected towards the KB's vocabulary."""
        return " ".join(self._corrector.correct(word) for word in words(text))

    def scores(self, text: str) -> QueryScores:
        """The signals of every entry for the question ``text``."""
        count = len(self.entries)
        corrected = self.correct(text)
        lemmas = self._lemmatizer.lemmas(corrected)
        grams = char_ngrams(words(corrected), CHAR_NGRAM)
        features = np.zeros((count, len(FEATURES)), dtype=np.float32)
        lemma_cover = np.zeros(count, dtype=np.float32)
        char_cover = np.zeros(count, dtype=np.float32)
        if count == 0 or not corrected:
            return QueryScores(corrected, len(lemmas), features, lemma_cover, char_cover)
        if lemmas and self._bm25_lemma is not None:
            features[:, 0] = _normalised(np.asarray(self._bm25_lemma.get_scores(lemmas)))
            unique = set(lemmas)
            lemma_cover[:] = [len(unique & s) / len(unique) for s in self._lemma_sets]
        if grams and self._bm25_chars is not None:
            features[:, 1] = _normalised(np.asarray(self._bm25_chars.get_scores(grams)))
            unique_grams = set(grams)
            char_cover[:] = [len(unique_grams & s) / len(unique_grams) for s in self._char_sets]
        if (
            self._embedder is not None
            and self._question_vectors is not None
            and self._answer_vectors is not None
        ):
            vector = self._embedder.queries([corrected])[0]
            similarity = self._question_vectors @ vector
            best = np.full(count, -1.0, dtype=np.float32)
            np.maximum.at(best, self._owners, similarity)
            features[:, 2] = best
            features[:, 3] = self._answer_vectors @ vector
        return QueryScores(corrected, len(lemmas), features, lemma_cover, char_cover)
