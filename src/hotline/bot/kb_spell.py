"""Correcting recognition errors towards the knowledge base's vocabulary (pure).

A recogniser that mishears one or two letters of a word («пенсию» →
«пенсиу», «военкомат» → «ваенкомат») produces a word no dictionary knows,
whose lemma is then wrong.  :class:`VocabularyCorrector` maps such a word to
the closest word of the knowledge base (its titles, questions and answers)
within a small edit distance, using a symmetric-delete index (the SymSpell
idea: every word and the query word are indexed by their deletions of up to
one letter, or two in long words, so candidates are found by lookup, not by
comparing with every word), then checks the true Levenshtein distance.  Words of the KB and words
the caller's dictionary knows are left alone; short words are never changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Final

__all__ = ["VocabularyCorrector", "levenshtein"]

MIN_WORD_CHARS: Final = 4
MAX_WORD_CHARS: Final = 40
MAX_VOCABULARY: Final = 200_000
LONG_WORD_CHARS: Final = 7
"""Words this long may be corrected by two edits, shorter ones by one."""


def levenshtein(a: str, b: str, limit: int) -> int:
    """Edit distance of ``a`` and ``b``, or ``limit + 1`` once it exceeds ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        best = i
        for j, cb in enumerate(b, start=1):
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            current.append(value)
            best = min(best, value)
        if best > limit:
            return limit + 1
        previous = current
    return min(previous[-1], limit + 1)


def _limit(word: str) -> int:
    return 1 if len(word) < LONG_WORD_CHARS else 2


def _deletes(word: str, depth: int) -> set[str]:
    keys = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        keys |= frontier
    return keys


class VocabularyCorrector:
    """Maps unknown words to the nearest vocabulary word (distance 1, or 2 if long)."""

    def __init__(self, vocabulary: Iterable[str], *, is_known: Callable[[str], bool]) -> None:
        self._counts: Counter[str] = Counter()
        for word in vocabulary:
            if MIN_WORD_CHARS <= len(word) <= MAX_WORD_CHARS:
                self._counts[word] += 1
            if len(self._counts) >= MAX_VOCABULARY:
                break
        self._index: dict[str, list[str]] = {}
        for word in self._counts:
            for key in _deletes(word, _limit(word)):
                self._index.setdefault(key, []).append(word)
        self._is_known = is_known
        self._cache: dict[str, str] = {}

    def __contains__(self, word: str) -> bool:
        return word in self._counts

    def correct(self, word: str) -> str:
        """``word``, or the vocabulary word it most likely was misrecognised from."""
        if len(word) < MIN_WORD_CHARS or len(word) > MAX_WORD_CHARS or word in self._counts:
            return word
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        result = self._nearest(word)
        if len(self._cache) >= MAX_VOCABULARY:
            self._cache.clear()
        self._cache[word] = result
        return result

    def _nearest(self, word: str) -> str:
        if self._is_known(word):
            return word
        limit = _limit(word)
        candidates: set[str] = set()
        for key in _deletes(word, limit):
            candidates.update(self._index.get(key, ()))
        best: tuple[int, int, str] | None = None
        for candidate in candidates:
            distance = levenshtein(word, candidate, limit)
            if distance > limit:
                continue
            rank = (distance, -self._counts[candidate], candidate)
            if best is None or rank < best:
                best = rank
        return word if best is None else best[2]
