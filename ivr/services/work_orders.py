"""Work-order use cases: create, update and close an order, and tell whoever must act now.

A change to an order moves deadlines (the time-limit watch looks again), a new repair order
needs a crew (the dispatcher claims it at once instead of at its next poll), and a close may
schedule a 回访 callback (the dialer looks again). The store keeps the rules of a single
order (transitions, idempotency keys, deadlines met); this service owns what follows from a
change, whichever door it came through (the web API today).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ivr.domain.workorders import NewOrder, OrderConflict, OrderKind, OrderStatus, OrderView
from ivr.ports import AgentDirectory, DispatchAcceptances, WorkOrderStore

log = logging.getLogger(__name__)


class UnknownOwner(LookupError):
    """A reassignment to a job number no agent has."""


def _nobody() -> None:
    """No loop is running for this (it is switched off, or the bridge has not started it)."""


@dataclass(slots=True)
class OrderWakeups:
    """The loops to wake on a change; set by the wiring as each loop starts."""

    deadlines: Callable[[], None] = _nobody  # the time-limit watch
    dispatch: Callable[[], None] = _nobody  # the repair dispatcher
    callbacks: Callable[[], None] = _nobody  # the 回访 dialer


class WorkOrderService:
    def __init__(
        self,
        store: WorkOrderStore,
        wake: OrderWakeups | None = None,
        acceptances: DispatchAcceptances | None = None,
        agents: AgentDirectory | None = None,
    ) -> None:
        self._store = store
        self._agents = agents  # who may own an order (reassign checks the new owner)
        self.wake = wake or OrderWakeups()
        self._acceptances = acceptances

    async def record_dispatch_acceptance(
        self, order_no: str, actor: str, reason: str, crew_id: int | None
    ) -> OrderView:
        """A crew's 接令 that did not come by phone, recorded by a dispatcher with its reason:
        the only way besides the crew's key press that meets a repair's dispatch limit."""
        if self._acceptances is None:
            raise OrderConflict("this bridge records no dispatch acceptances (dispatch is off)")
        await self._acceptances.record_acceptance(order_no, actor, reason, crew_id)
        view = await self._store.get(order_no)
        self._changed(view, dispatch=True)  # the dispatcher stops calling crews for it
        return view

    async def create(
        self,
        new: NewOrder,
        actor: str,
        create_key: str | None,
        request_hash: str | None = None,
    ) -> tuple[OrderView, bool]:
        """The order, and True if this call created it (False: the key was seen before)."""
        view, created = await self._store.create(new, actor, create_key, request_hash)
        if created:
            self._changed(view, dispatch=new.kind is OrderKind.REPAIR)
        return view, created

    async def update(
        self,
        order_no: str,
        actor: str,
        *,
        status: OrderStatus | None = None,
        summary: str | None = None,
        note: str | None = None,
    ) -> OrderView:
        view = await self._store.update(order_no, actor, status=status, summary=summary, note=note)
        # a repair order moved on by hand (dispatched, cancelled) ends its dispatch job
        self._changed(view, dispatch=view.kind == OrderKind.REPAIR.value and status is not None)
        return view

    async def close(
        self,
        order_no: str,
        result: str,
        actor: str,
        close_key: str | None,
        request_hash: str | None = None,
    ) -> OrderView:
        view = await self._store.close(order_no, result, actor, close_key, request_hash)
        self._changed(view, dispatch=view.kind == OrderKind.REPAIR.value)
        self.wake.callbacks()  # the close may have scheduled the order's callback
        return view

    async def get(self, order_no: str) -> OrderView:
        return await self._store.get(order_no)

    async def reassign(self, order_no: str, owner: str, reason: str, actor: str) -> OrderView:
        """Another agent owns the order from now on (首问负责制: a supervisor's decision, never
        a transfer's); the new owner must be a registered agent."""
        if self._agents is not None and await self._agents.get(owner) is None:
            raise UnknownOwner(f"no agent with job number {owner}")
        view = await self._store.reassign(order_no, owner, reason, actor)
        log.info("work order %s reassigned to %s by %s", order_no, owner, actor)
        return view

    async def list(
        self,
        status: OrderStatus | None = None,
        kind: OrderKind | None = None,
        overdue: bool | None = None,
        owner: str | None = None,
        limit: int = 100,
    ) -> list[OrderView]:
        return await self._store.list(status, kind, overdue, owner, limit)

    def _changed(self, view: OrderView, *, dispatch: bool) -> None:
        self.wake.deadlines()
        if dispatch:
            self.wake.dispatch()
        log.debug("work order %s changed (%s)", view.order_no, view.status)
