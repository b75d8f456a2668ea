"""The analytics process: one :class:`~analytics.service.AnalyticsService` per city it
serves (``pack:`` one, ``packs:`` several), in one TaskGroup.

With ``pack:`` the process is that city's service, exactly: its session (``client_id``),
its state directory (``state_dir``) and its own ``/metrics`` and ``/healthz``, the metrics
without a city label. With ``packs:`` (even of one, so adding a city later moves nothing:
:attr:`~cityhub.config.packs.CityPacks.per_city`), each city's service has its own session
(``{client_id}-{city}``) and state directory (``{state_dir}/{city}``)
(:meth:`AnalyticsSettings.for_city <analytics.settings.AnalyticsSettings.for_city>`), they
share the store client, and the process serves one ``/metrics`` (every sample labelled
``city``: :func:`~cityhub.metrics.per_city`) and one ``/healthz`` (healthy while every
city is: :func:`~cityhub.metrics.per_city_health`). A city's service that fails cancels
the others and the process ends with its error (TaskGroup semantics): the supervisor
restarts it, and each city resumes from its own checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence

from analytics.live.checkpoint import StateDir
from analytics.service import AnalyticsService
from analytics.settings import AnalyticsSettings
from cityhub.config.pack import CityPack
from cityhub.metrics import per_city, per_city_health, serve_metrics
from cityhub.store.base import Store

__all__ = ["AnalyticsCities"]

log = logging.getLogger("cityhub.analytics")


class AnalyticsCities:
    """The analytics of every city of ``packs`` (loaded from ``settings.pack_names``, in
    that order). Use :meth:`run` (until cancelled); :attr:`services` (city id -> service)
    exist once it has started."""

    def __init__(self, settings: AnalyticsSettings, packs: Sequence[CityPack], store: Store,
                 *, password: str | None = None) -> None:
        if len(packs) != len(settings.pack_names):
            raise ValueError(f"{len(settings.pack_names)} packs named, {len(packs)} given")
        self.settings = settings
        self.packs = tuple(packs)
        self.store = store
        self.password = password
        self.services: dict[str, AnalyticsService] = {}
        self._metrics_port: int | None = None
        self._started = asyncio.Event()

    @property
    def metrics_port(self) -> int | None:
        """The port ``/metrics`` and ``/healthz`` are served on, once they are (None: not
        yet, or ``metrics_port: null``)."""
        if self.settings.per_city:
            return self._metrics_port
        return next((svc.metrics_port for svc in self.services.values()), None)

    def health(self) -> tuple[bool, dict[str, object]]:
        """One city's health, or every city's (healthy while each is)."""
        if not self.services:
            return False, {"started": False}
        if not self.settings.per_city:
            return next(iter(self.services.values())).health()
        return per_city_health({c: svc.health for c, svc in self.services.items()})()

    async def wait_connected(self) -> None:
        """Until :meth:`run` has built every city's service and each is connected to the
        broker."""
        await self._started.wait()
        for svc in self.services.values():
            await svc.connected.wait()

    def snapshot(self) -> Mapping[str, object]:
        """The metrics' snapshot of the one city, or of each city by its id."""
        if not self.settings.per_city and self.services:
            return next(iter(self.services.values())).metrics.snapshot()
        return {c: svc.metrics.snapshot() for c, svc in self.services.items()}

    async def run(self) -> None:
        """Open each city's state directory, run every city's service until cancelled
        (or one fails), close the state directories."""
        s = self.settings
        async with contextlib.AsyncExitStack() as stack:
            for name, pack in zip(s.pack_names, self.packs, strict=True):
                city = pack.city.id
                own = s.for_city(city, name)
                state = StateDir(own.state_dir)
                stack.callback(state.close)
                self.services[city] = AnalyticsService(own, pack, self.store, state,
                                                       password=self.password)
            self._started.set()
            if not s.per_city:  # the one city's service serves its own metrics, as ever
                await next(iter(self.services.values())).run()
                return
            if s.metrics_port is not None:
                self._metrics_port = await stack.enter_async_context(serve_metrics(
                    per_city({c: svc.metrics.registry for c, svc in self.services.items()}),
                    self.health, host=s.metrics_host, port=s.metrics_port))
                log.info("analytics: metrics of %s at http://%s:%d/metrics",
                         ", ".join(self.services), s.metrics_host, self._metrics_port)
            async with asyncio.TaskGroup() as tg:
                for city, svc in self.services.items():
                    tg.create_task(_run(city, svc), name=f"analytics {city}")


async def _run(city: str, svc: AnalyticsService) -> None:
    """One city's service; its failure named before the TaskGroup stops the others."""
    try:
        await svc.run()
    except Exception:
        log.critical("analytics: the service of %s failed; stopping every city's", city)
        raise
