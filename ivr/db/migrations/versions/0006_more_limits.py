"""deadlines gain target_at (an earlier warning inside a limit); follow-ups gain how, by whom
and with what note a supervisor resolved them

Revision ID: 0006_more_limits
Revises: 0005_speech
Create Date: 2026-11-22 00:00:00+00:00

Frozen on purpose: no imports from ``ivr``. The new order kinds (connection, meter_test,
meter_reading) need no schema change: ``work_orders.kind`` has no CHECK constraint. Batch mode
for ``follow_ups`` because SQLite rebuilds a table to add a CHECK constraint.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_more_limits"
down_revision: str | Sequence[str] | None = "0005_speech"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESOLUTIONS = ("resolved", "requeued")


def upgrade() -> None:
    op.add_column(
        "work_order_deadlines",
        sa.Column("target_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("follow_ups") as batch:
        batch.add_column(sa.Column("resolution", sa.String(16), nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("resolution_note", sa.Text(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_follow_ups_resolution"),
            f"resolution IS NULL OR resolution IN ({', '.join(repr(r) for r in RESOLUTIONS)})",
        )
    op.create_index("ix_follow_ups_open", "follow_ups", ["resolved_at", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_follow_ups_open", table_name="follow_ups")
    with op.batch_alter_table("follow_ups") as batch:
        batch.drop_constraint(op.f("ck_follow_ups_resolution"), type_="check")
        batch.drop_column("resolution_note")
        batch.drop_column("resolved_by")
        batch.drop_column("resolution")
    op.drop_column("work_order_deadlines", "target_at")
