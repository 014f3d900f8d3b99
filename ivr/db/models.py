"""Tables for call records. The schema itself is created only by the Alembic migrations.

``tests/integration`` checks that these models and the migrations agree; change both together.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import ENUM_LENGTH, Base, UtcDateTime, server_name_column
from ivr.domain.access import Role
from ivr.domain.calls import CallOutcome, StepKind
from ivr.domain.queue_calls import RingEnd, VisitOutcome


def _str_enum(enum_cls: type[StrEnum], name: str) -> Enum:
    """A VARCHAR plus CHECK of the enum's *values*: no native PG type to migrate on changes."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=ENUM_LENGTH,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )


# BIGINT on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
_BigIntId = BigInteger().with_variant(Integer(), "sqlite")


# Free text from Asterisk is TEXT, not VARCHAR(n): PostgreSQL would reject an over-long channel
# name that SQLite stores happily, and a call record is worth more than a tidy width.
CALL_ID_LENGTH = 64  # ours: a UUID hex


class CallRow(Base):
    """One inbound call (``ivr.domain.calls.CallRecord`` without its steps)."""

    __tablename__ = "calls"
    # GET /api/calls?phone=…: one caller's calls, newest first, without reading the whole table
    __table_args__ = (
        Index(None, "caller_number", "started_at"),
        # the open calls of a server that was lost (ivr.services.server_watch)
        Index(None, "server_name", "ended_at"),
    )

    call_id: Mapped[str] = mapped_column(String(CALL_ID_LENGTH), primary_key=True)
    unique_id: Mapped[str] = mapped_column(Text(), index=True)
    caller_number: Mapped[str] = mapped_column(Text())
    dialed_number: Mapped[str] = mapped_column(Text())
    channel_name: Mapped[str] = mapped_column(Text())
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[CallOutcome] = mapped_column(_str_enum(CallOutcome, "call_outcome"))
    route: Mapped[str | None] = mapped_column(Text())
    choice: Mapped[str | None] = mapped_column(Text())
    menu_path: Mapped[list[str]] = mapped_column(JSON())
    keys: Mapped[str] = mapped_column(Text())
    queue_status: Mapped[str | None] = mapped_column(Text())
    agent_interface: Mapped[str | None] = mapped_column(Text())
    # 0017: the outage whose notice the caller heard, and whether they hung up after it
    outage_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    informed: Mapped[bool] = mapped_column(Boolean(), server_default=false())
    # 0026: the Asterisk it ran on; why it was closed as lost when that server was lost
    server_name: Mapped[str] = server_name_column()
    lost_reason: Mapped[str | None] = mapped_column(Text())


class StepRow(Base):
    """One step of a call; ``seq`` (0, 1, 2, …) is its position within the call."""

    __tablename__ = "call_steps"
    __table_args__ = (UniqueConstraint("call_id", "seq"),)

    id: Mapped[int] = mapped_column(_BigIntId, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        String(CALL_ID_LENGTH), ForeignKey("calls.call_id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer())
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[StepKind] = mapped_column(_str_enum(StepKind, "step_kind"))
    node: Mapped[str | None] = mapped_column(Text())
    key: Mapped[str | None] = mapped_column(Text())
    detail: Mapped[str | None] = mapped_column(Text())


class ApiTokenRow(Base):
    """An API token: only its SHA-256 is stored, so a database leak leaks no usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_str_enum(Role, "role"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    job_number: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # after a rotation the old token keeps working until previous_valid_until (a grace period
    # for the systems that hold it), then only the new one does
    previous_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    previous_valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class CentreSecretRow(Base):
    """Secrets every bridge of the centre shares, made by the migration that adds them (the
    leg key secret: ``ivr.domain.leg_keys``)."""

    __tablename__ = "centre_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class AgentRow(Base):
    """An agent: job number (工号), queue member interface, skills (the queues they log in to)."""

    __tablename__ = "agents"

    job_number: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(Text())
    interface: Mapped[str] = mapped_column(Text(), unique=True)
    skills: Mapped[list[str]] = mapped_column(JSON())
    device: Mapped[str | None] = mapped_column(Text())  # the phone behind an [agent-dial] member


class QueueVisitRow(Base):
    """One caller's stay in one queue (``ivr.domain.queue_calls.QueueVisit``); times in µs of
    Asterisk's clock, ``joined_at`` the same instant as a datetime for period queries."""

    __tablename__ = "queue_visits"
    __table_args__ = (UniqueConstraint("unique_id", "joined_us"),)

    id: Mapped[int] = mapped_column(_BigIntId, primary_key=True, autoincrement=True)
    unique_id: Mapped[str] = mapped_column(Text())
    queue: Mapped[str] = mapped_column(Text())
    caller_number: Mapped[str] = mapped_column(Text())
    joined_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    joined_us: Mapped[int] = mapped_column(BigInteger())
    outcome: Mapped[VisitOutcome] = mapped_column(
        _str_enum(VisitOutcome, "visit_outcome"), index=True
    )
    agent_interface: Mapped[str | None] = mapped_column(Text())
    agent_name: Mapped[str | None] = mapped_column(Text())
    agent_channel_uid: Mapped[str | None] = mapped_column(Text())
    answered_us: Mapped[int | None] = mapped_column(BigInteger())
    ring_to_answer_ms: Mapped[int | None] = mapped_column(Integer())
    queue_wait_ms: Mapped[int | None] = mapped_column(Integer())
    left_us: Mapped[int | None] = mapped_column(BigInteger())
    ended_us: Mapped[int | None] = mapped_column(BigInteger())
    talk_ms: Mapped[int | None] = mapped_column(Integer())
    transferred: Mapped[bool] = mapped_column(Boolean())
    note: Mapped[str | None] = mapped_column(Text())
    # who answered (工号) when they did; NULL: not known then (or stored before 0010)
    agent_job_number: Mapped[str | None] = mapped_column(String(16))
    server_name: Mapped[str] = server_name_column()  # 0026


class RingAttemptRow(Base):
    """One ring of one agent for one queue visit."""

    __tablename__ = "ring_attempts"
    __table_args__ = (UniqueConstraint("visit_id", "seq"),)

    id: Mapped[int] = mapped_column(_BigIntId, primary_key=True, autoincrement=True)
    visit_id: Mapped[int] = mapped_column(
        _BigIntId, ForeignKey("queue_visits.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer())
    interface: Mapped[str] = mapped_column(Text())
    member_name: Mapped[str] = mapped_column(Text())
    started_us: Mapped[int] = mapped_column(BigInteger())
    ended_us: Mapped[int | None] = mapped_column(BigInteger())
    duration_ms: Mapped[int | None] = mapped_column(Integer())
    end: Mapped[RingEnd | None] = mapped_column(_str_enum(RingEnd, "ring_end"))
    job_number: Mapped[str | None] = mapped_column(String(16))  # the agent rung, then
    server_name: Mapped[str] = server_name_column()  # 0026


agents_table = AgentRow.__table__
visits_table = QueueVisitRow.__table__
rings_table = RingAttemptRow.__table__

calls_table = CallRow.__table__
steps_table = StepRow.__table__
tokens_table = ApiTokenRow.__table__
centre_secrets_table = CentreSecretRow.__table__

__all__ = [
    "AgentRow",
    "ApiTokenRow",
    "Base",
    "CallRow",
    "CentreSecretRow",
    "QueueVisitRow",
    "RingAttemptRow",
    "StepRow",
    "UtcDateTime",
    "agents_table",
    "calls_table",
    "centre_secrets_table",
    "rings_table",
    "steps_table",
    "tokens_table",
    "visits_table",
]
