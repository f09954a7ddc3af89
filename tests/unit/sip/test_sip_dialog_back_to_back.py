"""Our UAC session calling our UAS session over bytes: a whole call, both sides at once."""

from __future__ import annotations

import importlib
import random

import pytest
from test_sip_dialog_wire import CONFIG, OUR_CONTACT, our_sdp, reparse

from hotline.sdp.parser import parse_sdp
from hotline.sdp.session import LocalSdpSession
from hotline.sip.dlg_events import (
    AckReceived,
    ByeReceived,
    DialogConfirmed,
    DialogTerminated,
    HoldChanged,
    InviteReceived,
    ModifyCompleted,
    ProvisionalReceived,
    ReInviteReceived,
    TerminationReason,
)
from hotline.sip.dlg_session import InviteSession
from hotline.sip.dlg_session_base import SendRequest, SendResponse, SessionConfig
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.uri import SipUri

CALLEE_CONFIG = SessionConfig(via_sent_by="10.0.0.50:5062")
CALLEE_CONTACT = NameAddr(SipUri("10.0.0.50", "201", port=5062))


def pump(source: InviteSession, target: InviteSession, now: float) -> int:
    """Carry every message of ``source`` to ``target`` as bytes; returns how many."""
    count = 0
    for output in source.messages_to_send():
        count += 1
        if isinstance(output, SendResponse):
            response = reparse(output.response)
            assert isinstance(response, SipResponse)
            target.receive_response(response, now)
        else:
            request = reparse(output.request)
            assert isinstance(request, SipRequest)
            target.receive_request(request, now)
    return count


def drained(session: InviteSession) -> list[object]:
    found = []
    while (event := session.next_event()) is not None:
        found.append(event)
    return found


def test_a_whole_call_with_hold_and_hangup() -> None:
    caller_media = LocalSdpSession("10.0.0.1", 40000, 4242)
    callee_media = LocalSdpSession("10.0.0.50", 11796, 20024)
    caller = InviteSession.outgoing(
        now=0.0, config=CONFIG, request_uri=SipUri("10.0.0.50", "201", port=5062),
        from_=NameAddr(SipUri("10.0.0.1", "hotline")), to=NameAddr(SipUri("10.0.0.1", "201")),
        contact=OUR_CONTACT, body=bytes(caller_media.create_offer()), rng=random.Random(1),
    )  # fmt: skip
    (first,) = caller.messages_to_send()
    assert isinstance(first, SendRequest)
    callee = InviteSession.incoming(
        reparse(first.request), now=0.01, config=CALLEE_CONFIG,  # type: ignore[arg-type]
        local_contact=CALLEE_CONTACT, rng=random.Random(2),
    )  # fmt: skip
    (offered,) = drained(callee)
    assert isinstance(offered, InviteReceived) and offered.offer is not None

    callee.ring(0.02)
    pump(callee, caller, 0.03)
    assert [type(e) for e in drained(caller)] == [ProvisionalReceived]
    answer = callee_media.answer(parse_sdp(offered.offer)).answer
    callee.answer(1.0, bytes(answer))
    pump(callee, caller, 1.01)
    (confirmed,) = drained(caller)
    assert isinstance(confirmed, DialogConfirmed) and confirmed.body == bytes(answer)
    caller_media.process_answer(parse_sdp(confirmed.body))
    assert pump(caller, callee, 1.02) == 1  # the ACK
    assert drained(callee) == [DialogConfirmed(caller.dialog.local_tag, None)]  # type: ignore[union-attr]
    assert caller.dialog is not None and callee.dialog is not None
    assert caller.dialog.id.call_id == callee.dialog.id.call_id
    assert caller.dialog.local_tag == callee.dialog.remote_tag
    assert caller.session_timer.active and callee.session_timer.active
    assert caller.session_timer.we_refresh != callee.session_timer.we_refresh

    hold = caller.reinvite(10.0, bytes(caller_media.hold()))
    pump(caller, callee, 10.01)
    (reinvite,) = drained(callee)
    assert isinstance(reinvite, ReInviteReceived) and reinvite.on_hold is True
    assert reinvite.offer is not None
    callee.accept_modify(10.02, bytes(callee_media.answer(parse_sdp(reinvite.offer)).answer))
    assert drained(callee) == [HoldChanged(True, by_remote=True)]
    pump(callee, caller, 10.03)
    events = drained(caller)
    assert events[0] == HoldChanged(True, by_remote=False)
    assert isinstance(events[1], ModifyCompleted) and events[1].status == 200
    assert hold.cseq.number == caller.dialog.local_seq
    pump(caller, callee, 10.04)
    assert drained(callee) == [AckReceived(None)]

    callee.hang_up(20.0)
    assert drained(callee) == [DialogTerminated(TerminationReason.LOCAL_BYE, False)]
    pump(callee, caller, 20.01)
    assert drained(caller) == [
        ByeReceived(None),
        DialogTerminated(TerminationReason.REMOTE_BYE, True),
    ]
    pump(caller, callee, 20.02)
    assert caller.finished and callee.finished


def test_invite_with_a_to_tag_is_not_a_new_call() -> None:
    caller = InviteSession.outgoing(
        now=0.0, config=CONFIG, request_uri=SipUri("10.0.0.50", "201"),
        from_=NameAddr(SipUri("10.0.0.1", "hotline")), to=NameAddr(SipUri("10.0.0.1", "201")),
        contact=OUR_CONTACT, body=our_sdp(),
    )  # fmt: skip
    (first,) = caller.messages_to_send()
    assert isinstance(first, SendRequest)
    invite = first.request
    invite.headers.set("To", "<sip:201@10.0.0.1>;tag=stale")
    callee = InviteSession.incoming(
        invite, now=0.0, config=CALLEE_CONFIG, local_contact=CALLEE_CONTACT
    )
    (output,) = callee.messages_to_send()
    assert isinstance(output, SendResponse) and output.response.status == 481


@pytest.mark.parametrize(
    "module",
    [
        "dialog", "dlg_events", "dlg_headers", "dlg_indialog", "dlg_offer_answer", "dlg_prack",
        "dlg_refer", "dlg_session", "dlg_session_base", "dlg_session_timer", "dlg_table", "dlg_uac",
    ],
)  # fmt: skip
def test_public_surface_is_declared(module: str) -> None:
    loaded = importlib.import_module(f"hotline.sip.{module}")
    names = loaded.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n)) or names == sorted(names)
    for name in names:
        assert hasattr(loaded, name), f"{module}.{name}"
