"""The tracking service keeps an in-memory roster of the agents table and stores every ring
and answer with the job number it gave at the time (no database: fakes for the stores)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ivr.domain import queue_calls as q
from ivr.domain.access import Principal, Role
from ivr.domain.agents import Agent, Membership
from ivr.services.agent_control import AgentControl
from ivr.services.call_tracking import CallTracking

S = 1_000_000
SIM, PHONE = "Local/2001@sim-agents/n", "Local/2001@agent-dial/n"


class Visits:
    def __init__(self) -> None:
        self.saved: dict[str, q.QueueVisit] = {}

    async def save(self, visit: q.QueueVisit) -> None:
        self.saved[visit.unique_id] = visit

    async def save_many(self, batch: Sequence[q.QueueVisit]) -> None:
        for visit in batch:
            await self.save(visit)

    async def between(self, start: datetime, end: datetime) -> list[q.QueueVisit]:
        return list(self.saved.values())

    async def open_visits(self) -> list[q.QueueVisit]:
        return []


class Directory:
    """The agents table; ``reads`` counts full reads (the roster's reloads)."""

    def __init__(self, *agents: Agent) -> None:
        self.agents = {a.job_number: a for a in agents}
        self.reads = 0

    async def all(self) -> list[Agent]:
        self.reads += 1
        return sorted(self.agents.values(), key=lambda a: a.job_number)

    async def get(self, job_number: str) -> Agent | None:
        return self.agents.get(job_number)

    async def by_interface(self, interface: str) -> Agent | None:
        return next((a for a in self.agents.values() if a.interface == interface), None)

    async def put(self, agent: Agent) -> None:
        self.agents[agent.job_number] = agent


class Queues:
    async def queue_add(
        self, queue: str, interface: str, member_name: str, state_interface: str | None = None
    ) -> None:
        pass

    async def set_agent_device(self, job_number: str, device: str | None) -> None:
        pass

    async def queue_remove(self, queue: str, interface: str) -> None:
        pass

    async def queue_pause(self, queue: str | None, interface: str, paused: bool, r: str) -> None:
        pass


def call(uid: str, at: int, interface: str, member: str) -> list[q.QueueEvent]:
    return [
        q.CallerJoined(at, uid, "q-repair"),
        q.AgentRung(at + S, uid, interface, member),
        q.AgentAnswered(at + 3 * S, uid, interface, member, uid + "-agent"),
        q.AgentCompleted(at + 60 * S, uid, "caller"),
    ]


async def test_job_numbers_follow_the_agents_table_as_it_was_at_each_call() -> None:
    visits = Visits()
    directory = Directory(Agent("2001", "张三", SIM, ("q-repair",)))
    tracking = CallTracking(visits, lambda: 0, agents=directory)
    await tracking.start()
    try:
        for event in call("n1", 0, SIM, "agent-2001"):  # a sandbox-style member name
            tracking.handle(event)
        # 2001 moves to a desk phone and logs in there; 2002 is given the old interface
        await directory.put(Agent("2001", "张三", PHONE, ("q-repair",), "PJSIP/8001"))
        await directory.put(Agent("2002", "李四", SIM, ("q-repair",)))
        reads = directory.reads
        tracking.member_added(Membership("q-repair", SIM, "agent-2002"))
        await tracking.roster_current()
        assert directory.reads == reads + 1  # one reload, in the background
        for event in [*call("n2", 100 * S, PHONE, "2001"), *call("n3", 200 * S, SIM, "x")]:
            tracking.handle(event)
        await tracking.flushed()
    finally:
        await tracking.stop()
    stored = visits.saved
    assert stored["n1"].agent_job_number == "2001"
    assert [r.job_number for r in stored["n1"].rings] == ["2001"]
    assert stored["n2"].agent_job_number == "2001"
    assert stored["n3"].agent_job_number == "2002"
    assert [r.job_number for r in stored["n3"].rings] == ["2002"]


async def test_an_agent_logging_in_is_known_at_the_first_ring_without_a_reload() -> None:
    """Waiting callers ring a new member at once, before any reload could finish."""
    directory = Directory()
    tracking = CallTracking(Visits(), lambda: 0, agents=directory)
    control = AgentControl(directory, Queues(), logging_in=tracking.agent_noted)
    control.test_member_context = "sim-agents"
    await directory.put(Agent("2003", "王五", "Local/2003@sim-agents/n", ("q-repair",)))
    await control.log_in(Principal("sup", Role.SUPERVISOR), "2003")
    tracking.handle(q.CallerJoined(0, "c", "q-repair"))
    tracking.handle(q.AgentRung(S, "c", "Local/2003@sim-agents/n", "2003"))
    [live] = tracking.tracker.live
    assert [r.job_number for r in live.rings] == ["2003"]
    assert directory.reads == 0


async def test_a_failing_agents_table_keeps_the_old_roster() -> None:
    directory = Directory(Agent("2001", "张三", SIM, ("q-repair",)))
    tracking = CallTracking(Visits(), lambda: 0, agents=directory)
    assert await tracking.refresh_agents()

    async def broken() -> list[Agent]:
        raise OSError("database down")

    directory.all = broken  # type: ignore[method-assign]
    assert not await tracking.refresh_agents()
    assert tracking.roster.job_number_for(SIM, "") == "2001"
