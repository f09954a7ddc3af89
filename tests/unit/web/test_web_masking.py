"""Callers' numbers for roles without personal data; medical topics; role permissions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.web.masking import mask_number, may_see_topic, number_for
from hotline.web.permissions import Permission, permissions_of


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+79991234567", "+7 999 ***-**-67"),
        ("79991234567", "+7 999 ***-**-67"),
        ("89991234567", "8 999 ***-**-67"),
        ("+7 (999) 123-45-67", "+7 999 ***-**-67"),
        ("+442071234567", "+4*********67"),
        ("5551234", "5****34"),
        ("122", "122"),
        ("1001", "1001"),
        ("", ""),
    ],
)
def test_mask_number(number: str, masked: str) -> None:
    assert mask_number(number) == masked


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="+0123456789 ()-", max_size=30))
def test_masked_numbers_never_show_more_than_six_digits(number: str) -> None:
    digits = [c for c in mask_number(number) if c.isdigit()]
    original = [c for c in number if c.isdigit()]
    if len(original) > 4:
        assert len(digits) <= 6
        assert digits[-2:] == original[-2:]


def test_number_for_each_role() -> None:
    number = "+79991234567"
    assert number_for(permissions_of("operator"), number) == number
    assert number_for(permissions_of("supervisor"), number) == number
    assert number_for(permissions_of("auditor"), number) == "+7 999 ***-**-67"
    assert number_for(permissions_of("administrator"), number) == "+7 999 ***-**-67"
    assert number_for(permissions_of("auditor"), None) is None


def test_medical_topic_needs_medical_secrecy() -> None:
    plain = permissions_of("supervisor")
    medic = permissions_of("supervisor", ["medical_secrecy", "no.such.permission"])
    assert Permission.MEDICAL_SECRECY in medic and len(medic) == len(plain) + 1
    assert may_see_topic(plain, "social") and may_see_topic(plain, None)
    assert not may_see_topic(plain, "health")
    assert may_see_topic(medic, "health")
    assert permissions_of("no-such-role", ["audit.read"]) == {Permission.AUDIT_READ}
