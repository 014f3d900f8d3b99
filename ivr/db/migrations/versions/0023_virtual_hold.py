"""virtual_hold: kept_places, the callers who kept their place in a queue (virtual hold) and
the call-back attempt in progress for each

Revision ID: 0023_virtual_hold
Revises: 0022_inspections

Frozen on purpose: no imports from ``ivr``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_virtual_hold"
down_revision: str | Sequence[str] | None = "0022_inspections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)
_STATES = ("kept", "claimed", "originating", "answered", "connected", "failed", "cancelled")


def upgrade() -> None:
    op.create_table(
        "kept_places",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("queue", sa.String(32), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("call_id", sa.String(32), nullable=True),
        sa.Column("arrived_at", _When, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts_made", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _When, nullable=True),
        sa.Column("action_id", sa.String(40), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("claimed_by", sa.String(80), nullable=True),
        sa.Column("lease_until", _When, nullable=True),
        sa.Column("originate_at", _When, nullable=True),
        sa.Column("unique_id", sa.String(64), nullable=True),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", _When, nullable=False),
        sa.Column("originated_at", _When, nullable=True),
        sa.Column("connected_at", _When, nullable=True),
        sa.Column("ended_at", _When, nullable=True),
        sa.CheckConstraint(
            "state IN (" + ", ".join(repr(s) for s in _STATES) + ")",
            name=op.f("ck_kept_places_state"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kept_places")),
        sa.UniqueConstraint("action_id", name=op.f("uq_kept_places_action_id")),
    )
    op.create_index("ix_kept_places_state_next", "kept_places", ["state", "next_attempt_at"])
    op.create_index(op.f("ix_kept_places_unique_id"), "kept_places", ["unique_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_kept_places_unique_id"), table_name="kept_places")
    op.drop_index("ix_kept_places_state_next", table_name="kept_places")
    op.drop_table("kept_places")
