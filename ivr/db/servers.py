"""The bridges table: heartbeats, and closing the open calls of a server that was lost.

Every bridge writes its heartbeat (``seen_at``, on its own clock) while its AMI link is up. A
bridge of another server that has seen none of a server's heartbeats change for the limit
(``ivr.domain.servers.SilenceWatch``) closes that server's open
calls and queue visits as ``lost`` with the reason, and removes the stale heartbeats in the same
transaction, so exactly one bridge does it once (the rows are locked, then gone). The lost
server's live outbound calls have their leases ended now, so the next round of any bridge's
dialer or dispatcher recovers them (``ivr.db.leases``) instead of waiting up to ``max_call_s``.
A bridge that comes back writes its heartbeat again and is a live server from then on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from ivr.db.leases import LIVE, OUTBOUND_TABLES
from ivr.db.models import calls_table as calls
from ivr.db.models import visits_table as visits
from ivr.db.server_models import bridges_table as bridges
from ivr.db.store import SqlStore
from ivr.domain.calls import CallOutcome
from ivr.domain.queue_calls import VisitOutcome
from ivr.domain.servers import Heartbeat, lost_reason

_OPEN_VISITS = (VisitOutcome.WAITING.value, VisitOutcome.TALKING.value)


class SqlServers(SqlStore):
    async def beat(self, owner: str, started_at: datetime) -> None:
        """This bridge is alive (with AMI up) now."""
        now = self._clock()
        async with self._writer.begin() as conn:
            done = await conn.execute(
                update(bridges)
                .where(bridges.c.owner == owner)
                .values(seen_at=now, server_name=self._server)
            )
            if done.rowcount == 0:
                await conn.execute(
                    bridges.insert().values(
                        owner=owner, server_name=self._server, started_at=started_at, seen_at=now
                    )
                )

    async def leave(self, owner: str) -> None:
        """This bridge stops: its heartbeat goes (its server is not lost, it was stopped)."""
        async with self._writer.begin() as conn:
            await conn.execute(delete(bridges).where(bridges.c.owner == owner))

    async def heartbeats(self) -> list[Heartbeat]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(bridges.c.owner, bridges.c.server_name, bridges.c.seen_at)
            )
            return [Heartbeat(r.owner, r.server_name, r.seen_at) for r in rows]

    async def close_lost_server(self, server: str, newest_seen: datetime) -> tuple[int, int] | None:
        """Close ``server``'s open calls and queue visits as lost and end the leases of its live
        outbound calls, if no heartbeat of it is newer than ``newest_seen``, the newest the
        watch judged (checked again under the rows' lock); (calls, visits) closed, or None if
        another bridge did it first or the server came back."""
        now = self._clock()
        async with self._writer.begin() as conn:
            query = select(bridges.c.owner, bridges.c.seen_at).where(
                bridges.c.server_name == server
            )
            if self._pg:
                query = query.with_for_update()
            beats = (await conn.execute(query)).all()
            if not beats or any(b.seen_at > newest_seen for b in beats):
                return None
            last_seen = max(b.seen_at for b in beats)
            await conn.execute(delete(bridges).where(bridges.c.server_name == server))
            reason = lost_reason(server, last_seen)
            closed_calls = await conn.execute(
                update(calls)
                .where(calls.c.server_name == server, calls.c.ended_at.is_(None))
                .values(outcome=CallOutcome.LOST, ended_at=now, lost_reason=reason)
            )
            closed_visits = await conn.execute(
                update(visits)
                .where(visits.c.server_name == server, visits.c.outcome.in_(_OPEN_VISITS))
                .values(outcome=VisitOutcome.LOST.value, note=reason)
            )
            for table in OUTBOUND_TABLES:  # recovered by the next round, whoever runs it
                await conn.execute(
                    update(table)
                    .where(
                        table.c.server_name == server,
                        table.c.state.in_(LIVE),
                        table.c.lease_until > now,
                    )
                    .values(lease_until=now)
                )
        return closed_calls.rowcount, closed_visits.rowcount
