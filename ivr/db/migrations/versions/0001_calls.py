"""calls and call_steps

Revision ID: 0001_calls
Revises:
Create Date: 2024-11-22 00:00:00+00:00

Frozen on purpose: no imports from ``ivr`` (the models will change; this must not). Enum values
are copied here; adding one later is a new revision that replaces the CHECK constraint.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_calls"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CALL_OUTCOMES = ("in_menu", "routed", "abandoned_in_menu", "failed")
STEP_KINDS = (
    "prompt",
    "key",
    "replay",
    "back",
    "invalid",
    "timeout",
    "default",
    "route",
    "hangup",
    "error",
)


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("unique_id", sa.Text(), nullable=False),
        sa.Column("caller_number", sa.Text(), nullable=False),
        sa.Column("dialed_number", sa.Text(), nullable=False),
        sa.Column("channel_name", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("route", sa.Text(), nullable=True),
        sa.Column("choice", sa.Text(), nullable=True),
        sa.Column("menu_path", sa.JSON(), nullable=False),
        sa.Column("keys", sa.Text(), nullable=False),
        sa.Column("queue_status", sa.Text(), nullable=True),
        sa.Column("agent_interface", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_calls")),
        sa.CheckConstraint(_one_of("outcome", CALL_OUTCOMES), name=op.f("ck_calls_call_outcome")),
    )
    op.create_index(op.f("ix_calls_unique_id"), "calls", ["unique_id"])
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"])

    op.create_table(
        "call_steps",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("node", sa.Text(), nullable=True),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_steps")),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_call_steps_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("call_id", "seq", name=op.f("uq_call_steps_call_id_seq")),
        sa.CheckConstraint(_one_of("kind", STEP_KINDS), name=op.f("ck_call_steps_step_kind")),
    )


def downgrade() -> None:
    op.drop_table("call_steps")
    op.drop_table("calls")
