"""Structured logging: JSON lines for services, readable lines in a terminal.

The call id travels in context (``structlog.contextvars.bind_contextvars(call_id=...)``)
so every line logged while handling a call carries it.  Callers' phone numbers
are personal data: at INFO and above they are masked (``+7******4567``),
both in fields known to hold numbers and in free text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import structlog

__all__ = ["PHONE_FIELDS", "configure_logging", "mask_phone", "mask_phones_in_text"]

# Fields whose value is a phone number or a SIP URI holding one.
PHONE_FIELDS = frozenset(
    {
        "caller",
        "callee",
        "number",
        "phone",
        "caller_number",
        "callee_number",
        "from_number",
        "to_number",
        "ani",
        "dnis",
        "from_uri",
        "to_uri",
    }
)

# A run of 7..15 digits, optionally led by '+' and broken by spaces, dashes or
# brackets as people write them: +7 (912) 345-67-89, 89123456789, 8-912-345-67-89.
_PHONE_RE = re.compile(r"(?<![\w.])\+?\d(?:[\s\-()]*\d){6,14}(?![\w.])")
_KEEP_DIGITS = 4
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def mask_phone(value: str) -> str:
    """Keep a leading '+', the first digit and the last four digits; star the rest."""
    digits = [c for c in value if c.isdigit()]
    if len(digits) <= _KEEP_DIGITS + 1:
        return value
    lead = "+" if value.lstrip().startswith("+") else ""
    hidden = len(digits) - _KEEP_DIGITS - 1
    return f"{lead}{digits[0]}{'*' * hidden}{''.join(digits[-_KEEP_DIGITS:])}"


def mask_phones_in_text(text: str) -> str:
    """Mask every phone-number-like run of digits inside ``text``."""
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)


def _mask_processor(
    _logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> Mapping[str, Any]:
    if _LEVELS.get(method_name, logging.INFO) < logging.INFO:
        return event_dict
    for key, value in list(event_dict.items()):
        if isinstance(value, str):
            event_dict[key] = (
                mask_phones_in_text(value) if key not in PHONE_FIELDS else _mask_field(value)
            )
    return event_dict


def _mask_field(value: str) -> str:
    masked = mask_phones_in_text(value)
    if masked == value:
        # A short number or a URI user part that the text rule did not catch.
        return mask_phone(value)
    return masked


def configure_logging(
    fmt: Literal["json", "console"] | None, level: str = "info", *, stream: Any = None
) -> None:
    """Set up structlog and the stdlib root logger once for the process.

    ``fmt=None`` picks ``console`` when stderr is a terminal and ``json`` otherwise.
    """
    out = stream if stream is not None else sys.stderr
    if fmt is None:
        fmt = "console" if out.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_processor,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info if fmt == "json" else structlog.dev.set_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level, logging.INFO))
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
