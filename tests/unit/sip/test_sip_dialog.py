"""Dialogs (RFC 3261 §12): creation on both sides, in-dialog requests, checks, the table."""

from __future__ import annotations

import random

import pytest
from test_sip_dialog_wire import (
    OUR_CONTACT,
    OUR_TAG,
    YEALINK_TAG,
    asterisk_invite,
    asterisk_request,
    our_sdp,
    parse_response,
    reparse,
    wire,
    yealink_response,
)

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.sip.dialog import Dialog, DialogId, DialogState, new_call_id, new_tag
from hotline.sip.dlg_headers import Replaces
from hotline.sip.dlg_table import DialogTable
from hotline.sip.hdr_types import NameAddr
from hotline.sip.message import SipRequest, SipResponse
from hotline.sip.msg_build import make_request, make_response
from hotline.sip.uri import SipUri

CALL_ID = "0f3c9b2a6d1e4c7b@10.0.0.1"


def uas_dialog(status: int = 200) -> tuple[Dialog, SipRequest]:
    invite = asterisk_invite()
    response = make_response(
        invite, status, to_tag=OUR_TAG, headers=[("Contact", str(OUR_CONTACT))],
        copy_record_route=True,
    )  # fmt: skip
    dialog = Dialog.from_incoming_invite(
        invite, response, via_sent_by="10.0.0.1:5060", rng=random.Random(5)
    )
    return dialog, invite


def our_invite(cseq: int = 1000) -> SipRequest:
    request = make_request(
        "INVITE", "sip:201@10.0.0.1",
        from_=NameAddr(SipUri("10.0.0.1", "hotline")).with_tag(OUR_TAG),
        to=NameAddr(SipUri("10.0.0.1", "201")), call_id=CALL_ID, cseq=cseq,
        via="SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport", contact=OUR_CONTACT,
        body=our_sdp(), content_type="application/sdp",
    )  # fmt: skip
    return reparse(request)  # type: ignore[return-value]


def uac_dialog(
    status: int = 200, tag: str = YEALINK_TAG, headers: str = ""
) -> tuple[Dialog, SipRequest]:
    invite = our_invite()
    response = yealink_response(
        invite, status, "OK" if status == 200 else "Ringing", tag=tag, headers=headers
    )
    return Dialog.from_response(invite, response, via_sent_by="10.0.0.1:5060"), invite


# -- creation -------------------------------------------------------------------------


def test_uas_dialog_keeps_record_route_order_and_takes_contact_as_target() -> None:
    dialog, invite = uas_dialog()
    assert dialog.id == DialogId(invite.call_id, OUR_TAG, "as6d3b2f1c")
    assert dialog.state is DialogState.CONFIRMED
    assert not dialog.is_uac
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:192.0.2.5;lr;ftag=as6d3b2f1c;did=1a2.b3c",
        "sip:10.1.1.1;r2=on;lr",
    ]
    assert str(dialog.remote_target) == "sip:79161234567@198.51.100.20:5060"
    assert dialog.remote_seq == 102
    assert dialog.local_seq is None
    assert str(dialog.remote_uri) == "sip:79161234567@198.51.100.20"
    assert str(dialog.local_uri) == "sip:122@10.0.0.1"
    assert dialog.local.tag == OUR_TAG
    assert dialog.remote.display_name == "79161234567"
    assert not dialog.secure
    assert str(dialog.next_hop) == "sip:192.0.2.5;lr;ftag=as6d3b2f1c;did=1a2.b3c"


def test_uas_early_dialog_from_a_180() -> None:
    dialog, _ = uas_dialog(180)
    assert dialog.state is DialogState.EARLY
    dialog.confirm()
    assert dialog.state is DialogState.CONFIRMED


