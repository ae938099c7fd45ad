"""The settings X has that share data for AI training or with partners, as data.

Per page: its path and every control X is known to show there, in X's order (also the ones optout
never switches, so a page's expected set is defined and a new control is noticed). Per control: how X
saves it (`Save`), and, in optout/strings/catalog.toml, what it says in each language. A setting names
its page and the controls it switches off. The driver reads only this table and the strings; when X
moves, renames or rewords something, these are the places to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from optout.errors import BadInput

PRIVACY_AND_SAFETY = "/settings/privacy_and_safety"


@dataclass(frozen=True)
class Save:
    """How X stores a control's new value when it is clicked, so the driver can check that the click
    saved this control and nothing else: a form field posted to /1.1/account/settings.json, or a
    GraphQL mutation (its operation name and variable; X's query ids change with every web build, so
    the operation is matched by name only)."""

    kind: Literal["settings_json", "graphql"]
    field: str  # settings_json: the form field the click posts; graphql: the mutation's variable
    confirmed: bool = True  # False: X's real name is unknown; do not insist on it
    operation: str | None = None  # graphql: the mutation, e.g. XaiDataSharingSettingsMutation

    @property
    def name(self) -> str:
        """What a save request is recorded as (x/saves.py names requests the same way)."""
        return f"{self.operation}.{self.field}" if self.kind == "graphql" else self.field


@dataclass(frozen=True)
class Control:
    key: str  # names its texts in the strings tables (labels.<key>)
    save: Save | None  # None: optout never switches it and does not know how X saves it
    role: Literal["checkbox", "switch"] = "checkbox"
    optional: bool = False  # shown to some accounts only (a flag, a rollout)


@dataclass(frozen=True)
class PageSpec:
    path: str
    controls: tuple[Control, ...]  # in X's page order

    @property
    def slug(self) -> str:
        """The last path segment (also the key of the page's titles in the strings tables)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def required(self) -> tuple[Control, ...]:
        return tuple(c for c in self.controls if not c.optional)

    def control(self, key: str) -> Control:
        return next(c for c in self.controls if c.key == key)


def _json(field: str, confirmed: bool = True) -> Save:
    return Save("settings_json", field, confirmed)


def _graphql(operation: str, variable: str, confirmed: bool = True) -> Save:
    return Save("graphql", variable, confirmed, operation)


PAGES: dict[str, PageSpec] = {p.slug: p for p in (
    PageSpec("/settings/data_sharing_with_business_partners", (
        Control("partners", _json("allow_sharing_data_for_third_party_personalization")),)),
    PageSpec("/settings/grok_settings", (
        # The user preferences allow_xai_data_sharing, allow_xai_personalization, allow_grok_memory
        # (x-facts, "2026 update"); the memory mutation's variable name has no source.
        Control("grok-training", _graphql("XaiDataSharingSettingsMutation", "allowXaiDataSharing")),
        Control("grok-personalization", _graphql("XaiPersonalizationSettingsMutation", "allowXaiPersonalization")),
        Control("grok-memory", _graphql("XaiMemoryMutation", "allowGrokMemory", confirmed=False), optional=True),)),
    PageSpec("/settings/ads_preferences", (Control("ads", _json("allow_ads_personalization")),)),
    PageSpec("/settings/off_twitter_activity", (
        Control("inferred-web", _json("use_cookie_personalization")),
        Control("inferred-device", _json("allow_logged_out_device_personalization"), optional=True),)),
    PageSpec("/settings/location_information", (
        Control("location", _json("allow_location_history_personalization")),)),
)}


@dataclass(frozen=True)
class SettingSpec:
    id: str
    title: str
    page: PageSpec
    controls: tuple[str, ...]  # keys of the page's controls this setting switches off
    safe_value: bool = False  # off: X may not share
    menu_parent: str = PRIVACY_AND_SAFETY  # the page whose row links to this one

    @property
    def path(self) -> str:
        return self.page.path

    @property
    def slug(self) -> str:
        """The menu row is also found by an href ending in it, whatever X prefixes."""
        return self.page.slug

    @property
    def wanted(self) -> tuple[Control, ...]:
        return tuple(self.page.control(k) for k in self.controls)

    @property
    def api_fields(self) -> tuple[str, ...]:
        """The fields a click on one of its controls may save (any of them: X shows one merged box on
        some accounts' off-X-activity page, saving the first field under the second one's label)."""
        return tuple(c.save.name for c in self.wanted if c.save)


CATALOG: tuple[SettingSpec, ...] = (
    SettingSpec("business-partners", "Data sharing with business partners",
                PAGES["data_sharing_with_business_partners"], ("partners",)),
    SettingSpec("grok-training", "Grok & Third-party Collaborators: data sharing for training",
                PAGES["grok_settings"], ("grok-training",)),
    SettingSpec("grok-personalization", "Grok & Third-party Collaborators: personalization with your X activity",
                PAGES["grok_settings"], ("grok-personalization",)),
    SettingSpec("personalization", "Ads preferences: personalized ads", PAGES["ads_preferences"], ("ads",)),
    SettingSpec("inferred-identity", "Inferred identity (off-X activity)", PAGES["off_twitter_activity"],
                ("inferred-web", "inferred-device")),
    SettingSpec("location-history", "Location information: personalize based on places you've been",
                PAGES["location_information"], ("location",)),
)

DEFAULT_IDS: tuple[str, ...] = ("business-partners", "grok-training")
BY_ID: dict[str, SettingSpec] = {spec.id: spec for spec in CATALOG}


def all_ids() -> list[str]:
    return [spec.id for spec in CATALOG]


def select(ids: list[str] | None = None, *, everything: bool = False) -> list[SettingSpec]:
    """The settings a run works on: all, the ones named (catalog order, no repeats), or the default set."""
    if everything:
        return list(CATALOG)
    wanted = list(ids or DEFAULT_IDS)
    unknown = [i for i in wanted if i not in BY_ID]
    if unknown:
        raise BadInput(
            f"Unknown setting {', '.join(repr(u) for u in unknown)}.",
            hint=f"Valid settings: {', '.join(all_ids())} (or --all).",
        )
    return [spec for spec in CATALOG if spec.id in wanted]
