"""api_tokens: expiry, rotation with a grace period, and last use

Revision ID: 0012_token_lifecycle
Revises: 0011_visit_job_numbers

Frozen on purpose: no imports from ``ivr``. Tokens issued before this migration expire 90 days
after it, so a forgotten token stops working without anyone having to find it first.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0012_token_lifecycle"
down_revision: str | Sequence[str] | None = "0011_visit_job_numbers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("previous_sha256", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("previous_valid_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_unique_constraint("uq_api_tokens_previous_sha256", ["previous_sha256"])
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(tokens.update().values(expires_at=datetime.now(UTC) + timedelta(days=90)))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint("uq_api_tokens_previous_sha256", type_="unique")
        for column in (
            "last_used_at",
            "rotated_at",
            "previous_valid_until",
            "previous_sha256",
            "expires_at",
        ):
            batch.drop_column(column)
