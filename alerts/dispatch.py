"""The sender: reads the outbox, sends each contact's due notifications as one message,
records every attempt, retries with backoff, gives up loudly.

- One task per contact at a time: a slow or failing channel never holds up another.
- Grouping: an alarm opening waits its department's ``group_s``; when the first of a
  contact's notifications is due, everything the contact has waiting goes out with it as
  one message, so fifty alarms of one storm minute are one message, not fifty.
- Rate limit: at most ``max_per_hour`` messages per contact; past it, notifications wait
  (and are grouped into the next message), counted as deferred, never dropped.
- Retries: a transient failure is retried with full-jitter backoff (never sooner than
  the receiver's ``Retry-After``) until ``max_age_s``; a permanent one fails the message
  and counts against the contact, which is disabled after ``disable_after`` in a row.
  Every give-up and every disabled contact is logged, counted and kept in the store.
- A group's id is fixed before its first attempt (:meth:`AlarmRepository.claim`): a
  retry, after a restart too, is the same message with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import Callable
from zoneinfo import ZoneInfo

from alerts.channels.base import Channel, Delivery, Outgoing
from alerts.messages import alarm_payload, render
from alerts.metrics import AlertsMetrics
from alerts.outbox import COMMON, Attempt, Notification
from alerts.repository import AlarmRepository
from alerts.settings import DeliverySettings
from cityhub.backoff import backoff_delay
from cityhub.config.pack import CityPack

__all__ = ["Dispatcher"]

log = logging.getLogger("cityhub.alerts")
HOUR = 3600.0
SAFETY_TIMEOUT_S = 300.0


class Dispatcher:
    """Sends the outbox of ``store`` through ``channels`` ((department, contact) ->
    channel; the common feed is (``*``, ``mqtt``))."""

    def __init__(self, store: AlarmRepository, pack: CityPack, settings: DeliverySettings,
                 channels: dict[tuple[str, str], Channel], metrics: AlertsMetrics,
                 *, clock: Callable[[], float], dashboard_url: str | None) -> None:
        self.store = store
        self.settings = settings
        self.channels = channels
        self.metrics = metrics
        self.clock = clock
        self.dashboard_url = dashboard_url
        self.city = pack.city.id
        self.zone = ZoneInfo(pack.city.timezone)
        self.departments = {d.id: d for d in pack.alerts.departments}
        self.languages = {(d.id, c.id): c.language or d.language
                          for d in pack.alerts.departments for c in d.contacts}
        self.wake = asyncio.Event()
        self._busy: set[tuple[str, str]] = set()
        self._sent: dict[tuple[str, str], deque[float]] = {}
        self._held_until: dict[tuple[str, str], float] = {}
        since = clock() - HOUR
        for dept, contact, at in store.sent_since(since):
            self._sent.setdefault((dept, contact), deque()).append(at)
        self._disabled = {(e["department"], e["contact"]) for e in store.endpoints()
                          if e["disabled_at"] is not None}
        metrics.disabled_contacts.set(len(self._disabled))

    async def run(self) -> None:
        """Send until cancelled."""
        async with asyncio.TaskGroup() as tg:
            while True:
                self.send_due(tg)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_s):
                        await self.wake.wait()
                self.wake.clear()

    @property
    def disabled(self) -> frozenset[tuple[str, str]]:
        """Contacts disabled after repeated permanent failures."""
        return frozenset(self._disabled)

    def enable(self, department: str, contact: str) -> None:
        """A contact disabled after permanent failures is tried again."""
        self.store.enable_endpoint(department, contact)
        self._disabled.discard((department, contact))
        self.metrics.disabled_contacts.set(len(self._disabled))

    def send_due(self, tg: asyncio.TaskGroup) -> None:
        """One round: start a sending task for each contact with something due."""
        now = self.clock()
        by_contact: dict[tuple[str, str], list[Notification]] = {}
        for n in self.store.pending(now):
            by_contact.setdefault((n.department, n.contact), []).append(n)
        for key, notes in by_contact.items():
            if key in self._busy or self._held_until.get(key, 0.0) > now:
                continue
            if key in self._disabled or key not in self.channels:
                why = ("contact disabled after repeated permanent failures"
                       if key in self._disabled else "no such contact in the pack")
                failed = self.store.fail_pending(*key, why)
                self.metrics.failed.labels(key[0]).inc(failed)
                log.error("alerts: %d notifications to %s/%s given up: %s", failed, *key, why)
                continue
            if key[0] != COMMON and not self._allowed(key, now):
                continue
            self._busy.add(key)
            if key[0] != COMMON:  # the group: all the contact has waiting, due or not
                due = {n.id for n in notes}
                notes += [n for n in self.store.waiting(*key) if n.id not in due]
            tg.create_task(self._send_contact(key, notes))

    def _allowed(self, key: tuple[str, str], now: float) -> bool:
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] < now - HOUR:
            sent.popleft()
        limit = self.departments[key[0]].max_per_hour
        if len(sent) < limit:
            return True
        self._held_until[key] = sent[0] + HOUR
        self.metrics.deferred.labels(key[0]).inc()
        log.warning("alerts: %s/%s reached %d messages this hour; the next waits until "
                    "%.0f s from now (grouped)", *key, limit, sent[0] + HOUR - now)
        return False

    async def _send_contact(self, key: tuple[str, str], notes: list[Notification]) -> None:
        try:
            groups: dict[str, list[Notification]] = {}
            fresh = [n for n in notes if n.group_id is None]
            for n in notes:
                if n.group_id is not None:
                    groups.setdefault(n.group_id, []).append(n)
            if key[0] == COMMON:  # the feed: one message per alarm change
                for n in fresh:
                    self.store.claim([n.id], n.id)
                    groups[n.id] = [n]
            elif fresh:
                gid = hashlib.sha256(",".join(sorted(n.id for n in fresh)).encode()
                                     ).hexdigest()[:24]
                self.store.claim([n.id for n in fresh], gid)
                groups[gid] = fresh
            for gid, members in groups.items():
                await self._send_group(key, gid, members)
        except Exception:
            log.exception("alerts: sending to %s/%s failed unexpectedly; retried next round",
                          *key)
        finally:
            self._busy.discard(key)
            self.wake.set()

    async def _send_group(self, key: tuple[str, str], gid: str,
                          members: list[Notification]) -> None:
        channel = self.channels[key]
        items = [(self.store.get(n.alarm_id), n.change, n.level) for n in members]
        if key[0] == COMMON:
            alarm, change, _ = items[0]
            payload = {"city": self.city,
                       **alarm_payload(alarm, change, self.dashboard_url, self.city)}
            message = Outgoing(gid, alarm.title, alarm.title, payload)
        else:
            dept = self.departments[key[0]]
            message = render(gid, items, language=self.languages.get(key, dept.language),
                             department=dept.name, city=self.city, zone=self.zone,
                             dashboard_url=self.dashboard_url)
        try:  # each channel bounds its own attempt; this is a last resort against a hang
            async with asyncio.timeout(SAFETY_TIMEOUT_S):
                result = await channel.send(message)
        except TimeoutError:
            result = Delivery(False, f"no answer within {SAFETY_TIMEOUT_S:.0f} s")
        now = self.clock()
        attempt = Attempt(gid, key[0], key[1], channel.kind, channel.target, now, result.ok,
                          result.detail[:500])
        self.metrics.attempts.labels(channel.kind, "ok" if result.ok else "failed").inc()
        if result.ok:
            self.store.record(attempt, next_due=None, give_up=None)
            self.metrics.sent.labels(key[0]).inc(len(members))
            self._sent.setdefault(key, deque()).append(now)
            if key[0] != COMMON:
                self.store.endpoint_result(*key, permanent_failure=False,
                                           disable_after=self.settings.disable_after, now=now)
            return
        first = min(n.created_at for n in members)
        give_up = None
        if result.permanent:
            give_up = f"permanent: {result.detail}"[:500]
        elif now - first > self.settings.max_age_s:
            give_up = f"expired after {self.settings.max_age_s:.0f} s: {result.detail}"[:500]
        tries = max(n.attempts for n in members)
        next_due = now + backoff_delay(tries, base=self.settings.backoff_base_s,
                                       cap=self.settings.backoff_cap_s,
                                       retry_after=result.retry_after_s)
        self.store.record(attempt, next_due=next_due, give_up=give_up)
        if give_up is not None:
            self.metrics.failed.labels(key[0]).inc(len(members))
            log.error("alerts: a message to %s/%s (%s %s) failed: %s; %d notifications given "
                      "up (kept in the store)", *key, channel.kind, channel.target,
                      result.detail, len(members))
        else:
            self.metrics.retried.labels(key[0]).inc()
            log.warning("alerts: a message to %s/%s (%s %s) failed: %s; retrying in %.1f s",
                        *key, channel.kind, channel.target, result.detail, next_due - now)
        if result.permanent and key[0] != COMMON and self.store.endpoint_result(
                *key, permanent_failure=True, disable_after=self.settings.disable_after,
                now=now) and key not in self._disabled:
            self._disabled.add(key)
            self.metrics.disabled_contacts.set(len(self._disabled))
            log.error("alerts: contact %s/%s (%s %s) DISABLED after %d permanent failures "
                      "in a row; enable it again with POST /api/contacts/%s/%s/enable",
                      *key, channel.kind, channel.target, self.settings.disable_after,
                      *key)
