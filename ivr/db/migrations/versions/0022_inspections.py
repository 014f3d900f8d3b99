"""inspections: quality inspections (质检) of recordings; the playback-link secret

Revision ID: 0022_inspections
Revises: 0021_call_search_index

Frozen on purpose: no imports from ``ivr``. The playback secret is made here, once per
database, like the leg key: every bridge of the centre signs and checks the same links.
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_inspections"
down_revision: str | Sequence[str] | None = "0021_call_search_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inspections",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("recording_id", _Id, nullable=False),
        sa.Column("agent_job_number", sa.String(16), nullable=True),
        sa.Column("inspector", sa.String(64), nullable=False),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("failed_items", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("findings_used", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("standard", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
            name=op.f("fk_inspections_recording_id_recordings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("recording_id", name=op.f("uq_inspections_recording_id")),
    )
    op.create_index(op.f("ix_inspections_agent_job_number"), "inspections", ["agent_job_number"])
    op.create_index(op.f("ix_inspections_inspected_at"), "inspections", ["inspected_at"])
    secrets_table = sa.table("centre_secrets", sa.column("name"), sa.column("value"))
    op.bulk_insert(secrets_table, [{"name": "playback_key", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.execute("DELETE FROM centre_secrets WHERE name = 'playback_key'")
    op.drop_index(op.f("ix_inspections_inspected_at"), table_name="inspections")
    op.drop_index(op.f("ix_inspections_agent_job_number"), table_name="inspections")
    op.drop_table("inspections")
