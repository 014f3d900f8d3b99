"""call_steps.kind gains 'speech' (a caller's spoken answer, what was heard in detail)

Revision ID: 0005_speech
Revises: 0004_work_orders
Create Date: 2026-11-22 00:00:00+00:00

Frozen on purpose, like 0001: the kinds are copied, not imported. The kind is a VARCHAR with a
CHECK constraint, so a new kind replaces the constraint (batch mode: SQLite rebuilds the table).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_speech"
down_revision: str | Sequence[str] | None = "0004_work_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = (
    "prompt",
    "key",
    "replay",
    "back",
    "invalid",
    "timeout",
    "default",
    "route",
    "hangup",
    "error",
)
NEW_KINDS = (*OLD_KINDS, "speech")
CONSTRAINT = "ck_call_steps_step_kind"


def _one_of(values: Sequence[str]) -> str:
    return f"kind IN ({', '.join(repr(v) for v in values)})"


def _replace(values: Sequence[str]) -> None:
    with op.batch_alter_table("call_steps") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), _one_of(values))


def upgrade() -> None:
    _replace(NEW_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM call_steps WHERE kind = 'speech'")
    _replace(OLD_KINDS)