def test_uac_dialog_reverses_record_route() -> None:
    dialog, _ = uac_dialog()
    assert dialog.is_uac
    assert dialog.id == DialogId(CALL_ID, OUR_TAG, YEALINK_TAG)
    assert [str(r.uri) for r in dialog.route_set] == ["sip:10.0.0.3;lr", "sip:10.0.0.2;lr"]
    assert str(dialog.remote_target) == "sip:201@10.0.0.50:5062"
    assert dialog.local_seq == 1000
    assert dialog.remote_seq is None
    assert dialog.last_invite_cseq == 1000


def test_sips_request_uri_sets_the_secure_flag_unless_told_otherwise() -> None:
    invite = our_invite()
    invite.uri = SipUri("10.0.0.1", "201", scheme="sips")
    response = yealink_response(invite, 200, "OK")
    assert Dialog.from_response(invite, response).secure
    assert not Dialog.from_response(invite, response, secure=False).secure


def test_creation_refuses_responses_that_cannot_create_a_dialog() -> None:
    invite = our_invite()
    with pytest.raises(LocalProtocolError):
        Dialog.from_response(invite, yealink_response(invite, 100, "Trying"))
    with pytest.raises(RemoteProtocolError):
        Dialog.from_response(invite, yealink_response(invite, 180, "Ringing", tag=None))
    with pytest.raises(LocalProtocolError):
        Dialog.from_incoming_invite(asterisk_invite(), make_response(asterisk_invite(), 200))


def test_forked_responses_make_one_early_dialog_per_to_tag() -> None:
    invite = our_invite()
    first = Dialog.from_response(invite, yealink_response(invite, 180, "Ringing", tag="fork-a"))
    second = Dialog.from_response(invite, yealink_response(invite, 183, "Progress", tag="fork-b"))
    assert first.id != second.id
    assert {first.state, second.state} == {DialogState.EARLY}
    table: DialogTable[str] = DialogTable()
    table.add(first, "a")
    table.add(second, "b")
    assert table.find_for_response(yealink_response(invite, 200, "OK", tag="fork-b")) == "b"


# -- requests we build (§12.2.1.1) ----------------------------------------------------


def test_in_dialog_request_uses_target_route_set_and_fresh_cseq() -> None:
    dialog, invite = uas_dialog()
    bye = reparse(dialog.create_request("BYE"))
    assert isinstance(bye, SipRequest)
    assert str(bye.uri) == "sip:79161234567@198.51.100.20:5060"
    assert bye.headers.get_all("Route") == [
        "<sip:192.0.2.5;lr;ftag=as6d3b2f1c;did=1a2.b3c>",
        "<sip:10.1.1.1;r2=on;lr>",
    ]
    assert bye.from_.tag == OUR_TAG and str(bye.from_.uri) == "sip:122@10.0.0.1"
    assert bye.to.tag == "as6d3b2f1c" and bye.to.display_name == "79161234567"
    assert bye.call_id == invite.call_id
    assert bye.max_forwards == 70
    assert bye.cseq.method == "BYE"
    assert 1 <= bye.cseq.number < 2**31  # §8.1.1.5: the UAS picks its first CSeq
    assert bye.top_via.sent_by == "10.0.0.1:5060" and bye.top_via.has_rfc3261_branch
    assert bye.contacts() == ()
    info = dialog.create_request(
        "INFO", body=b"Signal=5\r\n", content_type="application/dtmf-relay"
    )
    assert info.cseq.number == bye.cseq.number + 1
    assert info.top_via.branch != bye.top_via.branch


def test_target_refresh_requests_carry_our_contact() -> None:
    dialog, _ = uac_dialog()
    reinvite = dialog.create_request(
        "INVITE", body=our_sdp("sendonly"), content_type="application/sdp"
    )
    assert [str(c.uri) for c in reinvite.contacts()] == ["sip:hotline@10.0.0.1:5060"]
    assert reinvite.cseq.number == 1001
    assert dialog.last_invite_cseq == 1001
    assert reinvite.content_type == "application/sdp"
    assert [str(r.uri) for r in reinvite.route()] == ["sip:10.0.0.3;lr", "sip:10.0.0.2;lr"]


