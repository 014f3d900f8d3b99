"""work orders, deadlines, history, callback tasks and attempts, follow-ups, dialer state

Revision ID: 0004_work_orders
Revises: 0003_call_tracking

Frozen on purpose: no imports from ``ivr``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_work_orders"
down_revision: str | Sequence[str] | None = "0003_call_tracking"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORDER_STATUSES = ("created", "dispatched", "in_progress", "closed", "callback_done", "archived")
TASK_STATES = ("pending", "active", "done", "needs_human", "cancelled")
ATTEMPT_STATES = ("claimed", "originating", "answered", "finished")


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _order_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["order_id"],
        ["work_orders.id"],
        name=op.f(f"fk_{table}_order_id_work_orders"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "work_orders",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("order_no", sa.String(32), nullable=False),
        sa.Column("create_key", sa.String(128), nullable=True),
        sa.Column("close_key", sa.String(128), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("customer_class", sa.String(32), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("owner_job_number", sa.String(16), nullable=False),
        sa.Column("customer_surname", sa.Text(), nullable=False),
        sa.Column("customer_title", sa.String(8), nullable=False),
        sa.Column("customer_phone", sa.String(16), nullable=False),
        sa.Column("do_not_call", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("closed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
        sa.UniqueConstraint("order_no", name=op.f("uq_work_orders_order_no")),
        sa.UniqueConstraint("create_key", name=op.f("uq_work_orders_create_key")),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_work_orders_call_id_calls"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(_one_of("status", ORDER_STATUSES), name=op.f("ck_work_orders_status")),
    )
    op.create_index(op.f("ix_work_orders_status"), "work_orders", ["status"])
    op.create_index(op.f("ix_work_orders_created_at"), "work_orders", ["created_at"])

    op.create_table(
        "work_order_deadlines",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("order_id", _id(), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("met_by", sa.String(32), nullable=False),
        _ts("due_at"),
        _ts("met_at", nullable=True),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_deadlines")),
        sa.UniqueConstraint("order_id", "name", name=op.f("uq_work_order_deadlines_order_id_name")),
        _order_fk("work_order_deadlines"),
    )
    op.create_index(
        "ix_work_order_deadlines_open_due", "work_order_deadlines", ["met_at", "due_at"]
    )

    op.create_table(
        "work_order_history",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("order_id", _id(), nullable=False),
        _ts("at"),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_history")),
        _order_fk("work_order_history"),
    )
    op.create_index(op.f("ix_work_order_history_order_id"), "work_order_history", ["order_id"])

    op.create_table(
        "callback_tasks",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("order_id", _id(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        _ts("due_by"),
        _ts("next_attempt_at", nullable=True),
        sa.Column("attempts_made", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("right_person", sa.Boolean(), nullable=True),
        sa.Column("power_restored", sa.Boolean(), nullable=True),
        sa.Column("satisfied", sa.Boolean(), nullable=True),
        sa.Column("suggestion_path", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_tasks")),
        sa.UniqueConstraint("order_id", name=op.f("uq_callback_tasks_order_id")),
        _order_fk("callback_tasks"),
        sa.CheckConstraint(_one_of("state", TASK_STATES), name=op.f("ck_callback_tasks_state")),
    )
    op.create_index("ix_callback_tasks_state_next", "callback_tasks", ["state", "next_attempt_at"])

    op.create_table(
        "callback_attempts",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("task_id", _id(), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("claimed_by", sa.String(64), nullable=False),
        _ts("lease_until"),
        _ts("originate_at"),
        _ts("claimed_at"),
        _ts("originated_at", nullable=True),
        sa.Column("unique_id", sa.Text(), nullable=True),
        _ts("answered_at", nullable=True),
        _ts("ended_at", nullable=True),
        sa.Column("result", sa.String(32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
        sa.UniqueConstraint(
            "task_id", "attempt_no", name=op.f("uq_callback_attempts_task_id_attempt_no")
        ),
        sa.UniqueConstraint("action_id", name=op.f("uq_callback_attempts_action_id")),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["callback_tasks.id"],
            name=op.f("fk_callback_attempts_task_id_callback_tasks"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            _one_of("state", ATTEMPT_STATES), name=op.f("ck_callback_attempts_state")
        ),
    )
    op.create_index(op.f("ix_callback_attempts_unique_id"), "callback_attempts", ["unique_id"])
    op.create_index(
        "ix_callback_attempts_state_lease", "callback_attempts", ["state", "lease_until"]
    )

    op.create_table(
        "follow_ups",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("order_id", _id(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("resolved_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        _order_fk("follow_ups"),
    )
    op.create_index(op.f("ix_follow_ups_order_id"), "follow_ups", ["order_id"])

    op.create_table(
        "dialer_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        _ts("next_slot_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialer_state")),
    )
    op.execute("INSERT INTO dialer_state (id, next_slot_at) VALUES (1, CURRENT_TIMESTAMP)")


def downgrade() -> None:
    for table in (
        "dialer_state",
        "follow_ups",
        "callback_attempts",
        "callback_tasks",
        "work_order_history",
        "work_order_deadlines",
        "work_orders",
    ):
        op.drop_table(table)
