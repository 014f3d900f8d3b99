"""The ``monitor_phones`` and ``monitor_sessions`` tables (created only by migration
``0024_monitoring``; ``tests/integration`` checks the two agree).

A supervisor's phone is a provisioned seat, assigned by an admin: the API caller never names
what is dialled. Every listen / whisper / barge request is a row, refused ones included.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime

_Id = BigInteger().with_variant(Integer(), "sqlite")

MODES = ("listen", "whisper", "barge")
OUTCOMES = ("started", "refused", "failed")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class MonitorPhoneRow(Base):
    """Which seat rings when this principal (a token's name) listens to a call."""

    __tablename__ = "monitor_phones"

    principal: Mapped[str] = mapped_column(String(64), primary_key=True)
    seat: Mapped[str] = mapped_column(String(32), ForeignKey("seats.name", ondelete="CASCADE"))
    set_at: Mapped[datetime] = mapped_column(UtcDateTime())
    set_by: Mapped[str] = mapped_column(String(64))


class MonitorSessionRow(Base):
    """One supervisor request to listen to, whisper to or barge into a live call."""

    __tablename__ = "monitor_sessions"
    __table_args__ = (
        CheckConstraint(_one_of("mode", MODES), name="mode"),
        CheckConstraint(_one_of("outcome", OUTCOMES), name="outcome"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    principal: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str] = mapped_column(String(64), index=True)
    agent_job_number: Mapped[str | None] = mapped_column(String(16))
    seat: Mapped[str | None] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text())


phones_table = MonitorPhoneRow.__table__
sessions_table = MonitorSessionRow.__table__
