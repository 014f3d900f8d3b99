"""Agents' state changes and the calls they transferred (created only by migration
``0018_agent_state``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime

_Id = BigInteger().with_variant(Integer(), "sqlite")


class AgentStateChangeRow(Base):
    """From ``at`` on the agent is in ``state`` (``ivr.domain.agent_state``). The same change
    seen by two bridges (after-call work starts at Asterisk's own instant) is stored once."""

    __tablename__ = "agent_state_changes"
    __table_args__ = (
        UniqueConstraint("job_number", "at", "state"),
        Index("ix_agent_state_changes_at", "at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    job_number: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(64))


class CallTransferRow(Base):
    """A blind transfer of a queue call by the agent talking to it: the caller's channel
    (``unique_id``, and the bridge's call id when the menu recorded one), from whom to what."""

    __tablename__ = "call_transfers"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    unique_id: Mapped[str] = mapped_column(Text(), index=True)
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    from_job_number: Mapped[str] = mapped_column(String(16))
    from_queue: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str] = mapped_column(String(16))  # queue | agent
    target: Mapped[str] = mapped_column(String(64))  # a queue name or a 工号
    actor: Mapped[str] = mapped_column(String(64))


state_changes_table = AgentStateChangeRow.__table__
transfers_table = CallTransferRow.__table__
