"""Which analytics events a domain page shows: episodes while they last, point events for
an hour, of the district asked for."""

from __future__ import annotations

import datetime as dt

from dashboards.events import POINT_EVENTS_S, recent

NOW = 1_767_225_600.0


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")


def ev(id_: str, start: float, end: float | None, district: str = "north") -> dict[str, object]:
    return {"id": id_, "start": iso(start), "end": None if end is None else iso(end),
            "district": district}


def test_episodes_while_they_last_and_point_events_for_an_hour() -> None:
    events = [ev("ongoing", NOW - 7200, None),
              ev("closed", NOW - 600, NOW - 60),  # an episode that ended: gone
              ev("point-new", NOW - 300, NOW - 300),
              ev("point-old", NOW - POINT_EVENTS_S - 1, NOW - POINT_EVENTS_S - 1),
              ev("elsewhere", NOW - 100, None, district="south")]
    assert [e["id"] for e in recent(events, NOW)] == ["elsewhere", "point-new", "ongoing"]
    assert [e["id"] for e in recent(events, NOW, district="north")] == ["point-new",
                                                                         "ongoing"]
    assert recent([], NOW) == []

