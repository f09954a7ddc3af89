"""What a role may see of a call: the caller's number (R12c) and medical calls (R12d).

Every API response that carries a caller's number passes it through
:func:`number_for`: the full number for holders of ``personal_data.view``,
otherwise the masked form (``+7 999 ***-**-67``).  Calls and recordings whose
topic is medical are visible only with ``medical_secrecy``
(:func:`may_see_topic`); list endpoints drop them, single-item endpoints
answer 404 (not 403: their existence is itself confidential).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from hotline.web.permissions import Permission

__all__ = ["MEDICAL_TOPICS", "mask_number", "mask_numbers_in_text", "may_see_topic", "number_for"]

#: Topics under medical secrecy (the demo's "health" menu branch).
MEDICAL_TOPICS: Final = frozenset({"health"})
_KEEP_LAST: Final = 2
_SHORT: Final = 4  # service numbers such as 122 or 112 are not personal data
_NUMBER_IN_TEXT: Final = re.compile(r"\+?\d[\d ()\-]{3,18}\d")
MAX_TEXT_CHARS: Final = 20_000  # longer free text is cut before masking


def mask_number(number: str) -> str:
    """``+79991234567`` → ``+7 999 ***-**-67``; other numbers keep their last two digits.

    A Russian number (``+7`` or ``8`` and ten digits) keeps its country and
    operator code; any other number shows only the first and the last two
    digits.  Numbers of at most four digits are shown as they are.
    """
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) <= _SHORT:
        return number
    if len(digits) == 11 and digits[0] in "78":
        prefix = "+7" if number.lstrip().startswith("+") or digits[0] == "7" else "8"
        return f"{prefix} {digits[1:4]} ***-**-{digits[-2:]}"
    lead = "+" if number.lstrip().startswith("+") else ""
    return f"{lead}{digits[0]}{'*' * (len(digits) - 1 - _KEEP_LAST)}{digits[-_KEEP_LAST:]}"


def mask_numbers_in_text(text: str) -> str:
    """Free text (an operator's notes) with every phone-number-like run masked."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask_number(m.group(0)), text[:MAX_TEXT_CHARS])


def number_for(permissions: Iterable[Permission], number: str | None) -> str | None:
    """The form of ``number`` that a holder of ``permissions`` may see."""
    if number is None:
        return None
    if Permission.PERSONAL_DATA_VIEW in frozenset(permissions):
        return number
    return mask_number(number)


def may_see_topic(
    permissions: Iterable[Permission],
    topic: str | None,
    medical_topics: frozenset[str] = MEDICAL_TOPICS,
) -> bool:
    """False for a medical topic unless ``medical_secrecy`` is held."""
    if topic is None or topic not in medical_topics:
        return True
    return Permission.MEDICAL_SECRECY in frozenset(permissions)
