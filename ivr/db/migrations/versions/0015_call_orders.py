"""call_orders: the call ↔ work order link (the agent's workspace), and orders by phone

Revision ID: 0015_call_orders
Revises: 0014_seats

Frozen on purpose: no imports from ``ivr``. Every order that already names its call gets its
link, so both directions agree from the start.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_call_orders"
down_revision: str | Sequence[str] | None = "0014_seats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "call_orders",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("order_id", _id(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_orders")),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_call_orders_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["work_orders.id"],
            name=op.f("fk_call_orders_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("call_id", "order_id", name=op.f("uq_call_orders_call_id_order_id")),
    )
    op.create_index("ix_call_orders_call_id", "call_orders", ["call_id"])
    op.create_index("ix_call_orders_order_id", "call_orders", ["order_id"])
    op.create_index("ix_work_orders_phone_created", "work_orders", ["customer_phone", "created_at"])
    op.execute(
        "INSERT INTO call_orders (call_id, order_id, linked_at, linked_by) "
        "SELECT call_id, id, created_at, 'migration' FROM work_orders WHERE call_id IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_work_orders_phone_created", table_name="work_orders")
    op.drop_table("call_orders")
