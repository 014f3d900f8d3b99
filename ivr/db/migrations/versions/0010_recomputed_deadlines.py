"""deadlines gain a revision (how often a provisional due time was recomputed); alerts gain
superseded_at (raised under a due time that a recompute then moved past it)

Revision ID: 0010_recomputed_deadlines
Revises: 0009_alerts

Frozen on purpose: no imports from ``ivr``. Both are plain ADD COLUMN (a constant default for
the NOT NULL one), which SQLite and PostgreSQL do in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_recomputed_deadlines"
down_revision: str | Sequence[str] | None = "0009_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "work_order_deadlines",
        sa.Column("revision", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("alerts", sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("superseded_at")
    with op.batch_alter_table("work_order_deadlines") as batch:
        batch.drop_column("revision")
