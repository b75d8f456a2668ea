"""The alarm store in SQLite (WAL): alarms, their audit trail, the notification outbox,
delivery attempts, escalations and silences in one file; the default
:class:`~alerts.repository.AlarmRepository`. Every change is one transaction: the alarm, its
audit entry and its notifications are written together or not at all, so a crash never
leaves an alarm without its notifications, nor a notification without its alarm. Commits
are ``synchronous=FULL``: the service acknowledges a reading only after the alarm it
opened is on disk. It also keeps the departments' run-time subscriptions
(:mod:`alerts.subscriptions`).

The file's schema has a version (``PRAGMA user_version``): a file of an older version is
migrated in place when opened (one ``BEGIN IMMEDIATE`` transaction, so processes opening
it together migrate it once), and a file of a newer one is refused rather than misread.
Versions: 1, the alarms, audit, outbox, attempts, escalations, silences and endpoints
(files from before the version was kept read 0, and have them); 2, ``subscriptions``; 3,
``meta``, which records the city the file is of (:meth:`SqliteAlarmStore.claim_city`), so
two cities' services never share a file and a report never reads another city's.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from alerts.model import ACTIVE, Alarm, AlarmFilter, AuditEntry, Conflict, NotFound, State
from alerts.outbox import (
    Attempt,
    Intent,
    Notification,
    NotificationState,
    notification_id,
)
from alerts.repository import Applied, Route
from alerts.rules import Condition
from alerts.silences import Silence
from alerts.subscriptions import StoredSubscription
from cityhub.config.alerting import Subscription
from cityhub.errors import HubError
from cityhub.sqlitedb import migrate, open_sqlite, transaction

__all__ = ["SCHEMA_VERSION", "CityMismatch", "SchemaVersionError", "SqliteAlarmStore"]

log = logging.getLogger("cityhub.alerts")

SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, source TEXT NOT NULL, state TEXT NOT NULL,
    severity TEXT NOT NULL, domain TEXT NOT NULL, title TEXT NOT NULL, device TEXT,
    gateway TEXT, district TEXT, value REAL, detail TEXT NOT NULL, count INTEGER NOT NULL,
    condition_active INTEGER NOT NULL, opened_at REAL NOT NULL, last_seen REAL NOT NULL,
    acknowledged_at REAL, acknowledged_by TEXT, resolved_at REAL, resolved_by TEXT,
    closed_at REAL, assignee TEXT, auto_resolve INTEGER NOT NULL DEFAULT 1);
CREATE UNIQUE INDEX IF NOT EXISTS one_active ON alarms (rule, source)
    WHERE state IN ('open', 'acknowledged');
CREATE INDEX IF NOT EXISTS alarms_opened ON alarms (opened_at);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL, at REAL NOT NULL,
    actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_alarm ON audit (alarm_id, seq);
CREATE TABLE IF NOT EXISTS notifications (
    id TEXT PRIMARY KEY, alarm_id TEXT NOT NULL, department TEXT NOT NULL,
    contact TEXT NOT NULL, level INTEGER NOT NULL, change TEXT NOT NULL, state TEXT NOT NULL,
    reason TEXT, created_at REAL NOT NULL, due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, group_id TEXT, sent_at REAL);
CREATE INDEX IF NOT EXISTS notifications_pending ON notifications (state, due_at);
CREATE INDEX IF NOT EXISTS notifications_alarm ON notifications (alarm_id);
CREATE TABLE IF NOT EXISTS attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, group_id TEXT NOT NULL, department TEXT NOT NULL,
    contact TEXT NOT NULL, channel TEXT NOT NULL, target TEXT NOT NULL, at REAL NOT NULL,
    ok INTEGER NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_group ON attempts (group_id);
CREATE TABLE IF NOT EXISTS escalations (
    alarm_id TEXT NOT NULL, department TEXT NOT NULL, level INTEGER NOT NULL,
    at REAL NOT NULL, PRIMARY KEY (alarm_id, department, level));
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY, starts_at REAL NOT NULL, ends_at REAL NOT NULL,
    created_by TEXT NOT NULL, comment TEXT NOT NULL, device TEXT, gateway TEXT,
    district TEXT, rule TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS endpoints (
    department TEXT NOT NULL, contact TEXT NOT NULL, failures INTEGER NOT NULL,
    disabled_at REAL, reason TEXT, PRIMARY KEY (department, contact));
"""
# the departments' run-time subscriptions (JSON arrays; empty districts or rules: all)
SUBSCRIPTIONS = """
CREATE TABLE IF NOT EXISTS subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, department TEXT NOT NULL, domains TEXT NOT NULL,
    districts TEXT NOT NULL, min_severity TEXT NOT NULL, rules TEXT NOT NULL,
    created_by TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS subscriptions_department ON subscriptions (department, id);
"""
# what takes a file of version n - 1 to version n
META = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_MIGRATIONS: dict[int, str] = {1: SCHEMA, 2: SUBSCRIPTIONS, 3: META}
_SUB_COLS = "id, department, domains, districts, min_severity, rules, created_by, created_at"
_MAX_ID = 2**63 - 1  # SQLite's INTEGER
_ALARM_COLS = ("id, rule, source, state, severity, domain, title, device, gateway, district, "
               "value, detail, count, condition_active, opened_at, last_seen, acknowledged_at, "
               "acknowledged_by, resolved_at, resolved_by, closed_at, assignee")
