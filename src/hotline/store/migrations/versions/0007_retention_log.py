"""Retention log: one append-only row per deleted recording or masked event.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index("ix_retention_log_event_action", "retention_log", ["event_id", "action"])
    op.create_index("ix_retention_log_at", "retention_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_retention_log_at", table_name="retention_log")
    op.drop_index("ix_retention_log_event_action", table_name="retention_log")
    op.drop_table("retention_log")
