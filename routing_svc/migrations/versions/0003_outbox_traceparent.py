"""The outbox keeps the W3C trace context each row was written under (mesh.tracing), so the relay
sends it as the `traceparent` header and the trace continues in the consumers.

Revision ID: routing_0003
Revises: routing_0002
"""

from alembic import op

from mesh.outbox import add_traceparent_column, drop_traceparent_column

revision = "routing_0003"
down_revision = "routing_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_traceparent_column(op, "routing")


def downgrade() -> None:
    drop_traceparent_column(op, "routing")
