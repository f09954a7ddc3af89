"""The proposals register (R12e) and stored voice-menu flows.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=False),
    )
    op.create_index("ix_proposals_created_at", "proposals", ["created_at"])
    op.create_index("ix_proposals_status", "proposals", ["status"])
    op.create_table(
        "ivr_flows",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ivr_flows")
    op.drop_index("ix_proposals_status", table_name="proposals")
    op.drop_index("ix_proposals_created_at", table_name="proposals")
    op.drop_table("proposals")
