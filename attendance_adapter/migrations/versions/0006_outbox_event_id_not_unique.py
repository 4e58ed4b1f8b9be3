"""The outbox drops its unique index on `event_id`: ids are random UUIDs made once per event, and
the index cost a random btree insert for every row written and every row marked sent
(mesh.outbox.drop_event_id_unique).

Revision ID: attendance_0006
Revises: attendance_0005
"""

from alembic import op

from mesh.outbox import drop_event_id_unique, restore_event_id_unique

revision = "attendance_0006"
down_revision = "attendance_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_event_id_unique(op, "attendance")


def downgrade() -> None:
    restore_event_id_unique(op, "attendance")
