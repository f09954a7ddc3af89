"""SIP registrar bindings.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sip_bindings",
        sa.Column("aor", sa.String(128), primary_key=True),
        sa.Column("contact", sa.String(512), primary_key=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("q", sa.Float(), nullable=True),
        sa.Column("source_transport", sa.String(8), nullable=False),
        sa.Column("source_host", sa.String(64), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("user_agent", sa.String(255), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sip_bindings")
