"""Digest computations, client and server (RFC 2617, RFC 7616, RFC 8760, RFC 3261 §22)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from hotline.core.errors import ConfigurationError, LocalProtocolError, RemoteProtocolError
from hotline.sip.digest import (
    DigestAlgorithm,
    DigestClient,
    DigestServer,
    VerifyReason,
    VerifyResult,
    VerifyStatus,
    answer_challenge,
    compute_response,
    ha1,
    parse_challenge,
    parse_credentials,
    select_challenge,
)

REALM = "hotline.example"
KEY = b"0123456789abcdef0123456789abcdef"
URI = "sip:hotline.example"

# RFC 2617 §3.5
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int",'
    ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
# RFC 7616 §3.9.1
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_CHALLENGES = [
    f'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={algorithm},'
    f' nonce="{RFC7616_NONCE}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    for algorithm in ("SHA-256", "MD5")
]


class Store:
    """A credential store keyed like the real one: (user, realm, base algorithm) -> HA1."""

    def __init__(self, users: dict[str, str]) -> None:
        self.calls: list[tuple[str, str, DigestAlgorithm]] = []
        self._ha1 = {
            (user, REALM, algorithm): ha1(user, REALM, password, algorithm)
            for user, password in users.items()
            for algorithm in (DigestAlgorithm.MD5, DigestAlgorithm.SHA256)
        }

    def lookup(self, username: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
        self.calls.append((username, realm, algorithm))
        return self._ha1.get((username, realm, algorithm))


def counter_bytes() -> Callable[[int], bytes]:
    numbers = itertools.count()
    return lambda size: next(numbers).to_bytes(size, "big")


def make_server(
    *,
    nonce_ttl_s: float = 60.0,
    algorithms: tuple[DigestAlgorithm, ...] = (DigestAlgorithm.SHA256, DigestAlgorithm.MD5),
    allow_rfc2069: bool = False,
    max_tracked_nonces: int = 100,
    random_bytes: Callable[[int], bytes] | None = None,
) -> DigestServer:
    if random_bytes is None:
        return DigestServer(
            REALM,
            KEY,
            nonce_ttl_s=nonce_ttl_s,
            algorithms=algorithms,
            allow_rfc2069=allow_rfc2069,
            max_tracked_nonces=max_tracked_nonces,
        )
    return DigestServer(
        REALM,
        KEY,
        nonce_ttl_s=nonce_ttl_s,
        algorithms=algorithms,
        allow_rfc2069=allow_rfc2069,
        max_tracked_nonces=max_tracked_nonces,
        random_bytes=random_bytes,
    )


STORE = Store({"1001": "secret-1001", "оператор": "пароль"})


def authorize(
    challenges: list[str],
    *,
    user: str = "1001",
    password: str = "secret-1001",
    nc: int = 1,
    method: str = "REGISTER",
    uri: str = URI,
) -> str:
    challenge = select_challenge(challenges)
    assert challenge is not None
    return answer_challenge(
        challenge, method, uri, username=user, password=password, cnonce="c0ffee", nc=nc
    )


def verify(server: DigestServer, now: float, value: str, method: str = "REGISTER") -> VerifyResult:
    return server.verify(now, method, value, STORE.lookup, request_uri=URI)


# --- known vectors -----------------------------------------------------------------------------


def test_rfc2617_example_response() -> None:
    value = answer_challenge(
        RFC2617_CHALLENGE,
        "GET",
        "/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
        nc=1,
    )
    credentials = parse_credentials(value)
    assert credentials.response == "6629fae49393a05397450978507c4ef1"
    assert (credentials.qop, credentials.nc, credentials.cnonce) == ("auth", "00000001", "0a4f113b")
    assert credentials.opaque == "5ccc069c403ebaf9f0171e9517f40e41"


@pytest.mark.parametrize(
    ("challenge", "expected"),
    [
        (RFC7616_CHALLENGES[0], "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        (RFC7616_CHALLENGES[1], "8ca523f5e9506fed4657c9700eebdbec"),
    ],
)
def test_rfc7616_example_responses(challenge: str, expected: str) -> None:
    value = answer_challenge(
        challenge,
        "GET",
        "/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce=RFC7616_CNONCE,
        nc=1,
    )
    assert parse_credentials(value).response == expected


def test_rfc7616_vectors_through_compute_response() -> None:
    for algorithm, expected in (
        (
            DigestAlgorithm.SHA256,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        ),
        (DigestAlgorithm.MD5, "8ca523f5e9506fed4657c9700eebdbec"),
    ):
        response = compute_response(
            ha1_hex=ha1("Mufasa", "http-auth@example.org", "Circle of Life", algorithm),
            algorithm=algorithm,
            method="GET",
            uri="/dir/index.html",
            nonce=RFC7616_NONCE,
            qop="auth",
            nc="00000001",
            cnonce=RFC7616_CNONCE,
        )
        assert response == expected


def test_rfc2069_form_and_sess_variant() -> None:
    h = ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    assert h == "939e7578ed9e3c518a452acee763bce9"
    plain = compute_response(
        ha1_hex=h, algorithm=DigestAlgorithm.MD5, method="GET", uri="/dir/index.html", nonce="n"
    )
    ha2 = DigestAlgorithm.MD5.hash_hex("GET:/dir/index.html")
    assert plain == DigestAlgorithm.MD5.hash_hex(f"{h}:n:{ha2}")
    sess = compute_response(
        ha1_hex=h,
        algorithm=DigestAlgorithm.MD5_SESS,
        method="GET",
        uri="/dir/index.html",
        nonce="n",
        qop="auth",
        nc="00000001",
        cnonce="c",
    )
    sess_ha1 = DigestAlgorithm.MD5.hash_hex(f"{h}:n:c")
    assert sess == DigestAlgorithm.MD5.hash_hex(f"{sess_ha1}:n:00000001:c:auth:{ha2}")


def test_compute_response_refuses_incomplete_input() -> None:
    with pytest.raises(LocalProtocolError):
        compute_response(
            ha1_hex="00", algorithm=DigestAlgorithm.MD5, method="M", uri="u", nonce="n", qop="auth"
        )
    with pytest.raises(LocalProtocolError):
        compute_response(
            ha1_hex="00", algorithm=DigestAlgorithm.MD5_SESS, method="M", uri="u", nonce="n"
        )
    with pytest.raises(LocalProtocolError):
        compute_response(
            ha1_hex="00",
            algorithm=DigestAlgorithm.MD5,
            method="M",
            uri="u",
            nonce="n",
            qop="auth-conf",
            nc="00000001",
            cnonce="c",
        )


def test_algorithm_tokens() -> None:
    assert DigestAlgorithm.from_token(None) is DigestAlgorithm.MD5
    assert DigestAlgorithm.from_token("sha-256-SESS") is DigestAlgorithm.SHA256_SESS
    assert DigestAlgorithm.from_token("SHA-512-256") is None
    assert DigestAlgorithm.SHA256_SESS.base is DigestAlgorithm.SHA256
    assert (DigestAlgorithm.MD5.hex_length, DigestAlgorithm.SHA256.hex_length) == (32, 64)


# --- client ------------------------------------------------------------------------------------


def test_client_prefers_sha256_among_rfc7616_challenges() -> None:
    for order in (RFC7616_CHALLENGES, list(reversed(RFC7616_CHALLENGES))):
        challenge = select_challenge(order)
        assert challenge is not None
        assert challenge.algorithm == "SHA-256"


def test_select_challenge_skips_what_it_cannot_answer() -> None:
    values = [
        'Basic realm="x"',
        "Digest garbage",
        'Digest realm="r", nonce="n", algorithm=SHA-512-256',
        'Digest realm="r", nonce="n", qop="auth-conf"',
        'Digest realm="r", nonce="md5", algorithm=MD5',
    ]
    challenge = select_challenge(values)
    assert challenge is not None
    assert challenge.nonce == "md5"
    assert select_challenge(values[:4]) is None


def test_client_counts_nonces() -> None:
    client = DigestClient("1001", "secret-1001")
    first = 'Digest realm="r", nonce="one", qop="auth"'
    counts = [
        parse_credentials(client.answer_challenge(first, "INVITE", "sip:122@r", cnonce="a")).nc
        for _ in range(3)
    ]
    assert counts == ["00000001", "00000002", "00000003"]
    second = client.answer_challenge(
        'Digest realm="r", nonce="two", qop="auth"', "INVITE", "sip:122@r", cnonce="b"
    )
    assert parse_credentials(second).nc == "00000001"
    explicit = client.answer_challenge(first, "INVITE", "sip:122@r", cnonce="c", nc=0x1F)
    assert parse_credentials(explicit).nc == "0000001f"
    assert "secret" not in repr(client)
    assert client.username == "1001"


def test_client_authorize_returns_none_without_usable_challenge() -> None:
    client = DigestClient("u", "p")
    assert client.authorize(['Basic realm="r"'], "REGISTER", URI, cnonce="x") is None
    value = client.authorize(RFC7616_CHALLENGES, "REGISTER", URI, cnonce="x")
    assert value is not None
    assert parse_credentials(value).algorithm == "SHA-256"


def test_client_rfc2069_challenge_gets_no_qop() -> None:
    value = answer_challenge(
        'Digest realm="r", nonce="n"', "INVITE", "sip:122@r", username="u", password="p", cnonce="c"
    )
    credentials = parse_credentials(value)
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
    expected = compute_response(
        ha1_hex=ha1("u", "r", "p"),
        algorithm=DigestAlgorithm.MD5,
        method="INVITE",
        uri="sip:122@r",
        nonce="n",
    )
    assert credentials.response == expected


def test_client_uses_auth_int_only_when_it_is_the_only_option() -> None:
    body = b"v=0\r\n"
    value = answer_challenge(
        'Digest realm="r", nonce="n", qop="auth-int", algorithm=SHA-256',
        "INVITE",
        "sip:122@r",
        username="u",
        password="p",
        cnonce="c",
        body=body,
    )
    credentials = parse_credentials(value)
    assert credentials.qop == "auth-int"
    expected = compute_response(
        ha1_hex=ha1("u", "r", "p", DigestAlgorithm.SHA256),
        algorithm=DigestAlgorithm.SHA256,
        method="INVITE",
        uri="sip:122@r",
        nonce="n",
        qop="auth-int",
        nc="00000001",
        cnonce="c",
        body=body,
    )
    assert credentials.response == expected


@pytest.mark.parametrize(
    ("challenge", "nc"),
    [
        ('Digest realm="r", nonce="n", algorithm=AKAv1-MD5', 1),
        ('Digest realm="r", nonce="n", qop="auth-conf"', 1),
        ('Digest realm="r", nonce="n", qop="auth"', 0),
        ('Digest realm="r", nonce="n", qop="auth"', 2**32),
        ('Basic realm="r"', 1),
    ],
)
def test_client_refuses_what_it_cannot_answer(challenge: str, nc: int) -> None:
    with pytest.raises(RemoteProtocolError):
        answer_challenge(
            challenge, "INVITE", "sip:x", username="u", password="p", cnonce="c", nc=nc
        )


# --- server ------------------------------------------------------------------------------------


def test_challenge_lists_sha256_first_with_one_nonce() -> None:
    server = make_server(random_bytes=counter_bytes())
    values = server.challenge(100.0)
    challenges = [parse_challenge(v) for v in values]
    assert [c.algorithm for c in challenges] == ["SHA-256", "MD5"]
    assert challenges[0].nonce == challenges[1].nonce
    assert all(c.qop == ("auth",) and c.realm == REALM and c.opaque for c in challenges)
    assert not any(c.stale for c in challenges)
    assert all(parse_challenge(v).stale for v in server.challenge(100.0, stale=True))
    assert server.challenge(100.0)[0] != values[0]  # every challenge has a fresh nonce


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_round_trip_ok(algorithm: str) -> None:
    server = make_server()
    challenge = next(v for v in server.challenge(10.0) if f"algorithm={algorithm}" in v)
    result = verify(server, 11.0, authorize([challenge]))
    assert result.ok
    assert result.status is VerifyStatus.OK
    assert result.username == "1001"
    assert result.algorithm is DigestAlgorithm.from_token(algorithm)


def test_round_trip_with_utf8_user_and_invite() -> None:
    server = make_server()
    value = authorize(server.challenge(10.0), user="оператор", password="пароль", method="INVITE")
    assert verify(server, 10.5, value, method="INVITE").username == "оператор"


def test_lookup_is_asked_for_the_base_algorithm() -> None:
    server = make_server(algorithms=(DigestAlgorithm.SHA256_SESS,))
    store = Store({"1001": "secret-1001"})
    value = authorize(server.challenge(1.0))
    assert parse_credentials(value).algorithm == "SHA-256-sess"
    assert server.verify(2.0, "REGISTER", value, store.lookup).ok
    assert store.calls == [("1001", REALM, DigestAlgorithm.SHA256)]


def test_nonce_counts_increase_and_replays_are_refused() -> None:
    server = make_server()
    challenges = server.challenge(0.0)
    assert verify(server, 1.0, authorize(challenges, nc=1)).ok
    assert verify(server, 2.0, authorize(challenges, nc=2)).ok
    replay = verify(server, 3.0, authorize(challenges, nc=2))
    assert (replay.status, replay.reason) == (VerifyStatus.STALE, VerifyReason.NONCE_REPLAYED)
    assert replay.username is None
    older = verify(server, 3.0, authorize(challenges, nc=1))
    assert older.status is VerifyStatus.STALE
    assert verify(server, 4.0, authorize(challenges, nc=7)).ok  # gaps are fine
    assert server.tracked_nonces == 1


def test_failed_attempt_does_not_consume_the_nonce_count() -> None:
    server = make_server()
    challenges = server.challenge(0.0)
    bad = verify(server, 1.0, authorize(challenges, password="guess", nc=0xFFFFFFFF))
    assert bad.status is VerifyStatus.FAILED
    assert verify(server, 2.0, authorize(challenges, nc=1)).ok


def test_expired_nonce_is_stale_only_with_a_correct_response() -> None:
    server = make_server(nonce_ttl_s=30.0)
    challenges = server.challenge(100.0)
    assert verify(server, 130.0, authorize(challenges)).ok  # on the edge
    stale = verify(server, 131.0, authorize(challenges, nc=2))
    assert (stale.status, stale.reason) == (VerifyStatus.STALE, VerifyReason.NONCE_EXPIRED)
    wrong = verify(server, 131.0, authorize(challenges, nc=3, password="guess"))
    assert (wrong.status, wrong.reason) == (VerifyStatus.FAILED, VerifyReason.WRONG_RESPONSE)


def test_nonce_from_the_future_is_stale() -> None:
    server = make_server()
    result = verify(server, 100.0, authorize(server.challenge(200.0)))
    assert (result.status, result.reason) == (VerifyStatus.STALE, VerifyReason.NONCE_EXPIRED)


def test_wrong_password_and_unknown_user_look_the_same() -> None:
    server = make_server()
    challenges = server.challenge(0.0)
    wrong = verify(server, 1.0, authorize(challenges, password="guess"))
    unknown = verify(server, 1.0, authorize(challenges, user="9999", password="guess"))
    assert wrong.status is unknown.status is VerifyStatus.FAILED
    assert (wrong.reason, unknown.reason) == (
        VerifyReason.WRONG_RESPONSE,
        VerifyReason.UNKNOWN_USER,
    )
    assert wrong.username is None and unknown.username is None
    assert unknown.claimed_username == "9999"


def test_wrong_realm_fails() -> None:
    server = make_server()
    other = DigestServer("other.example", KEY)
    value = authorize(other.challenge(0.0))
    result = verify(server, 1.0, value)
    assert (result.status, result.reason) == (VerifyStatus.FAILED, VerifyReason.WRONG_REALM)


def test_nonce_of_another_key_or_tampered_is_forged() -> None:
    server = make_server()
    stranger = DigestServer(REALM, b"another key of 32 bytes........")
    result = verify(server, 1.0, authorize(stranger.challenge(0.0)))
    assert (result.status, result.reason) == (VerifyStatus.FAILED, VerifyReason.FORGED_NONCE)
    nonce = parse_challenge(server.challenge(0.0)[0]).nonce
    flipped = nonce[:-3] + ("A" if nonce[-3] != "A" else "B") + nonce[-2:]
    for bad_nonce in (flipped, "short", "!!!not base64!!!", "", "нонс", "A" * 500):
        challenge = f'Digest realm="{REALM}", nonce="{bad_nonce}", algorithm=SHA-256, qop="auth"'
        assert verify(server, 1.0, authorize([challenge])).reason is VerifyReason.FORGED_NONCE


def test_other_node_with_the_same_key_accepts_the_nonce() -> None:
    node_a, node_b = make_server(), make_server()
    assert verify(node_b, 1.0, authorize(node_a.challenge(0.0))).ok


def test_opaque_must_match_when_present() -> None:
    server = make_server()
    challenge = parse_challenge(server.challenge(0.0)[0])
    forged = challenge.to_header().replace(f'opaque="{challenge.opaque}"', 'opaque="nope"')
    result = verify(server, 1.0, authorize([forged]))
    assert (result.status, result.reason) == (VerifyStatus.FAILED, VerifyReason.OPAQUE_MISMATCH)
    absent = challenge.to_header().replace(f', opaque="{challenge.opaque}"', "")
    assert verify(server, 1.0, authorize([absent])).ok


def test_algorithm_not_configured_fails() -> None:
    server = make_server(algorithms=(DigestAlgorithm.SHA256,))
    md5_challenge = parse_challenge(server.challenge(0.0)[0]).to_header().replace("SHA-256", "MD5")
    result = verify(server, 1.0, authorize([md5_challenge]))
    assert (result.status, result.reason) == (
        VerifyStatus.FAILED,
        VerifyReason.UNSUPPORTED_ALGORITHM,
    )


def test_rfc2069_credentials_only_when_allowed() -> None:
    strict, lenient = make_server(), make_server(allow_rfc2069=True)
    for server, status in ((strict, VerifyStatus.FAILED), (lenient, VerifyStatus.OK)):
        challenge = server.challenge(0.0)[0].replace(', qop="auth"', "")
        result = verify(server, 1.0, authorize([challenge]))
        assert result.status is status
    reason = verify(
        strict, 1.0, authorize([strict.challenge(0.0)[0].replace(', qop="auth"', "")])
    ).reason
    assert reason is VerifyReason.QOP_REQUIRED


def test_auth_int_is_not_accepted() -> None:
    server = make_server()
    challenge = server.challenge(0.0)[0].replace('qop="auth"', 'qop="auth-int"')
    result = verify(server, 1.0, authorize([challenge]))
    assert (result.status, result.reason) == (VerifyStatus.FAILED, VerifyReason.UNSUPPORTED_QOP)


def test_uppercase_hex_response_is_accepted() -> None:
    server = make_server()
    value = authorize(server.challenge(0.0))
    response = parse_credentials(value).response
    assert verify(server, 1.0, value.replace(response, response.upper())).ok


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda v: "Digest garbage", VerifyReason.MALFORMED_HEADER),
        (lambda v: v.replace("Digest", "Basic"), VerifyReason.MALFORMED_HEADER),
        (lambda v: v.replace(", nc=00000001", ""), VerifyReason.MALFORMED_HEADER),
        (lambda v: v.replace('cnonce="c0ffee", ', ""), VerifyReason.MALFORMED_HEADER),
        (lambda v: v.replace("nc=00000001", "nc=1"), VerifyReason.MALFORMED_HEADER),
        (lambda v: v.replace("nc=00000001", "nc=00000000"), VerifyReason.MALFORMED_HEADER),
        (lambda v: v.replace("nc=00000001", "nc=0000000g"), VerifyReason.MALFORMED_HEADER),
        (lambda v: v.replace('response="', 'response="zz'), VerifyReason.MALFORMED_HEADER),
        (lambda v: v.replace(f'uri="{URI}"', 'uri="sip:elsewhere"'), VerifyReason.URI_MISMATCH),
    ],
)
def test_malformed_credentials(mutate: Callable[[str], str], reason: VerifyReason) -> None:
    server = make_server()
    value = mutate(authorize(server.challenge(0.0)))
    result = verify(server, 1.0, value)
    assert (result.status, result.reason) == (VerifyStatus.MALFORMED, reason)
    assert not result.ok


def test_sess_algorithm_without_cnonce_is_malformed() -> None:
    server = make_server(algorithms=(DigestAlgorithm.MD5_SESS,), allow_rfc2069=True)
    nonce = parse_challenge(server.challenge(0.0)[0]).nonce
    value = f'Digest username="1001", realm="{REALM}", nonce="{nonce}", uri="{URI}", response="00", algorithm=MD5-sess'
    assert verify(server, 1.0, value).status is VerifyStatus.MALFORMED


def test_uri_check_is_optional() -> None:
    server = make_server()
    value = authorize(server.challenge(0.0), uri="sip:122@hotline.example")
    assert server.verify(1.0, "REGISTER", value, STORE.lookup).ok
    assert verify(
        server, 1.0, authorize(server.challenge(0.0), uri="sip:122@hotline.example")
    ).status is (VerifyStatus.MALFORMED)


def test_nonce_memory_is_bounded_and_forgotten_nonces_are_stale() -> None:
    server = make_server(max_tracked_nonces=2)
    first, second, third = (server.challenge(float(t)) for t in (1, 2, 3))
    assert verify(server, 4.0, authorize(first)).ok
    assert verify(server, 4.0, authorize(second)).ok
    assert verify(server, 4.0, authorize(third)).ok  # evicts the first nonce
    assert server.tracked_nonces == 2
    forgotten = verify(server, 5.0, authorize(first, nc=2))
    assert (forgotten.status, forgotten.reason) == (
        VerifyStatus.STALE,
        VerifyReason.NONCE_UNTRACKED,
    )
    assert verify(server, 5.0, authorize(third, nc=2)).ok
    assert verify(server, 6.0, authorize(server.challenge(6.0))).ok  # issued after the watermark


def test_server_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="nonce_ttl_s"):
        make_server(nonce_ttl_s=0)
    with pytest.raises(ConfigurationError, match="algorithms"):
        make_server(algorithms=())
    with pytest.raises(ConfigurationError, match="max_tracked_nonces"):
        make_server(max_tracked_nonces=0)


def test_short_secret_key_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        DigestServer(REALM, b"short")
    assert DigestServer(REALM, KEY).realm == REALM
