"""The `routing` schema's transactional outbox.

Revision ID: routing_0001
Revises:
"""

from alembic import op

from mesh.outbox import create_outbox_table, drop_outbox_table

revision = "routing_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_outbox_table(op, "routing")


def downgrade() -> None:
    drop_outbox_table(op, "routing")
