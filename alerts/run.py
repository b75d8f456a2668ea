"""Bring the alerts service up from its settings: per city pack an alarm store and a
channel per contact (secrets from the environment, each missing one a configuration error
naming it); the accounts; the API; run until cancelled; close everything.

:func:`running_hub` serves every city of the settings in one :class:`AlertsHub` (what
``cityhub alerts run`` does); :func:`running_service` is one city's service alone."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import aiohttp

from accounts import Accounts
from alerts.api import serve_api
from alerts.channels.base import Channel, Outgoing
from alerts.channels.chat import AppriseChannel
from alerts.channels.email import EmailChannel
from alerts.channels.mqtt import MqttChannel, Publish
from alerts.channels.webhook import WebhookChannel
from alerts.outbox import COMMON
from alerts.service import AlertsHub, AlertsService
from alerts.settings import AlertsSettings
from alerts.store import CityMismatch, SqliteAlarmStore
from cityhub.config.alerting import (
    AppriseContact,
    EmailContact,
    MqttContact,
    WebhookContact,
)
from cityhub.config.pack import CityPack
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.topics import alert_topic, notify_topic

__all__ = ["build_channels", "running_hub", "running_service"]

log = logging.getLogger("cityhub.alerts")

# the HTTP server one service serves itself, given the service; yields its port
_Http = Callable[[AlertsService], contextlib.AbstractAsyncContextManager[int]]


def _feed_topic(city: str) -> Callable[[Outgoing], str]:
    def topic(message: Outgoing) -> str:
        alarm = message.payload.get("alarm", {})
        return alert_topic(city, alarm.get("domain", "gateway"), alarm.get("severity", "info"))
    return topic


def build_channels(pack: CityPack, settings: AlertsSettings, publish: Publish,
                   session: aiohttp.ClientSession, env: Mapping[str, str] = os.environ
                   ) -> dict[tuple[str, str], Channel]:
    """A channel per contact of the pack, and the common feed; every secret that is not
    in ``env`` is one :class:`ConfigError` listing them all."""
    city = pack.city.id
    problems: list[ConfigProblem] = []
    channels: dict[tuple[str, str], Channel] = {
        (COMMON, "mqtt"): MqttChannel(publish, _feed_topic(city))}

    def need(var: str, where: str) -> str:
        value = env.get(var)
        if not value:
            problems.append(ConfigProblem(f"pack {city}", where,
                                          f"environment variable {var} is not set"))
        return value or ""

    smtp_password = need(settings.smtp.password_env, "smtp.password_env") \
        if settings.smtp is not None and settings.smtp.password_env else None
    for i, dept in enumerate(pack.alerts.departments):
        for j, c in enumerate(dept.contacts):
            where = f"alerts.departments.{i}.contacts.{j}"
            key = (dept.id, c.id)
            if isinstance(c, MqttContact):
                channels[key] = MqttChannel(publish, notify_topic(city, dept.id))
            elif isinstance(c, WebhookContact):
                url = c.url or need(c.url_env or "", f"{where}.url_env")
                secret = need(c.secret_env, f"{where}.secret_env")
                if url and secret:
                    try:
                        channels[key] = WebhookChannel(url, secret, session,
                                                       timeout_s=settings.delivery.timeout_s)
                    except ValueError as e:  # a malformed secret or URL
                        problems.append(ConfigProblem(f"pack {city}", where,
                                                      f"{c.secret_env} / url: {e}"))
            elif isinstance(c, EmailContact):
                if settings.smtp is None:
                    problems.append(ConfigProblem(f"pack {city}", where,
                                                  "an e-mail contact needs the alerts "
                                                  "settings' smtp section"))
                else:
                    try:
                        channels[key] = EmailChannel(settings.smtp, c.to,
                                                     password=smtp_password)
                    except ValueError as e:
                        problems.append(ConfigProblem("alerts settings", "smtp", str(e)))
            elif isinstance(c, AppriseContact):
                url = need(c.url_env, f"{where}.url_env")
                if url:
                    try:
                        channels[key] = AppriseChannel(
                            url, timeout_s=settings.delivery.timeout_s)
                    except ValueError as e:
                        problems.append(ConfigProblem(f"pack {city}", f"{where}.url_env",
                                                      str(e)))
    if problems:
        raise ConfigError(problems)
    return channels


@contextlib.asynccontextmanager
async def _services(settings: AlertsSettings, packs: Sequence[CityPack], *,
                    password: str | None, env: Mapping[str, str],
                    http: Callable[[Accounts], _Http] | None = None
                    ) -> AsyncIterator[tuple[Accounts, list[AlertsService]]]:
    """The accounts, and an :class:`AlertsService` per pack, each with its own alarm
    store (:meth:`AlertsSettings.database_of`) and channels; one accounts file and one
    HTTP client session for them all. ``http(accounts)``: the HTTP server each service
    serves itself (None: none, a hub serves them). Closed on exit."""
    accounts = Accounts(env.get("CITYHUB_ACCOUNTS_DB") or settings.accounts)
    stores: list[SqliteAlarmStore] = []
    channels: list[dict[tuple[str, str], Channel]] = []
    try:
        async with aiohttp.ClientSession() as session:
            services: list[AlertsService] = []
            try:
                problems: list[ConfigProblem] = []
                for pack in packs:
                    store = SqliteAlarmStore(settings.database_of(pack.city.id))
                    stores.append(store)
                    try:
                        store.claim_city(pack.city.id)
                    except CityMismatch as e:
                        problems.append(ConfigProblem(str(store.path), "database", str(e)))
                        continue
                    holder: list[AlertsService] = []

                    async def publish(topic: str, payload: bytes,
                                      holder: list[AlertsService] = holder) -> None:
                        await holder[0].publish(topic, payload)

                    try:
                        channels.append(build_channels(pack, settings, publish, session, env))
                    except ConfigError as e:  # every city's problems, then one error
                        problems.extend(e.problems)
                        continue
                    service = AlertsService(settings, pack, store, channels[-1],
                                            password=password,
                                            http=None if http is None else http(accounts))
                    holder.append(service)
                    services.append(service)
                if problems:
                    raise ConfigError(problems)
                yield accounts, services
            finally:
                for one in channels:
                    for ch in one.values():
                        with contextlib.suppress(Exception):
                            await ch.aclose()
    finally:
        accounts.close()
        for store in stores:
            store.close_db()


@contextlib.asynccontextmanager
async def running_service(settings: AlertsSettings, pack: CityPack, *,
                          password: str | None = None,
                          env: Mapping[str, str] = os.environ) -> AsyncIterator[AlertsService]:
    """The service of one city, built and ready to :meth:`~AlertsService.run` (which
    serves the API, ``/metrics`` and ``/healthz`` of that city alone); closed on exit."""

    def http(accounts: Accounts) -> _Http:
        return lambda s: serve_api(AlertsHub([s], labelled=settings.per_city), accounts,
                                   host=settings.http_host, port=settings.http_port)

    async with _services(settings, [pack], password=password, env=env,
                         http=http) as (_accounts, [service]):
        yield service


@contextlib.asynccontextmanager
async def running_hub(settings: AlertsSettings, packs: Sequence[CityPack], *,
                      password: str | None = None,
                      env: Mapping[str, str] = os.environ) -> AsyncIterator[AlertsHub]:
    """Every city's service (``packs``, as :func:`cityhub.config.packs.load_packs` loads
    the settings' ``pack`` / ``packs``) in one :class:`AlertsHub`, built and ready to
    :meth:`~AlertsHub.run`: one HTTP server (the API picking the city per request, one
    ``/metrics``, one ``/healthz``); closed on exit."""
    async with _services(settings, packs, password=password, env=env) as (accounts,
                                                                             services):
        yield AlertsHub(services, labelled=settings.per_city,
                        http=lambda hub: serve_api(hub, accounts, host=settings.http_host,
                                                   port=settings.http_port))
