"""The sender's decisions with a controllable clock and a recording channel (pure logic;
the channels themselves are tested against real receivers in test_channels.py, the whole
path in test_service.py): grouping, rate limits, give-up, quiet hours, silences."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from alerts.channels.base import Delivery, Outgoing
from alerts.dispatch import Dispatcher
from alerts.metrics import AlertsMetrics
from alerts.model import AlarmFilter
from alerts.routing import Router
from alerts.rules import Condition, Rules
from alerts.settings import DeliverySettings
from alerts.silences import Silence
from alerts.store import SqliteAlarmStore
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from tests.alerts.service_kit import pack_reaching

T0 = 1_780_000_000.0  # 2026-05-28 20:26 UTC, 03:26 in Jakarta


class Recorder:
    kind = "webhook"
    target = "recorder"

    def __init__(self, answers: list[Delivery] | None = None) -> None:
        self.sent: list[Outgoing] = []
        self.answers = answers or []

    async def send(self, message: Outgoing) -> Delivery:
        self.sent.append(message)
        return self.answers.pop(0) if self.answers else Delivery(True, "ok")

    async def aclose(self) -> None:
        return None


@pytest.fixture(scope="module")
def bandung() -> CityPack:
    return load_pack("bandung")


def setup(pack: CityPack, tmp: Path, **delivery: Any
          ) -> tuple[SqliteAlarmStore, Dispatcher, Recorder, list[float], Router]:
    now = [T0]
    store = SqliteAlarmStore(tmp / "a.db")
    hook = Recorder()
    channels: dict[tuple[str, str], Any] = {("ops", "hook"): hook, ("*", "mqtt"): Recorder(),
                                            ("ops", "feed"): Recorder()}
    d = Dispatcher(store, pack, DeliverySettings(**delivery), channels, AlertsMetrics(),
                   clock=lambda: now[0], dashboard_url=None)
    return store, d, hook, now, Router(pack)


def gauge_alarm(device: str, at: float) -> Condition:
    return Condition("flood-siaga", f"device/{device}", True, at, "warning", "flood", device,
                     "gw-dago", "coblong", 1.7, True, {})


async def send_round(d: Dispatcher) -> None:
    async with asyncio.TaskGroup() as tg:
        d.send_due(tg)


async def test_alarms_of_one_window_go_out_as_one_message(bandung: CityPack,
                                                          tmp_path: Path) -> None:
    pack = pack_reaching(bandung, webhook_url="http://x", group_s=10)
    store, d, hook, now, router = setup(pack, tmp_path)

    def apply(c: Condition) -> None:
        store.apply([c], now[0], lambda a, ch, t, s, lv: router.route(a, ch, t, s, level=lv),
                    {}, {})
    apply(gauge_alarm("flood-cikapundung-dago", now[0]))
    now[0] += 5
    apply(gauge_alarm("flood-cikapundung-siliwangi", now[0]))
    now[0] += 4  # the first not yet due
    await send_round(d)
    assert hook.sent == []
    now[0] += 2  # the first due: the second (due in 4 s) goes with it
    await send_round(d)
    assert len(hook.sent) == 1
    assert len(hook.sent[0].payload["notifications"]) == 2
    await send_round(d)
    assert len(hook.sent) == 1


async def test_rate_limit_defers_and_groups_never_drops(bandung: CityPack,
                                                        tmp_path: Path) -> None:
    pack = pack_reaching(bandung, webhook_url="http://x", group_s=0, max_per_hour=2)
    store, d, hook, now, router = setup(pack, tmp_path)
    route = lambda a, ch, t, s, lv: router.route(a, ch, t, s, level=lv)  # noqa: E731
    gauges = [g for g in pack.sensors if g.startswith("flood-")][:5]
    for g in gauges:
        store.apply([gauge_alarm(g, now[0])], now[0], route, {}, {})
        await send_round(d)
        now[0] += 1
    assert len(hook.sent) == 2  # the limit; three alarms wait
    assert d.metrics.total("cityhub_alerts_deferred") >= 1
    now[0] += 3600
    await send_round(d)
    assert len(hook.sent) == 3 and len(hook.sent[2].payload["notifications"]) == 3
    assert not store.pending(now[0])


@pytest.mark.allow_logged_errors
async def test_transient_failures_give_up_after_max_age(bandung: CityPack,
                                                        tmp_path: Path) -> None:
    pack = pack_reaching(bandung, webhook_url="http://x", group_s=0)
    store, d, hook, now, router = setup(pack, tmp_path, max_age_s=600, backoff_base_s=10,
                                        backoff_cap_s=60)
    hook.answers = [Delivery(False, "HTTP 503")] * 100
    store.apply([gauge_alarm("flood-cikapundung-dago", now[0])], now[0],
                lambda a, ch, t, s, lv: router.route(a, ch, t, s, level=lv), {}, {})
    for _ in range(40):  # retried while younger than max_age_s, then given up
        await send_round(d)
        now[0] += 61
    [failed] = [n for n in store.notifications(state="failed") if n.contact == "hook"]
    assert failed.reason is not None and failed.reason.startswith("expired after 600 s")
    assert 2 <= len(hook.sent) <= 12


def test_quiet_hours_hold_back_what_is_not_critical(bandung: CityPack) -> None:
    router = Router(bandung)  # dishub: quiet 23:00-05:00 for less than critical
    store = SqliteAlarmStore(":memory:")
    road = Condition("traffic-crawl", "device/tfc-dago-01", True, T0, "warning", "traffic",
                     "tfc-dago-01", "gw-dago", "coblong", 5.0, True, {})
    applied = store.apply([road], T0, lambda a, ch, t, s, lv: router.route(
        a, ch, t, s, level=lv), {}, {})
    alarm = applied.opened[0]
    at_night = router.route(alarm, "opened", T0, [], level=0)  # 03:26 local
    assert {(i.department, i.suppressed) for i in at_night} == {("*", None),
                                                                 ("dishub", "quiet hours")}
    by_day = router.route(alarm, "opened", T0 + 8 * 3600, [], level=0)  # 11:26 local
    assert {(i.department, i.suppressed) for i in by_day} == {("*", None), ("dishub", None)}
    silence = Silence("s1", T0, T0 + 9 * 3600, "eng", "work", gateway="gw-dago")
    held = router.route(alarm, "opened", T0 + 8 * 3600, [silence], level=0)
    assert ("dishub", "silence s1") in {(i.department, i.suppressed) for i in held}


def test_a_redelivered_event_is_no_repeat_and_point_alarms_expire_after_restart(
        bandung: CityPack) -> None:
    router = Router(bandung)
    store = SqliteAlarmStore(":memory:")
    route = lambda a, ch, t, s, lv: router.route(a, ch, t, s, level=lv)  # noqa: E731
    start = "2026-05-28T20:26:40.000Z"
    event = {"id": "ev1", "city": "bandung", "domain": "flood", "kind": "flood_eta",
             "device": "flood-cikapundung-dago", "gateway": "gw-dago", "district": "coblong",
             "start": start, "end": start, "severity": "warning",
             "detail": {"downstream": "x"}}
    rules = Rules(bandung, start=T0)
    store.apply(rules.event(event, T0), T0, route, {}, {})
    store.apply(rules.event(event, T0 + 1), T0 + 1, route, {}, {})  # redelivered
    [alarm] = store.find(AlarmFilter())
    assert alarm.count == 1
    restarted = Rules(bandung, start=T0 + 10)
    restarted.seed(store.active_keys())
    assert restarted.tick(T0 + 3600, silence=False) == []
    expired = restarted.tick(T0 + 1 + 6 * 3600, silence=False)
    assert [(c.rule, c.active) for c in expired] == [("flood-eta", False)]
