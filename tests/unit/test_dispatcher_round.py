"""One dispatcher round while AMI is down: nothing is claimed (each call would fail at once and
use up a crew's turn), but the at-risk alert is still raised. A fake store is fine here: this is
the round's own logic; the sandbox tests (test_dispatch_calls.py) prove the real path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ivr.domain.alerts import Alert
from ivr.domain.dispatch import AtRisk
from ivr.services.dispatcher import Dispatcher, DispatcherLimits

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


class FakeStore:
    def __init__(self) -> None:
        self.claims = 0
        self.alerted_jobs: list[int] = []

    async def recover(self) -> int:
        return 0

    async def claim(self, owner: str, lease_s: float, limit: int) -> list[object]:
        self.claims += 1
        return []

    async def at_risk(self) -> list[AtRisk]:
        return [AtRisk(7, 42, "R0042", NOW + timedelta(minutes=2), "3 minutes without acceptance")]

    async def alerted(self, job_id: int) -> None:
        self.alerted_jobs.append(job_id)


class Sink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def raise_alert(self, alert: Alert) -> bool:
        self.alerts.append(alert)
        return True


async def round_with(ami_up: bool) -> tuple[FakeStore, Sink]:
    store, sink = FakeStore(), Sink()
    dispatcher = Dispatcher(
        store,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # never reached: nothing is claimed
        sink,
        DispatcherLimits(),
        lambda: NOW,
        owner="test",
        ready=lambda: ami_up,
    )
    await dispatcher.run_once()
    return store, sink


async def test_ami_down_claims_nothing_but_still_alerts() -> None:
    store, sink = await round_with(ami_up=False)
    assert store.claims == 0
    assert [a.key for a in sink.alerts] == ["deadline:42:dispatch:warning"]
    assert store.alerted_jobs == [7]


async def test_ami_up_claims() -> None:
    store, sink = await round_with(ami_up=True)
    assert store.claims == 1 and len(sink.alerts) == 1
