"""The settings X has that share data for AI training or with partners, as data.

Each entry says where the setting lives (its page and the privacy_and_safety row it hangs under), which
checkbox(es) on that page control it (by position among the page's checkboxes: X gives them no testid),
which API field(s) a click saves, and the safe value. The driver reads only this table; when X moves or
renames something, this is the one place to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from optout.errors import BadInput

PRIVACY_AND_SAFETY = "/settings/privacy_and_safety"


@dataclass(frozen=True)
class SettingSpec:
    id: str
    title: str
    path: str  # the page, e.g. /settings/data_sharing_with_business_partners
    boxes: tuple[int, ...]  # positions of its checkbox(es) among the page's checkboxes, in page order
    api_fields: tuple[str, ...]  # the field each box saves, same order as boxes
    api_fields_confirmed: bool = True  # False: X's real field name is unknown; do not insist on it
    min_boxes: int = 1  # boxes beyond this many may be absent (X shows one or two on some pages)
    safe_value: bool = False  # off: X may not share
    menu_parent: str = PRIVACY_AND_SAFETY  # the page whose row links to this one
    # English fragments of the box labels, only to double-check the position: a box whose label
    # matches `label_avoid` and not `label_hints` is some other control (text never locates anything).
    label_hints: tuple[str, ...] = ()
    label_avoid: tuple[str, ...] = field(default=())

    @property
    def slug(self) -> str:
        """The last path segment: the menu row is found by an href ending in it, whatever X prefixes."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]


CATALOG: tuple[SettingSpec, ...] = (
    SettingSpec(
        id="business-partners",
        title="Data sharing with business partners",
        path="/settings/data_sharing_with_business_partners",
        boxes=(0,),
        api_fields=("allow_sharing_data_for_third_party_personalization",),
        label_hints=("business partners",),
    ),
    SettingSpec(
        id="grok-training",
        title="Grok & Third-party Collaborators: data sharing for training",
        path="/settings/grok_settings",
        boxes=(0,),
        api_fields=("allow_grok_training",),
        api_fields_confirmed=False,
        label_hints=("training",),
        label_avoid=("personaliz",),
    ),
    SettingSpec(
        id="personalization",
        title="Ads preferences: personalized ads",
        path="/settings/ads_preferences",
        boxes=(0,),
        api_fields=("allow_ads_personalization",),
        label_hints=("ads",),
    ),
    SettingSpec(
        id="inferred-identity",
        title="Inferred identity (off-X activity)",
        path="/settings/off_twitter_activity",
        boxes=(0, 1),
        api_fields=("use_cookie_personalization", "allow_logged_out_device_personalization"),
        min_boxes=1,
        label_hints=("inferred", "identity", "device", "browser", "personaliz"),
    ),
    SettingSpec(
        id="location-history",
        title="Location information: personalize based on places you've been",
        path="/settings/location_information",
        boxes=(0,),
        api_fields=("allow_location_history_personalization",),
        label_hints=("place", "location"),
    ),
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
