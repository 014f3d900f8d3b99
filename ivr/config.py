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


class SpeechSettings(_Section):
    voice: str = "sit/cmn-latn-pinyin"
    rate: int = Field(165, ge=80, le=400, description="espeak words per minute")
    cache_dir: Path = DEFAULT_CACHE_DIR / "prompts"


class MenuSettings(_Section):
    file: Path | None = Field(None, description="menu tree TOML; the packaged 95598 menu if unset")


class SandboxSettings(_Section):
    root: Path = DEFAULT_CACHE_DIR / "asterisk-root"
    recordings_dir: Path = DEFAULT_STATE_DIR / "recordings"
    start_timeout_s: float = 60.0


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
