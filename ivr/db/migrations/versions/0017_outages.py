"""outages: the customer register, outages and their history, orders linked to an outage, and
the outage a caller was told about (calls.outage_id, calls.informed)

Revision ID: 0017_outages
Revises: 0016_recordings

Frozen on purpose: no imports from ``ivr``. The two columns of ``calls`` are added in place
(ADD COLUMN), never by rebuilding a table other tables reference.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_outages"
down_revision: str | Sequence[str] | None = "0016_recordings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("account_no", sa.String(20), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("area", sa.String(64), nullable=False),
        sa.Column("feeder", sa.String(64), nullable=True),
        sa.Column("updated_at", _When, nullable=False),
        sa.PrimaryKeyConstraint("account_no", name=op.f("pk_customers")),
    )
    op.create_index(op.f("ix_customers_area"), "customers", ["area"])
    op.create_index(op.f("ix_customers_feeder"), "customers", ["feeder"])
    op.create_table(
        "customer_phones",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_no", sa.String(20), nullable=False),
        sa.Column("phone", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_no"],
            ["customers.account_no"],
            name=op.f("fk_customer_phones_account_no_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_phones")),
    )
    op.create_index(op.f("ix_customer_phones_account_no"), "customer_phones", ["account_no"])
    op.create_index(op.f("ix_customer_phones_phone"), "customer_phones", ["phone"])
    op.create_table(
        "outages",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("ref", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("feeders", sa.JSON(), nullable=False),
        sa.Column("starts_at", _When, nullable=False),
        sa.Column("expected_at", _When, nullable=False),
        sa.Column("cause", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("dispatch_order_id", _Id, nullable=True),
        sa.Column("created_at", _When, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("updated_at", _When, nullable=False),
        sa.Column("closed_at", _When, nullable=True),
        sa.CheckConstraint("kind IN ('planned', 'fault')", name=op.f("ck_outages_kind")),
        sa.CheckConstraint(
            "state IN ('open', 'closed', 'cancelled')", name=op.f("ck_outages_state")
        ),
        sa.CheckConstraint("expected_at > starts_at", name=op.f("ck_outages_restored_after_start")),
        sa.ForeignKeyConstraint(
            ["dispatch_order_id"],
            ["work_orders.id"],
            name=op.f("fk_outages_dispatch_order_id_work_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outages")),
        sa.UniqueConstraint("ref", name=op.f("uq_outages_ref")),
    )
    op.create_index("ix_outages_state_start", "outages", ["state", "starts_at"])
    op.create_table(
        "outage_changes",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("outage_id", _Id, nullable=False),
        sa.Column("at", _When, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outage_id"],
            ["outages.id"],
            name=op.f("fk_outage_changes_outage_id_outages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_changes")),
    )
    op.create_index(op.f("ix_outage_changes_outage_id"), "outage_changes", ["outage_id"])
    op.create_table(
        "outage_orders",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("outage_id", _Id, nullable=False),
        sa.Column("order_id", _Id, nullable=False),
        sa.Column("linked_at", _When, nullable=False),
        sa.ForeignKeyConstraint(
            ["outage_id"],
            ["outages.id"],
            name=op.f("fk_outage_orders_outage_id_outages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["work_orders.id"],
            name=op.f("fk_outage_orders_order_id_work_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage_orders")),
        sa.UniqueConstraint("order_id", name=op.f("uq_outage_orders_order_id")),
    )
    op.create_index(op.f("ix_outage_orders_outage_id"), "outage_orders", ["outage_id"])
    # in place: calls is referenced by call_steps and work_orders (no batch rebuild)
    op.add_column("calls", sa.Column("outage_id", _Id, nullable=True))
    op.add_column(
        "calls", sa.Column("informed", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("calls", "informed")
    op.drop_column("calls", "outage_id")
    op.drop_table("outage_orders")
    op.drop_table("outage_changes")
    op.drop_table("outages")
    op.drop_table("customer_phones")
    op.drop_table("customers")
