"""Evaluating answer matching: the labelled development set, ASR-like noise, figures.

The development set is a TSV file with a header ``query<TAB>expected_id``;
``none`` as the expected id means the knowledge base has no answer and the
bot must hand the call over.  :func:`asr_noise` simulates recognition errors
at a given character rate (seeded, so runs repeat): substitutions between
letters an 8 kHz recogniser confuses (voiced/voiceless consonants, reduced
vowels), deletions and insertions.  :func:`score` turns the matcher's
decisions into the figures of the issue: top-1 on answerable questions,
``none`` questions handed over, and confident wrong answers (an answer given
that is not the expected one, over all questions).  Pure: no clock, no I/O
apart from reading text handed in.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from hotline.core.errors import LimitExceededError, RemoteProtocolError

__all__ = [
    "NONE_LABEL",
    "DevQuery",
    "EvalFigures",
    "asr_noise",
    "parse_dev_set",
    "score",
]

NONE_LABEL: Final = "none"
MAX_DEV_BYTES: Final = 4 * 1024 * 1024
MAX_DEV_ROWS: Final = 20_000
MAX_QUERY_CHARS: Final = 2000
_ALPHABET: Final = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
_CONFUSIONS: Final = {
    "а": "о",
    "о": "а",
    "е": "и",
    "и": "е",
    "я": "е",
    "б": "п",
    "п": "б",
    "в": "ф",
    "ф": "в",
    "г": "к",
    "к": "г",
    "д": "т",
    "т": "д",
    "ж": "ш",
    "ш": "ж",
    "з": "с",
    "с": "з",
    "ц": "с",
    "щ": "ш",
    "ы": "и",
    "ь": "",
    "ъ": "",
    "й": "и",
    "э": "е",
    "ю": "у",
    "у": "ю",
}


@dataclass(frozen=True, slots=True)
class DevQuery:
    """One labelled question; ``expected`` is None when the KB has no answer."""

    text: str
    expected: str | None


@dataclass(frozen=True, slots=True)
class EvalFigures:
    """Figures over one run of the development set (fractions, 0..1)."""

    answerable: int
    unanswerable: int
    top1: float  # answerable questions answered with the expected id
    candidate_top1: float  # answerable questions whose best candidate is right
    none_handed_over: float  # unanswerable questions handed over
    confident_wrong: float  # answers given that were wrong, over all questions


def parse_dev_set(text: str) -> tuple[DevQuery, ...]:
    """Parse the TSV development set (header ``query<TAB>expected_id``)."""
    if len(text.encode("utf-8")) > MAX_DEV_BYTES:
        raise LimitExceededError(f"development set larger than {MAX_DEV_BYTES} bytes")
    lines = text.splitlines()
    if not lines or lines[0].split("\t")[:2] != ["query", "expected_id"]:
        raise RemoteProtocolError("development set must start with 'query<TAB>expected_id'")
    rows: list[DevQuery] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise RemoteProtocolError(f"development set line {number}: expected 2 fields")
        if len(parts[0]) > MAX_QUERY_CHARS:
            raise LimitExceededError(f"development set line {number}: query too long")
        label = parts[1].strip()
        rows.append(DevQuery(parts[0].strip(), None if label == NONE_LABEL else label))
        if len(rows) > MAX_DEV_ROWS:
            raise LimitExceededError(f"development set has more than {MAX_DEV_ROWS} rows")
    return tuple(rows)


def asr_noise(text: str, rate: float, seed: int) -> str:
    """``text`` with about ``rate`` of its letters recognised wrongly (seeded).

    Each letter is, with probability ``rate``, substituted (half the time; a
    confusable letter when there is one), deleted (a quarter) or followed by
    an inserted letter (a quarter).  Non-letters are kept.
    """
    rng = random.Random(seed)
    out: list[str] = []
    for char in text:
        lower = char.lower()
        if (lower not in _ALPHABET and lower != "ё") or rng.random() >= rate:
            out.append(char)
            continue
        op = rng.random()
        if op < 0.5:
            out.append(_CONFUSIONS.get(lower, rng.choice(_ALPHABET)))
        elif op < 0.75:
            continue
        else:
            out.append(char)
            out.append(rng.choice(_ALPHABET))
    return "".join(out)


def score(
    queries: Sequence[DevQuery],
    answered: Sequence[str | None],
    candidates: Sequence[str | None],
) -> EvalFigures:
    """Figures for the matcher's ``answered`` ids (None: handed over) and best candidates."""
    if not len(queries) == len(answered) == len(candidates):
        raise ValueError("queries, answers and candidates differ in length")
    answerable = [i for i, q in enumerate(queries) if q.expected is not None]
    unanswerable = [i for i, q in enumerate(queries) if q.expected is None]
    right = sum(1 for i in answerable if answered[i] == queries[i].expected)
    cand_right = sum(1 for i in answerable if candidates[i] == queries[i].expected)
    handed = sum(1 for i in unanswerable if answered[i] is None)
    wrong = sum(
        1 for i, q in enumerate(queries) if answered[i] is not None and answered[i] != q.expected
    )
    return EvalFigures(
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        top1=right / len(answerable) if answerable else 0.0,
        candidate_top1=cand_right / len(answerable) if answerable else 0.0,
        none_handed_over=handed / len(unanswerable) if unanswerable else 1.0,
        confident_wrong=wrong / len(queries) if queries else 0.0,
    )
