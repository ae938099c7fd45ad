"""The one configuration model. Sources, strongest first: command-line overrides, OPTOUT_* environment
variables, config.toml in the config dir, defaults. No other module reads os.environ."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs
from pydantic import AliasChoices, Field, ValidationInfo, field_validator, model_validator
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
    # allow_inf_nan: a delay, pace or timeout of "inf" would make a run sleep or wait forever
    model_config = SettingsConfigDict(
        env_prefix="OPTOUT_", extra="forbid", validate_default=True, populate_by_name=True, allow_inf_nan=False
    )

    base_url: str = DEFAULT_BASE_URL
    browser_path: Path | None = Field(
        default=None, validation_alias=AliasChoices("browser_path", "OPTOUT_BROWSER", "OPTOUT_BROWSER_PATH")
    )
    browser_endpoint: str | None = None  # ws:// of a Playwright server or http:// of a CDP endpoint
    tsa_url: str | None = None  # an RFC 3161 time-stamping authority for receipts (optional)
    proxy: str | None = None  # every account's traffic through it, unless the accounts file names another
    # Work in the logged-in window of the user's own Chrome at browser_endpoint (one account; never batch).
    use_browser_session: bool = False
    headless: bool = True
    locale: str = "en-US"
    viewport_width: int = Field(default=1280, gt=0, le=10_000)
    viewport_height: int = Field(default=900, gt=0, le=10_000)
    timeout_ms: int = Field(default=20_000, gt=0)  # one screen or one control
    navigation_timeout_ms: int = Field(default=45_000, gt=0)
    typing_delay_ms: int = Field(default=90, ge=0)  # humane pacing per key; 0 turns it off
    pause_min_ms: int = Field(default=400, ge=0)  # pause between human-like steps
    pause_max_ms: int = Field(default=1_400, ge=0)
    rate_limit_max_wait_s: int = Field(default=900, ge=0)
    # After X rate-limits an account, the pool starts accounts at least this many seconds apart.
    rate_limit_slow_pace_s: float = Field(default=5.0, ge=0)
    # Before the reload that verifies a switch-off: X's backend settles, so a quiet revert shows.
    verify_delay_s: float = Field(default=1.0, ge=0)
    # After X's "Something went wrong" on a settings page: the n-th reload waits n times this.
    reload_backoff_s: float = Field(default=0.5, ge=0)
    # Batch and recheck: accounts at once, seconds between account starts, login challenges in a row
    # after which no new account starts (0: never stop).
    concurrency: int = Field(default=2, ge=1)
    pace_s: float = Field(default=0.0, ge=0)
    max_challenges: int = Field(default=3, ge=0)
    lock_timeout_s: float = Field(default=30.0, ge=0)
    keyring_service: str = Field(default=APP_NAME, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    allow_insecure_keyring: bool = False  # let a non-OS keyring backend (a file, plaintext) hold secrets
    notify_urls: list[str] = Field(default_factory=list)
    # How to reach the user's crontab (`crontab -l`, `crontab -`); a list so a wrapper can be given.
    crontab_command: list[str] = Field(default_factory=lambda: ["crontab"], min_length=1)
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)))
    state_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_state_dir(APP_NAME)))
    config_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_config_dir(APP_NAME)))
    cache_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_cache_dir(APP_NAME)))
    evidence_dir: Path | None = None  # default: <data_dir>/evidence
    # After each recheck, remove routine runs (nothing changed, nothing on) older than this; None: keep all.
    prune_after_days: float | None = Field(default=None, ge=0)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if not v.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        try:
            parts = urlsplit(v)
        except ValueError:  # its message quotes the address, which may hold a password
            raise ValueError("base_url is not a URL that can be read") from None
        if "@" in parts.netloc or parts.query or parts.fragment:  # receipts and the history keep base_url
            raise ValueError("base_url is a site's address only: no user part, query or fragment")
        return v

    @field_validator("browser_endpoint", "tsa_url")
    @classmethod
    def _endpoint_url(cls, v: str | None, info: ValidationInfo) -> str | None:
        """A URL optout can reach: its scheme, and a host and port that parse (the value itself stays out
        of the message: it may carry a key)."""
        if not v:
            return None
        endpoint = info.field_name == "browser_endpoint"
        schemes = ("ws", "wss", "http", "https") if endpoint else ("http", "https")
        try:
            parts = urlsplit(v.strip())
            parts.port  # noqa: B018  ValueError for a port out of range or a broken [IPv6] host
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in schemes or not parts.hostname or not v.strip().isprintable():
            kinds = "a ws://, wss://, http:// or https://" if endpoint else "an http:// or https://"
            raise ValueError(f"{info.field_name} must be {kinds} URL with a host")
        return parts.scheme + v.strip()[len(parts.scheme):]  # the scheme in lower case, as optout compares it

    @model_validator(mode="after")
    def _pauses_in_order(self) -> Settings:
        if self.pause_min_ms > self.pause_max_ms:
            raise ValueError("pause_min_ms must not be larger than pause_max_ms")
        return self

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, v: str | None) -> str | None:
        from optout.errors import OptoutError
        from optout.proxy import parse_proxy

        try:
            return parse_proxy(v).key if v else None
        except OptoutError as exc:
            raise ValueError(exc.message) from None

    @model_validator(mode="after")
    def _own_session_needs_its_browser(self) -> Settings:
        if self.use_browser_session and not (self.browser_endpoint or "").startswith(("http://", "https://")):
            raise ValueError("use_browser_session needs browser_endpoint: the http://host:port of a Chrome you "
                             "started with --remote-debugging-port")
        return self

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
    import tomllib

    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from optout.errors import BadInput, first_line

    hint = f"Check OPTOUT_* environment variables and {default_config_file()}."
    try:
        return Settings(**given)
    except ValidationError as exc:  # messages name the setting and the rule, never the value
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        raise BadInput(f"The configuration is not valid ({problems}).", hint=hint) from None
    except tomllib.TOMLDecodeError as exc:  # a line and column, never the line's text
        raise BadInput(f"{default_config_file()} is not valid TOML: {exc}.", hint=hint) from None
    except UnicodeDecodeError as exc:
        raise BadInput(f"{default_config_file()} is not UTF-8 text (byte {exc.start + 1}).", hint=hint) from None
    except SettingsError as exc:  # e.g. an OPTOUT_* list that is not JSON; the text names the field only
        raise BadInput(f"The configuration is not valid: {first_line(exc)[:200]}.", hint=hint) from None
    except OSError as exc:
        raise BadInput(f"Cannot read {default_config_file()}: {type(exc).__name__}.", hint=hint) from None
    except RecursionError:  # tomllib and json recurse once per nested array
        raise BadInput("The configuration is nested too deeply (in config.toml or an OPTOUT_* JSON list).",
                       hint=hint) from None
