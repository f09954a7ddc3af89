"""Session timers (RFC 4028): header parsing, negotiation both ways, 422, refresh and expiry."""

from __future__ import annotations

import pytest
from test_sip_dialog_wire import (
    ASTERISK_ACK,
    NO_TIMER,
    OUR_TAG,
    answered_asterisk_call,
    asterisk_invite,
    asterisk_request,
    connected_yealink_call,
    drain,
    events,
    incoming,
    our_sdp,
    parse_request,
    wire,
    yealink_response,
)

from hotline.core.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.dlg_events import (
    DialogTerminated,
    ModifyCompleted,
    RefreshDue,
    SessionExpired,
    TerminationReason,
)
from hotline.sip.dlg_session_base import SessionState
from hotline.sip.dlg_session_timer import (
    MAX_422_RETRIES,
    Refresher,
    SessionExpires,
    SessionTimer,
    SessionTimerConfig,
    expiry_margin_s,
    parse_min_se,
    parse_session_expires,
)
from hotline.sip.message import SipRequest
from hotline.sip.msg_build import make_request, make_response


def refresh_request(headers: list[tuple[str, str]]) -> SipRequest:
    return make_request(
        "INVITE", "sip:122@10.0.0.1", from_="<sip:a@198.51.100.20>;tag=a1",
        to="<sip:122@10.0.0.1>", call_id="c1@h", cseq=1, headers=headers,
    )  # fmt: skip


# -- headers ---------------------------------------------------------------------------------


def test_session_expires_and_min_se_parse() -> None:
    assert parse_session_expires("1800;refresher=uac") == SessionExpires(1800, Refresher.UAC)
    assert parse_session_expires(" 90 ; Refresher=UAS ") == SessionExpires(90, Refresher.UAS)
    plain = parse_session_expires("4000;x=1")
    assert plain.refresher is None and str(plain) == "4000;x=1"
    assert parse_min_se("120") == 120
    for bad in ("0", "abc", "1800;refresher=proxy", "-5", ""):
        with pytest.raises(RemoteProtocolError):
            parse_session_expires(bad)
    with pytest.raises(RemoteProtocolError):
        parse_min_se("x")


def test_config_refuses_values_below_rfc_minimum() -> None:
    with pytest.raises(LocalProtocolError):
        SessionTimerConfig(min_se_s=60)
    with pytest.raises(LocalProtocolError):
        SessionTimerConfig(interval_s=100, min_se_s=120)


def test_expiry_margin_is_min_of_32_and_a_third() -> None:
    assert expiry_margin_s(1800) == 32
    assert expiry_margin_s(90) == 30


# -- as UAS (§9, Table 2) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected", "we_refresh", "require"),
    [
        ([("Supported", "timer"), ("Session-Expires", "1800")], "1800;refresher=uac", False, True),
        ([("Supported", "timer"), ("Session-Expires", "600;refresher=uas")], "600;refresher=uas", True, True),
        ([("Supported", "timer"), ("Session-Expires", "600;refresher=uac")], "600;refresher=uac", False, True),
        ([("Session-Expires", "1200")], "1200;refresher=uas", True, False),
        ([("Supported", "timer")], "1800;refresher=uac", False, True),
        ([("Supported", "timer"), ("Min-SE", "2400")], "2400;refresher=uac", False, True),
        ([], "1800;refresher=uas", True, False),
    ],
)  # fmt: skip
def test_uas_picks_interval_and_refresher(
    headers: list[tuple[str, str]], expected: str, we_refresh: bool, require: bool
) -> None:
    timer = SessionTimer()
    request = refresh_request(headers)
    assert timer.check_request(request) is None
    out = dict(timer.response_headers(request, 0.0))
    assert out["Session-Expires"] == expected
    assert ("Require" in out) is require
    assert timer.we_refresh is we_refresh


def test_uas_with_timer_disabled_only_honours_a_requested_one() -> None:
    timer = SessionTimer(SessionTimerConfig(enabled=False))
    assert timer.response_headers(refresh_request([("Supported", "timer")]), 0.0) == []
    assert not timer.active
    asked = refresh_request([("Supported", "timer"), ("Session-Expires", "900")])
    assert dict(timer.response_headers(asked, 0.0))["Session-Expires"] == "900;refresher=uac"


