"""monitoring: supervisors' phones and the listen / whisper / barge audit; fallback recordings

Revision ID: 0024_monitoring
Revises: 0023_virtual_hold

Frozen on purpose: no imports from ``ivr``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_monitoring"
down_revision: str | Sequence[str] | None = "0023_virtual_hold"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = ("inbound", "callback", "dispatch")
NEW_KINDS = ("inbound", "callback", "dispatch", "fallback")
MODES = ("listen", "whisper", "barge")
OUTCOMES = ("started", "refused", "failed")
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _kinds(values: Sequence[str]) -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_constraint(op.f("ck_recordings_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_recordings_kind"), _one_of("kind", values))


def upgrade() -> None:
    _kinds(NEW_KINDS)
    op.create_table(
        "monitor_phones",
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("seat", sa.String(32), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["seat"], ["seats.name"], name=op.f("fk_monitor_phones_seat_seats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("principal", name=op.f("pk_monitor_phones")),
    )
    op.create_table(
        "monitor_sessions",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("agent_job_number", sa.String(16), nullable=True),
        sa.Column("seat", sa.String(32), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(_one_of("mode", MODES), name=op.f("ck_monitor_sessions_mode")),
        sa.CheckConstraint(_one_of("outcome", OUTCOMES), name=op.f("ck_monitor_sessions_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_sessions")),
    )
    op.create_index(op.f("ix_monitor_sessions_at"), "monitor_sessions", ["at"])
    op.create_index(op.f("ix_monitor_sessions_call_id"), "monitor_sessions", ["call_id"])


def downgrade() -> None:
    op.drop_table("monitor_sessions")
    op.drop_table("monitor_phones")
    op.execute("DELETE FROM recordings WHERE kind = 'fallback'")
    _kinds(OLD_KINDS)
