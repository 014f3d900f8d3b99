"""request_hashes: work_orders.create_request_hash and close_request_hash, the SHA-256 of the
request an Idempotency-Key was first used with, so that the key reused with another body is
refused (409) instead of answered with the first order

Revision ID: 0019_request_hashes
Revises: 0018_agent_state

Frozen on purpose: no imports from ``ivr``. Added in place (ADD COLUMN), never by rebuilding a
table other tables reference. Nullable: keys used before this migration have no hash, and a
retry with them is answered as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_request_hashes"
down_revision: str | Sequence[str] | None = "0018_agent_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("work_orders", sa.Column("create_request_hash", sa.String(64), nullable=True))
    op.add_column("work_orders", sa.Column("close_request_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_column("close_request_hash")
        batch.drop_column("create_request_hash")
