"""Telephone numbers of the Russian numbering plan: parse, classify, format, dial.

Pure code (no I/O, no clock).  Every number that enters the platform (the
Request-URI or To of an inbound call, a caller id, a number an operator dials)
goes through :func:`parse_number` and comes out as a :class:`PhoneNumber` in
one canonical form: E.164 (``+79123456789``, ITU-T E.164 §6) for full
numbers, the digits themselves for short service numbers (``122``, ``112``).

Zone 7 (Russia and Kazakhstan) has a closed 10-digit national significant
number (NSN).  Russian subscribers write it with the trunk prefix ``8``
(``8 912 345-67-89``), with the country code (``+7``, ``7``) or bare
(``912 345 67 89``); the international prefix is ``810`` (``810 49 30…`` is
``+4930…``).  The kind of a zone-7 number follows from the first digits of
its NSN (the ABC/DEF code):

=============  ============================================================
NSN starts     kind
=============  ============================================================
``3``, ``4``   GEOGRAPHIC (ABC codes)
``800 804``    TOLL_FREE ("8-800")
``803 809``    PREMIUM (paid information services)
``801 802``,   UNKNOWN (non-geographic services without a settled class)
``805``-``808``
``81``-``88``  GEOGRAPHIC (but ``810``, the international prefix, is never an ABC)
``89``         not assigned; a 10-digit ``89…`` is ``8`` + a mobile number
               with a digit missing (484 Address Incomplete)
``9``          MOBILE (DEF codes)
``6``, ``7``   INTERNATIONAL (Kazakhstan's share of zone 7)
``0 1 2 5``    not assigned (404)
=============  ============================================================

Short numbers (``01``–``04``, ``101``–``104``, ``112``, ``122``) come from
:class:`NumberingPlan` so that an administrator can add local ones.  Foreign
numbers are checked for E.164 length only (7 to 15 digits), not against each
country's plan: the trunk answers for those.

Errors are :class:`~hotline.core.errors.RemoteProtocolError` with the SIP
answer as ``status_hint`` (RFC 3261 §21.4.5 404 Not Found for a number that
cannot exist, §21.4.22 484 Address Incomplete for one that is too short).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from hotline.core.errors import LimitExceededError, RemoteProtocolError
from hotline.sip.uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri

__all__ = [
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
]

#: Longest text accepted as a number (a URI with parameters included).
MAX_NUMBER_TEXT = 256
#: Most digits accepted before interpretation (``810`` + 15 E.164 digits).
_MAX_RAW_DIGITS = 18
_E164_MIN_DIGITS = 7
_E164_MAX_DIGITS = 15
_NSN_DIGITS = 10
_ZONE = "7"
_TRUNK_PREFIX = "8"
_INTERNATIONAL_PREFIX = "810"
_KEEP_DIGITS = 4

#: Emergency services (RFC 5031-style "sos" numbers of Russia): the unified 112,
#: the fixed-line 01–04 and the mobile 101–104.
EMERGENCY_NUMBERS = frozenset({"01", "02", "03", "04", "101", "102", "103", "104", "112"})
#: The short numbers known by default: emergency services and the 122 hotline.
DEFAULT_SHORT_NUMBERS = EMERGENCY_NUMBERS | {"122"}

# Digits, one leading '+', and the visual separators people and RFC 3966 use.
_TEXT_RE = re.compile(r"\+?[0-9 \t\-.()]*")
_SEPARATORS = str.maketrans("", "", " \t-.()")


class NumberKind(Enum):
    """What a number reaches; outbound routing and policy key on it."""

    MOBILE = "mobile"
    GEOGRAPHIC = "geographic"
    TOLL_FREE = "toll_free"
    PREMIUM = "premium"
    SHORT = "short"
    INTERNATIONAL = "international"
    UNKNOWN = "unknown"


class DialFormat(Enum):
    """How a trunk wants the number in its Request-URI user part.

    ======== ================ ===================
    format   zone 7           elsewhere
    ======== ================ ===================
    E164     ``+79123456789`` ``+4930123456``
    DIGITS   ``79123456789``  ``4930123456``
    NATIONAL ``89123456789``  ``8104930123456``
    NSN      ``9123456789``   ``8104930123456``
    ======== ================ ===================

    Short numbers are dialled as they are in every format.
    """

    E164 = "e164"
    DIGITS = "digits"
    NATIONAL = "national"
    NSN = "nsn"


def _bad_number(problem: str, status: int) -> RemoteProtocolError:
    return RemoteProtocolError(f"telephone number {problem}", status_hint=status)


def mask_number(text: str) -> str:
    """Mask a number for logs: a leading ``+``, the first digit and the last four stay.

    The rule of ``hotline.app.logs.mask_phone`` (kept equal by a test):
    ``+79123456789`` → ``+7******6789``; five digits or fewer are left as they are.
    """
    digits = [c for c in text if c.isdigit()]
    if len(digits) <= _KEEP_DIGITS + 1:
        return text
    lead = "+" if text.lstrip().startswith("+") else ""
    hidden = len(digits) - _KEEP_DIGITS - 1
    return f"{lead}{digits[0]}{'*' * hidden}{''.join(digits[-_KEEP_DIGITS:])}"


def _zone7_kind(nsn: str) -> NumberKind | None:
    """Kind of a 10-digit zone-7 NSN, None when the range is not assigned."""
    first, abc = nsn[0], nsn[:3]
    if first == "9":
        return NumberKind.MOBILE
    if first in "34":
        return NumberKind.GEOGRAPHIC
    if first in "67":
        return NumberKind.INTERNATIONAL
    if first != "8":
        return None
    if abc in ("800", "804"):
        return NumberKind.TOLL_FREE
    if abc in ("803", "809"):
        return NumberKind.PREMIUM
    if abc[1] == "0":
        return NumberKind.UNKNOWN
    if abc[1] == "9" or abc == "810":
        return None
    return NumberKind.GEOGRAPHIC


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A number in canonical form: ``+`` and E.164 digits, or a short number's digits."""

    number: str
    kind: NumberKind

    @property
    def e164(self) -> str | None:
        """``+79123456789``; None for a short number."""
        return self.number if self.number.startswith("+") else None

    @property
    def short(self) -> str | None:
        """``122``; None for a full number."""
        return None if self.number.startswith("+") else self.number

    @property
    def is_zone7(self) -> bool:
        """True for a full number of zone 7 (Russia or Kazakhstan)."""
        return self.number.startswith("+" + _ZONE)

    @property
    def nsn(self) -> str | None:
        """The 10-digit national significant number of a zone-7 number."""
        return self.number[2:] if self.is_zone7 else None

    @property
    def is_emergency(self) -> bool:
        """True for 112, 01–04, 101–104."""
        return self.number in EMERGENCY_NUMBERS

    def display(self) -> str:
        """For people: ``+7 912 345-67-89``; foreign numbers ungrouped; short as is."""
        nsn = self.nsn
        if nsn is None:
            return self.number
        return f"+7 {nsn[:3]} {nsn[3:6]}-{nsn[6:8]}-{nsn[8:]}"

    def masked(self) -> str:
        """For logs: ``+7******6789``; short numbers stay readable."""
        return mask_number(self.number)

    def dial(self, fmt: DialFormat) -> str:
        """The digits a trunk wants in its Request-URI (see :class:`DialFormat`)."""
        if self.short is not None or fmt is DialFormat.E164:
            return self.number
        digits = self.number[1:]
        if fmt is DialFormat.DIGITS:
            return digits
        nsn = self.nsn
        if nsn is None:
            return _INTERNATIONAL_PREFIX + digits
        return _TRUNK_PREFIX + nsn if fmt is DialFormat.NATIONAL else nsn

    def __str__(self) -> str:
        return self.number


