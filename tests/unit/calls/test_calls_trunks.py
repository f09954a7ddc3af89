"""Trunk table: configuration, inbound matching, routing order and call slots."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hotline.calls.trunks as trunks_module
from hotline.calls.numbers import NumberKind, PhoneNumber, parse_number
from hotline.calls.trunks import (
    CallSlot,
    Direction,
    InboundRequest,
    OutboundPolicy,
    TrunkConfig,
    TrunkCredentials,
    TrunkTable,
    TrustKind,
    registration_config,
)
from hotline.core.errors import ConfigurationError, LocalProtocolError, RemoteProtocolError
from hotline.sip.uri import SipUri, parse_uri
from hotline.store.accounts import Trunk

LOCAL = TrunkConfig(
    name="local-test",
    host="127.0.0.1",
    port=5080,
    trusted_networks=("127.0.0.0/8", "::1/128"),
    inbound_numbers=("122",),
    max_calls=2,
)
ROSTEL = TrunkConfig(
    name="operator-a",
    host="198.51.100.10",
    trusted_networks=("198.51.100.0/28",),
    inbound_numbers=("122", "+7 495 111-22-33=122", "8 (495) 111-22-44"),
    max_calls=30,
)
REGISTERED = TrunkConfig(
    name="operator-b",
    host="sip.operator-b.example",
    inbound_numbers=("74952223344=122",),
    inbound_user="hotline122",
    credentials=TrunkCredentials("74952223344", "s3cret"),
    register=True,
)


def _table(*trunks: TrunkConfig) -> TrunkTable:
    return TrunkTable(trunks or (LOCAL, ROSTEL, REGISTERED))


def _invite(
    source: str,
    ruri: str,
    *,
    to: str | None = None,
    from_: str | None = None,
    pai: str | None = None,
    auth_user: str | None = None,
) -> InboundRequest:
    return InboundRequest(
        source_host=source,
        request_uri=parse_uri(ruri),
        to_uri=parse_uri(to) if to else None,
        from_uri=parse_uri(from_) if from_ else None,
        asserted_uri=parse_uri(pai) if pai else None,
        auth_user=auth_user,
    )


# -- configuration -------------------------------------------------------------------------


def test_config_from_the_stored_trunk() -> None:
    stored = Trunk(
        id="t1",
        name="local-test",
        host="127.0.0.1",
        port=5080,
        transport="udp",
        trusted_networks=("127.0.0.0/8", "::1/128"),
        inbound_numbers=("122",),
        max_calls=100,
    )
    config = TrunkConfig.from_record(stored)
    assert config == replace(LOCAL, max_calls=100)
    assert config.caller_id == "122"


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"name": ""}, "trunks.?.name"),
        ({"host": ""}, "trunks.t.host"),
        ({"port": 0}, "trunks.t.port"),
        ({"transport": "sctp"}, "trunks.t.transport"),
        ({"max_calls": -1}, "trunks.t.max_calls"),
        ({"trusted_networks": ("10.0.0.0/33",)}, "trunks.t.trusted_networks"),
        ({"caller_id": "hotline"}, "trunks.t.caller_id"),
        ({"asserted_identity": "+7 495"}, "trunks.t.asserted_identity"),
        ({"register": True}, "trunks.t.credentials"),
        ({"register_expires_s": 10}, "trunks.t.register_expires_s"),
        ({"inbound_numbers": ("hello",)}, "trunks.t.inbound_numbers"),
        ({"inbound_numbers": ("122=abc",)}, "trunks.t.inbound_numbers"),
    ],
)
def test_bad_settings_are_named(change: dict[str, object], setting: str) -> None:
    bad = replace(TrunkConfig(name="t", host="h"), **change)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as info:
        TrunkTable([bad])
    assert info.value.setting == setting


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        TrunkTable([LOCAL, LOCAL])


def test_credentials_stay_out_of_repr() -> None:
    assert "s3cret" not in repr(REGISTERED)


# -- inbound -------------------------------------------------------------------------------


def test_trusted_source_calling_122() -> None:
    match = _table().match_inbound(
        _invite("127.0.0.1", "sip:122@127.0.0.1:5060", from_="sip:89123456789@127.0.0.1")
    )
    assert match.trunk.name == "local-test"
    assert match.trust is TrustKind.NETWORK
    assert match.called == PhoneNumber("122", NumberKind.SHORT)
    assert match.service_number == "122"
    assert match.caller == PhoneNumber("+79123456789", NumberKind.MOBILE)


def test_ipv6_loopback_is_trusted() -> None:
    assert _table().match_inbound(_invite("::1", "sip:122@[::1]")).trunk.name == "local-test"


@pytest.mark.parametrize(
    ("ruri", "called", "service"),
    [
        ("sip:122@10.0.0.5;user=phone", "122", "122"),
        ("sip:+74951112233@10.0.0.5;user=phone", "+74951112233", "122"),
        ("sip:84951112233@10.0.0.5", "+74951112233", "122"),
        ("sip:4951112233@10.0.0.5", "+74951112233", "122"),
        ("tel:+7-495-111-22-33", "+74951112233", "122"),
        ("sip:+74951112244@10.0.0.5", "+74951112244", "+74951112244"),
    ],
)
def test_did_forms_map_to_the_service_number(ruri: str, called: str, service: str) -> None:
    match = _table().match_inbound(_invite("198.51.100.3", ruri))
    assert match.trunk.name == "operator-a"
    assert match.called is not None and match.called.number == called
    assert match.service_number == service


def test_untrusted_source_is_forbidden() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        _table().match_inbound(_invite("203.0.113.9", "sip:122@10.0.0.5"))
    assert info.value.status_hint == 403


def test_a_hostname_source_is_not_trusted() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        _table().match_inbound(_invite("localhost", "sip:122@10.0.0.5"))
    assert info.value.status_hint == 403


def test_a_number_the_trunk_does_not_serve_is_not_found() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        _table().match_inbound(_invite("198.51.100.3", "sip:+74951119999@10.0.0.5"))
    assert info.value.status_hint == 404


def test_an_incomplete_number_is_484() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        _table().match_inbound(_invite("198.51.100.3", "sip:8495111@10.0.0.5"))
    assert info.value.status_hint == 484


def test_registered_trunk_sends_to_our_contact_with_the_number_in_to() -> None:
    match = _table().match_inbound(
        _invite(
            "192.0.2.77",
            "sip:hotline-7f3a@10.0.0.5:5060",
            to="sip:74952223344@sip.operator-b.example",
            from_="sip:+79001234567@sip.operator-b.example",
            pai="sip:+79123456789@sip.operator-b.example",
            auth_user="hotline122",
        )
    )
    assert match.trunk.name == "operator-b"
    assert match.trust is TrustKind.DIGEST
    assert match.service_number == "122"
    assert match.caller is not None and match.caller.number == "+79123456789"  # PAI wins


def test_an_unknown_digest_user_falls_back_to_the_source_network() -> None:
    match = _table().match_inbound(_invite("127.0.0.1", "sip:122@h", auth_user="operator-7"))
    assert (match.trunk.name, match.trust) == ("local-test", TrustKind.NETWORK)


def test_a_literal_carrier_form_matches_as_written() -> None:
    odd = replace(ROSTEL, inbound_numbers=("+7122=122",))
    match = _table(odd).match_inbound(_invite("198.51.100.3", "sip:+7122@10.0.0.5"))
    assert (match.called, match.called_key, match.service_number) == (None, "+7122", "122")


def test_trunks_sharing_networks_are_told_apart_by_number() -> None:
    first = TrunkConfig(
        "a", "10.1.1.1", trusted_networks=("10.1.0.0/16",), inbound_numbers=("122",)
    )
    second = replace(first, name="b", inbound_numbers=("+74950000000",))
    table = _table(first, second)
    assert table.match_inbound(_invite("10.1.2.3", "sip:+74950000000@x")).trunk.name == "b"
    assert table.match_inbound(_invite("10.1.2.3", "sip:122@x")).trunk.name == "a"
    assert [t.name for t in table.sources("10.1.2.3")] == ["a", "b"]


def test_a_disabled_trunk_is_not_trusted() -> None:
    table = _table(replace(LOCAL, enabled=False))
    with pytest.raises(RemoteProtocolError) as info:
        table.match_inbound(_invite("127.0.0.1", "sip:122@h"))
    assert info.value.status_hint == 403


def test_a_trunk_without_inbound_numbers_takes_no_calls() -> None:
    table = _table(replace(LOCAL, inbound_numbers=()))
    with pytest.raises(RemoteProtocolError) as info:
        table.match_inbound(_invite("127.0.0.1", "sip:122@h"))
    assert info.value.status_hint == 404


# -- routing order ---------------------------------------------------------------------------


def test_route_orders_by_prefix_then_priority_then_name() -> None:
    cheap = TrunkConfig("cheap", "10.0.0.1", outbound=OutboundPolicy(priority=10))
    backup = TrunkConfig("backup", "10.0.0.2", outbound=OutboundPolicy(priority=50))
    moscow = TrunkConfig(
        "moscow", "10.0.0.3", outbound=OutboundPolicy(priority=90, prefixes=("+7495",))
    )
    also = TrunkConfig("also", "10.0.0.4", outbound=OutboundPolicy(priority=50))
    table = _table(cheap, backup, moscow, also)
    assert [t.name for t in table.route(parse_number("84951234567"))] == [
        "moscow",
        "cheap",
        "also",
        "backup",
    ]
    assert [t.name for t in table.route(parse_number("89123456789"))] == ["cheap", "also", "backup"]


def test_route_respects_kinds_and_enabled() -> None:
    emergency = TrunkConfig(
        "e", "10.0.0.9", outbound=OutboundPolicy(kinds=frozenset({NumberKind.SHORT}))
    )
    off = TrunkConfig("off", "10.0.0.8", enabled=False)
    no_out = TrunkConfig("in-only", "10.0.0.7", outbound=OutboundPolicy(enabled=False))
    table = _table(emergency, off, no_out, TrunkConfig("any", "10.0.0.6"))
    assert [t.name for t in table.route(parse_number("112"))] == ["e"]
    assert [t.name for t in table.route(parse_number("88091234567"))] == []  # premium: nobody
    assert [t.name for t in table.route(parse_number("89123456789"))] == ["any"]


# -- call slots ------------------------------------------------------------------------------


def test_slots_count_up_to_the_limit_and_back() -> None:
    table = _table()
    one = table.acquire("local-test", Direction.INBOUND)
    two = table.acquire("local-test", Direction.OUTBOUND)
    assert isinstance(one, CallSlot) and isinstance(two, CallSlot)
    assert table.acquire("local-test", Direction.INBOUND) is None
    assert table.active_calls("local-test") == 2
    one.release()
    assert table.active_calls("local-test") == 1
    assert table.acquire("local-test", Direction.INBOUND) is not None
    stats = {s.trunk: s for s in table.stats()}["local-test"]
    assert (stats.active, stats.limit, stats.inbound_total, stats.outbound_total) == (2, 2, 2, 1)
    assert stats.refused_at_limit_total == 1


def test_double_release_is_our_bug() -> None:
    slot = _table().acquire("local-test", Direction.INBOUND)
    assert slot is not None
    slot.release()
    assert slot.released
    with pytest.raises(LocalProtocolError):
        slot.release()
    assert _table().active_calls("local-test") == 0


def test_unknown_or_disabled_trunks_give_no_slot() -> None:
    table = _table(replace(LOCAL, enabled=False))
    assert table.acquire("local-test", Direction.INBOUND) is None
    assert table.acquire("nope", Direction.INBOUND) is None
    assert table.active_calls("nope") == 0


def test_reconfigure_keeps_calls_in_progress() -> None:
    table = _table()
    held = table.acquire("local-test", Direction.INBOUND)
    assert held is not None
    table.reconfigure([replace(LOCAL, max_calls=1), ROSTEL])
    assert table.acquire("local-test", Direction.INBOUND) is None  # 1 of 1 in use
    table.reconfigure([ROSTEL])  # removed while a call is up
    assert table.get("local-test") is None
    assert table.active_calls("local-test") == 1
    held.release()
    assert table.active_calls("local-test") == 0
    table.reconfigure([ROSTEL])
    assert [s.trunk for s in table.stats()] == ["operator-a"]


@given(
    st.lists(
        st.tuples(st.booleans(), st.sampled_from(["local-test", "operator-a"]), st.integers(0, 50)),
        max_size=120,
    )
)
@settings(max_examples=200, deadline=None)
def test_random_acquire_release_never_goes_negative_or_leaks(
    ops: list[tuple[bool, str, int]],
) -> None:
    table = _table(LOCAL, replace(ROSTEL, max_calls=3))
    held: list[CallSlot] = []
    for acquire, trunk, pick in ops:
        if acquire:
            slot = table.acquire(trunk, Direction.INBOUND)
            if slot is not None:
                held.append(slot)
        elif held:
            held.pop(pick % len(held)).release()
        for stats in table.stats():
            assert 0 <= stats.active <= stats.limit
            assert stats.active == sum(1 for s in held if s.trunk == stats.trunk)
    for slot in held:
        slot.release()
    assert all(s.active == 0 for s in table.stats())


# -- registration ----------------------------------------------------------------------------


def test_registration_config_of_a_registering_trunk() -> None:
    contact = SipUri(host="203.0.113.5", port=5060, user="hotline-7f3a")
    config = registration_config(REGISTERED, contact=contact, via_sent_by="203.0.113.5:5060")
    assert config is not None
    assert str(config.registrar) == "sip:sip.operator-b.example"
    assert str(config.aor) == "sip:74952223344@sip.operator-b.example"
    assert (config.username, config.password, config.expires_s) == ("74952223344", "s3cret", 600)
    assert config.contact == contact
    assert registration_config(LOCAL, contact=contact, via_sent_by="x") is None


def test_public_surface() -> None:
    assert set(trunks_module.__all__) == {
        "DEFAULT_OUTBOUND_KINDS",
        "MAX_INBOUND_NUMBERS",
        "MAX_TRUNKS",
        "CallSlot",
        "Direction",
        "InboundMatch",
        "InboundRequest",
        "OutboundPolicy",
        "TrunkConfig",
        "TrunkCredentials",
        "TrunkRecord",
        "TrunkStats",
        "TrunkTable",
        "TrustKind",
        "registration_config",
    }
