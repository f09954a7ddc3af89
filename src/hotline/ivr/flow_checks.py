"""The vocabulary and field checks of voice-menu flows: ids, keys, numbers, digit patterns.

Every check raises :class:`FlowError` naming the node at fault (``None`` for
flow-level settings), so an administrator who loads a broken flow reads
*which* node is wrong and *why*.

Digit patterns
    A ``collect`` node may validate what the caller typed with a regular
    expression (matched against the whole input with :func:`re.fullmatch`).
    Python's ``re`` backtracks, and a pattern such as ``1?1?1?…111…`` takes
    exponential time on a caller's input, which would stall every call on the
    event loop.  :func:`compile_digit_pattern` therefore accepts only a small
    subset: DTMF keys, character classes, ``\\d``, ``.``, groups, ``|``,
    anchors and quantifiers, with at most :data:`MAX_VARIABLE_QUANTIFIERS`
    variable quantifiers (``?``, ``*``, ``+``, ``{m,n}``) and no ``*``, ``+``
    or ``{…}`` applied to a group.  On inputs of at most
    :data:`MAX_COLLECT_DIGITS` keys that bounds matching to polynomial time.
"""

from __future__ import annotations

import math
import re
from typing import Final

from hotline.core.errors import ConfigurationError

__all__ = [
    "DTMF_KEYS",
    "MAX_COLLECT_DIGITS",
    "MAX_ID_CHARS",
    "MAX_PATTERN_CHARS",
    "MAX_PROMPTS_PER_NODE",
    "MAX_RETRIES",
    "MAX_TEXT_CHARS",
    "MAX_TIMEOUT_S",
    "MAX_VARIABLE_QUANTIFIERS",
    "FlowError",
    "check_bool",
    "check_id",
    "check_key",
    "check_number",
    "check_retries",
    "check_text",
    "check_timeout",
    "check_variable",
    "compile_digit_pattern",
]

DTMF_KEYS: Final = frozenset("0123456789*#ABCD")
"""The sixteen DTMF keys (RFC 4733 §3.2, events 0-15)."""

MAX_ID_CHARS: Final = 64
MAX_TEXT_CHARS: Final = 2000
MAX_PROMPTS_PER_NODE: Final = 16
MAX_COLLECT_DIGITS: Final = 32
MAX_RETRIES: Final = 10
MAX_TIMEOUT_S: Final = 120.0
MAX_PATTERN_CHARS: Final = 100
MAX_VARIABLE_QUANTIFIERS: Final = 4

_ID_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_VARIABLE_RE: Final = re.compile(r"[a-z_][a-z0-9_]{0,31}")
_NUMBER_RE: Final = re.compile(r"\+?[0-9]{2,20}")
_PATTERN_CHARS: Final = frozenset("0123456789*#ABCD[](){}|?+-,^$\\d.")
_BRACE_RE: Final = re.compile(r"\{(\d{1,2})(,(\d{0,2}))?\}")


class FlowError(ConfigurationError):
    """A flow is invalid; ``node`` names the node at fault (None: the flow's own settings)."""

    def __init__(self, node: str | None, problem: str) -> None:
        super().__init__("flow" if node is None else f"node {node!r}", problem)
        self.node = node


def check_id(node: str | None, what: str, value: object) -> str:
    """A node, queue, prompt, topic, flag or organisation id: a letter, then ``[A-Za-z0-9_.-]``."""
    if not isinstance(value, str) or not value:
        raise FlowError(node, f"{what} must be a non-empty string")
    if len(value) > MAX_ID_CHARS:
        raise FlowError(node, f"{what} is longer than {MAX_ID_CHARS} characters")
    if _ID_RE.fullmatch(value) is None:
        raise FlowError(
            node,
            f"{what} {value!r} must start with a letter and use only letters, digits, '_', '.', '-'",
        )
    return value


def check_variable(node: str | None, value: object) -> str:
    """A variable name for collected digits: lower-case letters, digits, '_' (32 at most)."""
    if not isinstance(value, str) or _VARIABLE_RE.fullmatch(value) is None:
        raise FlowError(node, f"variable {value!r} must match [a-z_][a-z0-9_]{{0,31}}")
    return value


