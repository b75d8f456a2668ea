"""The alarm store's contract: what any backend (SQLite today, PostgreSQL later) must do.

A new backend adds itself to the ``repo`` fixture's params and passes this file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.model import AlarmFilter, Conflict, NotFound, State
from alerts.outbox import COMMON, Attempt, Intent, NotificationState
from alerts.repository import AlarmRepository
from alerts.rules import Condition
from alerts.silences import Silence
from alerts.store import SqliteAlarmStore

T0 = 1_780_000_000.0
TITLES = {"crawl": "Road at a crawl"}
AUTO = {"crawl": True, "manual": False}


def route(alarm, change, now, silences, level):  # type: ignore[no-untyped-def]
    """Every change to department d1's contact c1 (and the common feed); silenced alarms
    suppressed."""
    held = next((f"silence {s.id}" for s in silences if s.matches(
        device=alarm.device, gateway=alarm.gateway, district=alarm.district,
        rule=alarm.rule, at=now)), None)
    out = [Intent(COMMON, "mqtt", 0, change)] if change != "escalated" else []
    return [*out, Intent("d1", f"c{level}", level, change, held)]


@pytest.fixture(params=["sqlite"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlarmRepository]:
    store = SqliteAlarmStore(tmp_path / "alarms.db")
    yield store
    store.close_db()


def cond(active: bool, at: float, *, rule: str = "crawl", device: str = "tfc-1",
         severity: str = "warning", raised: bool = True, value: float = 5.0) -> Condition:
    return Condition(rule, f"device/{device}", active, at, severity, "traffic", device,
                     "gw-a", "north", value, raised, {})


def test_one_active_alarm_per_rule_and_source(repo: AlarmRepository) -> None:
    a = repo.apply([cond(True, T0)], T0, route, TITLES, AUTO)
    assert len(a.opened) == 1 and a.opened[0].title == "Road at a crawl"
    for k in range(1, 4):  # three repeats and a refresh
        repo.apply([cond(True, T0 + k, raised=k < 4)], T0 + k, route, TITLES, AUTO)
    repo.apply([cond(True, T0 + 9, raised=False)], T0 + 9, route, TITLES, AUTO)
    alarms = repo.find(AlarmFilter())
    assert len(alarms) == 1
    assert alarms[0].count == 4 and alarms[0].last_seen == T0 + 9
    # a replayed opening (same time) opens nothing new
    assert repo.apply([cond(True, T0)], T0 + 10, route, TITLES, AUTO).opened == []


def test_lifecycle_with_audit_trail(repo: AlarmRepository) -> None:
    aid = repo.apply([cond(True, T0)], T0, route, TITLES, AUTO).opened[0].id
    repo.acknowledge(aid, "sari", "on it", T0 + 60)
    with pytest.raises(Conflict):
        repo.acknowledge(aid, "sari", None, T0 + 61)
    repo.assign(aid, "budi", "sari", T0 + 70)
    repo.comment(aid, "crew dispatched", "budi", T0 + 80)
    with pytest.raises(Conflict):
        repo.close(aid, "budi", T0 + 85)  # not resolved yet
    repo.resolve(aid, "budi", "cleared", T0 + 90, route)
    closed = repo.close(aid, "budi", T0 + 100)
    assert closed.state is State.CLOSED and closed.assignee == "budi"
    assert closed.acknowledged_by == "sari" and closed.resolved_by == "budi"
    trail = [(e.actor, e.action) for e in repo.audit(aid)]
    assert trail == [("system", "opened"), ("sari", "acknowledged"), ("sari", "assigned"),
                     ("budi", "commented"), ("budi", "resolved"), ("budi", "closed")]
    with pytest.raises(NotFound):
        repo.get("nope")


def test_auto_resolve_and_a_new_alarm_after(repo: AlarmRepository) -> None:
    first = repo.apply([cond(True, T0)], T0, route, TITLES, AUTO).opened[0]
    res = repo.apply([cond(False, T0 + 60)], T0 + 60, route, TITLES, AUTO)
    assert [a.id for a in res.resolved] == [first.id]
    assert repo.get(first.id).resolved_by == "system"
    second = repo.apply([cond(True, T0 + 120)], T0 + 120, route, TITLES, AUTO).opened[0]
    assert second.id != first.id
    assert [k[:2] for k in repo.active_keys()] == [("crawl", "device/tfc-1")]


def test_manual_rules_keep_their_alarm_when_the_condition_clears(repo: AlarmRepository
                                                                ) -> None:
    a = repo.apply([cond(True, T0, rule="manual")], T0, route, TITLES, AUTO).opened[0]
    repo.apply([cond(False, T0 + 60, rule="manual")], T0 + 60, route, TITLES, AUTO)
    kept = repo.get(a.id)
    assert kept.state is State.OPEN and not kept.condition_active
    assert repo.active_keys() == []  # the rules no longer see it active


def test_outbox_written_with_the_change_and_sent_once(repo: AlarmRepository) -> None:
    applied = repo.apply([cond(True, T0)], T0, route, TITLES, AUTO)
    assert applied.notifications == {"pending": 2}
    due = repo.pending(T0)
    assert {(n.department, n.contact, n.change) for n in due} == \
        {(COMMON, "mqtt", "opened"), ("d1", "c0", "opened")}
    # the same change applied again writes no second notification
    repo.apply([cond(True, T0)], T0, route, TITLES, AUTO)
    assert len(repo.pending(T0)) == 2
    n = next(n for n in due if n.department == "d1")
    repo.claim([n.id], "g1")
    repo.record(Attempt("g1", "d1", "c0", "webhook", "http://x", T0 + 1, False, "HTTP 503"),
                next_due=T0 + 30, give_up=None)
    assert [x.id for x in repo.pending(T0 + 10)] == [next(x.id for x in due
                                                          if x.department == COMMON)]
    repo.record(Attempt("g1", "d1", "c0", "webhook", "http://x", T0 + 31, True, "HTTP 200"),
                next_due=None, give_up=None)
    sent = repo.notifications(state="sent")
    assert [(s.id, s.attempts, s.group_id) for s in sent] == [(n.id, 2, "g1")]
    assert [a.ok for a in repo.attempts("g1")] == [True, False]


def test_silences_suppress_and_keep(repo: AlarmRepository) -> None:
    repo.add_silence(Silence("s1", T0 - 10, T0 + 3600, "engineer", "gateway work",
                             gateway="gw-a"))
    repo.apply([cond(True, T0)], T0, route, TITLES, AUTO)
    kept = repo.notifications(state=NotificationState.SUPPRESSED.value)
    assert [(n.department, n.reason) for n in kept] == [("d1", "silence s1")]
    ended = repo.end_silence("s1", T0 + 5)
    assert ended.ends_at == T0 + 5
    assert repo.silences(now=T0 + 6) == []
    with pytest.raises(ValueError, match="at least one"):
        Silence("s2", T0, T0 + 1, "x", "")


def test_escalation_when_not_acknowledged(repo: AlarmRepository) -> None:
    aid = repo.apply([cond(True, T0)], T0, route, TITLES, AUTO).opened[0].id
    policy = {"d1": (600.0, 1200.0)}
    assert repo.escalate_due(T0 + 599, policy, route) == []
    assert repo.escalate_due(T0 + 600, policy, route) == [(aid, "d1", 1)]
    assert repo.escalate_due(T0 + 601, policy, route) == []  # once per level
    assert repo.escalate_due(T0 + 1200, policy, route) == [(aid, "d1", 2)]
    assert {n.contact for n in repo.notifications(alarm_id=aid)
            if n.change == "escalated"} == {"c1", "c2"}
    other = repo.apply([cond(True, T0, device="tfc-2")], T0, route, TITLES, AUTO).opened[0]
    repo.acknowledge(other.id, "sari", None, T0 + 10)
    assert all(e[0] != other.id for e in repo.escalate_due(T0 + 5000, policy, route))


def test_endpoint_disabled_after_repeated_permanent_failures(repo: AlarmRepository) -> None:
    for k in range(2):
        assert not repo.endpoint_result("d1", "c0", permanent_failure=True, disable_after=3,
                                        now=T0 + k)
    assert not repo.endpoint_result("d1", "c0", permanent_failure=False, disable_after=3,
                                    now=T0 + 2)  # a success resets the count
    assert [repo.endpoint_result("d1", "c0", permanent_failure=True, disable_after=3,
                                 now=T0 + 3 + k) for k in range(3)] == [False, False, True]
    assert repo.endpoints()[0]["disabled_at"] == T0 + 5
    repo.enable_endpoint("d1", "c0")
    assert repo.endpoints() == []


def test_find_filters(repo: AlarmRepository) -> None:
    repo.apply([cond(True, T0, device="tfc-1"), cond(True, T0 + 1, device="tfc-2",
                                                     severity="critical")],
               T0 + 1, route, TITLES, AUTO)
    assert [a.device for a in repo.find(AlarmFilter(severity="critical"))] == ["tfc-2"]
    assert [a.device for a in repo.find(AlarmFilter(device="tfc-1"))] == ["tfc-1"]
    assert len(repo.find(AlarmFilter(state=(State.OPEN,), limit=1))) == 1
    assert repo.find(AlarmFilter(state=(State.CLOSED,))) == []


def test_survives_reopening(tmp_path: Path) -> None:
    store = SqliteAlarmStore(tmp_path / "a.db")
    aid = store.apply([cond(True, T0)], T0, route, TITLES, AUTO).opened[0].id
    store.close_db()
    again = SqliteAlarmStore(tmp_path / "a.db")
    assert again.get(aid).state is State.OPEN and len(again.pending(T0)) == 2
    again.close_db()
