"""The [alerts] settings: the webhook's signing secret from the environment or a file, never
shown, and a webhook without a secret refused at start-up; the bridge wires what is asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ivr.app import Bridge, warning_policy
from ivr.config import AlertsSettings, DatabaseSettings, Settings, SpeechSettings
from ivr.web.webhook import AiohttpWebhookSender


def bridge_settings(tmp_path: Path, alerts: AlertsSettings) -> Settings:
    return Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/x.db"),
        speech=SpeechSettings(recognition=False, cache_dir=tmp_path / "prompts"),
        alerts=alerts,
    )


def test_secret_from_environment_or_file_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IVR_ALERTS__WEBHOOK_URL", "https://ops.example/hook")
    monkeypatch.setenv("IVR_ALERTS__WEBHOOK_SECRET", "env-secret-123")
    settings = Settings()
    assert settings.alerts.webhook_key() == b"env-secret-123"
    assert "env-secret-123" not in repr(settings) and "env-secret-123" not in str(settings)
    key_file = tmp_path / "webhook.key"
    key_file.write_text("file-secret-456\n", "utf-8")
    from_file = AlertsSettings(webhook_url="https://x.example/h", webhook_secret_file=key_file)
    assert from_file.webhook_key() == b"file-secret-456"


def test_a_webhook_without_a_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no signing secret"):
        Bridge(bridge_settings(tmp_path, AlertsSettings(webhook_url="https://x.example/h")))
    with pytest.raises(ValidationError):
        AlertsSettings(webhook_url="ftp://x.example/h")
    with pytest.raises(ValidationError):
        AlertsSettings(lead_fraction=1.0)


def test_bridge_wires_the_watch_and_the_pusher(tmp_path: Path) -> None:
    quiet = Bridge(bridge_settings(tmp_path, AlertsSettings(watch=False)))
    assert quiet.watch is None and quiet.pusher is None and not quiet.alerts.push
    full = Bridge(
        bridge_settings(
            tmp_path,
            AlertsSettings(webhook_url="https://x.example/h", webhook_secret="s" * 16),
        )
    )
    assert full.watch is not None and full.pusher is not None and full.alerts.push
    assert full.alerts.on_raised == full.pusher.poke
    assert "s" * 16 not in repr(full.webhook)
    policy = warning_policy(AlertsSettings(lead_s={"reply": 3600}))
    assert policy.leads["reply"].total_seconds() == 3600


def test_the_webhook_is_named_in_logs_without_credentials_or_tokens() -> None:
    sender = AiohttpWebhookSender(
        "https://ops:hunter2@ops.example:8443/hooks/95598?token=abc123", b"k" * 16, 5.0
    )
    shown = repr(sender)
    assert shown == "AiohttpWebhookSender('https://ops.example:8443')"
    assert not any(secret in shown for secret in ("hunter2", "abc123", "hooks", "kkkk"))
