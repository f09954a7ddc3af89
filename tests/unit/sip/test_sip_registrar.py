"""Registrar binding rules (RFC 3261 §10.3) on plain epoch floats."""

from __future__ import annotations

import pytest

from hotline.core.errors import RemoteProtocolError
from hotline.sip.message import SipRequest
from hotline.sip.msg_parse import parse_message
from hotline.sip.peer import Peer, TransportKind
from hotline.sip.registrar import BindingChange, Registrar, RegistrarPolicy

SRC = Peer(TransportKind.UDP, "192.0.2.10", 5062)
T0 = 1_800_000_000.0


def register(
    contacts: list[str],
    *,
    user: str = "1001",
    call_id: str = "reg-1",
    cseq: int = 1,
    expires: int | None = None,
) -> SipRequest:
    lines = [
        "REGISTER sip:hotline122 SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1;rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@hotline122>;tag=a1",
        f"To: <sip:{user}@hotline122>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        "User-Agent: baresip",
    ]
    lines += [f"Contact: {c}" for c in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines.append("Content-Length: 0")
    msg = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(msg, SipRequest)
    return msg


def test_register_refresh_and_expire() -> None:
    reg = Registrar()
    out = reg.register(register(["<sip:1001@192.0.2.10:5062>"], expires=120), "1001", SRC, T0)
    assert out.status == 200
    (binding,) = out.bindings
    assert binding.remaining_s(T0) == 120
    assert binding.source == SRC and binding.user_agent == "baresip"
    assert [c.change for c in out.changes] == [BindingChange.ADDED]
    again = reg.register(
        register(["<sip:1001@192.0.2.10:5062>"], cseq=2, expires=300), "1001", SRC, T0 + 60
    )
    assert again.status == 200
    assert [c.change for c in again.changes] == [BindingChange.REFRESHED]
    assert reg.get_timer() is not None
    reg.handle_timer(T0 + 180)  # the first expiry is stale now: nothing expires
    assert reg.count() == 1
    reg.handle_timer(T0 + 60 + 300)
    assert reg.count() == 0
    changes = []
    while (c := reg.next_change()) is not None:
        changes.append(c.change)
    assert changes == [BindingChange.ADDED, BindingChange.REFRESHED, BindingChange.EXPIRED]


def test_several_contacts_q_order_and_header_vs_param_expiry() -> None:
    reg = Registrar()
    out = reg.register(
        register(
            ["<sip:1001@192.0.2.10:5062>;q=0.5", "<sip:1001@192.0.2.11>;q=1.0;expires=600"],
            expires=100,
        ),
        "1001",
        SRC,
        T0,
    )
    assert out.status == 200
    assert [b.contact for b in out.bindings] == ["sip:1001@192.0.2.11", "sip:1001@192.0.2.10:5062"]
    assert [b.remaining_s(T0) for b in out.bindings] == [600, 100]


def test_wildcard_unregister() -> None:
    reg = Registrar()
    reg.register(register(["<sip:1001@192.0.2.10>", "<sip:1001@192.0.2.11>"]), "1001", SRC, T0)
    out = reg.register(register(["*"], cseq=2, expires=0), "1001", SRC, T0 + 1)
    assert out.status == 200 and out.bindings == ()
    assert reg.count() == 0


@pytest.mark.parametrize(
    ("contacts", "expires"), [(["*"], None), (["*"], 60), (["*", "<sip:a@b>"], 0)]
)
def test_wildcard_needs_expires_zero_and_alone(contacts: list[str], expires: int | None) -> None:
    with pytest.raises(RemoteProtocolError):
        Registrar().register(register(contacts, expires=expires), "1001", SRC, T0)


def test_interval_too_brief_and_cap() -> None:
    reg = Registrar(RegistrarPolicy(min_expires_s=60, max_expires_s=3600))
    out = reg.register(register(["<sip:1001@h>"], expires=30), "1001", SRC, T0)
    assert (out.status, out.min_expires_s) == (423, 60)
    out = reg.register(register(["<sip:1001@h>"], expires=999_999), "1001", SRC, T0)
    assert out.bindings[0].remaining_s(T0) == 3600


def test_out_of_order_cseq_is_500() -> None:
    reg = Registrar()
    reg.register(register(["<sip:1001@h>"], cseq=5), "1001", SRC, T0)
    out = reg.register(register(["<sip:1001@h>"], cseq=5), "1001", SRC, T0)
    assert out.status == 500
    out = reg.register(register(["<sip:1001@h>"], cseq=1, call_id="other"), "1001", SRC, T0)
    assert out.status == 200  # a new Call-ID starts a new CSeq space


def test_to_must_be_the_authenticated_user() -> None:
    out = Registrar().register(register(["<sip:1002@h>"], user="1002"), "1001", SRC, T0)
    assert out.status == 403


def test_too_many_contacts() -> None:
    reg = Registrar(RegistrarPolicy(max_contacts=2))
    out = reg.register(register([f"<sip:1001@192.0.2.{i}>" for i in range(3)]), "1001", SRC, T0)
    assert out.status == 403
    assert reg.count() == 0


def test_contact_uri_params_distinguish_bindings_header_params_do_not() -> None:
    """RFC 4475 cparam01/02: ;expires outside <> is a header param, inside it is a URI param."""
    reg = Registrar()
    reg.register(register(["<sip:1001@h;transport=tcp>"]), "1001", SRC, T0)
    reg.register(register(["<sip:1001@h>;expires=100"], cseq=2), "1001", SRC, T0)
    assert reg.count() == 2
    out = reg.register(register(["<sip:1001@h;transport=tcp>;expires=0"], cseq=3), "1001", SRC, T0)
    assert [b.contact for b in out.bindings] == ["sip:1001@h"]


def test_query_without_contacts_lists_bindings() -> None:
    reg = Registrar()
    reg.register(register(["<sip:1001@h>"]), "1001", SRC, T0)
    out = reg.register(register([], cseq=2), "1001", SRC, T0 + 5)
    assert out.status == 200 and len(out.bindings) == 1 and out.changes == ()


def test_restore_skips_expired() -> None:
    reg = Registrar()
    out = reg.register(register(["<sip:1001@h>"], expires=100), "1001", SRC, T0)
    fresh = Registrar()
    fresh.restore(out.bindings[0], T0 + 50)
    fresh.restore(out.bindings[0], T0 + 500)  # expired: ignored
    assert fresh.count() == 1
    assert fresh.bindings("1001", T0 + 50)[0].remaining_s(T0 + 50) == 50
