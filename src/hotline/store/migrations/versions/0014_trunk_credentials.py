"""Trunks' credentials at the providers and whether we register there (RFC 3261 §10.2, §22.2).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trunk_credentials",
        sa.Column(
            "trunk_id",
            sa.String(32),
            sa.ForeignKey("trunks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("password", sa.String(256), nullable=False),
        sa.Column("realm", sa.String(255), nullable=True),
        sa.Column("register", sa.Boolean(), nullable=False),
        sa.Column("register_expires_s", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trunk_credentials")
