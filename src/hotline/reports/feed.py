"""The Situational Centre feed document (R12g): build, serialise, sign, verify.

One document per interval (default 15 minutes) with the per-topic
indicators of docs/metrics.md: offered, answered, timed out (the decree's
"not accepted because the maximum waiting norm was exceeded", always its own
field, never part of abandoned), abandoned, SL, ASA, longest wait; and the
operators logged in during the interval.  docs/feed-schema.json is its JSON
Schema, docs/feed.md tells the receiver how to verify it.

* Canonical serialisation: UTF-8 JSON with sorted keys, no insignificant
  whitespace and ASCII escapes (``ensure_ascii``); the bytes signed are the
  bytes sent and stored, so a receiver verifies the raw body as received.
* Signature: HMAC-SHA256 (RFC 2104, FIPS 180-4) over those bytes with the
  configured key, as the header value ``sha256=<64 lowercase hex>``.
* Idempotency key: SHA-256 of ``node_id`` and the interval start, so the same
  interval always has the same key, whichever process built it.

Layer L1: pure (no clock, no I/O); the sequence number comes from the outbox.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from hotline.core.errors import LocalProtocolError
from hotline.reports.metrics_row import MetricRow

__all__ = [
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
]

SCHEMA_VERSION: Final = "1.0"
SIGNATURE_PREFIX: Final = "sha256="
NO_TOPIC: Final = "-"
_DIGITS: Final = 3


def utc_iso(ts: datetime) -> str:
    """An aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""
    if ts.tzinfo is None:
        raise LocalProtocolError("feed times must be aware datetimes")
    return ts.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def idempotency_key(node_id: str, interval_start: datetime) -> str:
    """SHA-256 hex of ``node_id`` and the interval start: stable for one interval."""
    return hashlib.sha256(f"{node_id}\n{utc_iso(interval_start)}".encode()).hexdigest()


def _ratio(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, _DIGITS + 1)


def _seconds(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, _DIGITS)


@dataclass(frozen=True, slots=True)
class TopicIndicators:
    """One topic's figures for the interval (definitions: docs/metrics.md)."""

    topic: str
    offered: int
    answered: int
    timed_out: int
    abandoned: int
    service_level: float | None
    asa_s: float | None
    longest_wait_s: float | None

    @classmethod
    def from_row(cls, row: MetricRow) -> TopicIndicators:
        """The indicators of a :func:`compute_report` row grouped by topic."""
        return cls(
            topic=row.key.topic if row.key.topic is not None else NO_TOPIC,
            offered=row.offered,
            answered=row.answered,
            timed_out=row.timed_out,
            abandoned=row.abandoned,
            service_level=_ratio(row.service_level),
            asa_s=_seconds(row.asa_s),
            longest_wait_s=_seconds(row.longest_wait_s),
        )

    def as_json(self) -> dict[str, str | int | float | None]:
        return {
            "topic": self.topic,
            "offered": self.offered,
            "answered": self.answered,
            "timed_out": self.timed_out,
            "abandoned": self.abandoned,
            "service_level": self.service_level,
            "asa_s": self.asa_s,
            "longest_wait_s": self.longest_wait_s,
        }


@dataclass(frozen=True, slots=True)
class FeedDocument:
    """The feed document of one interval ``[interval_start, interval_end)``."""

    seq: int
    node_id: str
    interval_start: datetime
    interval_end: datetime
    topics: tuple[TopicIndicators, ...]
    operators_logged_in: int

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise LocalProtocolError("feed seq starts at 1")
        if not self.node_id:
            raise LocalProtocolError("feed node_id must not be empty")
        if self.interval_end <= self.interval_start:
            raise LocalProtocolError("feed interval must end after it starts")
        if self.operators_logged_in < 0:
            raise LocalProtocolError("operators_logged_in must be >= 0")

    @property
    def idempotency_key(self) -> str:
        return idempotency_key(self.node_id, self.interval_start)

    def as_json(self) -> dict[str, object]:
        return {
            "schema_version": SCHEMA_VERSION,
            "seq": self.seq,
            "idempotency_key": self.idempotency_key,
            "node_id": self.node_id,
            "interval_start": utc_iso(self.interval_start),
            "interval_end": utc_iso(self.interval_end),
            "operators_logged_in": self.operators_logged_in,
            "topics": [t.as_json() for t in sorted(self.topics, key=lambda t: t.topic)],
        }


def operators_logged_in(rows: Iterable[MetricRow]) -> int:
    """Distinct operators with logged-in time, from rows grouped by operator."""
    return len(
        {
            r.key.operator_id
            for r in rows
            if r.key.operator_id is not None and (r.logged_in_s or 0.0) > 0.0
        }
    )


def document_from_rows(
    *,
    seq: int,
    node_id: str,
    interval_start: datetime,
    interval_end: datetime,
    topic_rows: Iterable[MetricRow],
    operator_rows: Iterable[MetricRow],
) -> FeedDocument:
    """The document from ``compute_report`` rows by topic and by operator."""
    return FeedDocument(
        seq=seq,
        node_id=node_id,
        interval_start=interval_start,
        interval_end=interval_end,
        topics=tuple(TopicIndicators.from_row(r) for r in topic_rows),
        operators_logged_in=operators_logged_in(operator_rows),
    )


def canonical_json(document: FeedDocument | Mapping[str, object]) -> bytes:
    """Sorted keys, no whitespace, ASCII only: the bytes that are signed and sent."""
    obj = document.as_json() if isinstance(document, FeedDocument) else document
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def sign(body: bytes, key: bytes) -> str:
    """The ``X-Hotline-Signature`` value: ``sha256=`` + HMAC-SHA256(key, body) hex."""
    if not key:
        raise LocalProtocolError("the feed signing key must not be empty")
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify(body: bytes, key: bytes, signature: str) -> bool:
    """True when ``signature`` is the valid header value for ``body`` (constant time)."""
    if not key or not signature.startswith(SIGNATURE_PREFIX):
        return False
    return hmac.compare_digest(sign(body, key), signature)