_NOTE_COLS = ("id, alarm_id, department, contact, level, change, state, reason, created_at, "
              "due_at, attempts, group_id, sent_at")
_RANK = {"info": 0, "warning": 1, "critical": 2}


def _alarm(row: tuple[Any, ...]) -> Alarm:
    (aid, rule, source, state, severity, domain, title, device, gateway, district, value,
     detail, count, cond, opened, last, ack_at, ack_by, res_at, res_by, closed, assignee) = row
    return Alarm(aid, rule, source, State(state), severity, domain, title, device, gateway,
                 district, value, orjson.loads(detail), count, bool(cond), opened, last,
                 ack_at, ack_by, res_at, res_by, closed, assignee)


def _note(row: tuple[Any, ...]) -> Notification:
    return Notification(row[0], row[1], row[2], row[3], row[4], row[5],
                        NotificationState(row[6]), *row[7:])


class SchemaVersionError(HubError):
    """The alarm store's file was written by a newer schema than this hub's."""


class CityMismatch(HubError):
    """The alarm store's file holds another city's alarms."""


def _create_or_migrate(db: sqlite3.Connection, path: str) -> None:
    """Bring the file to :data:`SCHEMA_VERSION` in one transaction; refuse a newer one."""

    def refuse(_db: sqlite3.Connection, version: int) -> SchemaVersionError | None:
        if version > SCHEMA_VERSION:
            return SchemaVersionError(f"{path}: alarm store schema version {version}, newer "
                                      f"than this hub's ({SCHEMA_VERSION}): upgrade cityhub")
        return None

    migrate(db, SCHEMA_VERSION, {n: [sql for sql in script.split(";") if sql.strip()]
                                 for n, script in _MIGRATIONS.items()}, refuse=refuse)


def _stored(row: tuple[Any, ...]) -> StoredSubscription | None:
    sid, dept, domains, districts, severity, rules, by, at = row
    try:
        sub = Subscription.model_validate({
            "domains": orjson.loads(domains), "districts": orjson.loads(districts),
            "min_severity": severity, "rules": orjson.loads(rules)})
    except (ValidationError, orjson.JSONDecodeError) as e:  # a domain this hub lacks
        log.warning("alerts: stored subscription %s of %s is not valid here, ignored: %s",
                    sid, dept, e)
        return None
    return StoredSubscription(int(sid), dept, sub, by, float(at))


def alarm_id(rule: str, source: str, opened_at: float) -> str:
    """A new alarm's id: stable for the same opening (a replayed reading opens the same)."""
    key = f"{rule}/{source}/{opened_at!r}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