def test_ack_reuses_the_invite_cseq_and_does_not_consume_one() -> None:
    dialog, _ = uac_dialog()
    ack = dialog.create_request("ACK")
    assert ack.cseq.number == 1000 and ack.cseq.method == "ACK"
    assert dialog.local_seq == 1000
    assert dialog.create_request("UPDATE").cseq.number == 1001
    assert dialog.create_request("ACK", cseq=1000).cseq.number == 1000
    with pytest.raises(LocalProtocolError):
        dialog.create_request("CANCEL")
    with pytest.raises(LocalProtocolError):
        dialog.create_request("INFO", cseq=5)


def test_uas_dialog_without_our_invite_cannot_ack() -> None:
    dialog, _ = uas_dialog()
    with pytest.raises(LocalProtocolError):
        dialog.create_request("ACK")


def test_strict_router_first_becomes_request_uri_and_target_goes_last() -> None:
    dialog, _ = uac_dialog(
        headers="Record-Route: <sip:p2.example.net;lr>\nRecord-Route: <sip:p1.example.net;method=INVITE>\n"
    )
    # The fixture's two loose routers come first in the response; ours were appended after them.
    routes = [str(r.uri) for r in dialog.route_set]
    assert routes[0] == "sip:p1.example.net;method=INVITE"
    request = dialog.create_request("BYE")
    assert str(request.uri) == "sip:p1.example.net"
    assert request.headers.get_all("Route")[-1] == "<sip:201@10.0.0.50:5062>"
    assert request.headers.get_all("Route")[0] == "<sip:p2.example.net;lr>"


def test_route_set_with_loose_router_first_keeps_target_as_request_uri() -> None:
    dialog, _ = uac_dialog(headers="Record-Route: <sip:p1.example.net;lr>\n")
    request = dialog.create_request("BYE")
    assert str(request.uri) == "sip:201@10.0.0.50:5062"
    assert [str(r.uri) for r in request.route()] == [
        "sip:p1.example.net;lr",
        "sip:10.0.0.3;lr",
        "sip:10.0.0.2;lr",
    ]


def test_body_without_content_type_is_our_bug() -> None:
    dialog, _ = uac_dialog()
    with pytest.raises(LocalProtocolError):
        dialog.create_request("INFO", body=b"x")


def test_terminated_dialog_only_builds_ack_and_bye() -> None:
    dialog, _ = uac_dialog()
    dialog.terminate()
    dialog.create_request("ACK")
    dialog.create_request("BYE")
    with pytest.raises(LocalProtocolError):
        dialog.create_request("INFO")


def test_explicit_via_is_used_verbatim() -> None:
    dialog, _ = uac_dialog()
    request = dialog.create_request("OPTIONS", via="SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKfixed")
    assert request.headers.get("Via") == "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKfixed"


def test_without_sent_by_no_via_is_written() -> None:
    invite = our_invite()
    dialog = Dialog.from_response(invite, yealink_response(invite, 200, "OK"))
    assert dialog.create_request("BYE").headers.get("Via") is None


# -- requests we receive (§12.2.2) ----------------------------------------------------


def test_lower_cseq_is_refused_with_500_and_equal_or_higher_pass() -> None:
    dialog, _ = uas_dialog()
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(asterisk_request("INFO", 101))
    assert caught.value.status_hint == 500
    dialog.receive_request(asterisk_request("INFO", 102))
    dialog.receive_request(asterisk_request("INFO", 200))
    assert dialog.remote_seq == 200
    with pytest.raises(RemoteProtocolError):
        dialog.receive_request(asterisk_request("OPTIONS", 150))


def test_ack_and_cancel_skip_the_cseq_check() -> None:
    dialog, _ = uas_dialog()
    dialog.receive_request(asterisk_request("INFO", 110))
    dialog.receive_request(asterisk_request("ACK", 102))
    assert dialog.remote_seq == 110


