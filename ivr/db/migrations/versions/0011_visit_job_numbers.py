"""queue_visits.agent_job_number, ring_attempts.job_number: the agent (工号) as the tracker
knew them at the ring and at the answer, so monthly reports attribute calls by who the agent
was then, not by the interface the agents table gives them now

Revision ID: 0011_visit_job_numbers
Revises: 0010_recomputed_deadlines

Frozen on purpose: no imports from ``ivr``. Nullable: rows stored before this migration, and
members the agents table did not know at the time, have no job number (reports fall back to
the current interface lookup for them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_visit_job_numbers"
down_revision: str | Sequence[str] | None = "0010_recomputed_deadlines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("queue_visits") as batch:
        batch.add_column(sa.Column("agent_job_number", sa.String(16), nullable=True))
    with op.batch_alter_table("ring_attempts") as batch:
        batch.add_column(sa.Column("job_number", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ring_attempts") as batch:
        batch.drop_column("job_number")
    with op.batch_alter_table("queue_visits") as batch:
        batch.drop_column("agent_job_number")
