"""The settings catalog is data the driver trusts blindly: check it is consistent and that picking
settings behaves as the CLI documents."""

from __future__ import annotations

import pytest

from optout import catalog
from optout.errors import BadInput


def test_entries_are_consistent():
    ids = [spec.id for spec in catalog.CATALOG]
    assert len(ids) == len(set(ids)) == 5
    for spec in catalog.CATALOG:
        assert spec.path.startswith("/settings/") and spec.slug == spec.path.rsplit("/", 1)[-1]
        assert len(spec.boxes) == len(spec.api_fields) >= spec.min_boxes >= 1
        assert list(spec.boxes) == sorted(set(spec.boxes))
        assert spec.safe_value is False
    assert catalog.BY_ID["inferred-identity"].boxes == (0, 1)


def test_selection():
    assert [s.id for s in catalog.select(None)] == ["business-partners", "grok-training"]
    assert [s.id for s in catalog.select([], everything=True)] == catalog.all_ids()
    assert [s.id for s in catalog.select(["location-history", "business-partners", "location-history"])] == [
        "business-partners", "location-history"]
    with pytest.raises(BadInput) as err:
        catalog.select(["grok", "business-partners"])
    assert "'grok'" in err.value.message
    assert all(i in err.value.hint for i in catalog.all_ids())
