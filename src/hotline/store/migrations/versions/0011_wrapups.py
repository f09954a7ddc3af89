"""Wrap-up records of the operator desk; flagged proposals feed the register (R12e).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wrapups",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("operator_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("proposal", sa.Boolean(), nullable=False),
        sa.Column("proposal_status", sa.String(32), nullable=True),
    )
    op.create_index("ix_wrapups_call", "wrapups", ["call_id"])
    op.create_index("ix_wrapups_operator_at", "wrapups", ["operator_id", "at_ms"])
    op.create_index("ix_wrapups_proposal_at", "wrapups", ["proposal", "at_ms"])


def downgrade() -> None:
    op.drop_index("ix_wrapups_proposal_at", table_name="wrapups")
    op.drop_index("ix_wrapups_operator_at", table_name="wrapups")
    op.drop_index("ix_wrapups_call", table_name="wrapups")
    op.drop_table("wrapups")
