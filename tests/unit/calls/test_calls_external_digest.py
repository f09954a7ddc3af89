"""A trunk challenging our outbound INVITE of an external redirect (401/407, RFC 3261 §22.2)."""

from __future__ import annotations

from test_calls_controller_fakes import phone_answer_to
from test_calls_external import Rig, make_rig

from hotline.calls.trunks import OutboundPolicy, TrunkConfig, TrunkCredentials
from hotline.reports.events import EventKind
from hotline.sip.digest import DigestAlgorithm, DigestServer, VerifyStatus, ha1
from hotline.sip.useragent import Leg

REALM = "provider"
CREDENTIALS = TrunkCredentials("hotline122", "trunk-secret")
SERVER = DigestServer(REALM, b"provider-secret-key-0123456789ab", algorithms=(DigestAlgorithm.MD5,))


def lookup(username: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
    if (username, realm) != (CREDENTIALS.username, REALM):
        return None
    return ha1(username, realm, CREDENTIALS.password, algorithm.base)


def challenge(rig: Rig, org: Leg, status: int = 401) -> None:
    """The trunk answers ``status`` with a challenge; the next INVITE meets a fresh UAS."""
    now = rig.clock.monotonic()
    name = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
    far = rig.ua.far_of(org)
    far.reject(now, status, extra_headers=[(name, c) for c in SERVER.challenge(now)])
    outs = far.messages_to_send()
    rig.ua.far[org.leg_id] = None  # the INVITE sent again opens a new server session
    for out in outs:
        rig.ua._to_ours(org.session, out)
    rig.ua.flush(org)


async def test_a_challenge_is_answered_with_the_trunks_credentials() -> None:
    rig = make_rig(TrunkConfig(name="org-a", host="10.0.0.70", credentials=CREDENTIALS))
    await rig.call_and_press("1")
    (org,) = rig.ua.placed
    first = rig.ua.far_of(org).invite.cseq.number
    challenge(rig, org)
    invite = rig.ua.far_of(org).invite
    value = invite.headers.get("Authorization")
    assert value is not None and 'username="hotline122"' in value
    assert invite.cseq.number == first + 1  # the same INVITE again (RFC 3261 §22.2)
    result = SERVER.verify(rig.clock.monotonic(), "INVITE", value, lookup)
    assert result.status is VerifyStatus.OK
    rig.ua.phone_answer(org, phone_answer_to(org))
    assert rig.media.bridges == [("m1", "m2")]
    (redirected,) = rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.trunk == "org-a" and rig.slots() == {"org-a": 1}


async def test_a_proxy_challenge_gets_proxy_authorization() -> None:
    rig = make_rig(TrunkConfig(name="org-a", host="10.0.0.70", credentials=CREDENTIALS))
    await rig.call_and_press("1")
    (org,) = rig.ua.placed
    challenge(rig, org, 407)
    invite = rig.ua.far_of(org).invite
    value = invite.headers.get("Proxy-Authorization")
    assert value is not None and invite.headers.get("Authorization") is None
    assert SERVER.verify(rig.clock.monotonic(), "INVITE", value, lookup).status is VerifyStatus.OK


async def test_a_trunk_without_credentials_fails_over_and_a_loop_of_challenges_stops() -> None:
    first = TrunkConfig(name="org-a", host="10.0.0.70", outbound=OutboundPolicy(priority=10))
    second = TrunkConfig(
        name="org-b",
        host="10.0.0.71",
        outbound=OutboundPolicy(priority=20),
        credentials=CREDENTIALS,
    )
    rig = make_rig(first, second)
    await rig.call_and_press("1")
    (a,) = rig.ua.placed
    challenge(rig, a)  # org-a has no account: next trunk
    _a, b = rig.ua.placed
    assert b.peer.host == "10.0.0.71" and rig.slots() == {"org-a": 0, "org-b": 1}
    for _ in range(3):  # org-b keeps refusing our answer
        challenge(rig, b)
    assert rig.external.active() == 0 and rig.slots() == {"org-a": 0, "org-b": 0}
    assert rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL) == []
    assert len(rig.ua.placed) == 2  # two INVITE legs; the resent INVITEs were on b


async def test_an_organisation_refusing_alaw_gets_a_mulaw_offer_and_is_transcoded() -> None:
    rig = make_rig()
    await rig.call_and_press("1")
    (first,) = rig.ua.placed
    assert b"RTP/AVP 8 " in (first.session.invite.body or b"")
    rig.ua.phone_reject(first, 488)  # a PCMU-only organisation
    await rig.settle()
    _first, second = rig.ua.placed
    body = second.session.invite.body or b""
    assert b"RTP/AVP 0 " in body and b"PCMU/8000" in body and b"PCMA" not in body
    assert rig.media.legs["m3"].codec == "PCMU" and "m2" in rig.media.closed
    assert rig.slots() == {"org-a": 1}  # the same trunk, its slot kept
    rig.ua.phone_answer(second, phone_answer_to(second))
    assert rig.media.bridges == [("m1", "m3")]  # PCMA caller ↔ PCMU organisation
    (redirected,) = rig.events.of(EventKind.CALL_REDIRECTED_EXTERNAL)
    assert redirected.trunk == "org-a"


async def test_a_second_488_is_the_destinations_final_answer() -> None:
    rig = make_rig()
    await rig.call_and_press("1")
    (first,) = rig.ua.placed
    rig.ua.phone_reject(first, 488)
    await rig.settle()
    rig.ua.phone_reject(rig.ua.placed[-1], 488)
    await rig.settle()
    assert len(rig.ua.placed) == 2 and rig.external.active() == 0
    assert rig.slots() == {"org-a": 0} and rig.media.legs.keys() - set(rig.media.closed) == {"m1"}
