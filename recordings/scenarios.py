"""What a fixture account is: its credentials, the challenges its login meets, its settings and faults.

Scenarios are data (``accounts.toml`` or admin-API JSON) so a test states the situation it needs in one
place instead of poking server internals. Pydantic with ``extra="forbid"`` turns a typo in a fixture
file into a loud error rather than a silently ignored key.
"""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_ACCOUNTS_FILE = Path(__file__).with_name("accounts.toml")

# The settings the replica keeps as server-side truth: the form fields of /1.1/account/settings.json,
# then the Grok user preferences that only X's GraphQL API reads and writes (recordings/graphql.py).
REST_FIELDS: tuple[str, ...] = (
    "allow_sharing_data_for_third_party_personalization",
    "allow_ads_personalization",
    "use_cookie_personalization",
    "allow_logged_out_device_personalization",
    "allow_location_history_personalization",
    "allow_ai_partner_sharing",  # replica-only: the new control the "inserted" fault draws
)
GRAPHQL_PREFERENCES: tuple[str, ...] = ("allow_xai_data_sharing", "allow_xai_personalization", "allow_grok_memory")
SETTING_FIELDS: tuple[str, ...] = REST_FIELDS + GRAPHQL_PREFERENCES

# nl is deliberately a language optout's catalog lacks (its texts must not help the driver).
Language = Literal["en", "de", "es", "ja", "fr", "pt", "nl"]
LANGUAGES: tuple[str, ...] = ("en", "de", "es", "ja", "fr", "pt", "nl")

FaultKind = Literal[
    "save_fails", "save_reverts", "rate_limit", "went_wrong", "slow", "not_found", "moved", "session_expired",
    # X's redesigns (issue 10): how a setting page is drawn, and sheets laid over logged-in pages
    "renamed", "inserted", "switch_markup", "reordered", "reworded", "removed", "mislabeled",
    "terms_sheet", "announcement_sheet", "consent_sheet",
]
PAGE_FAULTS: tuple[str, ...] = ("inserted", "switch_markup", "reordered", "reworded", "removed", "mislabeled")
SHEET_FAULTS: tuple[str, ...] = ("terms_sheet", "announcement_sheet", "consent_sheet")


def normalize_handle(handle: str) -> str:
    """X matches screen names case-insensitively, with or without the leading @."""
    return handle.strip().lstrip("@").lower()


class Fault(BaseModel):
    """One injected misbehaviour; ``count`` None means it fires forever."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    handle: str | None = None
    count: int | None = Field(default=None, ge=1)
    path: str | None = None
    after_ms: int = Field(default=300, ge=0)  # save_reverts: when the truth flips back
    style: Literal["429", "code88"] = "429"  # rate_limit: HTTP 429, or 200 with errors[{code:88}]
    reset_s: int = Field(default=60, ge=0)  # rate_limit: x-rate-limit-reset = now + reset_s
    ms: int = Field(default=0, ge=0)  # slow: extra delay per response
    field: str | None = None  # removed / mislabeled: the control's field (default: the page's first)
    saves: str | None = None  # mislabeled: the field its click saves instead

    @field_validator("field", "saves")
    @classmethod
    def _known_field(cls, v: str | None) -> str | None:
        if v is not None and v not in SETTING_FIELDS:
            raise ValueError(f"unknown setting field {v!r}")
        return v

    @field_validator("handle")
    @classmethod
    def _norm_handle(cls, v: str | None) -> str | None:
        return normalize_handle(v) if v else None


class Scenario(BaseModel):
    """One account as the replica serves it; see CONTRACT.md for what each key does."""

    model_config = ConfigDict(extra="forbid")

    handle: str
    password: str
    user_id: str = ""
    email: str = ""
    phone: str = ""
    language: Language = "en"
    flow: Literal["legacy", "new"] = "legacy"
    unusual_activity: bool = False
    totp_secret: str | None = None
    backup_code: str | None = None
    email_code: bool = False
    deny_login: bool = False
    captcha: bool = False
    limited: bool = False
    settings: dict[str, bool] = Field(default_factory=dict)
    single_inferred_box: bool = False
    grok_memory_control: bool = False  # the Grok page also shows the memory preference (a rollout)
    cookie_banner: bool = False
    welcome_dialog: bool = False
    faults: list[Fault] = Field(default_factory=list)
    session_ttl_s: float | None = Field(default=None, gt=0)

    @field_validator("handle")
    @classmethod
    def _strip_at(cls, v: str) -> str:
        v = v.strip().lstrip("@")
        if not v:
            raise ValueError("handle is empty")
        return v

    @field_validator("settings")
    @classmethod
    def _known_fields(cls, v: dict[str, bool]) -> dict[str, bool]:
        unknown = set(v) - set(SETTING_FIELDS)
        if unknown:
            raise ValueError(f"unknown setting fields: {sorted(unknown)}")
        return v

    @model_validator(mode="after")
    def _derive(self) -> Scenario:
        """Fill identifiers a test rarely cares about with stable values derived from the handle."""
        key = normalize_handle(self.handle)
        digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
        if not self.user_id:
            self.user_id = str(1_000_000_000_000_000_000 + digest % 900_000_000_000_000_000)
        if not self.email:
            self.email = f"{key}@example.com"
        if not self.phone:
            self.phone = f"+1555{digest % 10_000_000:07d}"
        for fault in self.faults:
            if fault.handle is None:
                fault.handle = key
        return self

    @property
    def key(self) -> str:
        return normalize_handle(self.handle)

    def initial_settings(self) -> dict[str, bool]:
        """X opts users in by default, so a field the scenario leaves out starts true."""
        return {f: self.settings.get(f, True) for f in SETTING_FIELDS}


class AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: list[Scenario] = Field(default_factory=list)


def load_scenarios(path: str | Path | None = None) -> list[Scenario]:
    """Read an accounts file (TOML, ``[[account]]`` tables); None means the bundled fixtures."""
    path = Path(path) if path else DEFAULT_ACCOUNTS_FILE
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    scenarios = AccountsFile.model_validate(data).account
    seen: set[str] = set()
    for s in scenarios:
        if s.key in seen:
            raise ValueError(f"{path}: handle {s.handle!r} appears twice")
        seen.add(s.key)
    return scenarios
