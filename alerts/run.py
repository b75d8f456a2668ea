"""Bring the alerts service up from its settings: the pack, the alarm store, the
accounts, a channel per contact (secrets from the environment, each missing one a
configuration error naming it), the API; run until cancelled; close everything."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp

from accounts import Accounts
from alerts.api import serve_api
from alerts.channels.base import Channel, Outgoing
from alerts.channels.chat import AppriseChannel
from alerts.channels.email import EmailChannel
from alerts.channels.mqtt import MqttChannel, Publish
from alerts.channels.webhook import WebhookChannel
from alerts.outbox import COMMON
from alerts.service import AlertsService
from alerts.settings import AlertsSettings
from alerts.store import SqliteAlarmStore
from cityhub.config.alerting import (
    AppriseContact,
    EmailContact,
    MqttContact,
    WebhookContact,
)
from cityhub.config.pack import CityPack
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.topics import alert_topic, notify_topic

__all__ = ["build_channels", "running_service"]

log = logging.getLogger("cityhub.alerts")


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
async def running_service(settings: AlertsSettings, pack: CityPack, *,
                          password: str | None = None,
                          env: Mapping[str, str] = os.environ) -> AsyncIterator[AlertsService]:
    """The service, built and ready to :meth:`~AlertsService.run`; closed on exit."""
    store = SqliteAlarmStore(settings.database)
    accounts = Accounts(env.get("CITYHUB_ACCOUNTS_DB") or settings.accounts)
    holder: list[AlertsService] = []

    async def publish(topic: str, payload: bytes) -> None:
        await holder[0].publish(topic, payload)

    try:
        async with aiohttp.ClientSession() as session:
            channels = build_channels(pack, settings, publish, session, env)
            service = AlertsService(
                settings, pack, store, channels, password=password,
                http=lambda s: serve_api(s, accounts, host=settings.http_host,
                                         port=settings.http_port))
            holder.append(service)
            try:
                yield service
            finally:
                for ch in channels.values():
                    with contextlib.suppress(Exception):
                        await ch.aclose()
    finally:
        accounts.close()
        store.close_db()
