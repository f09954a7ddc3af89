"""Projections of the event table and 15-minute interval rollups (docs/metrics.md).

``call_records`` (CDR + call facts), ``call_visits``, ``call_handlings``,
``call_callbacks``, ``call_spans``, ``projection_meta`` and the rollups
``rollup_queue`` and ``rollup_calls``; kept in step with the events by the
event writer, rebuildable with ``hotline report rebuild``.  On a database
that already holds events the projections start stale (reports read the raw
events) until they are rebuilt.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The ORM models live in hotline.store.projections and hotline.store.rollups;
# importing them registers them on Base.metadata whenever migrations load.
import hotline.store.projections
import hotline.store.rollups  # noqa: F401

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_LONG_SPAN_SQL = "to_ms IS NULL OR to_ms - from_ms > 86400000"
_TABLES = (
    "rollup_calls",
    "rollup_queue",
    "projection_meta",
    "call_spans",
    "call_callbacks",
    "call_handlings",
    "call_visits",
    "call_records",
)


def upgrade() -> None:
    op.create_table(
        "call_records",
        sa.Column("call_id", sa.String(64), nullable=False, primary_key=True),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("answered_ms", sa.BigInteger(), nullable=True),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("caller", sa.String(1024), nullable=True),
        sa.Column("caller_digits", sa.String(1024), nullable=True),
        sa.Column("called", sa.String(1024), nullable=True),
        sa.Column("called_digits", sa.String(1024), nullable=True),
        sa.Column("trunk", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("queues", sa.Text(), nullable=False),
        sa.Column("queue_outcomes", sa.Text(), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=True),
        sa.Column("operators", sa.Text(), nullable=False),
        sa.Column("wait_ms", sa.BigInteger(), nullable=True),
        sa.Column("talk_ms", sa.BigInteger(), nullable=True),
        sa.Column("hold_ms", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("hung_up_by", sa.String(16), nullable=True),
        sa.Column("end_cause", sa.String(1024), nullable=True),
        sa.Column("recording_path", sa.String(1024), nullable=True),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.Column("arrived_ms", sa.BigInteger(), nullable=True),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=True),
        sa.Column("fact_direction", sa.String(8), nullable=True),
        sa.Column("fact_topic", sa.String(64), nullable=True),
        sa.Column("repeat_key", sa.String(64), nullable=True),
        sa.Column("bot_started", sa.Boolean(), nullable=False),
        sa.Column("bot_contained", sa.Boolean(), nullable=False),
        sa.Column("ivr_self_served", sa.Boolean(), nullable=False),
        sa.Column("outbound_answered", sa.Boolean(), nullable=False),
        sa.Column("outbound_failed", sa.Boolean(), nullable=False),
        sa.Column("is_repeat", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_call_records_bucket_ms", "call_records", ["bucket_ms"])
    op.create_index(
        "ix_call_records_caller_digits", "call_records", ["caller_digits", "started_ms"]
    )
    op.create_index("ix_call_records_operator", "call_records", ["operator_id", "started_ms"])
    op.create_index("ix_call_records_outcome", "call_records", ["outcome", "started_ms"])
    op.create_index("ix_call_records_repeat", "call_records", ["repeat_key", "arrived_ms"])
    op.create_index("ix_call_records_started_ms", "call_records", ["started_ms"])
    op.create_index("ix_call_records_topic", "call_records", ["topic", "started_ms"])
    op.create_table(
        "call_visits",
        sa.Column("call_id", sa.String(64), nullable=False, primary_key=True),
        sa.Column("idx", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("queue_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("trunk", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("entered_ms", sa.BigInteger(), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("left_ms", sa.BigInteger(), nullable=True),
        sa.Column("wait_ms", sa.BigInteger(), nullable=True),
        sa.Column("operator_id", sa.String(64), nullable=True),
        sa.Column("tto_ms", sa.BigInteger(), nullable=True),
        sa.Column("within_norm", sa.Boolean(), nullable=False),
        sa.Column("norm_ms", sa.BigInteger(), nullable=False),
        sa.Column("short_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_call_visits_bucket_ms", "call_visits", ["bucket_ms"])
    op.create_index("ix_call_visits_entered_ms", "call_visits", ["entered_ms"])
    op.create_table(
        "call_handlings",
        sa.Column("call_id", sa.String(64), nullable=False, primary_key=True),
        sa.Column("idx", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("queue_id", sa.String(64), nullable=True),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("trunk", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("answered_ms", sa.BigInteger(), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("ended_ms", sa.BigInteger(), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("connected_ms", sa.BigInteger(), nullable=False),
        sa.Column("talk_ms", sa.BigInteger(), nullable=False),
        sa.Column("hold_ms", sa.BigInteger(), nullable=False),
        sa.Column("wrapup_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_call_handlings_bucket_ms", "call_handlings", ["bucket_ms"])
    op.create_index("ix_call_handlings_operator", "call_handlings", ["operator_id", "answered_ms"])
    op.create_table(
        "call_callbacks",
        sa.Column("call_id", sa.String(64), nullable=False, primary_key=True),
        sa.Column("idx", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("queue_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("trunk", sa.String(64), nullable=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_call_callbacks_bucket_ms", "call_callbacks", ["bucket_ms"])
    op.create_table(
        "call_spans",
        sa.Column("call_id", sa.String(64), nullable=False, primary_key=True),
        sa.Column("idx", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_ms", sa.BigInteger(), nullable=False),
        sa.Column("to_ms", sa.BigInteger(), nullable=True),
        sa.Column("call_last_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_call_spans_from_ms", "call_spans", ["from_ms"])
    op.create_index(
        "ix_call_spans_long",
        "call_spans",
        ["from_ms"],
        postgresql_where=sa.text(_LONG_SPAN_SQL),
        sqlite_where=sa.text(_LONG_SPAN_SQL),
    )
    op.create_table(
        "projection_meta",
        sa.Column("id", sa.Integer(), nullable=False, primary_key=True),
        sa.Column("projected_seq", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "rollup_queue",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("queue_id", sa.String(64), nullable=True),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("trunk", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(8), nullable=True),
        sa.Column("norm_ms", sa.BigInteger(), nullable=True),
        sa.Column("short_ms", sa.BigInteger(), nullable=True),
        sa.Column("offered", sa.BigInteger(), nullable=False),
        sa.Column("answered", sa.BigInteger(), nullable=False),
        sa.Column("answered_within_norm", sa.BigInteger(), nullable=False),
        sa.Column("abandoned", sa.BigInteger(), nullable=False),
        sa.Column("short_abandoned", sa.BigInteger(), nullable=False),
        sa.Column("timed_out", sa.BigInteger(), nullable=False),
        sa.Column("overflowed", sa.BigInteger(), nullable=False),
        sa.Column("callback", sa.BigInteger(), nullable=False),
        sa.Column("left_empty", sa.BigInteger(), nullable=False),
        sa.Column("left_full", sa.BigInteger(), nullable=False),
        sa.Column("unresolved", sa.BigInteger(), nullable=False),
        sa.Column("answered_wait_ms", sa.BigInteger(), nullable=False),
        sa.Column("max_wait_ms", sa.BigInteger(), nullable=False),
        sa.Column("callback_attempts", sa.BigInteger(), nullable=False),
        sa.Column("callbacks_completed", sa.BigInteger(), nullable=False),
        sa.Column("handled", sa.BigInteger(), nullable=False),
        sa.Column("connected_ms", sa.BigInteger(), nullable=False),
        sa.Column("talk_ms", sa.BigInteger(), nullable=False),
        sa.Column("hold_ms", sa.BigInteger(), nullable=False),
        sa.Column("wrapup_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_rollup_queue_bucket_ms", "rollup_queue", ["bucket_ms"])
    op.create_table(
        "rollup_calls",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("trunk", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(8), nullable=True),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("outbound_calls", sa.BigInteger(), nullable=False),
        sa.Column("bot_calls", sa.BigInteger(), nullable=False),
        sa.Column("bot_contained", sa.BigInteger(), nullable=False),
        sa.Column("ivr_self_served", sa.BigInteger(), nullable=False),
        sa.Column("ivr_self_served_inbound", sa.BigInteger(), nullable=False),
        sa.Column("repeat_calls", sa.BigInteger(), nullable=False),
        sa.Column("outbound_answered", sa.BigInteger(), nullable=False),
        sa.Column("outbound_failed", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_rollup_calls_bucket_ms", "rollup_calls", ["bucket_ms"])
    op.create_index("ix_events_operator_kind_ts_ms", "events", ["operator_id", "kind", "ts_ms"])
    # Current when there are no events yet; stale (-1) until rebuilt otherwise.
    op.execute(
        "INSERT INTO projection_meta (id, projected_seq) "
        "SELECT 1, CASE WHEN COUNT(*) = 0 THEN 0 ELSE -1 END FROM events"
    )


def downgrade() -> None:
    op.drop_index("ix_events_operator_kind_ts_ms", table_name="events")
    for table in _TABLES:
        op.drop_table(table)
