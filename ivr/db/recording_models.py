"""The ``recordings`` and ``recording_playbacks`` tables (created only by migrations
``0016_recordings`` and ``0024_monitoring``; ``tests/integration`` checks the two agree).

A recording's row outlives its files: when retention deletes them the row says so
(``state = 'deleted'``, ``deleted_at``), and every playback stays in the audit table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime, server_name_column

_Id = BigInteger().with_variant(Integer(), "sqlite")

KINDS = ("inbound", "callback", "dispatch", "fallback")
STATES = ("recording", "complete", "failed", "deleted")
PLAYBACK_OUTCOMES = ("served", "refused", "gone")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class RecordingRow(Base):
    """One recorded call: both directions' files, their checksums, and what became of them."""

    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint(_one_of("kind", KINDS), name="kind"),
        CheckConstraint(_one_of("state", STATES), name="state"),
        Index("ix_recordings_state_ended_at", "state", "ended_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    agent_job_number: Mapped[str | None] = mapped_column(String(16), index=True)
    agent_path: Mapped[str] = mapped_column(Text())
    customer_path: Mapped[str] = mapped_column(Text())
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    duration_ms: Mapped[int | None] = mapped_column(Integer())
    bytes: Mapped[int | None] = mapped_column(BigInteger())
    agent_sha256: Mapped[str | None] = mapped_column(String(64))
    customer_sha256: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(Text())
    server_name: Mapped[str] = server_name_column()  # 0026: the Asterisk that recorded it
    findings: Mapped[list[dict[str, object]] | None] = mapped_column(JSON())
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class RecordingPlaybackRow(Base):
    """One request for a recording's audio (质检 audit: who, when, which call, which bytes)."""

    __tablename__ = "recording_playbacks"
    __table_args__ = (CheckConstraint(_one_of("outcome", PLAYBACK_OUTCOMES), name="outcome"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    recording_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    principal: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    job_number: Mapped[str | None] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(16))
    byte_range: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))


recordings_table = RecordingRow.__table__
playbacks_table = RecordingPlaybackRow.__table__
