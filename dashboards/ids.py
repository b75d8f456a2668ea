"""Component ids, namespaced per page so that nine pages never collide, and the page's
state in its URL (:func:`query`).

    from dashboards.ids import Ids
    ID = Ids("overview")
    dcc.Graph(id=ID("map"))            # "overview-map"
    Output(ID("map"), "figure")

``tests/dashboards/test_pages.py`` builds every page's layout and fails on a duplicate id;
the app lists all layouts as its ``validation_layout``, so Dash checks every callback's
ids (no ``suppress_callback_exceptions``).
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

__all__ = ["SHELL_CITY", "Ids", "query"]

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class Ids:
    """``Ids("sensor")("history")`` is ``"sensor-history"``."""

    def __init__(self, page: str) -> None:
        if not _NAME.match(page):
            raise ValueError(f"page prefix {page!r}: lower-case letters, digits and '-'")
        self.page = page

    def __call__(self, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"component name {name!r}: lower-case letters, digits and '-'")
        return f"{self.page}-{name}"


def query(**values: str | None) -> str:
    """A page's state for its URL, so a view can be shared: ``?district=coblong&period=7d``
    (the values that are set, URL-encoded, in the order given; "" when none is)."""
    kept = {k: v for k, v in values.items() if v}
    return f"?{urlencode(kept)}" if kept else ""


#: the shell's store of the city the page shows (``dashboards.app``): actions that
#: change one city's data take it as a State and refuse if the session's city changed
SHELL_CITY = Ids("shell")("city-shown")
