from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from hotline.app.logs import configure_logging, mask_phone, mask_phones_in_text


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("+79123456789", "+7******6789"),
        ("89123456789", "8******6789"),
        ("+7 (912) 345-67-89", "+7******6789"),
        ("122", "122"),
        ("1001", "1001"),
    ],
)
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


def test_mask_in_free_text_keeps_short_numbers_and_ids() -> None:
    text = "call from +79123456789 to 122 via sip:89001234567@trunk, queue 5, call_id a1b2c3"
    out = mask_phones_in_text(text)
    assert "+79123456789" not in out and "89001234567" not in out
    assert "+7******6789" in out and "8******4567" in out
    assert " to 122 " in out and "queue 5" in out and "a1b2c3" in out


@pytest.fixture
def json_log() -> io.StringIO:
    stream = io.StringIO()
    configure_logging("json", "debug", stream=stream)
    yield stream
    structlog.contextvars.clear_contextvars()
    logging.getLogger().handlers.clear()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_call_id_and_mask_numbers_at_info(json_log: io.StringIO) -> None:
    log = structlog.get_logger("hotline.test")
    structlog.contextvars.bind_contextvars(call_id="c0ffee")
    log.info("call arrived", caller="+79123456789", note="callback to 89001234567")
    log.debug("raw", caller="+79123456789")
    first, second = _lines(json_log)
    assert first["call_id"] == "c0ffee"
    assert first["caller"] == "+7******6789"
    assert first["note"] == "callback to 8******4567"
    assert first["level"] == "info" and first["event"] == "call arrived"
    # DEBUG is for developers on a test system: numbers stay readable there.
    assert second["caller"] == "+79123456789"


def test_stdlib_loggers_go_through_the_same_pipeline(json_log: io.StringIO) -> None:
    logging.getLogger("some.library").warning("peer +79123456789 refused")
    (line,) = _lines(json_log)
    assert line["event"] == "peer +7******6789 refused"
    assert line["logger"] == "some.library"


def test_console_format_is_readable() -> None:
    stream = io.StringIO()
    configure_logging("console", "info", stream=stream)
    try:
        structlog.get_logger("x").info("hello", caller="+79123456789")
    finally:
        logging.getLogger().handlers.clear()
    text = stream.getvalue()
    assert "hello" in text and "+7******6789" in text
    assert not text.lstrip().startswith("{")
