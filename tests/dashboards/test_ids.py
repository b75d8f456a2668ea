"""Page ids and a page's state in its URL."""

from __future__ import annotations

import pytest

from dashboards.ids import Ids, query


def test_ids_are_namespaced_and_checked() -> None:
    assert Ids("overview")("map") == "overview-map"
    with pytest.raises(ValueError, match="page prefix"):
        Ids("Overview")
    with pytest.raises(ValueError, match="component name"):
        Ids("overview")("map_1")


def test_a_pages_state_in_its_url() -> None:
    assert query(district="coblong", period=None, severity="") == "?district=coblong"
    assert query(state="open,acknowledged", district="a b") == \
        "?state=open%2Cacknowledged&district=a+b"
    assert query(district=None) == ""
