"""Russian text normalisation for speech synthesis: everything written becomes words.

Speech engines read «122» digit by digit or not at all, «т.е.» as letters and
«МФЦ» as a word; a citizen must hear «сто двадцать два», «то есть», «эм эф
цэ».  :class:`Normalizer` turns prompt and answer text into plain Russian
words before it reaches an engine.  It runs a fixed sequence of passes, each
a regular-expression rewrite over the whole text (so later passes see the
words earlier ones wrote):

1. cleanup of spaces and control characters; «59-ФЗ» → «59 ФЗ»;
2. phone numbers (:mod:`hotline.bot.norm_quantities`);
3. dates, years and times (:mod:`hotline.bot.norm_datetime`);
4. weekdays and abbreviations (:mod:`hotline.bot.norm_abbrev`);
5. «№», fractions, ordinals, then every remaining number with its unit;
6. acronyms; final spacing.

Numbers take case and gender from their context through pymorphy3
(:mod:`hotline.bot.norm_morph`) and are spelled through num2words
(:mod:`hotline.bot.norm_numbers`).

The normaliser never raises on odd input: what it cannot read stays as
written.  Input past ``max_input_chars`` is not normalised (it is returned
as is after the normalised head), so a huge text cannot make it slow.  It is
pure (no I/O, no clock) and safe to call from any thread once built; build
one per process, because loading the dictionary takes a fraction of a second.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from hotline.bot.norm_abbrev import (
    Abbreviation,
    AbbreviationExpander,
    default_abbreviations,
    expand_acronyms,
    expand_weekdays,
)
from hotline.bot.norm_datetime import expand_dates, expand_times, expand_years
from hotline.bot.norm_morph import Morphology
from hotline.bot.norm_quantities import (
    expand_number_signs,
    expand_ordinals,
    expand_phones,
    expand_quantities,
)

__all__ = ["Normalizer", "NormalizerLimits"]

_SPACES_RE: Final = re.compile(r"[\u00a0\u2000-\u200b\u202f\u205f\u3000\t]")
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NUMBER_ACRONYM_RE: Final = re.compile(r"(?<=\d)-(?=[А-ЯЁA-Z]{2})")
_MULTISPACE_RE: Final = re.compile(r"[^\S\n]{2,}")
_SPACE_BEFORE_PUNCT_RE: Final = re.compile(r"[^\S\n]+([,.;:!?])")


@dataclass(frozen=True, slots=True)
class NormalizerLimits:
    """Bounds on the work one call does."""

    max_input_chars: int = 20_000
    """Characters normalised; the rest of a longer text is returned unchanged."""


class Normalizer:
    """Russian text → words for a speech engine.

    ``abbreviations`` replaces the built-in abbreviation table
    (:func:`hotline.bot.norm_abbrev.default_abbreviations` plus your own);
    ``acronyms`` adds or overrides acronym readings (``{"ПФР": "пэ эф эр"}``).
    """

    __slots__ = ("_abbreviations", "_acronyms", "_limits", "_morphology")

    def __init__(
        self,
        morphology: Morphology | None = None,
        *,
        limits: NormalizerLimits | None = None,
        abbreviations: tuple[Abbreviation, ...] | None = None,
        acronyms: Mapping[str, str] | None = None,
    ) -> None:
        self._morphology = morphology if morphology is not None else Morphology()
        self._limits = limits if limits is not None else NormalizerLimits()
        self._abbreviations = AbbreviationExpander(
            abbreviations if abbreviations is not None else default_abbreviations()
        )
        self._acronyms = dict(acronyms) if acronyms is not None else None

    @property
    def limits(self) -> NormalizerLimits:
        return self._limits

    def normalize(self, text: str) -> str:
        """The text with numbers, dates, times, abbreviations and acronyms in words."""
        head, tail = _split_at_limit(text, self._limits.max_input_chars)
        morphology = self._morphology
        result = _clean(head)
        result = _NUMBER_ACRONYM_RE.sub(" ", result)
        result = expand_phones(result)
        result = expand_dates(result)
        result = expand_years(result)
        result = expand_times(result)
        result = expand_weekdays(result)
        result = self._abbreviations.expand(result, morphology)
        result = expand_number_signs(result)
        result = expand_ordinals(result, morphology)
        result = expand_quantities(result, morphology)
        result = expand_acronyms(result, morphology, self._acronyms)
        result = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", _MULTISPACE_RE.sub(" ", result)).strip()
        return result + tail


def _split_at_limit(text: str, limit: int) -> tuple[str, str]:
    """``text`` cut at the last whitespace within ``limit`` characters (never inside a word)."""
    if len(text) <= limit:
        return text, ""
    cut = max(text.rfind(" ", 0, limit + 1), text.rfind("\n", 0, limit + 1))
    if cut <= 0:
        cut = limit
    return text[:cut], text[cut:]


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_RE.sub(" ", _SPACES_RE.sub(" ", text))
