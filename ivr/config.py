"""Typed settings: a TOML file, then ``IVR_<SECTION>__<KEY>`` environment overrides.

Secrets (the AMI secret, database passwords) belong in the environment or a file that is not
committed; ``repr`` of a secret never shows its value.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_STATE_DIR = Path("/var/lib/ivr95598")
DEFAULT_CACHE_DIR = Path("/var/cache/ivr95598")


class _Section(BaseModel):
    """A settings table: a misspelt key is an error, not a silently ignored line."""

    model_config = ConfigDict(extra="forbid")


class AgiSettings(_Section):
    """FastAGI server: where ``AGI(agi://…)`` connects, and how hostile peers are bounded."""

    host: str = "127.0.0.1"
    port: int = Field(4573, ge=0, le=65535, description="0 picks a free port (tests)")
    env_timeout_s: float = Field(5.0, gt=0, description="time a peer has to send its environment")
    env_max_bytes: int = Field(16_384, ge=1024, description="cap on the whole environment block")
    line_max_bytes: int = Field(4096, ge=256, description="cap on one line, either direction")
    command_timeout_s: float = Field(120.0, gt=0, description="longest wait for one AGI reply")
    max_sessions: int = Field(500, ge=1, description="concurrent calls; more are refused")


class AmiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "ivr-bridge"
    secret: SecretStr = SecretStr("")


class DatabaseSettings(_Section):
    url: str = f"sqlite+aiosqlite:///{DEFAULT_STATE_DIR / 'ivr.db'}"
    echo: bool = False
    spool_file: Path | None = Field(
        None,
        description="call records the database could not take yet, kept across restarts; "
        "default: <database file>.spool.jsonl for SQLite, none for other databases",
    )
    journal_max_calls: int = Field(
        10_000, ge=10, description="unwritten calls held in memory; more go to the spool file"
    )


class SpeechSettings(_Section):
    """Prompts (pyttsx3) and spoken answers (vosk)."""

    voice: str = "sit/cmn-latn-pinyin"
    rate: int = Field(165, ge=80, le=400, description="espeak words per minute")
    cache_dir: Path = DEFAULT_CACHE_DIR / "prompts"
    recognition: bool = Field(True, description="listen for spoken answers when a model is present")
    model_dir: Path = Field(
        DEFAULT_STATE_DIR / "models" / "vosk-model-small-cn-0.22",
        description="vosk model (a small one: grammars need its dynamic graph)",
    )
    grammar_dir: Path | None = Field(None, description="grammars; the repository's grammars/")
    recordings_dir: Path = Field(
        DEFAULT_STATE_DIR / "recordings", description="RECORD FILE target, same path for Asterisk"
    )
    listen_max_s: float = Field(6.0, ge=1, le=30, description="longest spoken answer")
    end_silence_s: int = Field(2, ge=1, le=10, description="silence that ends an answer")
    min_confidence: float = Field(0.6, ge=0, le=1, description="lowest word confidence acted on")
    workers: int = Field(2, ge=1, le=64, description="recognitions at once (one per core)")
    recognition_timeout_s: float = Field(10.0, gt=0, description="then the caller uses keys")
    keep_recordings: bool = Field(False, description="keep callers' answers (personal data)")


class MenuSettings(_Section):
    file: Path | None = Field(None, description="menu tree TOML; the packaged 95598 menu if unset")


class SandboxSettings(_Section):
    root: Path = DEFAULT_CACHE_DIR / "asterisk-root"
    recordings_dir: Path = DEFAULT_STATE_DIR / "recordings"
    start_timeout_s: float = 60.0


class CallbackSettings(_Section):
    """Callbacks (回访): the dialer, its limits, calling hours and retries."""

    dialer: bool = Field(False, description="run the dialer in this bridge (any number may)")
    trunk_context: str = Field(
        "outbound-trunk",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="dialplan context the validated number is dialled through (Local/<n>@ctx)",
    )
    originate_context: str = Field("callback-out", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    agi_url: str = Field(
        "",
        pattern=r"^(agi://[A-Za-z0-9.:-]{1,100})?$",
        description="FastAGI server for the answered leg; empty: the dialplan's IVR_AGI_URL",
    )
    caller_id: str = Field("95598", pattern=r"^[0-9]{3,16}$")
    max_concurrent: int = Field(4, ge=1, le=500, description="live callback calls, all bridges")
    rate_per_s: float = Field(2.0, gt=0, le=100, description="originates per second, all bridges")
    ring_timeout_s: float = Field(30.0, ge=5, le=120)
    max_call_s: float = Field(600.0, ge=30)
    poll_interval_s: float = Field(2.0, gt=0, le=60)
    claim_lease_s: float = Field(30.0, ge=5, description="claimed but not yet dialled")
    window_start: str = Field("08:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    window_end: str = Field(
        "20:00", pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", description="24:00: midnight"
    )
    timezone: str = "Asia/Shanghai"
    max_attempts: int = Field(3, ge=1, le=10)
    retry_spacing_s: list[float] = Field(
        default_factory=lambda: [1800.0, 7200.0], min_length=1, max_length=10
    )
    after_close_hours: float = Field(24.0, gt=0, description="repairs, high-voltage applications")


class TrackingSettings(_Section):
    """Answer-time figures (see README, "Figures")."""

    short_abandon_s: float = Field(
        5.0, ge=0, le=120, description="abandons within this many seconds count apart"
    )
    timezone: str = Field("Asia/Shanghai", description="where 'today' begins on the dashboard")


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)


class Settings(BaseSettings):
    """All settings. Load with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="IVR_", env_nested_delimiter="__", extra="forbid", toml_file=None
    )

    agi: AgiSettings = AgiSettings()
    ami: AmiSettings = AmiSettings()
    database: DatabaseSettings = DatabaseSettings()
    speech: SpeechSettings = SpeechSettings()
    menu: MenuSettings = MenuSettings()
    sandbox: SandboxSettings = SandboxSettings()
    web: WebSettings = WebSettings()
    callback: CallbackSettings = CallbackSettings()
    tracking: TrackingSettings = TrackingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = os.environ.get("IVR_CONFIG")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)


def load_settings(path: Path | None = None) -> Settings:
    """Settings from ``path`` (or ``$IVR_CONFIG``), overridden by ``IVR_*`` variables."""
    if path is not None:
        os.environ["IVR_CONFIG"] = str(path)
    config = os.environ.get("IVR_CONFIG")
    if config and not Path(config).is_file():
        raise FileNotFoundError(f"settings file {config} does not exist")
    return Settings()
