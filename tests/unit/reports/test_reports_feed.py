"""The Situational Centre feed document: indicators, canonical bytes, HMAC signature."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reports_log import K, Log, at

from hotline.core.errors import LocalProtocolError
from hotline.reports import feed
from hotline.reports.feed import (
    FeedDocument,
    TopicIndicators,
    canonical_json,
    document_from_rows,
    idempotency_key,
    sign,
    verify,
)
from hotline.reports.metrics import compute_report
from hotline.reports.metrics_config import Dimension

START = at(0)
END = START + timedelta(minutes=15)


def _log() -> Log:
    log = Log()
    log.add(K.OPERATOR_LOGIN, -600, op="op1")
    log.add(K.OPERATOR_LOGIN, 100, op="op2")
    log.queued_call("c1", "q1", 10, outcome=K.QUEUE_ANSWERED, wait_s=10, topic="health")
    log.queued_call("c2", "q1", 20, outcome=K.QUEUE_ANSWERED, wait_s=30, topic="health")
    log.queued_call("c3", "q1", 30, outcome=K.QUEUE_TIMED_OUT, wait_s=120, topic="health")
    log.queued_call("c4", "q2", 40, outcome=K.QUEUE_ABANDONED, wait_s=40, topic="social")
    log.queued_call("c5", "q2", 1000, outcome=K.QUEUE_ANSWERED, wait_s=5, topic="social")
    return log


def _document(seq: int = 7) -> FeedDocument:
    events = _log().events
    by_topic = compute_report(events, start=START, end=END, by=[Dimension.TOPIC])
    by_op = compute_report(events, start=START, end=END, by=[Dimension.OPERATOR])
    return document_from_rows(
        seq=seq,
        node_id="n1",
        interval_start=START,
        interval_end=END,
        topic_rows=by_topic,
        operator_rows=by_op,
    )


def test_public_surface() -> None:
    assert set(feed.__all__) == {
        "SCHEMA_VERSION",
        "SIGNATURE_PREFIX",
        "FeedDocument",
        "TopicIndicators",
        "canonical_json",
        "document_from_rows",
        "idempotency_key",
        "operators_logged_in",
        "sign",
        "utc_iso",
        "verify",
    }


def test_per_topic_indicators_with_timed_out_on_its_own() -> None:
    doc = _document()
    topics = {t.topic: t for t in doc.topics}
    assert set(topics) == {"health", "social"}  # c5 entered after the interval
    health = topics["health"]
    assert (health.offered, health.answered, health.timed_out, health.abandoned) == (3, 2, 1, 0)
    # SL = answered within 20 s / (answered + abandoned + timed out) = 1 / 3
    assert health.service_level == pytest.approx(0.3333)
    assert health.asa_s == pytest.approx(20.0)
    assert health.longest_wait_s == pytest.approx(120.0)
    social = topics["social"]
    assert (social.offered, social.answered, social.timed_out, social.abandoned) == (1, 0, 0, 1)
    assert social.service_level == 0.0
    assert social.asa_s is None
    assert doc.operators_logged_in == 2


def test_document_json_fields() -> None:
    obj = json.loads(canonical_json(_document()))
    assert obj["schema_version"] == "1.0"
    assert obj["seq"] == 7
    assert obj["interval_start"] == "2026-03-02T09:00:00Z"
    assert obj["interval_end"] == "2026-03-02T09:15:00Z"
    assert obj["idempotency_key"] == hashlib.sha256(b"n1\n2026-03-02T09:00:00Z").hexdigest()
    assert [t["topic"] for t in obj["topics"]] == ["health", "social"]
    assert obj["topics"][0]["timed_out"] == 1


def test_canonical_bytes_are_sorted_compact_ascii() -> None:
    body = canonical_json({"b": 1, "a": [1.5, None], "c": "тема"})
    assert body == b'{"a":[1.5,null],"b":1,"c":"\\u0442\\u0435\\u043c\\u0430"}'
    assert canonical_json(_document()) == canonical_json(_document())


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_hmac_sha256_rfc4231_case_2() -> None:
    signature = sign(b"what do ya want for nothing?", b"Jefe")
    assert signature == ("sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    assert verify(b"what do ya want for nothing?", b"Jefe", signature)


def test_verify_refuses_tampering_wrong_key_and_bad_header() -> None:
    body = canonical_json(_document())
    good = sign(body, b"k")
    assert verify(body, b"k", good)
    assert not verify(body.replace(b'"seq":7', b'"seq":8'), b"k", good)
    assert not verify(body, b"other", good)
    assert not verify(body, b"k", good.removeprefix("sha256="))
    assert not verify(body, b"k", "sha256=" + "0" * 64)
    with pytest.raises(LocalProtocolError):
        sign(body, b"")


def test_idempotency_key_depends_on_node_and_interval_only() -> None:
    a = idempotency_key("n1", START)
    assert a == idempotency_key("n1", START.astimezone(UTC))
    assert a != idempotency_key("n2", START)
    assert a != idempotency_key("n1", END)
    assert _document(1).idempotency_key == _document(2).idempotency_key


@pytest.mark.parametrize(
    ("seq", "node", "end"),
    [(0, "n", END), (1, "", END), (1, "n", START)],
)
def test_invalid_documents_are_refused(seq: int, node: str, end: datetime) -> None:
    with pytest.raises(LocalProtocolError):
        FeedDocument(
            seq=seq,
            node_id=node,
            interval_start=START,
            interval_end=end,
            topics=(),
            operators_logged_in=0,
        )


def test_naive_times_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        idempotency_key("n", datetime(2026, 1, 1))


_INDICATORS = st.builds(
    TopicIndicators,
    topic=st.text(min_size=1, max_size=20),
    offered=st.integers(0, 10**6),
    answered=st.integers(0, 10**6),
    timed_out=st.integers(0, 10**6),
    abandoned=st.integers(0, 10**6),
    service_level=st.none() | st.floats(0, 1),
    asa_s=st.none() | st.floats(0, 10**5),
    longest_wait_s=st.none() | st.floats(0, 10**5),
)


@settings(max_examples=200, deadline=None)
@given(
    topics=st.lists(_INDICATORS, max_size=5),
    seq=st.integers(1, 2**40),
    key=st.binary(min_size=1, max_size=64),
)
def test_roundtrip_and_signature_property(
    topics: list[TopicIndicators], seq: int, key: bytes
) -> None:
    doc = FeedDocument(
        seq=seq,
        node_id="n",
        interval_start=START,
        interval_end=END,
        topics=tuple(topics),
        operators_logged_in=3,
    )
    body = canonical_json(doc)
    assert canonical_json(json.loads(body)) == body
    assert verify(body, key, sign(body, key))
    assert json.loads(body)["seq"] == seq


def test_schema_in_docs_describes_the_document() -> None:
    schema_path = Path(__file__).resolve().parents[3] / "docs" / "feed-schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    obj = json.loads(canonical_json(_document()))
    assert set(schema["required"]) == set(obj) == set(schema["properties"])
    assert schema["properties"]["schema_version"]["const"] == obj["schema_version"]
    topic_schema = schema["$defs"]["topic"]
    for topic in obj["topics"]:
        assert set(topic_schema["required"]) == set(topic) == set(topic_schema["properties"])
    for name in ("interval_start", "interval_end", "idempotency_key"):
        assert re.fullmatch(schema["properties"][name]["pattern"], obj[name])