def test_reinvite_refreshes_the_remote_target_but_info_does_not() -> None:
    dialog, _ = uas_dialog()
    dialog.receive_request(asterisk_request("INFO", 103))
    assert str(dialog.remote_target) == "sip:79161234567@198.51.100.20:5060"
    dialog.receive_request(asterisk_request("INVITE", 104))
    assert str(dialog.remote_target) == "sip:peer@198.51.100.20:5060"


def test_request_of_another_dialog_or_after_termination_gets_481() -> None:
    dialog, _ = uas_dialog()
    stranger = asterisk_request("INFO", 120)
    stranger.headers.set("To", f"<sip:122@10.0.0.1>;tag={new_tag()}")
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(stranger)
    assert caught.value.status_hint == 481
    dialog.terminate()
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(asterisk_request("INFO", 121))
    assert caught.value.status_hint == 481


def test_two_contacts_in_a_target_refresh_is_a_bad_request() -> None:
    dialog, _ = uas_dialog()
    request = asterisk_request("UPDATE", 130)
    request.headers.add("Contact", "<sip:other@198.51.100.21>")
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.receive_request(request)
    assert caught.value.status_hint == 400


# -- responses we receive -------------------------------------------------------------


@pytest.mark.parametrize("status", [481, 408])
def test_481_or_408_to_an_in_dialog_request_ends_the_dialog(status: int) -> None:
    dialog, _ = uac_dialog()
    info = reparse(dialog.create_request("INFO", body=b"x", content_type="text/plain"))
    assert isinstance(info, SipRequest)
    assert dialog.receive_response(yealink_response(info, status, "Gone")) is DialogState.TERMINATED


def test_2xx_to_update_refreshes_the_target() -> None:
    dialog, _ = uac_dialog()
    update = reparse(dialog.create_request("UPDATE"))
    assert isinstance(update, SipRequest)
    ok = yealink_response(update, 200, "OK")
    ok.headers.set("Contact", "<sip:201@10.0.0.51:5062>")
    dialog.receive_response(ok)
    assert str(dialog.remote_target) == "sip:201@10.0.0.51:5062"
    assert dialog.state is DialogState.CONFIRMED


def test_early_dialog_is_confirmed_by_2xx_with_a_new_route_set() -> None:
    invite = our_invite()
    ringing = yealink_response(invite, 180, "Ringing")
    ringing.headers.remove("Contact")
    dialog = Dialog.from_response(invite, ringing)
    assert str(dialog.remote_target) == "sip:201@10.0.0.1"  # no Contact yet: Request-URI
    ok = parse_response(
        wire(
            "SIP/2.0 200 OK\nVia: {via}\nRecord-Route: <sip:edge.example.net;lr>\nFrom: {from_}\n"
            "To: <sip:201@10.0.0.1>;tag={tag}\nCall-ID: {call_id}\nCSeq: 1000 INVITE\n"
            "Contact: <sip:201@10.0.0.60>\nContent-Length: 0\n\n",
            via=invite.headers.values("Via")[0], from_=invite.headers.get("From"),
            tag=YEALINK_TAG, call_id=CALL_ID,
        )
    )  # fmt: skip
    assert dialog.receive_response(ok) is DialogState.CONFIRMED
    assert [str(r.uri) for r in dialog.route_set] == ["sip:edge.example.net;lr"]
    assert str(dialog.remote_target) == "sip:201@10.0.0.60"


def test_early_dialog_ends_on_a_final_failure() -> None:
    invite = our_invite()
    dialog = Dialog.from_response(invite, yealink_response(invite, 180, "Ringing"))
    assert (
        dialog.receive_response(yealink_response(invite, 486, "Busy Here"))
        is DialogState.TERMINATED
    )
    assert dialog.receive_response(yealink_response(invite, 200, "OK")) is DialogState.TERMINATED


