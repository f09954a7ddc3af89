"""REFER and NOTIFY (RFC 3515), Replaces (RFC 3891), Referred-By (RFC 3892) in sessions."""

from __future__ import annotations

import pytest
from test_sip_dialog_wire import (
    OUR_TAG,
    YEALINK_TAG,
    asterisk_invite,
    connected_yealink_call,
    drain,
    events,
    incoming,
    yealink_request,
    yealink_response,
)

from hotline.core.errors import LocalProtocolError
from hotline.sip.dlg_events import (
    DialogTerminated,
    InviteReceived,
    NotifyReceived,
    ReferAnswered,
    ReferReceived,
    TerminationReason,
)
from hotline.sip.dlg_headers import (
    Replaces,
    SipfragStatus,
    build_refer_to,
    parse_refer_to,
)
from hotline.sip.dlg_session import InviteSession
from hotline.sip.dlg_table import DialogTable
from hotline.sip.hdr_types import NameAddr
from hotline.sip.uri import SipUri

BLIND = "Refer-To: <sip:202@10.0.0.1>\nReferred-By: <sip:201@10.0.0.1>\n"
ATTENDED = (
    "Refer-To: <sip:202@10.0.0.1?Replaces=4a2f6c1e%4010.0.0.50%3Bto-tag%3D8d2c1b"
    "%3Bfrom-tag%3D3176549233>\nReferred-By: <sip:201@10.0.0.1>\n"
)
SIPFRAG = "Content-Type: message/sipfrag;version=2.0\n"


def test_blind_transfer_from_the_phone_is_accepted_and_notified() -> None:
    session, _ = connected_yealink_call()
    session.receive_request(yealink_request("REFER", 3, headers=BLIND), 50.0)
    (notify,), (accepted,) = drain(session)
    assert accepted.status == 202 and accepted.to.tag == OUR_TAG
    assert [str(c.uri) for c in accepted.contacts()] == ["sip:hotline@10.0.0.1:5060"]
    assert notify.method == "NOTIFY" and notify.to.tag == YEALINK_TAG
    assert notify.headers.get("Event") == "refer;id=3"
    assert notify.headers.get("Subscription-State") == "active;expires=60"
    assert notify.content_type == "message/sipfrag;version=2.0"
    assert notify.body == b"SIP/2.0 100 Trying\r\n"
    (event,) = events(session)
    assert isinstance(event, ReferReceived)
    assert event.refer_id == "3" and str(event.refer_to.uri) == "sip:202@10.0.0.1"
    assert event.replaces is None and event.subscription
    assert event.referred_by is not None and str(event.referred_by.uri) == "sip:201@10.0.0.1"

    session.notify_refer(55.0, "3", 200)
    (final,), _ = drain(session)
    assert final.body == b"SIP/2.0 200 OK\r\n"
    assert final.headers.get("Subscription-State") == "terminated;reason=noresource"
    assert final.cseq.number == notify.cseq.number + 1
    with pytest.raises(LocalProtocolError):
        session.notify_refer(56.0, "3", 200)


def test_attended_transfer_carries_the_replaces_to_match() -> None:
    session, _ = connected_yealink_call()
    session.receive_request(yealink_request("REFER", 3, headers=ATTENDED), 50.0)
    drain(session)
    (event,) = events(session)
    assert isinstance(event, ReferReceived)
    assert event.replaces == Replaces("4a2f6c1e@10.0.0.50", "8d2c1b", "3176549233")
    assert str(event.refer_to.uri) == "sip:202@10.0.0.1" and event.refer_to.method == "INVITE"


def test_refer_sub_false_gets_no_notify() -> None:
    session, _ = connected_yealink_call()
    session.receive_request(yealink_request("REFER", 3, headers=BLIND + "Refer-Sub: false\n"), 50.0)
    requests, (accepted,) = drain(session)
    assert requests == [] and accepted.headers.get("Refer-Sub") == "false"
    (event,) = events(session)
    assert isinstance(event, ReferReceived) and not event.subscription
    with pytest.raises(LocalProtocolError):
        session.notify_refer(51.0, "3", 200)


@pytest.mark.parametrize(
    "headers",
    ["", "Refer-To: <sip:a@h>\nRefer-To: <sip:b@h>\n", "Refer-To: <sip:a@h?Replaces=bad>\n"],
)
def test_refer_without_exactly_one_good_refer_to_is_400(headers: str) -> None:
    session, _ = connected_yealink_call()
    session.receive_request(yealink_request("REFER", 3, headers=headers), 50.0)
    requests, (refused,) = drain(session)
    assert requests == [] and refused.status == 400 and events(session) == []


