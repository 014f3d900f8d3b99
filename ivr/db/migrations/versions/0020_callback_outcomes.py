"""callback_tasks gain outcome (how each 回访 ended); do_not_call, the per-phone list that
supervisors keep with the customer's request

Revision ID: 0020_callback_outcomes
Revises: 0019_request_hashes

Frozen on purpose: no imports from ``ivr``. In place only (ADD COLUMN, CREATE TABLE, INSERT,
UPDATE): no batch mode, because rebuilding ``work_orders`` or ``callback_tasks`` on SQLite would
cascade-delete their deadlines, tasks and attempts. The outcome of tasks that had already ended
is filled in from their state and last result; numbers of orders marked ``do_not_call`` before
the list existed join it, the order named as where the request was made.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_callback_outcomes"
down_revision: str | Sequence[str] | None = "0019_request_hashes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL_OUTCOMES = """
UPDATE callback_tasks SET outcome = CASE
  WHEN state = 'done' AND satisfied THEN 'satisfied'
  WHEN state = 'done' AND NOT satisfied THEN 'dissatisfied'
  WHEN state = 'done' THEN 'no_valid_answer'
  WHEN state = 'cancelled' THEN 'do_not_call'
  WHEN state = 'needs_human' AND result = 'no_valid_answer' THEN 'no_valid_answer'
  WHEN state = 'needs_human' AND result = 'hung_up' THEN 'refused'
  WHEN state = 'needs_human' THEN 'unreachable'
END
"""


def upgrade() -> None:
    op.add_column("callback_tasks", sa.Column("outcome", sa.String(32), nullable=True))
    op.execute(FILL_OUTCOMES)
    op.create_table(
        "do_not_call",
        sa.Column("phone", sa.String(16), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("order_no", sa.String(32), nullable=True),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(64), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_do_not_call")),
    )
    op.execute(
        """
        INSERT INTO do_not_call (phone, request, order_no, added_by, added_at)
        SELECT customer_phone, 'marked do_not_call on the order (before the list)',
               MIN(order_no), 'migration', MIN(created_at)
        FROM work_orders WHERE do_not_call GROUP BY customer_phone
        """
    )


def downgrade() -> None:
    op.drop_table("do_not_call")
    op.drop_column("callback_tasks", "outcome")
