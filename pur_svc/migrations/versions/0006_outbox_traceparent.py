"""The outbox keeps the W3C trace context each row was written under (mesh.tracing), so the relay
sends it as the `traceparent` header and the trace continues in the consumers.

Revision ID: pur_0006
Revises: pur_0005
"""

from alembic import op

from mesh.outbox import add_traceparent_column, drop_traceparent_column

revision = "pur_0006"
down_revision = "pur_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_traceparent_column(op, "pur")


def downgrade() -> None:
    drop_traceparent_column(op, "pur")
