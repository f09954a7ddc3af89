"""Operators' fixed contact URIs: phones reached without a registration (R4).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_contacts",
        sa.Column(
            "operator_id",
            sa.String(32),
            sa.ForeignKey("operators.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("contact_uri", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("operator_contacts")
