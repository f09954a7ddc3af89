"""REFER and its implicit subscription (RFC 3515), Referred-By (RFC 3892), Refer-Sub (RFC 4488).

Incoming REFER (§2.4.2): exactly one ``Refer-To``; the session answers 202,
then sends a NOTIFY right away (``SIP/2.0 100 Trying``, §2.4.4) unless the
REFER said ``Refer-Sub: false``; later NOTIFYs report the referenced
request's progress, the final one with ``Subscription-State: terminated``.

Outgoing REFER: the subscription id is the REFER's CSeq number (§2.4.6);
NOTIFYs carry ``Event: refer;id=<that number>`` (the id may be missing for
the first REFER of a dialog) and a ``message/sipfrag`` body (§2.4.5).

:class:`ReferSubscriptions` keeps both sets of ids, bounded.
"""

from __future__ import annotations

from collections.abc import Iterable

from hotline.core.errors import RemoteProtocolError
from hotline.sip.dlg_headers import (
    EventHeader,
    ReferTo,
    SipfragStatus,
    SubscriptionState,
    parse_event,
    parse_refer_to,
    parse_referred_by,
    parse_sipfrag,
    parse_subscription_state,
)
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest

__all__ = [
    "MAX_REFER_SUBSCRIPTIONS",
    "REFER_EXPIRES_S",
    "SIPFRAG_CONTENT_TYPE",
    "ReferRequest",
    "ReferSubscriptions",
    "notify_headers",
    "read_notify",
    "read_refer",
    "refer_headers",
]

#: Content-Type of NOTIFY bodies for the refer event package (RFC 3515 §2.4.5).
SIPFRAG_CONTENT_TYPE = "message/sipfrag;version=2.0"
#: The lifetime we give an implicit refer subscription (RFC 3515 leaves it to the notifier).
REFER_EXPIRES_S = 60
#: Open refer subscriptions kept per dialog in each direction.
MAX_REFER_SUBSCRIPTIONS = 8


class ReferRequest:
    """What an incoming REFER asks for, validated (§2.4.2)."""

    __slots__ = ("refer_to", "referred_by", "subscription")

    def __init__(self, refer_to: ReferTo, referred_by: NameAddr | None, subscription: bool) -> None:
        self.refer_to = refer_to
        self.referred_by = referred_by
        self.subscription = subscription


def read_refer(request: SipRequest) -> ReferRequest:
    """Validate a REFER: one Refer-To (else 400), optional Referred-By and Refer-Sub."""
    values = request.headers.values("Refer-To")
    if len(values) != 1:
        raise RemoteProtocolError("REFER needs exactly one Refer-To", status_hint=400)
    refer_to = parse_refer_to(values[0])
    by_values = request.headers.get_all("Referred-By")
    if len(by_values) > 1:
        raise RemoteProtocolError("more than one Referred-By", status_hint=400)
    referred_by = parse_referred_by(by_values[0]) if by_values else None
    refer_sub = request.headers.get("Refer-Sub")
    subscription = refer_sub is None or refer_sub.strip().lower() != "false"
    return ReferRequest(refer_to, referred_by, subscription)


def refer_headers(refer_to: ReferTo, referred_by: NameAddr | None) -> list[tuple[str, str]]:
    """Headers of an outgoing REFER (Contact is the dialog's business)."""
    headers = [("Refer-To", str(refer_to))]
    if referred_by is not None:
        headers.append(("Referred-By", str(referred_by)))
    return headers


def notify_headers(refer_id: str, sipfrag: SipfragStatus) -> list[tuple[str, str]]:
    """Event and Subscription-State of a refer NOTIFY; a final status ends the subscription."""
    if sipfrag.final:
        state = SubscriptionState("terminated", reason="noresource")
    else:
        state = SubscriptionState("active", expires_s=REFER_EXPIRES_S)
    return [
        ("Event", str(EventHeader("refer", refer_id))),
        ("Subscription-State", str(state)),
    ]


def read_notify(request: SipRequest) -> tuple[EventHeader, SubscriptionState, SipfragStatus]:
    """Validate a refer NOTIFY: 489 for another event package, 400 when malformed."""
    event_value = request.headers.get("Event")
    if event_value is None:
        raise RemoteProtocolError("NOTIFY without Event", status_hint=400)
    event = parse_event(event_value)
    if event.package != "refer":
        raise RemoteProtocolError(f"event package {event.package!r} not supported", status_hint=489)
    state_value = request.headers.get("Subscription-State")
    if state_value is None:
        raise RemoteProtocolError("NOTIFY without Subscription-State", status_hint=400)
    return event, parse_subscription_state(state_value), parse_sipfrag(request.body)


class ReferSubscriptions:
    """Refer subscription ids of one dialog: ``ours`` (REFERs we sent), ``theirs`` (we notify)."""

    __slots__ = ("_ours", "_theirs")

    def __init__(self) -> None:
        self._ours: list[str] = []
        self._theirs: list[str] = []

    @property
    def ours(self) -> tuple[str, ...]:
        """Ids of our REFERs whose subscription is open."""
        return tuple(self._ours)

    @property
    def theirs(self) -> tuple[str, ...]:
        """Ids of the peer's REFERs we still owe NOTIFYs."""
        return tuple(self._theirs)

    @staticmethod
    def _add(ids: list[str], refer_id: str) -> None:
        if refer_id in ids:
            return
        if len(ids) >= MAX_REFER_SUBSCRIPTIONS:
            del ids[0]
        ids.append(refer_id)

    def add_ours(self, refer_id: str) -> None:
        """We sent a REFER with this id."""
        self._add(self._ours, refer_id)

    def add_theirs(self, refer_id: str) -> None:
        """We accepted the peer's REFER with this id and will notify."""
        self._add(self._theirs, refer_id)

    def match_ours(self, event_id: str | None) -> str | None:
        """The id a NOTIFY refers to: its ``id``, or our first REFER when it has none (§2.4.6)."""
        if event_id is None:
            return self._ours[0] if self._ours else None
        return event_id if event_id in self._ours else None

    def end_ours(self, refer_id: str) -> None:
        """Our subscription ended (final NOTIFY, or the REFER failed)."""
        if refer_id in self._ours:
            self._ours.remove(refer_id)

    def end_theirs(self, refer_id: str) -> None:
        """We sent the final NOTIFY."""
        if refer_id in self._theirs:
            self._theirs.remove(refer_id)

    def end_all(self, ids: Iterable[str]) -> None:
        """Forget every id in ``ids`` on both sides."""
        for refer_id in list(ids):
            self.end_ours(refer_id)
            self.end_theirs(refer_id)