# -- the table --------------------------------------------------------------------------


def test_table_finds_the_dialog_of_an_incoming_request() -> None:
    dialog, _ = uas_dialog()
    table: DialogTable[str] = DialogTable(max_dialogs=4)
    table.add(dialog, "leg-1")
    assert dialog.id in table and len(table) == 1
    assert table.find_for_request(asterisk_request("BYE", 103)) == "leg-1"
    assert table.find_for_request(asterisk_invite()) is None  # no To tag: not in a dialog
    assert table.dialog(dialog.id) is dialog
    assert list(table) == [dialog]
    assert table.remove(dialog.id) == "leg-1"
    assert table.find_for_request(asterisk_request("BYE", 103)) is None


def test_table_is_bounded_and_purges_terminated_dialogs_first() -> None:
    table: DialogTable[int] = DialogTable(max_dialogs=2)
    invite = our_invite()
    dialogs = [
        Dialog.from_response(invite, yealink_response(invite, 180, "Ringing", tag=f"t{i}"))
        for i in range(3)
    ]
    table.add(dialogs[0], 0)
    table.add(dialogs[1], 1)
    with pytest.raises(LimitExceededError) as caught:
        table.add(dialogs[2], 2)
    assert caught.value.status_hint == 503
    dialogs[0].terminate()
    table.add(dialogs[2], 2)
    assert len(table) == 2 and table.get(dialogs[0].id) is None
    with pytest.raises(LocalProtocolError):
        DialogTable(max_dialogs=0)


def test_replaces_matching_rules_of_rfc_3891() -> None:
    table: DialogTable[str] = DialogTable()
    confirmed, _ = uac_dialog()
    table.add(confirmed, "confirmed")
    match = table.match_replaces(Replaces(CALL_ID, OUR_TAG, YEALINK_TAG))
    assert match.status is None and match.value == "confirmed" and match.dialog is confirmed
    assert (
        table.match_replaces(Replaces(CALL_ID, YEALINK_TAG, OUR_TAG)).status == 481
    )  # tags swapped
    assert (
        table.match_replaces(Replaces(CALL_ID, OUR_TAG, YEALINK_TAG, early_only=True)).status == 486
    )
    early_uac, _ = uac_dialog(180, tag="early-fork")
    table.add(early_uac, "ours-early")
    assert table.match_replaces(Replaces(CALL_ID, OUR_TAG, "early-fork")).status is None
    early_uas, invite = uas_dialog(180)
    table.add(early_uas, "theirs-early")
    assert table.match_replaces(Replaces(invite.call_id, OUR_TAG, "as6d3b2f1c")).status == 481
    confirmed.terminate()
    assert table.match_replaces(Replaces(CALL_ID, OUR_TAG, YEALINK_TAG)).status == 603


def test_ids_are_fresh() -> None:
    assert new_tag() != new_tag()
    call_id = new_call_id("10.0.0.1:5060")
    assert call_id.endswith("@10.0.0.1:5060") and call_id != new_call_id("10.0.0.1:5060")
    ok: SipResponse = yealink_response(our_invite(), 200, "OK")
    assert DialogId.of_response(ok) == DialogId(CALL_ID, OUR_TAG, YEALINK_TAG)


def test_table_finds_the_owner_of_any_fork_by_local_tag() -> None:
    table: DialogTable[str] = DialogTable()
    dialog, _ = uac_dialog(180, tag="fork-a")
    table.add(dialog, "session")
    assert table.find_by_local_tag(CALL_ID, OUR_TAG) == "session"
    assert table.find_by_local_tag(CALL_ID, "other") is None
    table.remove(dialog.id)
    assert table.find_by_local_tag(CALL_ID, OUR_TAG) is None
    table.add(dialog, "session")
    dialog.terminate()
    assert table.purge_terminated() == 1
    assert table.find_by_local_tag(CALL_ID, OUR_TAG) is None and len(table) == 0
