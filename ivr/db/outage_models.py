"""Tables of storm days: the customer register (户号, phones, supply area and feeder), outages
with their history, and the repair orders linked to an outage (created only by migration
``0017_outages``; ``tests/integration`` checks the two agree).

A phone number is its own row (``customer_phones``) so that "who is calling" is one indexed read;
an outage's areas and feeders are JSON lists (a handful per outage). ``outage_orders.order_id``
is unique: an order belongs to one outage at most.
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
OUTAGE_KINDS = ("planned", "fault")
OUTAGE_STATES = ("open", "closed", "cancelled")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class CustomerRow(Base):
    __tablename__ = "customers"

    account_no: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(Text())
    address: Mapped[str] = mapped_column(Text())
    area: Mapped[str] = mapped_column(String(64), index=True)
    feeder: Mapped[str | None] = mapped_column(String(64), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CustomerPhoneRow(Base):
    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    account_no: Mapped[str] = mapped_column(
        String(20), ForeignKey("customers.account_no", ondelete="CASCADE"), index=True
    )
    phone: Mapped[str] = mapped_column(String(16), index=True)


class OutageRow(Base):
    __tablename__ = "outages"
    __table_args__ = (
        CheckConstraint(_one_of("kind", OUTAGE_KINDS), name="kind"),
        CheckConstraint(_one_of("state", OUTAGE_STATES), name="state"),
        CheckConstraint("expected_at > starts_at", name="restored_after_start"),
        Index("ix_outages_state_start", "state", "starts_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    ref: Mapped[str | None] = mapped_column(String(64), unique=True)  # the schedule's number
    kind: Mapped[str] = mapped_column(String(16))
    areas: Mapped[list[str]] = mapped_column(JSON())
    feeders: Mapped[list[str]] = mapped_column(JSON())
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expected_at: Mapped[datetime] = mapped_column(UtcDateTime())
    cause: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))
    resolution: Mapped[str | None] = mapped_column(Text())
    dispatch_order_id: Mapped[int | None] = mapped_column(
        _Id, ForeignKey("work_orders.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OutageChangeRow(Base):
    __tablename__ = "outage_changes"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    outage_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("outages.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    change: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON())


class OutageOrderRow(Base):
    __tablename__ = "outage_orders"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    outage_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("outages.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int] = mapped_column(
        _Id, ForeignKey("work_orders.id", ondelete="CASCADE"), unique=True
    )
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime())


customers_table = CustomerRow.__table__
customer_phones_table = CustomerPhoneRow.__table__
outages_table = OutageRow.__table__
outage_changes_table = OutageChangeRow.__table__
outage_orders_table = OutageOrderRow.__table__
