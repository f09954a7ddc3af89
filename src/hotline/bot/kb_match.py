"""Answer matching: the standard answers (R12b) matched to a recognised question.

:class:`KbMatcher` implements :class:`hotline.bot.ports.AnswerMatcher`.  For a
question it takes the signals of every entry from :class:`~hotline.bot.kb_index.KbIndex`
and

1. **fuses** them into one score per entry, a weighted sum
   ``w · (lemma BM25, char BM25, cosine, answer cosine)``; a topic hint adds
   a small bonus to the entries of that topic, which decides near-ties only;
2. takes the best entry and computes a **calibrated confidence**: a logistic
   function of the best fused score, its margin over the runner-up, the best
   cosine and its margin, how many of the four signals rank the same entry
   first, and the share of the question's lemmas and character n-grams the
   entry contains (these tell a question about the weather, which still has
   *some* nearest entry, from a real one);
3. answers only at or above the **threshold**; below it ``answer_id`` is None
   and the bot asks again or hands over (better hand over than mislead).

The weights, logistic coefficients and threshold are a :class:`Calibration`;
:data:`DEFAULT_CALIBRATION` was fitted on the development set by
:mod:`hotline.bot.kb_calib` (``bench/bot/eval_kb.py`` reports its
cross-validated figures).  The bot only ever says an approved answer's text:
nothing here generates language.  Pure apart from the embedder port.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from hotline.bot.kb import KbEntry
from hotline.bot.kb_index import FEATURES, Embedder, KbIndex, QueryScores
from hotline.bot.kb_text import Lemmatizer
from hotline.bot.ports import AnswerMatch

__all__ = [
    "CONFIDENCE_FEATURES",
    "DEFAULT_CALIBRATION",
    "Calibration",
    "KbMatcher",
    "Ranked",
    "calibrated_confidence",
    "confidence_inputs",
    "rank",
]

CONFIDENCE_FEATURES: Final = (
    "score",
    "margin",
    "cosine",
    "lemma_cover",
    "char_cover",
    "agreement",
    "cosine_margin",
)


@dataclass(frozen=True, slots=True)
class Calibration:
    """How signals become a decision (see the module docstring)."""

    weights: tuple[float, ...]  # one per FEATURES name
    coefficients: tuple[float, ...]  # one per CONFIDENCE_FEATURES name
    intercept: float
    threshold: float  # answer when the confidence is at least this
    topic_bonus: float = 0.02

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"weights must have {len(FEATURES)} values")
        if len(self.coefficients) != len(CONFIDENCE_FEATURES):
            raise ValueError(f"coefficients must have {len(CONFIDENCE_FEATURES)} values")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be within 0..1")


# Fitted on ../shared/data/kb/dev-queries.tsv (clean and with 10 % character
# errors) by bench/bot/eval_kb.py --fit; see its cross-validated figures.
DEFAULT_CALIBRATION: Final = Calibration(
    weights=(0.05, 0.05, 1.0, 0.5),
    coefficients=(16.0943, 7.4405, 17.6692, 0.2691, 4.2553, 0.6348, 9.2962),
    intercept=-38.8434,
    threshold=0.7926,
)


@dataclass(frozen=True, slots=True)
class Ranked:
    """The best and second-best entries (indexes) and every fused score."""

    best: int
    second: int | None
    fused: npt.NDArray[np.float64]


def rank(
    scores: QueryScores,
    calibration: Calibration,
    topics: Sequence[str] = (),
    topic: str | None = None,
) -> Ranked | None:
    """Fuse the signals; None when the index is empty."""
    count = scores.features.shape[0]
    if count == 0:
        return None
    fused = scores.features.astype(np.float64) @ np.asarray(calibration.weights, dtype=np.float64)
    if topic is not None and topics:
        bonus = np.asarray([t == topic for t in topics], dtype=np.float64)
        fused = fused + calibration.topic_bonus * bonus
    order = np.argsort(-fused, kind="stable")
    best = int(order[0])
    second = int(order[1]) if count > 1 else None
    return Ranked(best, second, fused)


def confidence_inputs(scores: QueryScores, ranked: Ranked) -> tuple[float, ...]:
    """The values of :data:`CONFIDENCE_FEATURES` for the best entry."""
    best = ranked.best
    features = scores.features
    top = float(ranked.fused[best])
    runner_up = float(ranked.fused[ranked.second]) if ranked.second is not None else 0.0
    agreement = sum(int(np.argmax(features[:, j])) == best for j in range(features.shape[1]))
    cosines = np.delete(features[:, 2], best)
    cosine_margin = float(features[best, 2] - cosines.max()) if cosines.size else 0.0
    return (
        top,
        top - runner_up,
        float(features[best, 2]),
        float(scores.lemma_cover[best]),
        float(scores.char_cover[best]),
        float(agreement),
        cosine_margin,
    )


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    exp = math.exp(value)
    return exp / (1.0 + exp)


def calibrated_confidence(calibration: Calibration, inputs: Sequence[float]) -> float:
    """The calibrated probability that the best entry is the right answer."""
    z = calibration.intercept + sum(
        w * x for w, x in zip(calibration.coefficients, inputs, strict=True)
    )
    return _sigmoid(z)


class KbMatcher:
    """:class:`~hotline.bot.ports.AnswerMatcher` over one knowledge base."""

    def __init__(self, index: KbIndex, calibration: Calibration = DEFAULT_CALIBRATION) -> None:
        self.index = index
        self.calibration = calibration
        self._topics = tuple(e.topic for e in index.entries)

    @classmethod
    def build(
        cls,
        entries: Sequence[KbEntry],
        embedder: Embedder | None,
        *,
        lemmatizer: Lemmatizer | None = None,
        calibration: Calibration = DEFAULT_CALIBRATION,
    ) -> KbMatcher:
        """Index ``entries`` (embedding them once) and make a matcher."""
        index = KbIndex(entries, lemmatizer or Lemmatizer(), embedder)
        return cls(index, calibration)

    def decide(self, scores: QueryScores, topic: str | None = None) -> AnswerMatch:
        """The decision for already computed signals."""
        ranked = rank(scores, self.calibration, self._topics, topic)
        if ranked is None or not scores.text:
            return AnswerMatch(answer_id=None, confidence=0.0)
        entry = self.index.entries[ranked.best]
        confidence = calibrated_confidence(self.calibration, confidence_inputs(scores, ranked))
        answered = confidence >= self.calibration.threshold
        return AnswerMatch(
            answer_id=entry.id if answered else None,
            confidence=round(confidence, 4),
            best_candidate=entry.id,
            escalate=entry.escalate and answered,
        )

    def match(self, text: str, topic: str | None = None) -> AnswerMatch:
        """Match ``text`` (optionally preferring ``topic``); never raises on odd input."""
        if not isinstance(text, str) or not text.strip():
            return AnswerMatch(answer_id=None, confidence=0.0)
        return self.decide(self.index.scores(text), topic)
