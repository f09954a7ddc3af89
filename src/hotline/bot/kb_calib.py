"""Fitting the matcher's calibration on labelled questions, and cross-validating it.

:func:`fit` chooses, on the samples it is given,

1. the fusion weights from a small grid: the most answerable questions
   ranked right, ties broken by the mean margin of the right entry;
2. the logistic confidence (L2-regularised, fitted by Newton's method on
   standardised inputs) of "the best entry is the expected one";
3. the threshold: the most right answers with at most ``max_wrong`` wrong
   answers (over all samples) and at least ``min_handed_over`` of the
   unanswerable questions handed over; the middle of the best range.

:func:`cross_validate` runs :func:`fit` k times, each time on the samples of
the other folds (a question and its noisy copies share a fold, so a copy
never helps to judge its original), and returns the held-out decisions:
those are the honest figures.  Pure numpy; deterministic for a seed.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from hotline.bot.kb_index import KbIndex, QueryScores
from hotline.bot.kb_match import (
    CONFIDENCE_FEATURES,
    Calibration,
    KbMatcher,
    calibrated_confidence,
    confidence_inputs,
    rank,
)
from hotline.bot.ports import AnswerMatch

__all__ = [
    "WEIGHT_GRID",
    "Sample",
    "cross_validate",
    "fit",
    "fit_logistic",
]

WEIGHT_GRID: Final = tuple(
    (lemma, chars, 1.0, answer)
    for lemma, chars, answer in itertools.product(
        (0.0, 0.05, 0.1, 0.2, 0.4), (0.0, 0.05, 0.1, 0.2, 0.4), (0.0, 0.25, 0.5)
    )
)
MAX_WRONG: Final = 0.02
MIN_HANDED_OVER: Final = 0.95


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled question's signals; ``expected`` is an entry index or None."""

    scores: QueryScores
    expected: int | None
    group: int  # the original question (its noisy copies share the group)


def _weights_quality(samples: Sequence[Sample], weights: tuple[float, ...]) -> tuple[int, float]:
    w = np.asarray(weights, dtype=np.float64)
    right = 0
    margins: list[float] = []
    for s in samples:
        if s.expected is None:
            continue
        fused = s.scores.features.astype(np.float64) @ w
        target = fused[s.expected]
        others = np.delete(fused, s.expected)
        margin = float(target - others.max()) if others.size else float(target)
        right += margin > 0
        margins.append(margin)
    return right, float(np.mean(margins)) if margins else 0.0


def fit_logistic(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], *, l2: float = 1.0
) -> tuple[tuple[float, ...], float]:
    """Coefficients and intercept of P(y=1|x), in the units of ``x``."""
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std == 0] = 1.0
    z = np.hstack([np.ones((x.shape[0], 1)), (x - mean) / std])
    beta = np.zeros(z.shape[1])
    penalty = np.eye(z.shape[1]) * l2
    penalty[0, 0] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        gradient = z.T @ (p - y) + penalty @ beta
        hessian = (z.T * (p * (1 - p))) @ z + penalty + np.eye(z.shape[1]) * 1e-9
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    coefficients = beta[1:] / std
    intercept = float(beta[0] - float((beta[1:] * mean / std).sum()))
    return tuple(float(c) for c in coefficients), intercept


def _threshold(
    confidence: Sequence[float], right: Sequence[bool], unanswerable: Sequence[bool]
) -> float:
    conf = np.asarray(confidence)
    ok = np.asarray(right)
    none = np.asarray(unanswerable)
    candidates = np.unique(np.concatenate([conf, np.linspace(0.05, 0.95, 19)]))
    best: tuple[int, list[float]] = (-1, [])
    for t in candidates:
        answered = conf >= t
        wrong = int((answered & ~ok).sum())
        handed = float((~answered & none).sum() / none.sum()) if none.any() else 1.0
        if wrong > MAX_WRONG * len(conf) or handed < MIN_HANDED_OVER:
            continue
        good = int((answered & ok).sum())
        if good > best[0]:
            best = (good, [float(t)])
        elif good == best[0]:
            best[1].append(float(t))
    if not best[1]:
        return 0.95
    lo, hi = min(best[1]), max(best[1])
    # the next candidate above hi still gives the same answers up to it
    above = candidates[candidates > hi]
    hi_edge = float(above[0]) if above.size else hi
    return float(min(max((lo + hi_edge) / 2, 0.05), 0.95))


def fit(samples: Sequence[Sample], topics: Sequence[str], *, l2: float = 5.0) -> Calibration:
    """A calibration fitted on ``samples`` (see the module docstring)."""
    weights = max(WEIGHT_GRID, key=lambda w: _weights_quality(samples, w))
    draft = Calibration(
        weights=weights,
        coefficients=(0.0,) * len(CONFIDENCE_FEATURES),
        intercept=0.0,
        threshold=0.5,
    )
    rows: list[tuple[float, ...]] = []
    labels: list[float] = []
    unanswerable: list[bool] = []
    for s in samples:
        ranked = rank(s.scores, draft, topics)
        if ranked is None:
            continue
        rows.append(confidence_inputs(s.scores, ranked))
        labels.append(1.0 if ranked.best == s.expected else 0.0)
        unanswerable.append(s.expected is None)
    coefficients, intercept = fit_logistic(np.asarray(rows), np.asarray(labels), l2=l2)
    fitted = Calibration(weights, coefficients, intercept, 0.5)
    confidences = [calibrated_confidence(fitted, row) for row in rows]
    right = [label == 1.0 for label in labels]
    threshold = _threshold(confidences, right, unanswerable)
    return Calibration(weights, coefficients, intercept, threshold)


def cross_validate(
    index: KbIndex, samples: Sequence[Sample], *, folds: int = 5, seed: int = 0
) -> list[AnswerMatch]:
    """Held-out decisions for every sample, in order, from ``folds``-fold CV by group."""
    groups = sorted({s.group for s in samples})
    random.Random(seed).shuffle(groups)
    fold_of = {g: i % folds for i, g in enumerate(groups)}
    topics = [e.topic for e in index.entries]
    decisions: list[AnswerMatch | None] = [None] * len(samples)
    for fold in range(folds):
        train = [s for s in samples if fold_of[s.group] != fold]
        matcher = KbMatcher(index, fit(train, topics))
        for i, s in enumerate(samples):
            if fold_of[s.group] == fold:
                decisions[i] = matcher.decide(s.scores)
    return [d if d is not None else AnswerMatch(None, 0.0) for d in decisions]
