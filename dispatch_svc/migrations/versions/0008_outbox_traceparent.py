"""The outbox keeps the W3C trace context each row was written under (mesh.tracing), so the relay
sends it as the `traceparent` header and the trace continues in the consumers.

Revision ID: dispatch_0008
Revises: dispatch_0007
"""

from alembic import op

from mesh.outbox import add_traceparent_column, drop_traceparent_column

revision = "dispatch_0008"
down_revision = "dispatch_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_traceparent_column(op, "dispatch")


def downgrade() -> None:
    drop_traceparent_column(op, "dispatch")
