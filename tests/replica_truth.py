"""Where the replica keeps, as its truth, what a catalog save writes: a settings.json form field is kept
under its own name; a GraphQL mutation's variable under the user preference it writes."""

from __future__ import annotations

from optout.catalog import SettingSpec
from recordings.graphql import MUTATIONS


def truth_field(save_name: str) -> str:
    operation, _, variable = save_name.partition(".")
    return MUTATIONS[operation][1] if variable else save_name


def truth_fields(spec: SettingSpec) -> list[str]:
    return [truth_field(name) for name in spec.api_fields]
