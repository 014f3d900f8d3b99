"""The work-order service wakes the loops a change concerns, and only after the store said yes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ivr.domain.phone import PhoneNumber
from ivr.domain.workorders import (
    CustomerClass,
    NewOrder,
    OrderConflict,
    OrderKind,
    OrderStatus,
    OrderView,
)
from ivr.services.work_orders import OrderWakeups, WorkOrderService

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def order(kind: OrderKind, cls: CustomerClass | None = None) -> NewOrder:
    return NewOrder(kind, cls, "1024", "王", "先生", PhoneNumber("13800138000"), "停电")


def view(new: NewOrder, status: str = "created") -> OrderView:
    return OrderView(
        "0123456789ABCDEF0123", new.kind.value, None, status, None, "1024", "王", "先生",
        "13800138000", False, "停电", None, AT, AT, None,
    )  # fmt: skip


class Store:
    """Keeps one order; refuses a second close, as the real store does."""

    def __init__(self) -> None:
        self.view: OrderView | None = None
        self.keys: set[str] = set()

    async def create(
        self, new: NewOrder, actor: str, key: str | None, request_hash: str | None = None
    ) -> tuple[OrderView, bool]:
        if key in self.keys:
            assert self.view is not None
            return self.view, False
        if key is not None:
            self.keys.add(key)
        self.view = view(new)
        return self.view, True

    async def update(self, order_no: str, actor: str, **changes: object) -> OrderView:
        assert self.view is not None
        status = changes.get("status")
        if status is not None:
            self.view = replace(self.view, status=str(status))
        return self.view

    async def close(
        self,
        order_no: str,
        result: str,
        actor: str,
        key: str | None,
        request_hash: str | None = None,
    ) -> OrderView:
        assert self.view is not None
        if self.view.status == "closed":
            raise OrderConflict("already closed")
        self.view = replace(self.view, status="closed", result=result)
        return self.view


class Woken:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def wakeups(self) -> OrderWakeups:
        return OrderWakeups(
            deadlines=lambda: self.calls.append("deadlines"),
            dispatch=lambda: self.calls.append("dispatch"),
            callbacks=lambda: self.calls.append("callbacks"),
        )


async def test_a_new_repair_order_wakes_the_dispatcher_and_the_watch() -> None:
    woken = Woken()
    service = WorkOrderService(Store(), woken.wakeups())  # type: ignore[arg-type]
    await service.create(order(OrderKind.REPAIR), "test", "key-00000001")
    assert woken.calls == ["deadlines", "dispatch"]


async def test_a_repeated_create_wakes_nobody() -> None:
    woken = Woken()
    service = WorkOrderService(Store(), woken.wakeups())  # type: ignore[arg-type]
    await service.create(order(OrderKind.REPAIR), "test", "key-00000001")
    woken.calls.clear()
    _, created = await service.create(order(OrderKind.REPAIR), "test", "key-00000001")
    assert not created and woken.calls == []


async def test_other_orders_do_not_wake_the_dispatcher() -> None:
    woken = Woken()
    service = WorkOrderService(Store(), woken.wakeups())  # type: ignore[arg-type]
    await service.create(order(OrderKind.COMPLAINT), "test", None)
    await service.update("0123456789ABCDEF0123", "test", summary="更多")
    assert woken.calls == ["deadlines", "deadlines"]


async def test_a_close_wakes_the_dialer_and_a_refused_close_wakes_nobody() -> None:
    woken = Woken()
    service = WorkOrderService(Store(), woken.wakeups())  # type: ignore[arg-type]
    await service.create(order(OrderKind.COMPLAINT), "test", None)
    await service.update("0123456789ABCDEF0123", "test", status=OrderStatus.IN_PROGRESS)
    woken.calls.clear()
    await service.close("0123456789ABCDEF0123", "处理完毕", "test", None)
    assert woken.calls == ["deadlines", "callbacks"]
    woken.calls.clear()
    with pytest.raises(OrderConflict):
        await service.close("0123456789ABCDEF0123", "处理完毕", "test", None)
    assert woken.calls == []


async def test_without_running_loops_a_change_is_still_recorded() -> None:
    service = WorkOrderService(Store())  # type: ignore[arg-type]
    view, created = await service.create(order(OrderKind.REPAIR), "test", None)
    assert created and view.status == "created"
