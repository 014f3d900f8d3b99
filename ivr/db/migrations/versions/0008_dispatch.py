"""repair dispatch: crews, duty shifts, dispatch jobs and calls; work orders gain address and fault

Revision ID: 0008_dispatch
Revises: 0007_agent_devices

Frozen on purpose: no imports from ``ivr``. ``address`` and ``fault`` are nullable: orders
recorded before (and kinds other than repairs) have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_dispatch"
down_revision: str | Sequence[str] | None = "0007_agent_devices"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_STATES = ("active", "accepted", "exhausted", "stopped")
CALL_STATES = ("claimed", "originating", "answered", "finished")
TARGETS = ("crew", "escalation")


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("address", sa.Text(), nullable=True))
        batch.add_column(sa.Column("fault", sa.Text(), nullable=True))

    op.create_table(
        "crews",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crews")),
        sa.UniqueConstraint("name", name=op.f("uq_crews_name")),
    )

    op.create_table(
        "duty_shifts",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("crew_id", _id(), nullable=False),
        _ts("starts_at"),
        _ts("ends_at"),
        sa.Column("priority", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_shifts")),
        sa.ForeignKeyConstraint(
            ["crew_id"], ["crews.id"], name=op.f("fk_duty_shifts_crew_id_crews"), ondelete="CASCADE"
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_duty_shifts_ends_after_start")),
        sa.CheckConstraint("priority BETWEEN 1 AND 99", name=op.f("ck_duty_shifts_priority")),
    )
    op.create_index("ix_duty_shifts_window", "duty_shifts", ["starts_at", "ends_at"])

    op.create_table(
        "dispatch_jobs",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("order_id", _id(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _ts("next_call_at"),
        _ts("started_at"),
        _ts("accepted_at", nullable=True),
        _ts("at_risk_at", nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_jobs")),
        sa.UniqueConstraint("order_id", name=op.f("uq_dispatch_jobs_order_id")),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["work_orders.id"],
            name=op.f("fk_dispatch_jobs_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(_one_of("state", JOB_STATES), name=op.f("ck_dispatch_jobs_state")),
    )
    op.create_index("ix_dispatch_jobs_state_next", "dispatch_jobs", ["state", "next_call_at"])

    op.create_table(
        "dispatch_calls",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("job_id", _id(), nullable=False),
        sa.Column("call_no", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("crew_id", _id(), nullable=True),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("action_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ring_timeout_s", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        _ts("lease_until"),
        _ts("claimed_at"),
        _ts("originated_at", nullable=True),
        sa.Column("unique_id", sa.Text(), nullable=True),
        _ts("answered_at", nullable=True),
        _ts("accepted_at", nullable=True),
        _ts("ended_at", nullable=True),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_calls")),
        sa.UniqueConstraint("job_id", "call_no", name=op.f("uq_dispatch_calls_job_id_call_no")),
        sa.UniqueConstraint("action_id", name=op.f("uq_dispatch_calls_action_id")),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["dispatch_jobs.id"],
            name=op.f("fk_dispatch_calls_job_id_dispatch_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["crew_id"],
            ["crews.id"],
            name=op.f("fk_dispatch_calls_crew_id_crews"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(_one_of("state", CALL_STATES), name=op.f("ck_dispatch_calls_state")),
        sa.CheckConstraint(_one_of("target", TARGETS), name=op.f("ck_dispatch_calls_target")),
    )
    op.create_index(op.f("ix_dispatch_calls_crew_id"), "dispatch_calls", ["crew_id"])
    op.create_index("ix_dispatch_calls_state_lease", "dispatch_calls", ["state", "lease_until"])


def downgrade() -> None:
    for table in ("dispatch_calls", "dispatch_jobs", "duty_shifts", "crews"):
        op.drop_table(table)
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("fault")
        batch.drop_column("address")
