"""Writing call records without ever letting the database hold up or break a call.

A caller in the menu must not wait on, or be dropped because of, a slow or failing database.
Each write is attempted once; what fails is kept on the record and written with the final
update, so one failure at the start of a call loses nothing if the database is back by its end.
"""

from __future__ import annotations

import logging
from datetime import datetime

from ivr.domain.calls import CallRecord
from ivr.ports import CallRepository

log = logging.getLogger(__name__)


class CallJournal:
    def __init__(self, repository: CallRepository) -> None:
        self._repository = repository
        self._stored: set[str] = set()  # calls whose row exists
        self._steps_written: dict[str, int] = {}

    async def opened(self, record: CallRecord) -> None:
        await self._save(record)

    async def closed(self, record: CallRecord) -> None:
        await self._save(record)
        self._stored.discard(record.call_id)
        self._steps_written.pop(record.call_id, None)

    async def ended(
        self, call_id: str, ended_at: datetime, queue_status: str | None, agent: str | None
    ) -> None:
        try:
            await self._repository.mark_ended(call_id, ended_at, queue_status, agent)
        except Exception:
            log.exception("could not record the end of call %s", call_id)

    async def _save(self, record: CallRecord) -> None:
        try:
            if record.call_id not in self._stored:
                await self._repository.add(record)
                self._stored.add(record.call_id)
                self._steps_written[record.call_id] = len(record.steps)
                return
            written = self._steps_written.get(record.call_id, 0)
            if written < len(record.steps):
                await self._repository.add_steps(record.call_id, record.steps[written:])
                self._steps_written[record.call_id] = len(record.steps)
            await self._repository.update(record)
        except Exception:
            log.exception("could not write call %s (kept for the next write)", record.call_id)
