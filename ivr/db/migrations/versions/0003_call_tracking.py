"""call_tracking: queue visits, ring attempts, agents; calls may be closed as 'lost'

Revision ID: 0003_call_tracking
Revises: 0002_api_tokens

Frozen on purpose: no imports from ``ivr``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_call_tracking"
down_revision: str | Sequence[str] | None = "0002_api_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTCOMES = ("waiting", "talking", "answered", "abandoned", "timed_out", "lost")
RING_ENDS = ("answered", "no_answer", "caller_left", "other_answered")
CALL_OUTCOMES_BEFORE = ("in_menu", "routed", "abandoned_in_menu", "failed")
CALL_OUTCOMES = (*CALL_OUTCOMES_BEFORE, "lost")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _call_outcomes(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_constraint(op.f("ck_calls_call_outcome"), type_="check")
        batch.create_check_constraint(
            op.f("ck_calls_call_outcome"), f"outcome IN ({', '.join(repr(v) for v in values)})"
        )


def upgrade() -> None:
    _call_outcomes(CALL_OUTCOMES)
    op.create_table(
        "agents",
        sa.Column("job_number", sa.String(16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("job_number", name=op.f("pk_agents")),
        sa.UniqueConstraint("interface", name=op.f("uq_agents_interface")),
    )
    op.create_table(
        "queue_visits",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("unique_id", sa.Text(), nullable=False),
        sa.Column("queue", sa.Text(), nullable=False),
        sa.Column("caller_number", sa.Text(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("joined_us", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("agent_interface", sa.Text(), nullable=True),
        sa.Column("agent_name", sa.Text(), nullable=True),
        sa.Column("agent_channel_uid", sa.Text(), nullable=True),
        sa.Column("answered_us", sa.BigInteger(), nullable=True),
        sa.Column("ring_to_answer_ms", sa.Integer(), nullable=True),
        sa.Column("queue_wait_ms", sa.Integer(), nullable=True),
        sa.Column("left_us", sa.BigInteger(), nullable=True),
        sa.Column("ended_us", sa.BigInteger(), nullable=True),
        sa.Column("talk_ms", sa.Integer(), nullable=True),
        sa.Column("transferred", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_visits")),
        sa.UniqueConstraint(
            "unique_id", "joined_us", name=op.f("uq_queue_visits_unique_id_joined_us")
        ),
        sa.CheckConstraint(
            f"outcome IN ({', '.join(repr(o) for o in OUTCOMES)})",
            name=op.f("ck_queue_visits_visit_outcome"),
        ),
    )
    op.create_index(op.f("ix_queue_visits_joined_at"), "queue_visits", ["joined_at"])
    op.create_index(op.f("ix_queue_visits_outcome"), "queue_visits", ["outcome"])
    op.create_table(
        "ring_attempts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("visit_id", _ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("member_name", sa.Text(), nullable=False),
        sa.Column("started_us", sa.BigInteger(), nullable=False),
        sa.Column("ended_us", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("end", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["queue_visits.id"],
            name=op.f("fk_ring_attempts_visit_id_queue_visits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ring_attempts")),
        sa.UniqueConstraint("visit_id", "seq", name=op.f("uq_ring_attempts_visit_id_seq")),
        sa.CheckConstraint(
            f'"end" IN ({", ".join(repr(e) for e in RING_ENDS)})',
            name=op.f("ck_ring_attempts_ring_end"),
        ),
    )


def downgrade() -> None:
    op.drop_table("ring_attempts")
    op.drop_index(op.f("ix_queue_visits_outcome"), table_name="queue_visits")
    op.drop_index(op.f("ix_queue_visits_joined_at"), table_name="queue_visits")
    op.drop_table("queue_visits")
    op.drop_table("agents")
    op.execute("UPDATE calls SET outcome = 'failed' WHERE outcome = 'lost'")
    _call_outcomes(CALL_OUTCOMES_BEFORE)
