"""server_names: every call, queue visit, ring, recording, callback attempt, dispatch call
and kept place (virtual hold call-back) names the Asterisk server it ran on; calls gain
lost_reason (closed because their server was lost); bridges, the heartbeats of the centre's
bridges

Revision ID: 0026_server_names
Revises: 0025_live_pictures

Frozen on purpose: no imports from ``ivr``. In place only (ADD COLUMN, CREATE TABLE/INDEX): no
batch mode, because rebuilding a table on SQLite would cascade-delete its children. Rows stored
before are the default server's (``asterisk-1``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_server_names"
down_revision: str | Sequence[str] | None = "0025_live_pictures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT = "asterisk-1"
TABLES = (
    "calls",
    "queue_visits",
    "ring_attempts",
    "recordings",
    "callback_attempts",
    "dispatch_calls",
    "kept_places",
)


def _server_name() -> sa.Column:
    return sa.Column("server_name", sa.String(32), server_default=DEFAULT, nullable=False)


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, _server_name())
    op.add_column("calls", sa.Column("lost_reason", sa.Text(), nullable=True))
    op.create_index("ix_calls_server_name_ended_at", "calls", ["server_name", "ended_at"])
    op.create_table(
        "bridges",
        sa.Column("owner", sa.String(64), nullable=False),
        _server_name(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_bridges")),
    )
    op.create_index("ix_bridges_seen_at", "bridges", ["seen_at"])


def downgrade() -> None:
    op.drop_index("ix_bridges_seen_at", table_name="bridges")
    op.drop_table("bridges")
    op.drop_index("ix_calls_server_name_ended_at", table_name="calls")
    op.drop_column("calls", "lost_reason")
    for table in TABLES:
        op.drop_column(table, "server_name")
