"""agents.device: the desk phone (PJSIP/<endpoint>) [agent-dial] rings for the agent

Revision ID: 0007_agent_devices
Revises: 0006_more_limits

Frozen on purpose: no imports from ``ivr``. Nullable: simulated agents (and agents who are
queue members themselves) have no separate device.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_agent_devices"
down_revision: str | Sequence[str] | None = "0006_more_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("device", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("device")