def check_key(node: str | None, what: str, value: object) -> str:
    """One DTMF key: ``0``-``9``, ``*``, ``#`` or ``A``-``D``."""
    if not isinstance(value, str) or value not in DTMF_KEYS:
        raise FlowError(node, f"{what} {value!r} is not a DTMF key (0-9, *, #, A-D)")
    return value


def check_text(node: str | None, what: str, value: object) -> str:
    """Prompt text for the speech synthesiser: non-blank, bounded, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise FlowError(node, f"{what} must be non-blank text")
    if len(value) > MAX_TEXT_CHARS:
        raise FlowError(node, f"{what} is longer than {MAX_TEXT_CHARS} characters")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
        raise FlowError(node, f"{what} contains control characters")
    return value


def check_number(node: str | None, value: object) -> str:
    """A telephone number to dial: an optional '+' and 2-20 digits."""
    if not isinstance(value, str) or _NUMBER_RE.fullmatch(value) is None:
        raise FlowError(node, f"number {value!r} must be an optional '+' and 2-20 digits")
    return value


def check_timeout(node: str | None, what: str, value: object) -> float:
    """A time-out in seconds: finite, above zero, at most :data:`MAX_TIMEOUT_S`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FlowError(node, f"{what} must be a number of seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0.0 < seconds <= MAX_TIMEOUT_S:
        raise FlowError(node, f"{what} must be above 0 and at most {MAX_TIMEOUT_S:g} s")
    return seconds


def check_retries(node: str | None, value: object) -> int:
    """How many times a failed input is retried: 0 to :data:`MAX_RETRIES`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRIES:
        raise FlowError(node, f"max_retries must be an integer from 0 to {MAX_RETRIES}")
    return value


def check_bool(node: str | None, what: str, value: object) -> bool:
    """A yes/no setting."""
    if not isinstance(value, bool):
        raise FlowError(node, f"{what} must be true or false")
    return value


def compile_digit_pattern(node: str | None, pattern: object) -> re.Pattern[str]:
    """Compile a collect node's validation pattern, within the safe subset (module docstring)."""
    if not isinstance(pattern, str) or not pattern:
        raise FlowError(node, "pattern must be a non-empty string")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise FlowError(node, f"pattern is longer than {MAX_PATTERN_CHARS} characters")
    bad = sorted(set(pattern) - _PATTERN_CHARS)
    if bad:
        raise FlowError(node, f"pattern {pattern!r}: character {bad[0]!r} is not allowed")
    _scan_pattern(node, pattern)
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise FlowError(
            node, f"pattern {pattern!r} is not a valid regular expression: {exc}"
        ) from exc


def _scan_pattern(node: str | None, pattern: str) -> None:
    """Count variable quantifiers and refuse repetition of groups (module docstring)."""
    variable = 0
    i = 0
    in_class = False
    previous = ""  # the last token outside a class: "char", "group", "quant" or ""
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt not in ("d", "*"):
                raise FlowError(node, f"pattern {pattern!r}: only \\d and \\* may be escaped")
            i += 2
            previous = previous if in_class else "char"
            continue
        if in_class:
            in_class = ch != "]"
            previous = "char" if not in_class else previous
            i += 1
            continue
        if ch == "[":
            in_class = True
        elif ch in "?*+{":
            size = 1
            fixed = False
            if ch == "{":
                brace = _BRACE_RE.match(pattern, i)
                if brace is None:
                    raise FlowError(node, f"pattern {pattern!r}: a brace needs {{m}} or {{m,n}}")
                size = brace.end() - i
                fixed = brace.group(2) is None
            if previous == "group" and ch != "?":
                raise FlowError(
                    node,
                    f"pattern {pattern!r}: a group may not be repeated; repeat a class instead",
                )
            if previous == "quant" and ch != "?":
                raise FlowError(node, f"pattern {pattern!r}: nested repetition is not allowed")
            variable += 0 if fixed else 1
            previous = "quant"
            i += size
            continue
        else:
            previous = "group" if ch == ")" else "char"
        i += 1
    if variable > MAX_VARIABLE_QUANTIFIERS:
        raise FlowError(
            node,
            f"pattern {pattern!r} has more than {MAX_VARIABLE_QUANTIFIERS} variable repetitions",
        )