class SqliteAlarmStore:
    """The alarm store in one SQLite file (``:memory:`` for tests of pure logic)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_sqlite(path, synchronous="FULL")
        self._lock = threading.RLock()
        try:
            _create_or_migrate(self._db, self.path)
        except BaseException:
            self._db.close()
            raise

    def close_db(self) -> None:
        with self._lock:
            self._db.close()

    # -- whose file -------------------------------------------------------------------------
    def city(self) -> str | None:
        """The city this file's alarms are of, or None (never claimed: a new file, or one
        from before the store recorded it)."""
        rows = self._q("SELECT value FROM meta WHERE key = 'city'")
        return str(rows[0][0]) if rows else None

    def claim_city(self, city: str) -> None:
        """Record that this file holds ``city``'s alarms, if nothing is recorded yet;
        :class:`CityMismatch` if it holds another city's (two cities' services pointed at
        one file would mix their alarms and ids)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('city', ?)", (city,))
            owner = str(db.execute("SELECT value FROM meta WHERE key = 'city'").fetchone()[0])
        if owner != city:
            raise CityMismatch(f"{self.path} holds the alarms of city {owner!r}, not "
                               f"{city!r}: give each city its own alarm store")

    def _tx(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        return transaction(self._db, self._lock)

    def _q(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    # -- audit and outbox (inside a transaction) --------------------------------------------
    @staticmethod
    def _audit(db: sqlite3.Connection, alarm_id: str, at: float, actor: str, action: str,
               detail: dict[str, Any] | None = None) -> AuditEntry:
        d = detail or {}
        db.execute("INSERT INTO audit (alarm_id, at, actor, action, detail) VALUES "
                   "(?, ?, ?, ?, ?)", (alarm_id, at, actor, action, orjson.dumps(d).decode()))
        return AuditEntry(alarm_id, at, actor, action, d)

    def _silences(self, db: sqlite3.Connection, now: float) -> list[Silence]:
        rows = db.execute("SELECT id, starts_at, ends_at, created_by, comment, device, "
                          "gateway, district, rule, created_at FROM silences WHERE "
                          "starts_at <= ? AND ends_at > ?", (now, now)).fetchall()
        return [Silence(*r) for r in rows]

    @staticmethod
    def _notify(db: sqlite3.Connection, alarm: Alarm, intents: list[Intent], seq: int,
                now: float, applied: Applied | None = None) -> None:
        for i in intents:
            state = NotificationState.SUPPRESSED if i.suppressed else NotificationState.PENDING
            nid = notification_id(alarm.id, i.change, i.department, i.contact, seq)
            cur = db.execute(
                f"INSERT OR IGNORE INTO notifications ({_NOTE_COLS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, NULL)",
                (nid, alarm.id, i.department, i.contact, i.level, i.change, state.value,
                 i.suppressed, now, now + i.delay_s))
            if applied is not None and cur.rowcount:
                applied.notifications[state.value] = applied.notifications.get(
                    state.value, 0) + 1

    def _escalation_level(self, db: sqlite3.Connection, alarm_id: str) -> int:
        row = db.execute("SELECT MAX(level) FROM escalations WHERE alarm_id = ?",
                         (alarm_id,)).fetchone()
        return int(row[0] or 0)

    def _get(self, db: sqlite3.Connection, alarm_id: str) -> Alarm:
        row = db.execute(f"SELECT {_ALARM_COLS} FROM alarms WHERE id = ?",
                         (alarm_id,)).fetchone()
        if row is None:
            raise NotFound(f"no alarm {alarm_id!r}")
        return _alarm(row)

    # -- rules -------------------------------------------------------------------------------
    def apply(self, conditions: Iterable[Condition], now: float, route: Route,
              titles: dict[str, str], auto_resolve: dict[str, bool]) -> Applied:
        """Apply the rules' conditions in one transaction: open, update or resolve
        alarms, with their audit entries and notifications. Idempotent for a replayed
        batch: an opening at the same time makes the same alarm id."""
        applied = Applied()
        latest: dict[tuple[str, str], list[Condition]] = {}
        for c in conditions:
            latest.setdefault(c.key, []).append(c)
        if not latest:
            return applied
        with self._tx() as db:
            silences = self._silences(db, now)
            for key, items in latest.items():
                self._apply_one(db, key, items, now, route, silences, titles, auto_resolve,
                                applied)
        return applied

    def _apply_one(self, db: sqlite3.Connection, key: tuple[str, str], items: list[Condition],
                   now: float, route: Route, silences: list[Silence], titles: dict[str, str],
                   auto_resolve: dict[str, bool], applied: Applied) -> None:
        row = db.execute(f"SELECT {_ALARM_COLS} FROM alarms WHERE rule = ? AND source = ? "
                         "AND state IN ('open', 'acknowledged')", key).fetchone()
        alarm = _alarm(row) if row is not None else None
        for c in items:
            if c.active and alarm is None:
                aid = alarm_id(c.rule, c.source, c.at)
                if db.execute("SELECT 1 FROM alarms WHERE id = ?", (aid,)).fetchone():
                    continue  # the same opening, replayed after it was resolved
                db.execute(
                    f"INSERT INTO alarms ({_ALARM_COLS}, auto_resolve) VALUES "
                    "(?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, 1, 1, ?, ?, NULL, NULL, NULL, "
                    "NULL, NULL, NULL, ?)",
                    (aid, c.rule, c.source, c.severity, c.domain, titles.get(c.rule, c.rule),
                     c.device, c.gateway, c.district, c.value,
                     orjson.dumps(c.detail).decode(), c.at, c.at,
                     int(auto_resolve.get(c.rule, True))))
                alarm = self._get(db, aid)
                self._audit(db, aid, now, "system", "opened",
                            {"severity": c.severity, "value": c.value, **c.detail})
                self._notify(db, alarm, route(alarm, "opened", now, silences, 0), 0, now,
                             applied)
                applied.opened.append(alarm)
            elif c.active and alarm is not None:
                raise_ = _RANK[c.severity] > _RANK[alarm.severity]
                same_event = "event_id" in c.detail \
                    and c.detail["event_id"] == alarm.detail.get("event_id")
                # a new occurrence counts; a refresh or a redelivered event does not
                count = alarm.count + int(c.raised and not same_event)
                db.execute("UPDATE alarms SET last_seen = MAX(last_seen, ?), value = ?, "
                           "detail = ?, count = ?, condition_active = 1, severity = ? "
                           "WHERE id = ?",
                           (c.at, c.value, orjson.dumps(c.detail).decode(), count,
                            c.severity if raise_ else alarm.severity, alarm.id))
                if raise_ or count != alarm.count or not alarm.condition_active:
                    self._audit(db, alarm.id, now, "system",
                                "raised" if raise_ else "repeated",
                                {"severity": c.severity, "value": c.value, "count": count})
                if raise_:
                    level = self._escalation_level(db, alarm.id)
                    self._notify(db, alarm, route(self._get(db, alarm.id), "raised", now,
                                                  silences, 0),
                                 count * 10 + _RANK[c.severity], now, applied)
                    if level:
                        self._notify(db, alarm, route(self._get(db, alarm.id), "raised", now,
                                                      silences, level),
                                     count * 10 + _RANK[c.severity], now, applied)
                alarm = self._get(db, alarm.id)
                applied.updated += 1
            elif not c.active and alarm is not None:
                if not alarm.condition_active:
                    continue
                if auto_resolve.get(c.rule, True):
                    alarm = self._resolve(db, alarm, "system", "condition cleared", now,
                                          route, silences, applied)
                    applied.resolved.append(alarm)
                    alarm = None
                else:
                    db.execute("UPDATE alarms SET condition_active = 0 WHERE id = ?",
                               (alarm.id,))
                    self._audit(db, alarm.id, now, "system", "condition cleared",
                                {"value": c.value})
                    alarm = self._get(db, alarm.id)

    def _resolve(self, db: sqlite3.Connection, alarm: Alarm, actor: str, comment: str | None,
                 now: float, route: Route, silences: list[Silence],
                 applied: Applied | None = None) -> Alarm:
        db.execute("UPDATE alarms SET state = 'resolved', resolved_at = ?, resolved_by = ?, "
                   "condition_active = 0 WHERE id = ?", (now, actor, alarm.id))
        self._audit(db, alarm.id, now, actor, "resolved",
                    {"comment": comment} if comment else {})
        resolved = self._get(db, alarm.id)
        level = self._escalation_level(db, alarm.id)
        self._notify(db, resolved, route(resolved, "resolved", now, silences, level), 0, now,
                     applied)
        return resolved

    def active_keys(self) -> list[tuple[str, str, float, dict[str, Any]]]:
        """(rule, source, last seen, detail) of every alarm whose condition is active (to
        seed the rules after a restart)."""
        return [(r[0], r[1], r[2], orjson.loads(r[3])) for r in self._q(
            "SELECT rule, source, last_seen, detail FROM alarms WHERE state IN "
            "('open', 'acknowledged') AND condition_active = 1")]

    # -- reading -----------------------------------------------------------------------------
    def get(self, alarm_id: str) -> Alarm:
        with self._lock:
            return self._get(self._db, alarm_id)

    def find(self, f: AlarmFilter) -> list[Alarm]:
        where: list[str] = ["1"]
        args: list[Any] = []
        if f.state:
            where.append(f"state IN ({', '.join('?' * len(f.state))})")
            args += [s.value for s in f.state]
        for col in ("severity", "domain", "district", "device", "rule", "assignee"):
            v = getattr(f, col)
            if v is not None:
                where.append(f"{col} = ?")
                args.append(v)
        if f.since is not None:
            where.append("opened_at >= ?")
            args.append(f.since)
        if f.until is not None:
            where.append("opened_at < ?")
            args.append(f.until)
        sql = (f"SELECT {_ALARM_COLS} FROM alarms WHERE {' AND '.join(where)} "
               "ORDER BY opened_at DESC, id LIMIT ? OFFSET ?")
        return [_alarm(r) for r in self._q(sql, [*args, f.limit, f.offset])]

    def audit(self, alarm_id: str) -> list[AuditEntry]:
        self.get(alarm_id)
        return [AuditEntry(r[0], r[1], r[2], r[3], orjson.loads(r[4])) for r in self._q(
            "SELECT alarm_id, at, actor, action, detail FROM audit WHERE alarm_id = ? "
            "ORDER BY seq", (alarm_id,))]

    def counts(self) -> dict[str, int]:
        """Alarms by state."""
        return {r[0]: r[1] for r in self._q("SELECT state, COUNT(*) FROM alarms "
                                             "GROUP BY state")}

    # -- operators ---------------------------------------------------------------------------
    def acknowledge(self, alarm_id: str, actor: str, comment: str | None, now: float) -> Alarm:
        with self._tx() as db:
            alarm = self._get(db, alarm_id)
            if alarm.state is not State.OPEN:
                raise Conflict(f"alarm {alarm_id} is {alarm.state.value}, not open")
            db.execute("UPDATE alarms SET state = 'acknowledged', acknowledged_at = ?, "
                       "acknowledged_by = ? WHERE id = ?", (now, actor, alarm_id))
            self._audit(db, alarm_id, now, actor, "acknowledged",
                        {"comment": comment} if comment else {})
            return self._get(db, alarm_id)

    def assign(self, alarm_id: str, assignee: str | None, actor: str, now: float) -> Alarm:
        with self._tx() as db:
            alarm = self._get(db, alarm_id)
            if alarm.state is State.CLOSED:
                raise Conflict(f"alarm {alarm_id} is closed")
            db.execute("UPDATE alarms SET assignee = ? WHERE id = ?", (assignee, alarm_id))
            self._audit(db, alarm_id, now, actor, "assigned", {"assignee": assignee})
            return self._get(db, alarm_id)

    def comment(self, alarm_id: str, text: str, actor: str, now: float) -> AuditEntry:
        with self._tx() as db:
            self._get(db, alarm_id)
            return self._audit(db, alarm_id, now, actor, "commented", {"text": text})

    def resolve(self, alarm_id: str, actor: str, comment: str | None, now: float,
                route: Route) -> Alarm:
        with self._tx() as db:
            alarm = self._get(db, alarm_id)
            if alarm.state not in ACTIVE:
                raise Conflict(f"alarm {alarm_id} is {alarm.state.value}, not active")
            return self._resolve(db, alarm, actor, comment, now, route,
                                 self._silences(db, now))

    def close(self, alarm_id: str, actor: str, now: float, comment: str | None = None
              ) -> Alarm:
        with self._tx() as db:
            alarm = self._get(db, alarm_id)
            if alarm.state is not State.RESOLVED:
                raise Conflict(f"alarm {alarm_id} is {alarm.state.value}; only a resolved "
                               "alarm closes")
            db.execute("UPDATE alarms SET state = 'closed', closed_at = ? WHERE id = ?",
                       (now, alarm_id))
            self._audit(db, alarm_id, now, actor, "closed",
                        {"comment": comment} if comment else {})
            return self._get(db, alarm_id)

    def close_resolved(self, older_than: float, now: float) -> int:
        """Close alarms resolved before ``older_than`` (by ``system``)."""
        with self._tx() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM alarms WHERE state = 'resolved' "
                                            "AND resolved_at < ?", (older_than,))]
            for aid in ids:
                db.execute("UPDATE alarms SET state = 'closed', closed_at = ? WHERE id = ?",
                           (now, aid))
                self._audit(db, aid, now, "system", "closed")
            return len(ids)

    # -- escalation --------------------------------------------------------------------------
    def escalate_due(self, now: float, policy: dict[str, tuple[float, ...]], route: Route
                     ) -> list[tuple[str, str, int]]:
        """Escalate every open (unacknowledged) alarm past a department's next step,
        counted from when the department was first told (the service's clock, not the
        reading's): (alarm, department, level) of each escalation made."""
        done: list[tuple[str, str, int]] = []
        with self._tx() as db:
            rows = db.execute(
                "SELECT a.id, MIN(n.created_at), n.department FROM alarms a JOIN "
                "notifications n ON n.alarm_id = a.id AND n.change = 'opened' "
                "WHERE a.state = 'open' GROUP BY a.id, n.department").fetchall()
            silences = self._silences(db, now)
            for aid, opened, dept in rows:
                steps = policy.get(dept, ())
                reached = db.execute("SELECT MAX(level) FROM escalations WHERE alarm_id = ? "
                                     "AND department = ?", (aid, dept)).fetchone()[0] or 0
                if reached >= len(steps) or now < opened + steps[reached]:
                    continue
                level = reached + 1
                db.execute("INSERT INTO escalations VALUES (?, ?, ?, ?)",
                           (aid, dept, level, now))
                alarm = self._get(db, aid)
                self._audit(db, aid, now, "system", "escalated",
                            {"department": dept, "level": level})
                intents = [i for i in route(alarm, "escalated", now, silences, level)
                           if i.department == dept]
                self._notify(db, alarm, intents, level, now)
                done.append((aid, dept, level))
        return done

    # -- the outbox --------------------------------------------------------------------------
    def pending(self, now: float, limit: int = 1000) -> list[Notification]:
        """Notifications due (pending, due_at reached), oldest first."""
        return [_note(r) for r in self._q(
            f"SELECT {_NOTE_COLS} FROM notifications WHERE state = 'pending' AND due_at <= ? "
            "ORDER BY due_at, id LIMIT ?", (now, limit))]

    def waiting(self, department: str, contact: str) -> list[Notification]:
        """A contact's pending notifications, due or not (they join the group of the
        first one due)."""
        return [_note(r) for r in self._q(
            f"SELECT {_NOTE_COLS} FROM notifications WHERE state = 'pending' AND "
            "department = ? AND contact = ? ORDER BY due_at, id LIMIT 1000",
            (department, contact))]

    def claim(self, ids: list[str], group_id: str) -> None:
        """Fix the group of notifications before their first attempt (a retry after a
        restart sends the same group, with the same id)."""
        with self._tx() as db:
            db.executemany("UPDATE notifications SET group_id = ? WHERE id = ? AND "
                           "group_id IS NULL", [(group_id, i) for i in ids])

    def record(self, attempt: Attempt, *, next_due: float | None, give_up: str | None,
               ) -> None:
        """One attempt at a group and what follows: sent (``ok``), retried at
        ``next_due``, or given up (``give_up``: the reason)."""
        with self._tx() as db:
            db.execute("INSERT INTO attempts (group_id, department, contact, channel, target, "
                       "at, ok, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (attempt.group_id, attempt.department, attempt.contact,
                        attempt.channel, attempt.target, attempt.at, int(attempt.ok),
                        attempt.detail))
            if attempt.ok:
                db.execute("UPDATE notifications SET state = 'sent', sent_at = ?, attempts = "
                           "attempts + 1 WHERE group_id = ?", (attempt.at, attempt.group_id))
            elif give_up is not None:
                db.execute("UPDATE notifications SET state = 'failed', reason = ?, attempts = "
                           "attempts + 1 WHERE group_id = ?", (give_up, attempt.group_id))
            else:
                db.execute("UPDATE notifications SET due_at = ?, attempts = attempts + 1 "
                           "WHERE group_id = ?", (next_due, attempt.group_id))

    def fail_pending(self, department: str, contact: str, reason: str) -> int:
        """Give up every pending notification of a contact (its endpoint disabled)."""
        with self._tx() as db:
            return db.execute("UPDATE notifications SET state = 'failed', reason = ? WHERE "
                              "state = 'pending' AND department = ? AND contact = ?",
                              (reason, department, contact)).rowcount

    def notifications(self, *, alarm_id: str | None = None, state: str | None = None,
                      limit: int = 200) -> list[Notification]:
        where, args = ["1"], []
        if alarm_id is not None:
            where.append("alarm_id = ?")
            args.append(alarm_id)
        if state is not None:
            where.append("state = ?")
            args.append(state)
        return [_note(r) for r in self._q(
            f"SELECT {_NOTE_COLS} FROM notifications WHERE {' AND '.join(where)} "
            "ORDER BY created_at DESC, id LIMIT ?", [*args, limit])]

    def attempts(self, group_id: str | None = None, limit: int = 200) -> list[Attempt]:
        sql = ("SELECT group_id, department, contact, channel, target, at, ok, detail "
               "FROM attempts")
        args: list[Any] = []
        if group_id is not None:
            sql += " WHERE group_id = ?"
            args.append(group_id)
        rows = self._q(sql + " ORDER BY seq DESC LIMIT ?", [*args, limit])
        return [Attempt(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7]) for r in rows]

    def sent_since(self, since: float) -> list[tuple[str, str, float]]:
        """(department, contact, time) of each group sent since ``since`` (rate limits)."""
        return [(r[0], r[1], r[2]) for r in self._q(
            "SELECT department, contact, at FROM attempts WHERE ok = 1 AND at >= ?", (since,))]

    def notification_counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self._q("SELECT state, COUNT(*) FROM notifications "
                                             "GROUP BY state")}

    # -- endpoints ---------------------------------------------------------------------------
    def endpoint_result(self, department: str, contact: str, *, permanent_failure: bool,
                        disable_after: int, now: float) -> bool:
        """Count a contact's consecutive permanent failures (reset by a success); whether
        it is now disabled."""
        with self._tx() as db:
            row = db.execute("SELECT failures, disabled_at FROM endpoints WHERE department = ? "
                             "AND contact = ?", (department, contact)).fetchone()
            failures = (row[0] if row else 0) + 1 if permanent_failure else 0
            disabled = row[1] if row else None
            if disabled is None and failures >= disable_after:
                disabled = now
            db.execute("INSERT OR REPLACE INTO endpoints VALUES (?, ?, ?, ?, ?)",
                       (department, contact, failures, disabled,
                        f"{failures} permanent failures in a row" if disabled else None))
            return disabled is not None

    def endpoints(self) -> list[dict[str, Any]]:
        return [{"department": r[0], "contact": r[1], "failures": r[2], "disabled_at": r[3],
                 "reason": r[4]} for r in self._q(
            "SELECT department, contact, failures, disabled_at, reason FROM endpoints")]

    def enable_endpoint(self, department: str, contact: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM endpoints WHERE department = ? AND contact = ?",
                       (department, contact))

    # -- silences ----------------------------------------------------------------------------
    def add_silence(self, s: Silence) -> Silence:
        with self._tx() as db:
            db.execute("INSERT INTO silences VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (s.id, s.starts_at, s.ends_at, s.created_by, s.comment, s.device,
                        s.gateway, s.district, s.rule, s.created_at or time.time()))
        return s

    def silences(self, *, now: float | None = None) -> list[Silence]:
        rows = self._q("SELECT id, starts_at, ends_at, created_by, comment, device, gateway, "
                       "district, rule, created_at FROM silences ORDER BY starts_at")
        out = [Silence(*r) for r in rows]
        return out if now is None else [s for s in out if s.ends_at > now]

    def end_silence(self, silence_id: str, now: float) -> Silence:
        with self._tx() as db:
            row = db.execute("SELECT starts_at FROM silences WHERE id = ?",
                             (silence_id,)).fetchone()
            if row is None:
                raise NotFound(f"no silence {silence_id!r}")
            db.execute("UPDATE silences SET ends_at = MAX(starts_at + 0.001, ?) WHERE id = ?",
                       (now, silence_id))
        return next(s for s in self.silences() if s.id == silence_id)

    # -- run-time subscriptions -------------------------------------------------------------
    def subscriptions(self, department: str | None = None) -> list[StoredSubscription]:
        """The stored subscriptions, of one department or all, oldest first."""
        where, args = ("WHERE department = ? ", (department,)) if department is not None \
            else ("", ())
        rows = self._q(f"SELECT {_SUB_COLS} FROM subscriptions {where}ORDER BY id", args)
        return [s for s in map(_stored, rows) if s is not None]

    def add_subscription(self, department: str, subscription: Subscription, by: str,
                         at: float) -> StoredSubscription:
        """Store a subscription of ``department``, added by ``by`` at ``at``."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO subscriptions (department, domains, districts, min_severity, "
                "rules, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (department, orjson.dumps([d.value for d in subscription.domains]).decode(),
                 orjson.dumps(list(subscription.districts)).decode(),
                 subscription.min_severity, orjson.dumps(list(subscription.rules)).decode(),
                 by, at))
            assert cur.lastrowid is not None
            return StoredSubscription(cur.lastrowid, department, subscription, by, at)

    def remove_subscription(self, id: int) -> bool:
        """Delete a stored subscription; whether there was one with that id."""
        if not 0 <= id <= _MAX_ID:
            return False
        with self._tx() as db:
            return db.execute("DELETE FROM subscriptions WHERE id = ?", (id,)).rowcount > 0

    # -- reports -----------------------------------------------------------------------------
    def history(self, since: float, until: float) -> list[tuple[Any, ...]]:
        """(alarm id, department, told, acknowledged, resolved, state, escalations) of
        every alarm whose opening reached a department (sent) in [since, until); told:
        when the department's first notification of it was written (the service's
        clock, as the acknowledgement and resolution are)."""
        return self._q(
            "SELECT a.id, n.department, n.told, a.acknowledged_at, a.resolved_at, "
            "a.state, (SELECT COUNT(*) FROM escalations e WHERE e.alarm_id = a.id AND "
            "e.department = n.department) FROM alarms a JOIN (SELECT alarm_id, department, "
            "MIN(created_at) AS told FROM notifications WHERE change = 'opened' AND "
            "department != '*' AND state = 'sent' GROUP BY alarm_id, department) n "
            "ON n.alarm_id = a.id WHERE n.told >= ? AND n.told < ? "
            "ORDER BY n.told", (since, until))