def test_uas_422_only_when_the_uac_understands_it() -> None:
    timer = SessionTimer(SessionTimerConfig(min_se_s=300))
    assert (
        timer.check_request(refresh_request([("Supported", "timer"), ("Session-Expires", "120")]))
        == 300
    )
    assert timer.check_request(refresh_request([("Session-Expires", "120")])) is None


# -- as UAC (§7) --------------------------------------------------------------------------------


def test_uac_follows_the_2xx_or_refreshes_alone() -> None:
    timer = SessionTimer()
    request = refresh_request(timer.request_headers())
    assert (
        request.headers.get("Session-Expires") == "1800" and request.headers.get("Min-SE") == "90"
    )
    timer.on_success(
        request,
        make_response(request, 200, headers=[("Session-Expires", "900;refresher=uas")]),
        10.0,
    )
    assert (timer.interval_s, timer.we_refresh) == (900, False)
    assert timer.request_headers() == [("Session-Expires", "900;refresher=uas"), ("Min-SE", "90")]
    timer.on_success(request, make_response(request, 200), 20.0)  # the peer lacks the extension
    assert (timer.interval_s, timer.we_refresh) == (1800, True)
    silent = refresh_request([])
    timer.on_success(silent, make_response(silent, 200), 30.0)
    assert not timer.active and timer.get_timer() is None


def test_uac_422_raises_the_interval_a_bounded_number_of_times() -> None:
    timer = SessionTimer()
    request = refresh_request(timer.request_headers())
    too_small = make_response(request, 422, headers=[("Min-SE", "3600")])
    assert timer.on_too_small(too_small)
    assert dict(timer.request_headers()) == {"Session-Expires": "3600", "Min-SE": "3600"}
    for _ in range(MAX_422_RETRIES - 1):
        assert timer.on_too_small(too_small)
    assert not timer.on_too_small(too_small)
    assert not SessionTimer().on_too_small(make_response(request, 422))


def test_refresher_gets_refresh_due_at_half_then_expiry() -> None:
    timer = SessionTimer()
    request = refresh_request([("Supported", "timer"), ("Session-Expires", "90;refresher=uas")])
    timer.response_headers(request, 100.0)
    assert timer.get_timer() == 145.0
    assert timer.handle_timer(144.9) is None
    assert timer.handle_timer(145.0) == RefreshDue(90)
    assert timer.get_timer() == 160.0  # 100 + 90 - min(32, 30)
    assert timer.handle_timer(160.0) == SessionExpired(90)
    assert not timer.active


# -- in sessions ---------------------------------------------------------------------------------


def test_dead_caller_is_hung_up_when_no_refresh_comes() -> None:
    session = answered_asterisk_call()  # Asterisk supports timer: we made it the refresher
    timer = session.session_timer
    assert timer.interval_s == 1800 and not timer.we_refresh
    deadline = session.get_timer()
    assert deadline is not None and deadline == pytest.approx(0.5 + 1800 - 32)
    session.handle_timer(deadline)
    (bye,), _ = drain(session)
    assert bye.method == "BYE"
    assert events(session) == [
        SessionExpired(1800),
        DialogTerminated(TerminationReason.SESSION_EXPIRED, False),
    ]
    assert session.state is SessionState.TERMINATING


def test_refresh_from_the_peer_restarts_the_expiry() -> None:
    session = answered_asterisk_call()
    refresh = asterisk_request(
        "INVITE", 103, headers="Supported: timer\nSession-Expires: 1800;refresher=uac\n"
        "Content-Type: application/sdp\n", body=our_sdp(),
    )  # fmt: skip
    session.receive_request(refresh, 900.0)
    events(session)
    session.accept_modify(900.0, our_sdp())
    _, (ok,) = drain(session)
    assert ok.headers.get("Session-Expires") == "1800;refresher=uac"
    assert session.get_timer() == pytest.approx(900.0 + 1800 - 32)
    session.handle_timer(1768.5)
    assert events(session) == [] and session.state is SessionState.CONFIRMED


