"""The ``inspections`` table (created only by migration ``0022_inspections``;
``tests/integration`` checks the two agree): one quality inspection (质检) of one recording.

The standard the call was scored against is stored with it (items, weights, pass ratio), so a
later change of the settings does not rewrite past inspections.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime

_Id = BigInteger().with_variant(Integer(), "sqlite")


class InspectionRow(Base):
    """An inspector's scores of one recorded call (one inspection per recording)."""

    __tablename__ = "inspections"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    recording_id: Mapped[int] = mapped_column(_Id, ForeignKey("recordings.id"), unique=True)
    agent_job_number: Mapped[str | None] = mapped_column(String(16), index=True)
    inspector: Mapped[str] = mapped_column(String(64))
    inspected_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    scores: Mapped[dict[str, int]] = mapped_column(JSON())
    score: Mapped[float] = mapped_column(Float())
    failed: Mapped[bool] = mapped_column(Boolean())
    failed_items: Mapped[list[str]] = mapped_column(JSON())
    comment: Mapped[str | None] = mapped_column(Text())
    findings_used: Mapped[list[str]] = mapped_column(JSON())
    reasons: Mapped[list[str]] = mapped_column(JSON())  # why it was in the queue, if it was
    standard: Mapped[dict[str, object]] = mapped_column(JSON())


inspections_table = InspectionRow.__table__
