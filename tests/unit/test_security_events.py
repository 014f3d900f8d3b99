"""Asterisk's security events: counted by kind, logged with numbers masked, on /metrics."""

from __future__ import annotations

import logging

from ivr.services.security_events import FAILURES, SecurityEvents
from ivr.web.dashboard import prometheus_text


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


def test_the_counts_reach_prometheus_text() -> None:
    snapshot = {
        "queues": {},
        "talking": [],
        "agents": [],
        "today": {"total": {k: 0 for k in ("offered",)}, "by_queue": {}},
        "sip_security_events": {"InvalidPassword": 4, "FailedACL": 0},
    }
    import ivr.web.dashboard as dashboard

    fields = dashboard._TODAY
    snapshot["today"]["total"] = dict.fromkeys(fields, 0)  # type: ignore[index]
    text = prometheus_text(snapshot)
    assert "# TYPE ivr_sip_security_events_total counter" in text
    assert 'ivr_sip_security_events_total{event="InvalidPassword"} 4' in text
    assert 'ivr_sip_security_events_total{event="FailedACL"} 0' in text
