"""The ``alerts`` table: every alert ever raised, once per key, and its webhook outbox state.

Created only by migration ``0009_alerts`` (``superseded_at``: ``0010``); ``tests/integration``
checks the two agree. The unique ``key`` is what makes raising idempotent across restarts and
several bridges on one database. The outbox columns (``next_try_at``, ``attempts``,
``delivered_at``) live on the same row so an alert and its pending delivery are written in one
statement: nothing can be raised and then lost before it is queued for the webhook.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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

from ivr.db.base import Base, UtcDateTime

_Id = BigInteger().with_variant(Integer(), "sqlite")
LEVELS = ("warning", "breach")


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(f"level IN ({', '.join(repr(v) for v in LEVELS)})", name="level"),
        Index("ix_alerts_order_deadline", "order_id", "deadline"),
        Index("ix_alerts_outbox", "delivered_at", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text())
    order_id: Mapped[int | None] = mapped_column(
        _Id, ForeignKey("work_orders.id", ondelete="SET NULL")
    )
    order_no: Mapped[str | None] = mapped_column(String(32))
    deadline: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    # webhook outbox: due for (re)delivery at next_try_at while delivered_at is null
    next_try_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text())
    # 0010: a recompute moved the due time so this alert was no longer right (see recompute)
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


alerts_table = AlertRow.__table__