def test_we_transfer_and_follow_the_notifications() -> None:
    session, _ = connected_yealink_call()
    target = build_refer_to(
        SipUri("10.0.0.1", "203"), replaces=Replaces("9f1e@10.0.0.1", "abc123", "def456")
    )
    referrer = NameAddr(SipUri("10.0.0.1", "hotline"))
    refer_id = session.refer(70.0, target, referred_by=referrer)
    (refer,), _ = drain(session)
    assert refer.method == "REFER" and refer_id == str(refer.cseq.number)
    assert refer.headers.get("Refer-To") == (
        "<sip:203@10.0.0.1?Replaces=9f1e%4010.0.0.1%3Bto-tag%3Dabc123%3Bfrom-tag%3Ddef456>"
    )
    assert parse_refer_to(refer.headers.get("Refer-To") or "").replaces == target.replaces
    assert refer.headers.get("Referred-By") == "<sip:hotline@10.0.0.1>"
    assert len(refer.contacts()) == 1
    session.receive_response(yealink_response(refer, 202, "Accepted"), 70.1)
    assert events(session) == [ReferAnswered(refer_id, 202)]

    ringing = yealink_request(
        "NOTIFY", 4, headers=f"Event: refer;id={refer_id}\nSubscription-State: active;expires=60\n{SIPFRAG}",
        body=b"SIP/2.0 180 Ringing\r\n",
    )  # fmt: skip
    session.receive_request(ringing, 71.0)
    _, (ok,) = drain(session)
    assert ok.status == 200
    assert events(session) == [NotifyReceived(refer_id, SipfragStatus(180, "Ringing"), False)]

    done = yealink_request(
        "NOTIFY", 5, headers=f"Event: refer;id={refer_id}\nSubscription-State: terminated;reason=noresource\n{SIPFRAG}",
        body=b"SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n",
    )  # fmt: skip
    session.receive_request(done, 75.0)
    drain(session)
    assert events(session) == [NotifyReceived(refer_id, SipfragStatus(200, "OK"), True)]
    late = yealink_request("NOTIFY", 6, headers=f"Event: refer;id={refer_id}\nSubscription-State: active\n{SIPFRAG}",
                           body=b"SIP/2.0 200 OK\r\n")  # fmt: skip
    session.receive_request(late, 76.0)
    _, (gone,) = drain(session)
    assert gone.status == 481  # the subscription is over
    assert events(session) == []


def test_notify_matching_rules() -> None:
    session, _ = connected_yealink_call()
    refer_id = session.refer(70.0, build_refer_to(SipUri("10.0.0.1", "203")))
    drain(session)
    no_id = yealink_request(
        "NOTIFY", 4, headers=f"Event: refer\nSubscription-State: active\n{SIPFRAG}", body=b"SIP/2.0 100 Trying\r\n"
    )  # fmt: skip
    session.receive_request(no_id, 71.0)
    assert events(session) == [NotifyReceived(refer_id, SipfragStatus(100, "Trying"), False)]
    cases = [
        (
            f"Event: refer;id=99\nSubscription-State: active\n{SIPFRAG}",
            b"SIP/2.0 100 Trying\r\n",
            481,
        ),
        (f"Event: dialog\nSubscription-State: active\n{SIPFRAG}", b"SIP/2.0 100 Trying\r\n", 489),
        (f"Event: refer\nSubscription-State: active\n{SIPFRAG}", b"<xml/>", 400),
        (f"Event: refer\n{SIPFRAG}", b"SIP/2.0 100 Trying\r\n", 400),
    ]
    for cseq, (headers, body, _) in enumerate(cases, start=5):
        session.receive_request(yealink_request("NOTIFY", cseq, headers=headers, body=body), 72.0)
    _, responses = drain(session)
    statuses = [r.status for r in responses]
    assert statuses == [200] + [status for _, _, status in cases]
    assert events(session) == []


def test_refused_refer_closes_our_subscription() -> None:
    session, _ = connected_yealink_call()
    refer_id = session.refer(70.0, build_refer_to(SipUri("10.0.0.1", "203")))
    (refer,), _ = drain(session)
    session.receive_response(yealink_response(refer, 603, "Decline"), 70.1)
    assert events(session) == [ReferAnswered(refer_id, 603)]
    notify = yealink_request(
        "NOTIFY", 4, headers=f"Event: refer;id={refer_id}\nSubscription-State: active\n{SIPFRAG}",
        body=b"SIP/2.0 100 Trying\r\n",
    )  # fmt: skip
    session.receive_request(notify, 71.0)
    _, (gone,) = drain(session)
    assert gone.status == 481


def test_invite_with_replaces_takes_over_the_matched_call() -> None:
    table: DialogTable[InviteSession] = DialogTable()
    old, _ = connected_yealink_call()
    assert old.dialog is not None
    table.add(old.dialog, old)
    invite = asterisk_invite()
    invite.headers.add(
        "Replaces", f"0f3c9b2a6d1e4c7b@10.0.0.1;to-tag={OUR_TAG};from-tag={YEALINK_TAG}"
    )
    invite.headers.add("Referred-By", "<sip:201@10.0.0.1>")
    new = incoming(invite)
    (offered,) = events(new)
    assert isinstance(offered, InviteReceived) and offered.replaces is not None
    assert offered.referred_by is not None
    match = table.match_replaces(offered.replaces)
    assert match.status is None and match.value is old
    old.hang_up(80.0, replaced=True)
    (bye,), _ = drain(old)
    assert bye.method == "BYE"
    assert events(old) == [DialogTerminated(TerminationReason.REPLACED, False)]


def test_two_replaces_headers_are_a_bad_request() -> None:
    invite = asterisk_invite()
    invite.headers.add("Replaces", "a@h;to-tag=1;from-tag=2")
    invite.headers.add("Replaces", "b@h;to-tag=1;from-tag=2")
    session = incoming(invite)
    _, (bad,) = drain(session)
    assert bad.status == 400
