"""/metrics of the real web app on a real (SQLite) database, without Asterisk: the counters the
database holds, the library's process collectors, and one registry per bridge (two apps in one
process). The same families with real calls: ``test_dashboard.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from ivr.domain.access import Role
from ivr.domain.alerts import Alert, AlertLevel
from tests.integration.api_app import Api, api_app


async def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.client.get("/metrics", headers=api.auth(Role.INTEGRATION))
    assert response.status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await response.text())
        for s in family.samples
    }


def alert(key: str, level: AlertLevel) -> Alert:
    return Alert(key, level, "dispatch", "test alert, no personal data", datetime.now(UTC))


async def test_alerts_are_counted_from_the_database_and_apps_do_not_collide(
    tmp_path: Path,
) -> None:
    async with api_app(tmp_path / "a") as one, api_app(tmp_path / "b") as two:
        before = await scrape(one)
        assert ("ivr_alerts_total", (("kind", "dispatch"), ("level", "breach"))) not in before
        assert before[("process_cpu_seconds_total", ())] > 0
        assert before[("ivr_calls_total", ())] == 0

        assert await one.bridge.alerts.raise_alert(alert("t:1:breach", AlertLevel.BREACH))
        assert await one.bridge.alerts.raise_alert(alert("t:1:warning", AlertLevel.WARNING))
        assert not await one.bridge.alerts.raise_alert(alert("t:1:breach", AlertLevel.BREACH))
        one.bridge.metrics.agi_session("inbound")  # a call on bridge one only

        after, other = await scrape(one), await scrape(two)
        assert after[("ivr_alerts_total", (("kind", "dispatch"), ("level", "breach")))] == 1
        assert after[("ivr_alerts_total", (("kind", "dispatch"), ("level", "warning")))] == 1
        assert after[("ivr_calls_total", ())] == 1
        assert other[("ivr_calls_total", ())] == 0  # its own registry
        assert ("ivr_alerts_total", (("kind", "dispatch"), ("level", "breach"))) not in other


async def test_a_database_that_fails_leaves_its_counters_out_not_the_scrape(
    tmp_path: Path,
) -> None:
    async with api_app(tmp_path) as api:
        async with api.bridge.engine.begin() as conn:  # the counts' query now fails
            await conn.execute(text("DROP TABLE alerts"))
        samples = await scrape(api)
        assert ("process_cpu_seconds_total", ()) in samples
        assert ("ivr_today_offered", (("queue", "_all"),)) in samples  # the live gauges
        assert not any(name.startswith("ivr_alerts") for name, _ in samples)
