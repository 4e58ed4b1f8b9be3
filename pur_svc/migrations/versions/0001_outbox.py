"""The `pur` schema's transactional outbox.

Revision ID: pur_0001
Revises:
"""

from alembic import op

from mesh.outbox import create_outbox_table, drop_outbox_table

revision = "pur_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_table(op, "pur")


def downgrade() -> None:
    drop_outbox_table(op, "pur")
