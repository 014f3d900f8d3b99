"""The kept places of virtual hold (queue callback): one row per caller who pressed 1, with
their place (the original arrival time) and the call-back attempt in progress (created only by
migration ``0023_virtual_hold``; ``tests/integration`` checks the two agree).

``action_id`` is the current attempt's ActionID (unique): an attempt is dialled only by the
bridge whose claim still holds (``claimed`` → ``originating`` with ``claimed_by``), and a result
is applied once (``UPDATE … WHERE action_id = … AND state = …``), whichever bridge sees it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime, server_name_column

_Id = BigInteger().with_variant(Integer(), "sqlite")
KEPT_STATES = (
    "kept",
    "claimed",
    "originating",
    "answered",
    "connected",
    "failed",
    "cancelled",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class KeptPlaceRow(Base):
    __tablename__ = "kept_places"
    __table_args__ = (
        CheckConstraint(_one_of("state", KEPT_STATES), name="state"),
        Index("ix_kept_places_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(32))  # the call that kept the place
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the place in the line
    state: Mapped[str] = mapped_column(String(16))
    attempts_made: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    action_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    position: Mapped[int | None] = mapped_column(Integer)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    originate_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    unique_id: Mapped[str | None] = mapped_column(String(64), index=True)
    result: Mapped[str | None] = mapped_column(String(32))  # of the last attempt
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    originated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # last dialled
    connected_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the leg hung up
    server_name: Mapped[str] = server_name_column()  # 0026: the Asterisk that placed it


kept_places_table = KeptPlaceRow.__table__
