"""Russian numbering plan: parsing, kinds, display, masking and dialling forms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hotline.calls.numbers as numbers_module
from hotline.app.logs import mask_phone
from hotline.calls.numbers import (
    DEFAULT_SHORT_NUMBERS,
    DialFormat,
    NumberingPlan,
    NumberKind,
    PhoneNumber,
    mask_number,
    parse_caller_id,
    parse_number,
)
from hotline.core.errors import LimitExceededError, RemoteProtocolError
from hotline.sip.uri import AbsoluteUri, SipUri, TelUri, parse_uri

MOBILE = "+79123456789"

VALID = [
    ("+79123456789", MOBILE, NumberKind.MOBILE),
    ("89123456789", MOBILE, NumberKind.MOBILE),
    ("79123456789", MOBILE, NumberKind.MOBILE),
    ("9123456789", MOBILE, NumberKind.MOBILE),
    ("8 (912) 345-67-89", MOBILE, NumberKind.MOBILE),
    ("+7 912 345 67 89", MOBILE, NumberKind.MOBILE),
    ("8-912-345-67-89", MOBILE, NumberKind.MOBILE),
    ("  +7.912.345.67.89 ", MOBILE, NumberKind.MOBILE),
    ("tel:+7-912-345-67-89", MOBILE, NumberKind.MOBILE),
    ("sip:+79123456789@trunk;user=phone", MOBILE, NumberKind.MOBILE),
    ("sip:89123456789@10.0.0.1:5060", MOBILE, NumberKind.MOBILE),
    ("sip:+79123456789;isub=12@trunk;user=phone", MOBILE, NumberKind.MOBILE),
    ("SIP:+79123456789@trunk", MOBILE, NumberKind.MOBILE),
    ("84951234567", "+74951234567", NumberKind.GEOGRAPHIC),
    ("4951234567", "+74951234567", NumberKind.GEOGRAPHIC),
    ("8123456789", "+78123456789", NumberKind.GEOGRAPHIC),  # St Petersburg, no prefix
    ("88123456789", "+78123456789", NumberKind.GEOGRAPHIC),
    ("+73012123456", "+73012123456", NumberKind.GEOGRAPHIC),
    ("8 800 123-45-67", "+78001234567", NumberKind.TOLL_FREE),
    ("88041234567", "+78041234567", NumberKind.TOLL_FREE),
    ("88091234567", "+78091234567", NumberKind.PREMIUM),
    ("+78031234567", "+78031234567", NumberKind.PREMIUM),
    ("+78011234567", "+78011234567", NumberKind.UNKNOWN),
    ("+77012345678", "+77012345678", NumberKind.INTERNATIONAL),  # Kazakhstan, zone 7
    ("81049301234567", "+49301234567", NumberKind.INTERNATIONAL),
    ("810 49 30 1234567", "+49301234567", NumberKind.INTERNATIONAL),
    ("+49 30 1234567", "+49301234567", NumberKind.INTERNATIONAL),
    ("+375 29 123-45-67", "+375291234567", NumberKind.INTERNATIONAL),
    ("122", "122", NumberKind.SHORT),
    ("112", "112", NumberKind.SHORT),
    ("01", "01", NumberKind.SHORT),
    ("04", "04", NumberKind.SHORT),
    ("101", "101", NumberKind.SHORT),
    ("104", "104", NumberKind.SHORT),
    ("sip:122@127.0.0.1", "122", NumberKind.SHORT),
    ("tel:122;phone-context=+7", "122", NumberKind.SHORT),
]


@pytest.mark.parametrize(("text", "number", "kind"), VALID)
def test_valid_numbers_normalise(text: str, number: str, kind: NumberKind) -> None:
    parsed = parse_number(text)
    assert parsed == PhoneNumber(number, kind)
    assert str(parsed) == number


INVALID = [
    ("", 484),
    ("+", 484),
    ("()", 484),
    ("810", 484),
    ("8912345", 484),  # too short
    ("912345678", 484),  # nine digits
    ("8912345678", 484),  # ten digits 89…: 8 + a mobile number missing a digit
    ("+7912345678", 484),
    ("+7122", 484),  # zone 7 with three digits
    ("999", 484),  # not a known short number
    ("+4930", 484),  # foreign, too short for E.164
    ("891234567890", 404),  # twelve digits
    ("+791234567890", 404),
    ("+70123456789", 404),  # unassigned NSN ranges 0, 1, 2, 5, 89
    ("+71123456789", 404),
    ("+72123456789", 404),
    ("+75123456789", 404),
    ("+78912345678", 404),
    ("+78101234567", 404),  # 810 is the international prefix, never an area code
    ("49301234567", 404),  # international without + or 810
    ("+0123456789", 404),
    ("+1234567890123456", 404),  # 16 digits
    ("hello", 404),
    ("12a4", 404),
    ("*122#", 404),
    ("+7 912 345 67 89 ext 5", 404),
    ("anonymous", 404),
    ("sip:hotline-abc@10.0.0.1", 404),
    ("sip:10.0.0.1", 404),
    ("sip:+7912@", 400),  # malformed URI
]


@pytest.mark.parametrize(("text", "status"), INVALID)
def test_invalid_numbers_say_what_to_answer(text: str, status: int) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_number(text)
    assert info.value.status_hint == status


def test_error_messages_mask_the_number() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_number("+79123456789012")
    assert "9123456789012" not in str(info.value)


def test_limits_on_text_and_digits() -> None:
    with pytest.raises(LimitExceededError) as info:
        parse_number("1" * 300)
    assert info.value.status_hint == 404
    with pytest.raises(LimitExceededError):
        parse_number("8" * 19)


def test_uri_objects_are_accepted() -> None:
    assert parse_number(SipUri(host="trunk", user="89123456789")).number == MOBILE
    assert parse_number(TelUri("+7-912-345-67-89")).number == MOBILE
    assert parse_number(parse_uri("sip:122@hotline")).kind is NumberKind.SHORT
    with pytest.raises(RemoteProtocolError) as info:
        parse_number(AbsoluteUri("mailto", "x@y"))
    assert info.value.status_hint == 404


@pytest.mark.parametrize(
    ("text", "display"),
    [
        (MOBILE, "+7 912 345-67-89"),
        ("88001234567", "+7 800 123-45-67"),
        ("+49301234567", "+49301234567"),
        ("122", "122"),
    ],
)
def test_display(text: str, display: str) -> None:
    assert parse_number(text).display() == display


@pytest.mark.parametrize(
    ("text", "masked"),
    [(MOBILE, "+7******6789"), ("+49301234567", "+4******4567"), ("122", "122"), ("01", "01")],
)
def test_masked_for_logs(text: str, masked: str) -> None:
    assert parse_number(text).masked() == masked


@given(st.text(alphabet="+0123456789 -()abc", max_size=30))
@settings(max_examples=200, deadline=None)
def test_mask_rule_equals_the_log_processor(text: str) -> None:
    assert mask_number(text) == mask_phone(text)


DIAL = [
    (MOBILE, DialFormat.E164, "+79123456789"),
    (MOBILE, DialFormat.DIGITS, "79123456789"),
    (MOBILE, DialFormat.NATIONAL, "89123456789"),
    (MOBILE, DialFormat.NSN, "9123456789"),
    ("+49301234567", DialFormat.E164, "+49301234567"),
    ("+49301234567", DialFormat.DIGITS, "49301234567"),
    ("+49301234567", DialFormat.NATIONAL, "81049301234567"),
    ("+49301234567", DialFormat.NSN, "81049301234567"),
    ("112", DialFormat.NATIONAL, "112"),
    ("122", DialFormat.E164, "122"),
]


@pytest.mark.parametrize(("text", "fmt", "dialled"), DIAL)
def test_dial_forms(text: str, fmt: DialFormat, dialled: str) -> None:
    assert parse_number(text).dial(fmt) == dialled


def test_properties() -> None:
    mobile = parse_number(MOBILE)
    assert (mobile.e164, mobile.short, mobile.nsn, mobile.is_zone7) == (
        MOBILE,
        None,
        "9123456789",
        True,
    )
    short = parse_number("122")
    assert (short.e164, short.short, short.nsn, short.is_emergency) == (None, "122", None, False)
    assert parse_number("112").is_emergency
    assert parse_number("+49301234567").nsn is None


def test_caller_id_is_lenient() -> None:
    assert parse_caller_id(parse_uri("sip:89123456789@operator.example")) == PhoneNumber(
        MOBILE, NumberKind.MOBILE
    )
    assert parse_caller_id(parse_uri("sip:anonymous@anonymous.invalid")) is None
    assert parse_caller_id("1234") is None
    assert parse_caller_id(None) is None


def test_a_plan_with_local_short_numbers() -> None:
    plan = NumberingPlan(short_numbers=DEFAULT_SHORT_NUMBERS | {"115"})
    assert plan.parse("115") == PhoneNumber("115", NumberKind.SHORT)
    with pytest.raises(RemoteProtocolError):
        parse_number("115")


zone7_nsn = (
    st.builds(
        lambda head, rest: head + rest,
        st.sampled_from(["9", "3", "4", "81", "86", "800", "804", "809", "7"]),
        st.text(alphabet="0123456789", min_size=9, max_size=9),
    )
    .map(lambda s: s[:10])
    .filter(lambda nsn: not nsn.startswith("810"))
)


@given(zone7_nsn, st.sampled_from(list(DialFormat)))
@settings(max_examples=200, deadline=None)
def test_every_dial_form_of_a_zone7_number_parses_back(nsn: str, fmt: DialFormat) -> None:
    number = parse_number("+7" + nsn)
    assert parse_number(number.dial(fmt)) == number
    assert parse_number(number.display()) == number


@given(st.text(max_size=80))
@settings(max_examples=200, deadline=None)
def test_any_text_parses_or_raises_a_remote_error(text: str) -> None:
    status: int | None = None
    try:
        parsed = parse_number(text)
    except RemoteProtocolError as exc:
        status = exc.status_hint
    else:
        assert parse_number(parsed.number) == parsed
    assert status in (None, 400, 404, 484)


def test_public_surface() -> None:
    assert set(numbers_module.__all__) == {
        "DEFAULT_PLAN",
        "DEFAULT_SHORT_NUMBERS",
        "EMERGENCY_NUMBERS",
        "MAX_NUMBER_TEXT",
        "DialFormat",
        "NumberKind",
        "NumberingPlan",
        "PhoneNumber",
        "mask_number",
        "parse_caller_id",
        "parse_number",
    }