def test_we_refresh_with_update_when_the_peer_allows_it() -> None:
    session, _ = connected_yealink_call()  # the Yealink 200 said refresher=uac: us
    assert session.get_timer() == pytest.approx(1.0 + 900)
    session.handle_timer(901.0)
    assert events(session) == [RefreshDue(1800)]
    assert session.refresh(901.0)
    (update,), _ = drain(session)
    assert update.method == "UPDATE" and update.body == b""
    assert update.headers.get("Session-Expires") == "1800;refresher=uac"
    assert not session.refresh(901.1)  # one at a time
    ok = yealink_response(
        update, 200, "OK", headers="Session-Expires: 1800;refresher=uac\nRequire: timer\n"
    )
    session.receive_response(ok, 901.2)
    assert events(session) == [ModifyCompleted("UPDATE", 200, None, True)]
    assert session.get_timer() == pytest.approx(901.2 + 900)


def test_failed_refresh_lets_the_session_expire() -> None:
    session, _ = connected_yealink_call()
    session.handle_timer(901.0)
    events(session)
    session.refresh(901.0)
    (update,), _ = drain(session)
    session.receive_response(yealink_response(update, 500, "Server Internal Error"), 901.1)
    assert events(session) == [ModifyCompleted("UPDATE", 500, None, True)]
    session.handle_timer(1.0 + 1800 - 32)
    assert [type(e) for e in events(session)] == [SessionExpired, DialogTerminated]


def test_refresh_with_reinvite_repeats_our_sdp_when_update_is_not_allowed() -> None:
    invite = asterisk_invite()
    invite.headers.set("Session-Expires", "1800;refresher=uas")
    session = incoming(invite)
    session.answer(0.5, our_sdp())
    session.receive_request(parse_request(wire(ASTERISK_ACK, tag=OUR_TAG)), 0.6)
    drain(session)
    events(session)
    assert session.session_timer.we_refresh
    session.handle_timer(900.5)
    assert events(session) == [RefreshDue(1800)]
    session.refresh(900.5)
    (reinvite,), _ = drain(session)
    assert reinvite.method == "INVITE" and reinvite.body == our_sdp()
    assert reinvite.headers.get("Session-Expires") == "1800;refresher=uac"
    ok = yealink_response(
        reinvite,
        200,
        "OK",
        tag="as6d3b2f1c",
        body=our_sdp(),
        headers="Content-Type: application/sdp\n",
    )
    session.receive_response(ok, 900.6)
    (ack,), _ = drain(session)
    assert ack.method == "ACK"
    assert events(session) == [ModifyCompleted("INVITE", 200, our_sdp(), True)]


def test_our_refresh_gets_422_and_is_retried_at_once() -> None:
    session, _ = connected_yealink_call()
    session.refresh(100.0)
    (update,), _ = drain(session)
    session.receive_response(
        yealink_response(update, 422, "Session Interval Too Small", headers="Min-SE: 2000\n"), 100.1
    )
    (retry,), _ = drain(session)
    assert retry.method == "UPDATE" and retry.cseq.number == update.cseq.number + 1
    assert retry.headers.get("Session-Expires") == "2000;refresher=uac"
    assert events(session) == []


def test_mid_dialog_refresh_below_our_minimum_gets_422() -> None:
    session = answered_asterisk_call()
    session.receive_request(
        asterisk_request("UPDATE", 103, headers="Supported: timer\nSession-Expires: 45\n"), 10.0
    )
    _, (too_small,) = drain(session)
    assert too_small.status == 422 and too_small.headers.get("Min-SE") == "90"
    assert session.state is SessionState.CONFIRMED


def test_disabled_timer_on_a_call_that_did_not_ask_runs_nothing() -> None:
    invite = asterisk_invite()
    invite.headers.remove("Session-Expires")
    invite.headers.remove("Supported")
    session = incoming(invite, NO_TIMER)
    session.answer(0.5, our_sdp())
    _, (ok,) = drain(session)
    assert ok.headers.get("Session-Expires") is None
    assert session.get_timer() is None
