"""The settings catalog is data the driver trusts blindly: check it is consistent and that picking
settings behaves as the CLI documents."""

from __future__ import annotations

import pytest

from optout import catalog
from optout.errors import BadInput


def test_entries_are_consistent():
    ids = [spec.id for spec in catalog.CATALOG]
    assert len(ids) == len(set(ids)) == 6
    for spec in catalog.CATALOG:
        assert spec.path.startswith("/settings/") and spec.slug == spec.path.rsplit("/", 1)[-1]
        graphql = spec.page.slug == "grok_settings"  # X's Grok preferences are GraphQL mutations (2026)
        assert spec.controls and all(c.save and c.save.kind == ("graphql" if graphql else "settings_json")
                                     for c in spec.wanted)
        assert len(spec.api_fields) == len(spec.controls)
        assert spec.safe_value is False
    assert catalog.BY_ID["inferred-identity"].api_fields == (
        "use_cookie_personalization", "allow_logged_out_device_personalization")
    # every control of every page, switched or not, has texts; the Grok page's expected set is defined
    assert [c.key for c in catalog.PAGES["grok_settings"].controls] == [
        "grok-training", "grok-personalization", "grok-memory"]
    assert catalog.BY_ID["grok-training"].api_fields == ("XaiDataSharingSettingsMutation.allowXaiDataSharing",)
    assert "grok-memory" not in {key for spec in catalog.CATALOG for key in spec.controls}  # known, never switched


def test_selection():
    assert [s.id for s in catalog.select(None)] == ["business-partners", "grok-training"]
    assert [s.id for s in catalog.select([], everything=True)] == catalog.all_ids()
    assert [s.id for s in catalog.select(["location-history", "business-partners", "location-history"])] == [
        "business-partners", "location-history"]
    with pytest.raises(BadInput) as err:
        catalog.select(["grok", "business-partners"])
    assert "'grok'" in err.value.message
    assert all(i in err.value.hint for i in catalog.all_ids())
