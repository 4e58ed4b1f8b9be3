"""The newest dispatch event applied to each PUR, so older ones are ignored.

Revision ID: pur_0003
Revises: pur_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "pur_0003"
down_revision = "pur_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "pickup_requests",
        sa.Column("dispatch_version", sa.BigInteger, nullable=False, server_default="0"),
        schema="pur",
    )


def downgrade() -> None:
    op.drop_column("pickup_requests", "dispatch_version", schema="pur")
