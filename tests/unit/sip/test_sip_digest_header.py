"""Digest header values: parsing, quoting, limits, fuzz (RFC 3261 §25.1, RFC 7616 §3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.core.errors import LimitExceededError, LocalProtocolError, RemoteProtocolError
from hotline.sip import digest
from hotline.sip.digest import (
    AuthHeader,
    DigestChallenge,
    DigestCredentials,
    format_auth_header,
    parse_auth_header,
    parse_challenge,
    parse_credentials,
)
from hotline.sip.digest_header import MAX_HEADER_LENGTH, MAX_PARAM_LENGTH, MAX_PARAMS

T = TypeVar("T")

RFC7616_AUTHORIZATION = (
    'Digest username="Mufasa",\r\n realm="http-auth@example.org",\r\n'
    ' uri="/dir/index.html",\r\n algorithm=SHA-256,\r\n'
    ' nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",\r\n nc=00000001,\r\n'
    ' cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",\r\n qop=auth,\r\n'
    ' response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",\r\n'
    ' opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)


def test_public_surface_exists() -> None:
    for name in digest.__all__:
        assert getattr(digest, name) is not None


def test_rfc7616_authorization_header_with_folding() -> None:
    credentials = parse_credentials(RFC7616_AUTHORIZATION)
    assert credentials == DigestCredentials(
        username="Mufasa",
        realm="http-auth@example.org",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        uri="/dir/index.html",
        response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
        algorithm="SHA-256",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc="00000001",
        qop="auth",
        opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    )


def test_sip_challenge_with_qop_list() -> None:
    challenge = parse_challenge(
        'Digest realm="atlanta.com", domain="sip:ss1.carrier.com", qop="auth,auth-int",'
        ' nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=FALSE, algorithm=MD5'
    )
    assert challenge == DigestChallenge(
        realm="atlanta.com",
        nonce="f84f1cec41e6cbe5aea9c8e88d359",
        algorithm="MD5",
        qop=("auth", "auth-int"),
        opaque="",
        stale=False,
        domain="sip:ss1.carrier.com",
    )


def test_names_are_case_insensitive_and_tokens_may_be_quoted() -> None:
    challenge = parse_challenge('digest REALM="r", Nonce="n", ALGORITHM="sha-256", Stale=TRUE')
    assert (challenge.realm, challenge.nonce, challenge.algorithm) == ("r", "n", "sha-256")
    assert challenge.stale
    assert challenge.qop == ()


def test_quoted_pairs_are_unescaped() -> None:
    header = parse_auth_header(r'Digest realm="a \"quoted\" realm\\x", nonce=abc')
    assert header.get("realm") == 'a "quoted" realm\\x'
    assert header.get("nonce") == "abc"
    assert header.get("missing") is None


def test_empty_list_elements_and_spacing_are_tolerated() -> None:
    header = parse_auth_header('  Digest  , realm = "r" ,, nonce="n",  ')
    assert header == AuthHeader("Digest", (("realm", "r"), ("nonce", "n")))


def test_utf8_username() -> None:
    credentials = parse_credentials(
        'Digest username="оператор", realm="r", nonce="n", uri="sip:122@r", response="00"'
    )
    assert credentials.username == "оператор"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        '"Digest" realm="r"',
        'Digest realm="r" nonce="n"',
        'Digest realm="r", nonce',
        'Digest realm="r", nonce=',
        'Digest realm="unterminated',
        'Digest realm="ends with backslash\\',
        'Digest realm="r", realm="again"',
        'Digest realm="r", REALM="again"',
        'Digest realm="bad\x00char"',
        'Digest realm="line\r\nbreak"',
        "Digest =value",
        'Digest@ realm="r"',
        'Digest realm=a"b',
    ],
)
def test_malformed_headers(value: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_auth_header(value)
    assert info.value.status_hint == 400


@pytest.mark.parametrize(
    "value",
    [
        'Basic realm="r"',
        'Digest nonce="n"',
        'Digest realm="r"',
    ],
)
def test_challenges_need_digest_realm_and_nonce(value: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_challenge(value)


@pytest.mark.parametrize("missing", ["username", "realm", "nonce", "uri", "response"])
def test_credentials_need_their_parameters(missing: str) -> None:
    params = {"username": "u", "realm": "r", "nonce": "n", "uri": "sip:r", "response": "00"}
    del params[missing]
    value = "Digest " + ", ".join(f'{k}="{v}"' for k, v in params.items())
    with pytest.raises(RemoteProtocolError) as info:
        parse_credentials(value)
    assert missing in str(info.value)


def test_limits() -> None:
    with pytest.raises(LimitExceededError):
        parse_auth_header("Digest " + "a" * MAX_HEADER_LENGTH)
    with pytest.raises(LimitExceededError):
        parse_auth_header("Digest " + ", ".join(f"p{i}=1" for i in range(MAX_PARAMS + 1)))
    with pytest.raises(LimitExceededError):
        parse_auth_header('Digest nonce="' + "n" * (MAX_PARAM_LENGTH + 1) + '"')
    with pytest.raises(LimitExceededError):
        parse_auth_header("Digest nonce=" + "n" * (MAX_PARAM_LENGTH + 1))
    with pytest.raises(LimitExceededError):
        parse_auth_header("X" * (MAX_PARAM_LENGTH + 1) + " a=b")
    assert (
        len(parse_auth_header("Digest " + ", ".join(f"p{i}=1" for i in range(MAX_PARAMS))).params)
        == MAX_PARAMS
    )


def test_challenge_serialisation() -> None:
    challenge = DigestChallenge(
        realm='hot"line',
        nonce="abc",
        algorithm="SHA-256",
        qop=("auth",),
        opaque="op",
        stale=True,
        domain="sip:hotline",
    )
    value = challenge.to_header()
    assert value == (
        'Digest realm="hot\\"line", domain="sip:hotline", nonce="abc", opaque="op",'
        ' stale=true, algorithm=SHA-256, qop="auth"'
    )
    assert parse_challenge(value) == challenge


def test_credentials_serialisation_round_trip() -> None:
    credentials = parse_credentials(RFC7616_AUTHORIZATION)
    assert parse_credentials(credentials.to_header()) == credentials
    minimal = DigestCredentials("u", "r", "n", "sip:r", "00")
    assert (
        minimal.to_header()
        == 'Digest username="u", realm="r", nonce="n", uri="sip:r", response="00"'
    )


def test_serialisation_refuses_header_injection() -> None:
    with pytest.raises(LocalProtocolError):
        format_auth_header("Digest", [("realm", "r\r\nVia: evil", True)])
    with pytest.raises(LocalProtocolError):
        format_auth_header("Digest", [("algorithm", "MD5, x=y", False)])


def status_or_result(parse: Callable[[str], T], value: str) -> T | int:
    """What ``parse`` returns, or the status_hint of the RemoteProtocolError it raised."""
    try:
        return parse(value)
    except RemoteProtocolError as exc:
        return exc.status_hint


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_parser_never_raises_anything_else(value: str) -> None:
    outcome = status_or_result(parse_auth_header, value)
    if isinstance(outcome, int):
        assert outcome == 400
    else:
        assert len(outcome.params) <= MAX_PARAMS


_ALPHABET = st.sampled_from(list('Digest realm="nonce,=\\ \t\r\n'))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=80))
def test_fuzz_parser_on_header_like_text(value: str) -> None:
    for parse in (parse_auth_header, parse_challenge, parse_credentials):
        outcome = status_or_result(parse, value)
        assert not isinstance(outcome, int) or outcome == 400


_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)
_VALUES = st.text(alphabet=st.sampled_from(list('ab\\"\t ,=Яz:/@')), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_NAMES, _VALUES, max_size=10))
def test_fuzz_format_then_parse_round_trip(params: dict[str, str]) -> None:
    value = format_auth_header("Digest", [(k, v, True) for k, v in params.items()])
    assert parse_auth_header(value) == AuthHeader("Digest", tuple(params.items()))
