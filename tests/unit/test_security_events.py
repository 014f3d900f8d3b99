"""Asterisk's security events: counted by kind, logged with numbers masked, on /metrics."""

from __future__ import annotations

import logging

from prometheus_client.parser import text_string_to_metric_families

from ivr.services.metrics import TODAY, BridgeMetrics
from ivr.services.security_events import FAILURES, SecurityEvents


def event(name: str, account: str = "13800138000") -> dict[str, str]:
    return {
        "Event": name,
        "Service": "PJSIP",
        "AccountID": account,
        "RemoteAddress": "IPV4/UDP/127.0.0.3/15300",
    }


def test_failures_are_counted_and_normal_logins_are_not(caplog) -> None:  # type: ignore[no-untyped-def]
    events = SecurityEvents()
    with caplog.at_level(logging.WARNING, "ivr.services.security_events"):
        events.observe(event("InvalidAccountID"))
        events.observe(event("ChallengeResponseFailed", "sandbox-phone"))
        events.observe(event("ChallengeResponseFailed", "sandbox-phone"))
        events.observe(event("ChallengeSent"))  # every phone call is challenged first
        events.observe(event("SuccessfulAuth"))
    counts = events.counts()
    assert counts["InvalidAccountID"] == 1 and counts["ChallengeResponseFailed"] == 2
    assert sum(counts.values()) == 3 and set(counts) == set(FAILURES)
    assert "13800138000" not in caplog.text and "138******00" in caplog.text
    assert "sandbox-phone" in caplog.text


async def test_the_counts_reach_metrics_as_a_counter() -> None:
    metrics = BridgeMetrics()
    today = dict.fromkeys(TODAY, 0)
    snapshot = {
        "queues": {},
        "talking": [],
        "agents": [],
        "ami_resyncs": 0,
        "today": {"total": today, "by_queue": {}},
        "sip_security_events": {"InvalidPassword": 4, "FailedACL": 0},
    }

    async def live() -> dict:  # type: ignore[type-arg]
        return snapshot

    text = (await metrics.exposition(live)).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    family = families["ivr_sip_security_events"]
    assert family.type == "counter"
    samples = {s.labels["event"]: s.value for s in family.samples if s.name.endswith("_total")}
    assert samples == {"InvalidPassword": 4, "FailedACL": 0}
