"""recordings: recorded calls and the playback audit; the inspector role

Revision ID: 0016_recordings
Revises: 0015_call_orders

Frozen on purpose: no imports from ``ivr``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_recordings"
down_revision: str | Sequence[str] | None = "0015_call_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = ("agent", "supervisor", "integration", "admin")
NEW_ROLES = ("agent", "supervisor", "inspector", "integration", "admin")
KINDS = ("inbound", "callback", "dispatch")
STATES = ("recording", "complete", "failed", "deleted")
OUTCOMES = ("served", "refused", "gone")
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _roles(values: Sequence[str]) -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint(op.f("ck_api_tokens_role"), type_="check")
        batch.create_check_constraint(op.f("ck_api_tokens_role"), _one_of("role", values))


def upgrade() -> None:
    _roles(NEW_ROLES)
    op.create_table(
        "recordings",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent_job_number", sa.String(16), nullable=True),
        sa.Column("agent_path", sa.Text(), nullable=False),
        sa.Column("customer_path", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("agent_sha256", sa.String(64), nullable=True),
        sa.Column("customer_sha256", sa.String(64), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("findings", sa.JSON(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(_one_of("kind", KINDS), name=op.f("ck_recordings_kind")),
        sa.CheckConstraint(_one_of("state", STATES), name=op.f("ck_recordings_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("call_id", name=op.f("uq_recordings_call_id")),
    )
    op.create_index(op.f("ix_recordings_agent_job_number"), "recordings", ["agent_job_number"])
    op.create_index(op.f("ix_recordings_started_at"), "recordings", ["started_at"])
    op.create_index("ix_recordings_state_ended_at", "recordings", ["state", "ended_at"])
    op.create_table(
        "recording_playbacks",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("recording_id", _Id, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("job_number", sa.String(16), nullable=True),
        sa.Column("side", sa.String(16), nullable=False),
        sa.Column("byte_range", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.CheckConstraint(
            _one_of("outcome", OUTCOMES), name=op.f("ck_recording_playbacks_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_recording_playbacks_recording_id_recordings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_playbacks")),
    )
    op.create_index(
        op.f("ix_recording_playbacks_recording_id"), "recording_playbacks", ["recording_id"]
    )
    op.create_index(op.f("ix_recording_playbacks_at"), "recording_playbacks", ["at"])


def downgrade() -> None:
    op.drop_table("recording_playbacks")
    op.drop_table("recordings")
    op.execute("DELETE FROM api_tokens WHERE role = 'inspector'")
    _roles(OLD_ROLES)
