"""Outbound attempts: failover across trunks, slots, and the 122 presentation on the wire."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hotline.calls.trunk_outbound as outbound_module
from hotline.calls.numbers import DialFormat, parse_number
from hotline.calls.trunk_outbound import (
    AttemptReason,
    AttemptRecord,
    AttemptState,
    FailoverPolicy,
    OutboundAttempt,
    TrunkTarget,
    from_uri,
    p_asserted_identity,
    request_uri,
)
from hotline.calls.trunks import OutboundPolicy, TrunkConfig, TrunkCredentials, TrunkTable
from hotline.core.errors import LocalProtocolError

A = TrunkConfig("a", "10.0.0.1", max_calls=2, outbound=OutboundPolicy(priority=10))
B = TrunkConfig(
    "b",
    "sip.b.example",
    port=5070,
    transport="tcp",
    dial_format=DialFormat.NATIONAL,
    caller_id="74951112233",
    asserted_identity="122",
    credentials=TrunkCredentials("74951112233", "pw"),
    outbound=OutboundPolicy(priority=20),
)
C = TrunkConfig(
    "c", "10.0.0.3", dial_format=DialFormat.DIGITS, outbound=OutboundPolicy(priority=30)
)
MOBILE = parse_number("89123456789")


def _attempt(
    *trunks: TrunkConfig, policy: FailoverPolicy | None = None
) -> tuple[OutboundAttempt, TrunkTable]:
    table = TrunkTable(trunks or (A, B, C))
    return OutboundAttempt(table, MOBILE, policy=policy), table


def _target(attempt: OutboundAttempt) -> TrunkTarget:
    target = attempt.next_target()
    assert target is not None
    return target


def _active(table: TrunkTable) -> dict[str, int]:
    return {s.trunk: s.active for s in table.stats()}


def _state(attempt: OutboundAttempt) -> AttemptState:
    return attempt.state


def test_first_trunk_answers() -> None:
    attempt, table = _attempt()
    target = _target(attempt)
    assert (target.trunk.name, target.attempt) == ("a", 1)
    assert _active(table) == {"a": 1, "b": 0, "c": 0}
    attempt.result(100)
    attempt.result(180)
    attempt.result(200)
    assert attempt.state is AttemptState.ANSWERED
    assert attempt.final_status == 200
    assert attempt.next_target() is None
    assert attempt.target == target
    assert _active(table) == {"a": 1, "b": 0, "c": 0}  # held for the call
    attempt.hang_up()
    assert _state(attempt) is AttemptState.FINISHED
    assert _active(table) == {"a": 0, "b": 0, "c": 0}
    assert attempt.records == (AttemptRecord("a", AttemptReason.ANSWERED, 200),)


@pytest.mark.parametrize(
    ("statuses", "trunks", "state", "final"),
    [
        ([500, 200], ["a", "b"], AttemptState.ANSWERED, 200),
        ([486], ["a"], AttemptState.FAILED, 486),
        ([404], ["a"], AttemptState.FAILED, 404),
        ([603], ["a"], AttemptState.FAILED, 603),
        ([302], ["a"], AttemptState.FAILED, 302),
        ([408, 200], ["a", "b"], AttemptState.ANSWERED, 200),
        ([503, 503, 503], ["a", "b", "c"], AttemptState.EXHAUSTED, 503),
        ([408, 408, 408], ["a", "b", "c"], AttemptState.EXHAUSTED, 408),
        ([408, 500, 408], ["a", "b", "c"], AttemptState.EXHAUSTED, 503),
        ([401, 407, 486], ["a", "b", "c"], AttemptState.FAILED, 486),
        ([502, 480], ["a", "b"], AttemptState.FAILED, 480),
    ],
)
def test_failover_sequences(
    statuses: list[int], trunks: list[str], state: AttemptState, final: int
) -> None:
    attempt, table = _attempt()
    used = []
    for status in statuses:
        used.append(_target(attempt).trunk.name)
        attempt.result(status)
    assert used == trunks
    assert attempt.next_target() is None
    assert attempt.state is state
    assert attempt.final_status == final
    expected_active = 1 if state is AttemptState.ANSWERED else 0
    assert sum(_active(table).values()) == expected_active


def test_no_failover_after_the_destination_rang() -> None:
    attempt, _table = _attempt()
    _target(attempt)
    attempt.result(183)
    attempt.result(503)
    assert attempt.state is AttemptState.FAILED
    assert attempt.final_status == 503
    assert attempt.next_target() is None


def test_failover_after_ringing_when_the_policy_allows() -> None:
    attempt, _table = _attempt(policy=FailoverPolicy(stop_after_ringing=False))
    _target(attempt)
    attempt.result(180)
    attempt.result(503)
    assert _target(attempt).trunk.name == "b"


def test_a_100_trying_is_not_ringing() -> None:
    attempt, _table = _attempt()
    _target(attempt)
    attempt.result(100)
    attempt.result(408)
    assert _target(attempt).trunk.name == "b"


def test_transport_error_fails_over_as_503() -> None:
    attempt, table = _attempt()
    _target(attempt)
    attempt.transport_error()
    assert attempt.state is AttemptState.READY
    assert attempt.records == (AttemptRecord("a", AttemptReason.TRANSPORT_ERROR, 503),)
    assert _target(attempt).trunk.name == "b"
    stats = {s.trunk: s for s in table.stats()}
    assert stats["a"].failovers_total == 1


def test_trunks_at_their_limit_are_skipped() -> None:
    table = TrunkTable([A, B, C])
    first, second = OutboundAttempt(table, MOBILE), OutboundAttempt(table, MOBILE)
    assert _target(first).trunk.name == "a"
    assert _target(second).trunk.name == "a"
    third = OutboundAttempt(table, MOBILE)
    assert _target(third).trunk.name == "b"
    assert third.records == (AttemptRecord("a", AttemptReason.AT_LIMIT),)


def test_all_trunks_busy_gives_no_target_and_503() -> None:
    table = TrunkTable([replace(A, max_calls=0), replace(B, max_calls=0)])
    attempt = OutboundAttempt(table, MOBILE)
    assert attempt.routable
    assert attempt.next_target() is None
    assert attempt.state is AttemptState.EXHAUSTED
    assert attempt.final_status == 503
    assert [r.reason for r in attempt.records] == [AttemptReason.AT_LIMIT] * 2


def test_no_route_is_403() -> None:
    attempt = OutboundAttempt(TrunkTable([A]), parse_number("88091234567"))
    assert not attempt.routable
    assert attempt.next_target() is None
    assert attempt.final_status == 403


def test_max_attempts_bounds_the_walk() -> None:
    attempt, _table = _attempt(policy=FailoverPolicy(max_attempts=2))
    for _ in range(2):
        _target(attempt)
        attempt.result(500)
    assert attempt.next_target() is None
    assert attempt.state is AttemptState.EXHAUSTED


def test_cancel_while_trying_releases_the_slot() -> None:
    attempt, table = _attempt()
    _target(attempt)
    attempt.result(180)
    attempt.cancel()
    assert attempt.state is AttemptState.CANCELLED
    assert attempt.final_status == 487
    assert sum(_active(table).values()) == 0
    assert attempt.target is None
    assert attempt.next_target() is None


def test_cancel_before_any_target() -> None:
    attempt, _table = _attempt()
    attempt.cancel()
    assert attempt.state is AttemptState.CANCELLED
    assert attempt.records == ()


@pytest.mark.parametrize(
    "misuse",
    [
        lambda a: a.result(200),  # no INVITE out
        lambda a: a.hang_up(),  # nothing answered
        lambda a: (a.next_target(), a.next_target()),  # second target before a result
        lambda a: (a.next_target(), a.result(99)),
        lambda a: (a.next_target(), a.result(700)),
        lambda a: (a.next_target(), a.result(200), a.result(200)),
        lambda a: (a.next_target(), a.result(200), a.cancel()),
        lambda a: (a.next_target(), a.result(486), a.result(200)),
        lambda a: (a.next_target(), a.result(200), a.hang_up(), a.hang_up()),
    ],
)
def test_misuse_is_a_local_protocol_error(misuse: Callable[[OutboundAttempt], object]) -> None:
    attempt, _table = _attempt()
    with pytest.raises(LocalProtocolError):
        misuse(attempt)


# -- the wire ----------------------------------------------------------------------------------


def test_target_uris_and_headers_per_trunk() -> None:
    attempt, _table = _attempt()
    a = _target(attempt)
    assert str(a.request_uri) == "sip:+79123456789@10.0.0.1;user=phone"
    assert str(a.from_uri) == "sip:122@10.0.0.1;user=phone"
    assert a.p_asserted_identity == "<sip:122@10.0.0.1;user=phone>"
    assert a.credentials is None
    attempt.result(503)
    b = _target(attempt)
    assert str(b.request_uri) == "sip:89123456789@sip.b.example:5070;user=phone;transport=tcp"
    assert str(b.from_uri) == "sip:74951112233@sip.b.example;user=phone"
    assert b.p_asserted_identity == "<sip:122@sip.b.example;user=phone>"
    assert b.credentials == TrunkCredentials("74951112233", "pw")
    attempt.result(503)
    c = _target(attempt)
    assert str(c.request_uri) == "sip:79123456789@10.0.0.3;user=phone"


def test_presentation_settings() -> None:
    plain = replace(A, user_phone=False, from_domain="hotline.example")
    assert str(from_uri(plain)) == "sip:122@hotline.example"
    assert p_asserted_identity(plain, "Hotline 122") == '"Hotline 122" <sip:122@hotline.example>'
    assert p_asserted_identity(replace(A, send_asserted_identity=False)) is None
    tls = replace(A, transport="tls", port=5061)
    assert str(request_uri(tls, parse_number("112"))) == "sip:112@10.0.0.1;user=phone;transport=tls"


def test_a_display_name_goes_into_every_target() -> None:
    attempt = OutboundAttempt(TrunkTable([A]), MOBILE, display_name="Линия 122")
    assert _target(attempt).p_asserted_identity == '"Линия 122" <sip:122@10.0.0.1;user=phone>'


outcomes = st.sampled_from([100, 180, 183, 200, 404, 408, 486, 500, 503, 603, -1, -2])


@given(st.lists(st.lists(outcomes, max_size=6), max_size=8), st.integers(0, 3))
@settings(max_examples=200, deadline=None)
def test_random_outcomes_never_leak_a_slot(calls: list[list[int]], limit: int) -> None:
    """-1: transport error, -2: the caller cancels; every call ends released."""
    table = TrunkTable([replace(A, max_calls=limit), replace(B, max_calls=limit), C])
    attempts = []
    for script in calls:
        attempt = OutboundAttempt(table, MOBILE)
        attempts.append(attempt)
        for outcome in script:
            if attempt.state is AttemptState.READY and attempt.next_target() is None:
                break
            if attempt.state is not AttemptState.TRYING:
                break
            if outcome == -1:
                attempt.transport_error()
            elif outcome == -2:
                attempt.cancel()
            else:
                attempt.result(outcome)
        for stats in table.stats():
            assert 0 <= stats.active <= stats.limit
    for attempt in attempts:
        if attempt.state is AttemptState.ANSWERED:
            attempt.hang_up()
        elif attempt.state in (AttemptState.READY, AttemptState.TRYING):
            attempt.cancel()
        assert attempt.ended
        assert attempt.final_status is not None
    assert all(s.active == 0 for s in table.stats())


def test_public_surface() -> None:
    assert set(outbound_module.__all__) == {
        "DEFAULT_FAILOVER_STATUSES",
        "AttemptReason",
        "AttemptRecord",
        "AttemptState",
        "FailoverPolicy",
        "OutboundAttempt",
        "TrunkTarget",
        "from_uri",
        "p_asserted_identity",
        "request_uri",
    }
