"""Tables of the duty roster (crews, shifts) and of repair dispatch (one job per repair order,
one row per call to a crew). Created only by migration ``0008_dispatch``.

As for callbacks, idempotency lives in the schema: one job per order, call ``n`` of an order
is unique, and every call's AMI ActionID is unique, so two bridges can never both place call
``n`` of one order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime, server_name_column

_Id = BigInteger().with_variant(Integer(), "sqlite")

JOB_STATES = ("active", "accepted", "exhausted", "stopped")
CALL_STATES = ("claimed", "originating", "answered", "finished")
TARGETS = ("crew", "escalation")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CrewRow(Base):
    """A repair crew (抢修值班组) and the phone its member on duty answers."""

    __tablename__ = "crews"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DutyShiftRow(Base):
    __tablename__ = "duty_shifts"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("priority BETWEEN 1 AND 99", name="priority"),
        Index("ix_duty_shifts_window", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    crew_id: Mapped[int] = mapped_column(_Id, ForeignKey("crews.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime())
    priority: Mapped[int] = mapped_column(Integer())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DispatchJobRow(Base):
    """The dispatch of one repair order: calling, accepted, exhausted (people must act)."""

    __tablename__ = "dispatch_jobs"
    __table_args__ = (
        CheckConstraint(_one_of("state", JOB_STATES), name="state"),
        Index("ix_dispatch_jobs_state_next", "state", "next_call_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("work_orders.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(16))
    next_call_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    at_risk_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # alert raised
    detail: Mapped[str | None] = mapped_column(Text())


class DispatchCallRow(Base):
    """One call to a crew (or to the escalation number) for a repair order."""

    __tablename__ = "dispatch_calls"
    __table_args__ = (
        UniqueConstraint("job_id", "call_no"),
        CheckConstraint(_one_of("state", CALL_STATES), name="state"),
        CheckConstraint(_one_of("target", TARGETS), name="target"),
        Index("ix_dispatch_calls_state_lease", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(_Id, ForeignKey("dispatch_jobs.id", ondelete="CASCADE"))
    call_no: Mapped[int] = mapped_column(Integer())
    target: Mapped[str] = mapped_column(String(16))
    crew_id: Mapped[int | None] = mapped_column(
        _Id, ForeignKey("crews.id", ondelete="SET NULL"), index=True
    )
    phone: Mapped[str] = mapped_column(String(16))
    action_id: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    ring_timeout_s: Mapped[int] = mapped_column(Integer())
    claimed_by: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    originated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    unique_id: Mapped[str | None] = mapped_column(Text())
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    plays: Mapped[int] = mapped_column(Integer())
    result: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text())
    server_name: Mapped[str] = server_name_column()  # 0026: the Asterisk that placed it


crews_table = CrewRow.__table__
shifts_table = DutyShiftRow.__table__
jobs_table = DispatchJobRow.__table__
calls_table = DispatchCallRow.__table__
