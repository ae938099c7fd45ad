"""The one configuration model. Sources, strongest first: command-line overrides, OPTOUT_* environment
variables, config.toml in the config dir, defaults. No other module reads os.environ."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP_NAME = "optout"
DEFAULT_BASE_URL = "https://x.com"


def default_config_file() -> Path:
    explicit = os.environ.get("OPTOUT_CONFIG_FILE")
    if explicit:
        return Path(explicit)
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OPTOUT_", extra="forbid", validate_default=True, populate_by_name=True
    )

    base_url: str = DEFAULT_BASE_URL
    browser_path: Path | None = Field(
        default=None, validation_alias=AliasChoices("browser_path", "OPTOUT_BROWSER", "OPTOUT_BROWSER_PATH")
    )
    browser_endpoint: str | None = None  # ws:// of a Playwright server or http:// of a CDP endpoint
    headless: bool = True
    locale: str = "en-US"
    viewport_width: int = 1280
    viewport_height: int = 900
    timeout_ms: int = 20_000  # one screen or one control
    navigation_timeout_ms: int = 45_000
    typing_delay_ms: int = 90  # humane pacing per key; 0 turns it off
    pause_min_ms: int = 400  # pause between human-like steps
    pause_max_ms: int = 1_400
    rate_limit_max_wait_s: int = 900
    # Batch and recheck: accounts at once, seconds between account starts, login challenges in a row
    # after which no new account starts (0: never stop).
    concurrency: int = Field(default=2, ge=1)
    pace_s: float = Field(default=0.0, ge=0)
    max_challenges: int = Field(default=3, ge=0)
    lock_timeout_s: float = 30.0
    keyring_service: str = APP_NAME
    allow_insecure_keyring: bool = False  # let a non-OS keyring backend (a file, plaintext) hold secrets
    notify_urls: list[str] = Field(default_factory=list)
    # How to reach the user's crontab (`crontab -l`, `crontab -`); a list so a wrapper can be given.
    crontab_command: list[str] = Field(default_factory=lambda: ["crontab"])
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    state_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_state_dir(APP_NAME)))
    config_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_config_dir(APP_NAME)))
    evidence_dir: Path | None = None  # default: <data_dir>/evidence
    # After each recheck, remove routine runs (nothing changed, nothing on) older than this; None: keep all.
    prune_after_days: float | None = Field(default=None, ge=0)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=default_config_file())
        return (init_settings, env_settings, toml)

    @cached_property
    def evidence_root(self) -> Path:
        return self.evidence_dir or self.data_dir / "evidence"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "optout.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def url(self, path: str) -> str:
        """An absolute URL on the X site this run talks to (real X or the replica)."""
        return self.base_url + (path if path.startswith("/") else "/" + path)


def load_settings(**overrides) -> Settings:
    """Build the settings once per process; None-valued overrides mean 'not given on the command line'."""
    given = {k: v for k, v in overrides.items() if v is not None}
    from pydantic import ValidationError

    from optout.errors import BadInput

    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise BadInput(
            f"The configuration is not valid ({problems}).",
            hint=f"Check OPTOUT_* environment variables and {default_config_file()}.",
        ) from None
