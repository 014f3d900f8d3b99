"""agent_state_changes and call_transfers: agents' own state over time, and blind transfers

Revision ID: 0018_agent_state
Revises: 0017_outages

Frozen on purpose: no imports from ``ivr``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_agent_state"
down_revision: str | Sequence[str] | None = "0017_outages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agent_state_changes",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("job_number", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_changes")),
        sa.UniqueConstraint(
            "job_number", "at", "state", name=op.f("uq_agent_state_changes_job_number_at_state")
        ),
    )
    op.create_index("ix_agent_state_changes_at", "agent_state_changes", ["at"])
    op.create_table(
        "call_transfers",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("unique_id", sa.Text(), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_job_number", sa.String(16), nullable=False),
        sa.Column("from_queue", sa.String(64), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_transfers")),
    )
    op.create_index("ix_call_transfers_unique_id", "call_transfers", ["unique_id"])
    op.create_index("ix_call_transfers_call_id", "call_transfers", ["call_id"])


def downgrade() -> None:
    op.drop_table("call_transfers")
    op.drop_table("agent_state_changes")
