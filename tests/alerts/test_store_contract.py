"""The alarm store's contract: what any backend (SQLite today, PostgreSQL later) must do.

A new backend adds itself to the ``repo`` fixture's params and passes this file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.model import AlarmFilter, Conflict, NotFound, State
from alerts.outbox import COMMON, Attempt, Intent, NotificationState
from alerts.repository import AlarmRepository
from alerts.rules import Condition
from alerts.silences import Silence
from alerts.store import SCHEMA_VERSION, CityMismatch, SchemaVersionError, SqliteAlarmStore
from cityhub.config.alerting import Subscription
from cityhub.fields import Domain

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


def test_run_time_subscriptions(repo: AlarmRepository) -> None:
    assert repo.subscriptions() == []
    flood = Subscription(domains=(Domain.FLOOD,), districts=("coblong",),
                         min_severity="critical", rules=("flood-siaga",))
    first = repo.add_subscription("bpbd", flood, "ann", T0)
    second = repo.add_subscription("dishub", Subscription(), "api-token:bot", T0 + 1)
    third = repo.add_subscription("bpbd", Subscription(min_severity="info"), "ann", T0 + 2)
    assert first.id < second.id < third.id
    assert (first.department, first.subscription, first.created_by, first.created_at) == \
        ("bpbd", flood, "ann", T0)
    assert repo.subscriptions() == [first, second, third]  # oldest first
    assert repo.subscriptions("bpbd") == [first, third]
    assert repo.subscriptions("nobody") == []
    # what was stored reads back the same, defaults included (every domain, any district)
    got = repo.subscriptions("dishub")[0].subscription
    assert got == Subscription() and set(got.domains) == set(Domain) and got.districts == ()
    assert repo.remove_subscription(first.id) is True
    assert repo.remove_subscription(first.id) is False  # once
    assert repo.remove_subscription(10**30) is False  # past SQLite's integers: no such id
    assert repo.subscriptions("bpbd") == [third]
    # an id is never reused, even the last one's after it is removed
    assert repo.remove_subscription(third.id)
    fourth = repo.add_subscription("bpbd", flood, "ann", T0 + 3)
    assert fourth.id > third.id


def test_a_store_is_one_citys(repo: AlarmRepository, tmp_path: Path) -> None:
    """The first city to claim a store keeps it; another city's claim is refused (two
    cities' services pointed at one file would mix their alarms); reopened, it remembers."""
    assert repo.city() is None
    repo.claim_city("bogor")
    repo.claim_city("bogor")  # again: the same city, fine
    assert repo.city() == "bogor"
    with pytest.raises(CityMismatch, match="holds the alarms of city 'bogor', not 'bandung'"):
        repo.claim_city("bandung")
    assert repo.city() == "bogor"
    store = SqliteAlarmStore(tmp_path / "claimed.db")
    store.claim_city("bandung")
    store.close_db()
    again = SqliteAlarmStore(tmp_path / "claimed.db")
    assert again.city() == "bandung"
    again.close_db()


def test_subscriptions_survive_reopening(tmp_path: Path) -> None:
    store = SqliteAlarmStore(tmp_path / "a.db")
    added = store.add_subscription("bpbd", Subscription(domains=(Domain.RAIN,)), "ann", T0)
    store.close_db()
    again = SqliteAlarmStore(tmp_path / "a.db")
    assert again.subscriptions() == [added]
    again.close_db()


# The tables as the store created them before its schema had a version (user_version 0):
# kept here as they were, so the migration is tested against the real old shape.
_UNVERSIONED = """
CREATE TABLE alarms (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, source TEXT NOT NULL, state TEXT NOT NULL,
    severity TEXT NOT NULL, domain TEXT NOT NULL, title TEXT NOT NULL, device TEXT,
    gateway TEXT, district TEXT, value REAL, detail TEXT NOT NULL, count INTEGER NOT NULL,
    condition_active INTEGER NOT NULL, opened_at REAL NOT NULL, last_seen REAL NOT NULL,
    acknowledged_at REAL, acknowledged_by TEXT, resolved_at REAL, resolved_by TEXT,
    closed_at REAL, assignee TEXT, auto_resolve INTEGER NOT NULL DEFAULT 1);
CREATE UNIQUE INDEX one_active ON alarms (rule, source)
    WHERE state IN ('open', 'acknowledged');
CREATE INDEX alarms_opened ON alarms (opened_at);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL, at REAL NOT NULL,
    actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX audit_alarm ON audit (alarm_id, seq);
CREATE TABLE notifications (
    id TEXT PRIMARY KEY, alarm_id TEXT NOT NULL, department TEXT NOT NULL,
    contact TEXT NOT NULL, level INTEGER NOT NULL, change TEXT NOT NULL, state TEXT NOT NULL,
    reason TEXT, created_at REAL NOT NULL, due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, group_id TEXT, sent_at REAL);
CREATE INDEX notifications_pending ON notifications (state, due_at);
CREATE INDEX notifications_alarm ON notifications (alarm_id);
CREATE TABLE attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, group_id TEXT NOT NULL, department TEXT NOT NULL,
    contact TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL, at REAL NOT NULL,
    ok INTEGER NOT NULL, detail TEXT NOT NULL);
CREATE INDEX attempts_group ON attempts (group_id);
CREATE TABLE escalations (
    alarm_id TEXT NOT NULL, department TEXT NOT NULL, level INTEGER NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (alarm_id, department, level));
CREATE TABLE silences (
    id TEXT PRIMARY KEY, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
    created_by TEXT NOT NULL, comment TEXT NOT NULL, device TEXT, gateway TEXT,
    district TEXT, rule TEXT, created_at REAL NOT NULL);
CREATE TABLE endpoints (
    department TEXT NOT NULL, contact TEXT NOT NULL, failures INTEGER NOT NULL,
    disabled_at REAL, reason TEXT, PRIMARY KEY (department, contact));
"""


def test_an_older_file_is_migrated_in_place_and_a_newer_one_refused(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:
        c.executescript(_UNVERSIONED)
        c.execute("INSERT INTO silences VALUES ('s1', ?, ?, 'eng', 'works', NULL, 'gw-a', "
                  "NULL, NULL, ?)", (T0, T0 + 3600, T0))
    c.close()
    store = SqliteAlarmStore(db)
    try:
        assert [s.id for s in store.silences()] == ["s1"]  # kept
        aid = store.apply([cond(True, T0)], T0, route, TITLES, AUTO).opened[0].id
        added = store.add_subscription("bpbd", Subscription(), "ann", T0)
        assert store.subscriptions() == [added]
        assert store.city() is None  # an old file: no city recorded, until claimed
        store.claim_city("bandung")
    finally:
        store.close_db()
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.close()
    with pytest.raises(SchemaVersionError, match="newer than this hub's"):
        SqliteAlarmStore(db)
    with sqlite3.connect(db) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    c.close()
    again = SqliteAlarmStore(db)  # opened at its own version: nothing to do, all there
    assert again.get(aid).state is State.OPEN and again.subscriptions() == [added]
    assert again.city() == "bandung"
    again.close_db()
