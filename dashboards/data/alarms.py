"""The alerts service's HTTP API (``alerts/api.py``, ``docs/alerts.md``) as the dashboards
use it: an async client (aiohttp) that acts with the logged-in user's API token, so the
alarm's audit trail names the operator, and the departments' response figures computed
from the alarms it lists.

The pages are sync (Dash callbacks); they run the client's coroutines on
:class:`~dashboards.data.CityData`'s event loop (``hub().data.call(...)``). Every failure is
an :class:`AlarmsError` whose kind says what to tell the user: the service is not
reachable, the user is not allowed, or the API's own message (404, 409, 400...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson

from cityhub.config.alerting import Department, severity_rank
from cityhub.config.pack import CityPack
from cityhub.stats import percentile

__all__ = ["AlarmsClient", "AlarmsError", "ResponseRow", "departments_of",
           "response_rows"]

Kind = Literal["unreachable", "refused", "api"]
PAGE = 1000  # the API's largest page


class AlarmsError(Exception):
    """A call to the alerts API that did not succeed. ``kind``: ``unreachable`` (no
    answer from ``url``), ``refused`` (401/403: ``message`` is the reason) or ``api``
    (any other error status: ``message`` is the API's)."""

    def __init__(self, kind: Kind, message: str, *, url: str, status: int | None = None
                 ) -> None:
        super().__init__(message)
        self.kind, self.message, self.url, self.status = kind, message, url, status


class AlarmsClient:
    """The alerts API at ``base_url`` (e.g. ``http://127.0.0.1:8070``). Each method takes
    the acting user's API token (``Authorization: Bearer``). One HTTP session per call:
    the client holds no connection between the dashboards' refreshes. ``city``: the city
    every call is about (the API's ``city`` parameter, for an alerts service serving
    several; None: the service's only city, or the user's)."""

    def __init__(self, base_url: str, *, city: str | None = None, timeout_s: float = 10.0
                 ) -> None:
        self.base_url = base_url.rstrip("/")
        self.city = city
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def request(self, method: str, path: str, token: str, *,
                      query: Mapping[str, str] | None = None, body: Any = None) -> Any:
        """One call; the decoded JSON answer, or :class:`AlarmsError`."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if self.city is not None and path != "/api/whoami":  # whoami is of the user
            query = {**(query or {}), "city": self.city}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session, \
                    session.request(method, self.base_url + path, params=query,
                                    headers=headers, data=data) as r:
                raw = await r.read()
                status = r.status
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise AlarmsError("unreachable", str(e) or type(e).__name__,
                              url=self.base_url) from e
        try:
            answer = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            answer = None
        if status < 400:
            return answer
        message = answer.get("error") if isinstance(answer, dict) else None
        message = str(message or raw.decode("utf-8", "replace")[:200] or f"HTTP {status}")
        if isinstance(answer, dict) and answer.get("detail"):
            message += ": " + "; ".join(str(d.get("msg", d)) if isinstance(d, dict)
                                        else str(d) for d in answer["detail"])
        kind: Kind = "refused" if status in (401, 403) else "api"
        raise AlarmsError(kind, message, url=self.base_url, status=status)

    # -- reading -----------------------------------------------------------------------------
    async def whoami(self, token: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.request("GET", "/api/whoami", token)
        return answer

    async def alarms(self, token: str, *, state: Sequence[str] = (),
                     severity: str | None = None, domain: str | None = None,
                     district: str | None = None, device: str | None = None,
                     since: float | None = None, until: float | None = None,
                     limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
        """Alarms matching the filters (None / empty: any), newest first, one page."""
        query = {"limit": str(limit), "offset": str(offset)}
        if state:
            query["state"] = ",".join(state)
        for key, value in (("severity", severity), ("domain", domain),
                           ("district", district), ("device", device)):
            if value:
                query[key] = value
        if since is not None:
            query["since"] = repr(float(since))
        if until is not None:
            query["until"] = repr(float(until))
        answer = await self.request("GET", "/api/alarms", token, query=query)
        return list(answer["alarms"])

    async def all_alarms(self, token: str, *, since: float, until: float,
                         most: int = 20_000) -> list[dict[str, Any]]:
        """Every alarm opened in [since, until) (page after page, at most ``most``)."""
        out: list[dict[str, Any]] = []
        while len(out) < most:
            page = await self.alarms(token, since=since, until=until, limit=PAGE,
                                     offset=len(out))
            out += page
            if len(page) < PAGE:
                break
        return out

    async def alarm(self, token: str, alarm_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.request("GET", f"/api/alarms/{alarm_id}", token)
        return answer

    async def audit(self, token: str, alarm_id: str) -> list[dict[str, Any]]:
        answer = await self.request("GET", f"/api/alarms/{alarm_id}/audit", token)
        return list(answer["audit"])

    async def deliveries(self, token: str, alarm_id: str) -> dict[str, list[dict[str, Any]]]:
        """``{"notifications": [...], "attempts": [...]}``."""
        answer = await self.request("GET", f"/api/alarms/{alarm_id}/deliveries", token)
        return {"notifications": list(answer["notifications"]),
                "attempts": list(answer["attempts"])}

    # -- acting ------------------------------------------------------------------------------
    async def acknowledge(self, token: str, alarm_id: str, comment: str | None = None
                          ) -> dict[str, Any]:
        answer: dict[str, Any] = await self.request(
            "POST", f"/api/alarms/{alarm_id}/acknowledge", token, body={"comment": comment})
        return answer

    async def assign(self, token: str, alarm_id: str, assignee: str | None
                     ) -> dict[str, Any]:
        answer: dict[str, Any] = await self.request(
            "POST", f"/api/alarms/{alarm_id}/assign", token, body={"assignee": assignee})
        return answer

    async def comment(self, token: str, alarm_id: str, text: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.request(
            "POST", f"/api/alarms/{alarm_id}/comments", token, body={"text": text})
        return answer

    async def resolve(self, token: str, alarm_id: str, comment: str | None = None
                      ) -> dict[str, Any]:
        answer: dict[str, Any] = await self.request(
            "POST", f"/api/alarms/{alarm_id}/resolve", token, body={"comment": comment})
        return answer

    async def close(self, token: str, alarm_id: str, comment: str | None = None
                    ) -> dict[str, Any]:
        answer: dict[str, Any] = await self.request(
            "POST", f"/api/alarms/{alarm_id}/close", token, body={"comment": comment})
        return answer

    # -- the departments' subscriptions ------------------------------------------------------
    async def subscriptions(self, token: str, department: str | None = None
                            ) -> list[dict[str, Any]]:
        """The pack's subscriptions (``source`` "pack") and those added at run time
        (``source`` "api", with an ``id``), of one department or all."""
        query = {"department": department} if department else None
        answer = await self.request("GET", "/api/subscriptions", token, query=query)
        return list(answer["subscriptions"])

    async def add_subscription(self, token: str, department: str, *,
                               domains: Sequence[str] = (), districts: Sequence[str] = (),
                               min_severity: str = "warning", rules: Sequence[str] = ()
                               ) -> dict[str, Any]:
        """Add a subscription of ``department`` (empty domains: all)."""
        body: dict[str, Any] = {"department": department, "districts": list(districts),
                                "min_severity": min_severity, "rules": list(rules)}
        if domains:
            body["domains"] = list(domains)
        answer: dict[str, Any] = await self.request("POST", "/api/subscriptions", token,
                                                    body=body)
        return answer

    async def remove_subscription(self, token: str, subscription_id: int) -> None:
        await self.request("DELETE", f"/api/subscriptions/{int(subscription_id)}", token)


# -- departments' response figures ------------------------------------------------------------


def departments_of(pack: CityPack, alarm: Mapping[str, Any]) -> list[Department]:
    """The departments of the pack one of whose subscriptions matches the alarm (as the
    alerts service routes an opening; the alarm's present severity stands for the one it
    opened with)."""
    gateway_domains = {g.id: {d.value for d in g.domains} for g in pack.gateways}
    out = []
    for dept in pack.alerts.departments:
        if any(sub.matches(domain=str(alarm.get("domain")), district=alarm.get("district"),
                           rule=str(alarm.get("rule")), severity=str(alarm.get("severity")),
                           gateway_domains=gateway_domains.get(alarm.get("gateway") or "", ()))
               for sub in dept.subscriptions):
            out.append(dept)
    return out


@dataclass(frozen=True, slots=True)
class ResponseRow:
    """One department's response to the alarms of one severity in a period (minutes)."""

    department: str  # its name
    severity: str
    received: int
    acknowledged: int
    ack_median_min: float | None
    ack_p90_min: float | None
    resolved: int
    resolve_median_min: float | None
    resolve_p90_min: float | None
    open_at_end: int


def response_rows(pack: CityPack, alarms: Iterable[Mapping[str, Any]], start: float,
                  stop: float) -> list[ResponseRow]:
    """Per department and severity, the alarms opened in [start, stop) that concern it:
    how many, median and p90 minutes from opening to acknowledgement and to resolution
    (those that happened before ``stop``), and how many were still unresolved at ``stop``.
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for a in alarms:
        if not start <= float(a["opened_at"]) < stop:
            continue
        for dept in departments_of(pack, a):
            groups.setdefault((dept.name, str(a["severity"])), []).append(a)
    rows = []
    for (dept_name, severity), got in sorted(
            groups.items(), key=lambda kv: (kv[0][0], -severity_rank(kv[0][1]))):
        ack = [(a["acknowledged_at"] - a["opened_at"]) / 60 for a in got
               if a.get("acknowledged_at") is not None and a["acknowledged_at"] < stop]
        res = [(a["resolved_at"] - a["opened_at"]) / 60 for a in got
               if a.get("resolved_at") is not None and a["resolved_at"] < stop]
        rows.append(ResponseRow(
            dept_name, severity, len(got), len(ack), percentile(ack, 0.5),
            percentile(ack, 0.9), len(res), percentile(res, 0.5), percentile(res, 0.9),
            sum(1 for a in got if a.get("resolved_at") is None or a["resolved_at"] >= stop)))
    return rows
