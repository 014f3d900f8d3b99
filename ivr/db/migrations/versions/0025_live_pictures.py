"""live_pictures: each bridge's live picture (queue calls, agents) with its heartbeat, so
every bridge sharing the database shows the whole centre

Revision ID: 0025_live_pictures
Revises: 0024_monitoring

Frozen on purpose: no imports from ``ivr``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_live_pictures"
down_revision: str | Sequence[str] | None = "0024_monitoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_pictures",
        sa.Column("bridge", sa.String(128), nullable=False),
        sa.Column("server", sa.String(128), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("picture", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("bridge", name=op.f("pk_live_pictures")),
    )
    op.create_index(op.f("ix_live_pictures_heartbeat_at"), "live_pictures", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_live_pictures_heartbeat_at"), table_name="live_pictures")
    op.drop_table("live_pictures")