@dataclass(frozen=True, slots=True)
class NumberingPlan:
    """The plan numbers are read with: zone 7 and its short numbers."""

    short_numbers: frozenset[str] = DEFAULT_SHORT_NUMBERS

    def parse(self, value: str | Uri) -> PhoneNumber:
        """Parse text or a URI into a :class:`PhoneNumber`.

        Accepts ``+79123456789``, ``89123456789``, ``79123456789``, ``9123456789``,
        ``8 (912) 345-67-89``, ``tel:+7-912-345-67-89``,
        ``sip:+79123456789@trunk;user=phone``, ``810…``, and the short numbers.
        Raises ``RemoteProtocolError`` (404 or 484; 400 for a malformed URI).
        """
        text = value if isinstance(value, str) else _uri_number(value)
        if len(text) > MAX_NUMBER_TEXT:
            raise LimitExceededError(
                f"telephone number longer than {MAX_NUMBER_TEXT} characters", status_hint=404
            )
        text = text.strip()
        if text[:4].lower() in ("sip:", "tel:") or text[:5].lower() == "sips:":
            text = _uri_number(parse_uri(text, "telephone number"))
        if _TEXT_RE.fullmatch(text) is None:
            raise _bad_number(f"{mask_number(text[:40])!r} has characters other than digits", 404)
        plus = text.startswith("+")
        digits = text.translate(_SEPARATORS).lstrip("+")
        if not digits:
            raise _bad_number("has no digits", 484)
        if len(digits) > _MAX_RAW_DIGITS:
            raise LimitExceededError(
                f"telephone number has more than {_MAX_RAW_DIGITS} digits", status_hint=404
            )
        if plus:
            return _full(digits)
        if digits in self.short_numbers:
            return PhoneNumber(digits, NumberKind.SHORT)
        if digits.startswith(_INTERNATIONAL_PREFIX):
            # NSNs 10x are not assigned, so ``810…`` is always the international prefix.
            return _full(digits[len(_INTERNATIONAL_PREFIX) :])
        if len(digits) == _NSN_DIGITS + 1 and digits[0] in (_TRUNK_PREFIX, _ZONE):
            return _zone7(digits[1:])
        if len(digits) == _NSN_DIGITS:
            if digits.startswith("89"):
                raise _bad_number(f"{mask_number(digits)} misses a digit", 484)
            return _zone7(digits)
        if len(digits) < _NSN_DIGITS:
            raise _bad_number(f"{mask_number(digits)} is incomplete", 484)
        raise _bad_number(
            f"{mask_number(digits)} is not a Russian number (international needs + or 810)", 404
        )

    def caller_id(self, value: str | Uri | None) -> PhoneNumber | None:
        """Lenient parse of a caller's number (From / P-Asserted-Identity): None when unusable.

        A caller id is information, not an address: ``anonymous``, an odd PBX
        extension or an unassigned range must not refuse the call.
        """
        if value is None:
            return None
        try:
            return self.parse(value)
        except RemoteProtocolError:
            return None


