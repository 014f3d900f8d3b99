"""Tables for work orders, their deadlines and history, and callbacks (回访) with their attempts.

Created only by migration ``0004_work_orders``; ``tests/integration`` checks the two agree.
Idempotency lives in unique constraints, not in application checks: ``create_key`` (one order
per create request), ``close_key``, one ``callback_tasks`` row per order, and one attempt per
(task, attempt number), so two bridges can never both place attempt n of a callback.
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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ivr.db.base import Base, UtcDateTime, server_name_column

_Id = BigInteger().with_variant(Integer(), "sqlite")
_ORDER_FK = "work_orders.id"

ORDER_STATUSES = ("created", "dispatched", "in_progress", "closed", "callback_done", "archived")
TASK_STATES = ("pending", "active", "done", "needs_human", "cancelled")
ATTEMPT_STATES = ("claimed", "originating", "answered", "finished")
RESOLUTIONS = ("resolved", "requeued")  # how a supervisor closed a follow-up


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class WorkOrderRow(Base):
    __tablename__ = "work_orders"
    __table_args__ = (
        CheckConstraint(_one_of("status", ORDER_STATUSES), name="status"),
        # 0015: a caller's orders by phone (the workspace's screen pop)
        Index("ix_work_orders_phone_created", "customer_phone", "created_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    create_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    close_key: Mapped[str | None] = mapped_column(String(128))
    # SHA-256 of the request each key came with: the key again with another body is refused
    create_request_hash: Mapped[str | None] = mapped_column(String(64))
    close_request_hash: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    customer_class: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    call_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("calls.call_id", ondelete="SET NULL")
    )
    owner_job_number: Mapped[str] = mapped_column(String(16))
    customer_surname: Mapped[str] = mapped_column(Text())
    customer_title: Mapped[str] = mapped_column(String(8))
    customer_phone: Mapped[str] = mapped_column(String(16))
    # whether the phone was on the do-not-call list when the order was recorded (the list,
    # table do_not_call, decides; 0020)
    do_not_call: Mapped[bool] = mapped_column(Boolean())
    summary: Mapped[str] = mapped_column(Text())
    address: Mapped[str | None] = mapped_column(Text())  # 0008: read to the repair crew
    fault: Mapped[str | None] = mapped_column(Text())  # 0008: what is wrong, for the crew
    result: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class DeadlineRow(Base):
    __tablename__ = "work_order_deadlines"
    __table_args__ = (
        UniqueConstraint("order_id", "name"),
        Index("ix_work_order_deadlines_open_due", "met_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(_Id, ForeignKey(_ORDER_FK, ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    met_by: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    met_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    provisional: Mapped[bool] = mapped_column(Boolean())
    target_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # 0006: warn, not overdue
    # 0010: times a provisional due time was recomputed; part of its later alerts' keys
    revision: Mapped[int] = mapped_column(Integer(), server_default=text("0"))


class HistoryRow(Base):
    __tablename__ = "work_order_history"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        _Id, ForeignKey(_ORDER_FK, ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text())


class CallbackTaskRow(Base):
    __tablename__ = "callback_tasks"
    __table_args__ = (
        CheckConstraint(_one_of("state", TASK_STATES), name="state"),
        Index("ix_callback_tasks_state_next", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        _Id, ForeignKey(_ORDER_FK, ondelete="CASCADE"), unique=True
    )
    state: Mapped[str] = mapped_column(String(32))
    due_by: Mapped[datetime] = mapped_column(UtcDateTime())
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts_made: Mapped[int] = mapped_column(Integer())
    result: Mapped[str | None] = mapped_column(String(32))
    right_person: Mapped[bool | None] = mapped_column(Boolean())
    power_restored: Mapped[bool | None] = mapped_column(Boolean())
    satisfied: Mapped[bool | None] = mapped_column(Boolean())
    suggestion_path: Mapped[str | None] = mapped_column(Text())
    # 0020: how the 回访 ended (ivr.domain.callbacks.CallbackOutcome), NULL while it is owed.
    # No CHECK: adding one rebuilds the table on SQLite, and its attempts would cascade away.
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CallbackAttemptRow(Base):
    __tablename__ = "callback_attempts"
    __table_args__ = (
        UniqueConstraint("task_id", "attempt_no"),
        CheckConstraint(_one_of("state", ATTEMPT_STATES), name="state"),
        Index("ix_callback_attempts_state_lease", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(_Id, ForeignKey("callback_tasks.id", ondelete="CASCADE"))
    attempt_no: Mapped[int] = mapped_column(Integer())
    action_id: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(32))
    claimed_by: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[datetime] = mapped_column(UtcDateTime())
    originate_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    originated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    unique_id: Mapped[str | None] = mapped_column(Text(), index=True)  # Asterisk's, of leg ;1
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    result: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text())
    server_name: Mapped[str] = server_name_column()  # 0026: the Asterisk that placed it


class FollowUpRow(Base):
    """A task for a supervisor: a dissatisfied customer, or a callback a human must make."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        CheckConstraint(
            f"resolution IS NULL OR {_one_of('resolution', RESOLUTIONS)}", name="resolution"
        ),
        Index("ix_follow_ups_open", "resolved_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(
        _Id, ForeignKey(_ORDER_FK, ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolution: Mapped[str | None] = mapped_column(String(16))  # 0006
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution_note: Mapped[str | None] = mapped_column(Text())


class CallOrderRow(Base):
    """A call ↔ order link (0015): the order recorded on that call, or a later call about it.
    Both ways in the API: a call's orders, and an order's call ids."""

    __tablename__ = "call_orders"
    __table_args__ = (UniqueConstraint("call_id", "order_id"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("calls.call_id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int] = mapped_column(
        _Id, ForeignKey(_ORDER_FK, ondelete="CASCADE"), index=True
    )
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    linked_by: Mapped[str] = mapped_column(String(64))


class DoNotCallRow(Base):
    """A number the customer asked us not to call back (回访): kept by supervisors only, with
    the customer's request as they made it (0020). A removal keeps the row with who removed it
    and why; adding the number again makes it current."""

    __tablename__ = "do_not_call"

    phone: Mapped[str] = mapped_column(String(16), primary_key=True)  # PhoneNumber.digits
    request: Mapped[str] = mapped_column(Text())  # what the customer asked, and how
    order_no: Mapped[str | None] = mapped_column(String(32))  # the order they asked on, if any
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    removed_by: Mapped[str | None] = mapped_column(String(64))
    removal_reason: Mapped[str | None] = mapped_column(Text())


class DialerStateRow(Base):
    """One row: the next free originate slot, shared by every bridge (the global rate limit)."""

    __tablename__ = "dialer_state"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    next_slot_at: Mapped[datetime] = mapped_column(UtcDateTime())


orders_table = WorkOrderRow.__table__
deadlines_table = DeadlineRow.__table__
history_table = HistoryRow.__table__
tasks_table = CallbackTaskRow.__table__
attempts_table = CallbackAttemptRow.__table__
follow_ups_table = FollowUpRow.__table__
dialer_state_table = DialerStateRow.__table__
call_orders_table = CallOrderRow.__table__
do_not_call_table = DoNotCallRow.__table__
