"""The append-only call-centre event table (docs/metrics.md).

Indexes serve the report queries: a time range, a queue, a topic or an
operator over a time range, event kind over time, and all events of a call.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# The ORM model of this table lives in hotline.store.events; importing it here
# registers it on Base.metadata whenever the migrations are loaded, so that
# schema comparisons (autogenerate, the models-vs-migrations test) see it.
import hotline.store.events  # noqa: F401

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("queue_id", sa.String(64), nullable=True),
        sa.Column("operator_id", sa.String(64), nullable=True),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("trunk", sa.String(64), nullable=True),
        sa.Column("direction", sa.String(8), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
    )
    op.create_index("ix_events_ts_ms", "events", ["ts_ms"])
    op.create_index("ix_events_kind_ts_ms", "events", ["kind", "ts_ms"])
    op.create_index("ix_events_queue_ts_ms", "events", ["queue_id", "ts_ms"])
    op.create_index("ix_events_topic_ts_ms", "events", ["topic", "ts_ms"])
    op.create_index("ix_events_operator_ts_ms", "events", ["operator_id", "ts_ms"])
    op.create_index("ix_events_call_id", "events", ["call_id"])


def downgrade() -> None:
    op.drop_table("events")
