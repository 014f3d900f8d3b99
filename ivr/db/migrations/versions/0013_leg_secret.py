"""centre_secrets: the secret every bridge of the centre uses to key its outbound legs

Revision ID: 0013_leg_secret
Revises: 0012_token_lifecycle

Frozen on purpose: no imports from ``ivr``. The secret is made here, once per database, so
bridges that share the database share it without any setting (see ``ivr.domain.leg_keys``).
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_leg_secret"
down_revision: str | Sequence[str] | None = "0012_token_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "centre_secrets",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )
    op.bulk_insert(table, [{"name": "leg_key", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("centre_secrets")
