"""The outbox keeps the W3C trace context each row was written under (mesh.tracing), so the relay
sends it as the `traceparent` header and the trace continues in the consumers.

Revision ID: attendance_0005
Revises: attendance_0004
"""

from alembic import op

from mesh.outbox import add_traceparent_column, drop_traceparent_column

revision = "attendance_0005"
down_revision = "attendance_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_traceparent_column(op, "attendance")


def downgrade() -> None:
    drop_traceparent_column(op, "attendance")
