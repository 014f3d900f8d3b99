"""call_search_index: calls(caller_number, started_at), for GET /api/calls?phone=… (one
caller's calls, newest first, without reading the whole table)

Revision ID: 0021_call_search_index
Revises: 0020_callback_outcomes

Frozen on purpose: no imports from ``ivr``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021_call_search_index"
down_revision: str | Sequence[str] | None = "0020_callback_outcomes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_calls_caller_number_started_at", "calls", ["caller_number", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_caller_number_started_at", table_name="calls")