def _uri_number(uri: Uri) -> str:
    """The telephone number inside a URI: a tel number or a sip user part (§19.1.1)."""
    if isinstance(uri, TelUri):
        return uri.number
    if isinstance(uri, SipUri) and uri.user is not None:
        # telephone-subscriber parameters (isub, postd, phone-context) follow a ';'.
        return uri.user.split(";", 1)[0]
    where = uri.scheme if isinstance(uri, AbsoluteUri) else "sip URI without a user part"
    raise _bad_number(f"missing: {where[:20]!r} carries no number", 404)


def _full(digits: str) -> PhoneNumber:
    """``+`` and ``digits``: zone 7 by its plan, elsewhere by E.164 length."""
    if not digits:
        raise _bad_number("has a prefix but no number", 484)
    if digits.startswith(_ZONE):
        return _zone7(digits[1:])
    if digits[0] == "0":
        raise _bad_number("has no country code (it starts with 0)", 404)
    if len(digits) < _E164_MIN_DIGITS:
        raise _bad_number(f"+{mask_number(digits)} is incomplete", 484)
    if len(digits) > _E164_MAX_DIGITS:
        raise _bad_number(f"has more than {_E164_MAX_DIGITS} digits (E.164 §6)", 404)
    return PhoneNumber("+" + digits, NumberKind.INTERNATIONAL)


def _zone7(nsn: str) -> PhoneNumber:
    if len(nsn) < _NSN_DIGITS:
        raise _bad_number(f"+7{mask_number(nsn)} is incomplete", 484)
    if len(nsn) > _NSN_DIGITS:
        raise _bad_number(f"+7{mask_number(nsn)} is too long", 404)
    kind = _zone7_kind(nsn)
    if kind is None:
        raise _bad_number(f"+7{mask_number(nsn)} is in an unassigned range", 404)
    return PhoneNumber("+" + _ZONE + nsn, kind)


#: The plan used when none is given.
DEFAULT_PLAN = NumberingPlan()


def parse_number(value: str | Uri, plan: NumberingPlan = DEFAULT_PLAN) -> PhoneNumber:
    """Parse with ``plan`` (see :meth:`NumberingPlan.parse`)."""
    return plan.parse(value)


def parse_caller_id(
    value: str | Uri | None, plan: NumberingPlan = DEFAULT_PLAN
) -> PhoneNumber | None:
    """Lenient parse of a caller id (see :meth:`NumberingPlan.caller_id`)."""
    return plan.caller_id(value)
