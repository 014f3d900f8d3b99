"""seats: agents' SIP seats (PJSIP endpoints generated from this table)

Revision ID: 0014_seats
Revises: 0013_leg_secret

Frozen on purpose: no imports from ``ivr``. ``password_digest`` holds ``MD5:<HA1>`` only; the
secret is shown once when the seat is added and stored nowhere.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_seats"
down_revision: str | Sequence[str] | None = "0013_leg_secret"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seats",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("password_digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_seats")),
    )


def downgrade() -> None:
    op.drop_table("seats")
