"""Cutting normalised text into chunks a speech engine renders one after another.

A long answer is spoken while it is still being rendered: the first chunk is
short (the first sentence, or its first clause when that sentence is long) so
that the caller hears something at once; the following chunks are whole
sentences merged up to ``max_chunk_chars``, so that an engine is started as
few times as possible.  Sentences end at «.», «!», «?» or «…» before a
capital letter, a digit, a quote or a dash, and at line breaks; an initial
(«А. С. Пушкин») does not end one.  Sentences longer than ``max_chunk_chars``
are cut at clause punctuation, then at spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from hotline.core.errors import ConfigurationError

__all__ = ["SplitLimits", "split_for_speech"]

_BOUNDARY_RE: Final = re.compile(r"(?<=[.!?…])[»\"')]*\s+(?=[«\"(—–-]?\s*[А-ЯЁA-Z0-9])|\n+")
_INITIAL_RE: Final = re.compile(r"(?:^|\s)[А-ЯЁA-Z]\.[»\"')]*\s+$")
_CLAUSE_RE: Final = re.compile(r"(?<=[,;:])\s+|\s+(?=[—–]\s)")
_SPACE_RE: Final = re.compile(r"\s+")
_MIN_CLAUSE_CHARS: Final = 12


@dataclass(frozen=True, slots=True)
class SplitLimits:
    """Sizes of the chunks, in characters."""

    first_chunk_chars: int = 100
    max_chunk_chars: int = 300
    max_chunks: int = 500
    """Past this many chunks, the rest of the text is one final chunk."""

    def __post_init__(self) -> None:
        if not 0 < self.first_chunk_chars <= self.max_chunk_chars:
            raise ConfigurationError(
                "first_chunk_chars", "need 0 < first_chunk_chars <= max_chunk_chars"
            )
        if self.max_chunks < 1:
            raise ConfigurationError("max_chunks", "must be at least 1")


def split_for_speech(text: str, limits: SplitLimits | None = None) -> tuple[str, ...]:
    """Chunks of ``text`` in speaking order; empty or blank text gives no chunks."""
    limits = limits if limits is not None else SplitLimits()
    sentences = [s for s in _sentences(text) if s]
    if not sentences:
        return ()
    first, *rest = _cut(sentences[0], limits.first_chunk_chars)
    chunks = [first]
    pending: list[str] = [*rest, *sentences[1:]]
    current = ""
    for sentence in pending:
        for piece in _cut(sentence, limits.max_chunk_chars):
            if current and len(current) + 1 + len(piece) > limits.max_chunk_chars:
                chunks.append(current)
                current = piece
            else:
                current = f"{current} {piece}" if current else piece
    if current:
        chunks.append(current)
    if len(chunks) > limits.max_chunks:
        chunks[limits.max_chunks - 1 :] = [" ".join(chunks[limits.max_chunks - 1 :])]
    return tuple(chunks)


def _sentences(text: str) -> list[str]:
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY_RE.finditer(text):
        if "\n" not in match.group(0) and _INITIAL_RE.search(text, start, match.end()):
            continue
        sentences.append(text[start : match.start()].strip())
        start = match.end()
    sentences.append(text[start:].strip())
    return sentences


def _cut(sentence: str, max_chars: int) -> list[str]:
    """``sentence`` in pieces of at most ``max_chars``: at clauses first, then at spaces."""
    pieces: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        cut = _last_break(_CLAUSE_RE, rest, max_chars, _MIN_CLAUSE_CHARS)
        if cut is None:
            cut = _last_break(_SPACE_RE, rest, max_chars, 1)
        if cut is None:
            cut = max_chars
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _last_break(pattern: re.Pattern[str], text: str, max_chars: int, min_chars: int) -> int | None:
    best: int | None = None
    for match in pattern.finditer(text, 0, max_chars + 1):
        if match.start() >= min_chars:
            best = match.start()
    return best
