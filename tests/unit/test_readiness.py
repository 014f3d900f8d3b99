"""Readiness probes and the background schema migration (pure logic: scripted probes)."""

from __future__ import annotations

import asyncio

from ivr.services.readiness import PartState, Readiness
from ivr.services.schema_migration import SchemaMigration


async def test_a_slow_or_failing_probe_is_not_ready_and_says_only_a_fixed_word() -> None:
    async def ready() -> PartState:
        return PartState(True, "listening")

    async def hangs() -> PartState:
        await asyncio.sleep(3600)
        raise AssertionError

    async def fails() -> PartState:
        raise OSError("connect to 10.1.2.3:5432 as ivr failed")

    report = await Readiness({"agi": ready, "ami": hangs, "database": fails}, 0.05).report()
    assert not report.ready and report.not_ready == ["ami", "database"]
    assert report.parts["ami"] == PartState(False, "no answer")
    assert report.parts["database"] == PartState(False, "check failed")  # not the error's text


async def test_many_requests_at_once_share_one_round_of_probes() -> None:
    calls: list[int] = []

    async def database() -> PartState:
        calls.append(1)
        await asyncio.sleep(0.01)
        return PartState(True, "reachable")

    readiness = Readiness({"database": database}, reuse_s=3600)
    reports = await asyncio.gather(*(readiness.report() for _ in range(500)))
    assert len(calls) == 1 and all(r.ready for r in reports)


async def test_the_migration_is_retried_until_it_succeeds_then_on_ready_runs_once() -> None:
    attempts: list[int] = []
    ready: list[int] = []

    async def migrate() -> None:
        attempts.append(1)
        if len(attempts) < 4:
            raise ConnectionRefusedError("database down")

    async def on_ready() -> None:
        ready.append(1)

    schema = SchemaMigration(migrate, on_ready, retry_s=0.001, retry_max_s=0.01)
    await schema.start()  # returns at once: the first try failed
    assert not schema.done.is_set() and ready == []
    await asyncio.wait_for(schema.done.wait(), 5)
    await asyncio.sleep(0.01)
    assert len(attempts) == 4 and schema.failures == 3 and ready == [1]
    await schema.stop()
