"""The alerts HTTP API (aiohttp, on the service's own event loop): list and filter alarms,
acknowledge, assign, comment, resolve and close them, read their audit trail and
deliveries, manage silences, disabled contacts and the departments' run-time
subscriptions. ``/api/openapi.json`` documents it (:mod:`alerts.openapi`); ``/metrics``
and ``/healthz`` are for Prometheus and probes.

One API for every city the process serves (:class:`~alerts.service.AlertsHub`): every
``/api`` route but ``openapi.json`` and ``whoami`` is about one city, picked per request
(:func:`pick_city`) by the ``city`` query parameter or, without one, the user's own city
or the only one served; every alarm (and audit entry, silence, subscription) it answers
with carries its ``city``, as does every answer's envelope. A user scoped to a city
(:attr:`accounts.User.city`) is refused every other city's alarms, silences,
notifications, subscriptions and contacts (403): each city has its own store, and the
handlers are given that one city's service, never another's. Alarm ids, silence ids and
subscription ids are per city.

Every ``/api`` call but the OpenAPI document authenticates (``Authorization: Basic`` with
a user's password, or ``Bearer`` with an API token; accounts from :mod:`accounts`):
viewers read, operators act on alarms and silences, admins enable contacts. 401 without
valid credentials, 403 for a role that may not. A department's run-time subscriptions
are changed by an admin or by an operator whose account belongs to that department.
Password checks (argon2, slow by design) run in a thread, and a Basic header that passed
is remembered for 30 s (by its SHA-256), so a dashboard polling every few seconds costs
one check per 30 s; a changed password, role, department or city or a disabled user is
therefore seen within 30 s. Tokens are checked on every request (a SHA-256 look-up): a
revoked token is refused at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from accounts import Accounts, Role, User
from alerts.model import Alarm, AlarmFilter, Conflict, NotFound, State
from alerts.openapi import (
    MAX_TIME,
    AssignBody,
    CommentBody,
    NoteBody,
    SilenceBody,
    SubscriptionBody,
    openapi_document,
)
from alerts.outbox import NotificationState
from alerts.silences import Silence
from alerts.subscriptions import StoredSubscription, subscription_json
from cityhub.config.alerting import Subscription
from cityhub.levels import SEVERITIES

if TYPE_CHECKING:
    from alerts.service import AlertsHub, AlertsService

__all__ = ["CityRefused", "api_app", "pick_city", "serve_api"]

log = logging.getLogger("cityhub.alerts")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# a route about one city: given the user and that city's service
CityHandler = Callable[[web.Request, User, "AlertsService"], Awaitable[web.Response]]
CACHE_S = 30.0
NOTIFICATION_STATES = tuple(s.value for s in NotificationState)
# query numbers as JSON writes them (int() and float() also take " +1_0", "nan", "inf"
# and other scripts' digits)
_INTEGER = re.compile(r"[0-9]{1,18}")  # an id or a number; longer: refused, not a 500
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class CityRefused(Exception):
    """The city a request asked for (or did not) cannot be served to its user:
    ``status`` 400, 403 or 404 and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def pick_city(asked: str | None, user: User, served: tuple[str, ...]) -> str:
    """The city a request of ``user`` is about, among ``served`` (in order), or
    :class:`CityRefused`.

    ``asked`` (the ``city`` query parameter) if given: it must be served (else 404) and
    one the user sees (else 403). Not given: the user's own city if they are scoped to
    one (404 if not served here); else the only city served; else 400, which city?"""
    listed = ", ".join(served)
    if asked is None and user.city is not None:
        asked = user.city
    if asked is not None:
        if asked not in served:
            shown = asked if len(asked) <= 64 else asked[:64] + "..."
            raise CityRefused(404, f"no city {shown} here; this service serves: {listed}")
        if not user.sees(asked):
            raise CityRefused(403, f"{user.name} may see city {user.city} only, not "
                              f"{asked}")
        return asked
    if len(served) == 1:
        return served[0]
    raise CityRefused(400, f"which city? add ?city=<id>: this service serves {listed}")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(status: int, message: str, **extra: Any) -> web.Response:
    response = _json({"error": message, **extra}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="cityhub", charset="UTF-8"'
    return response


def api_app(hub: AlertsHub, accounts: Accounts) -> web.Application:
    """The API of ``hub``'s cities, authenticating against ``accounts``."""
    served = hub.cities
    cache: dict[str, tuple[User, float]] = {}

    async def whoami(request: web.Request) -> User | None:
        header = request.headers.get("Authorization")
        # Basic credentials and Bearer tokens are ASCII; anything else is refused here
        if not header or not header.isascii():
            return None
        if not header[:6].lower().startswith("basic"):  # a token: a fast hash, no cache,
            return accounts.authenticate(header)  # so a revoked one is refused at once
        key = hashlib.sha256(header.encode()).hexdigest()
        hit = cache.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        user = await asyncio.to_thread(accounts.authenticate, header)
        if user is not None:
            if len(cache) > 1000:
                cache.clear()
            cache[key] = (user, time.monotonic() + CACHE_S)
        return user

    async def allowed(request: web.Request, role: Role) -> User | web.Response:
        """The user, or the 401 / 403 that refuses them."""
        user = await whoami(request)
        if user is None:
            return _error(401, "authentication required (Basic or Bearer)")
        if not user.allows(role):
            return _error(403, f"{user.role.value} may not do this; needs {role.value}")
        return user

    def user_only(role: Role) -> Callable[[Callable[[web.Request, User],
                                                    Awaitable[web.Response]]], Handler]:
        """A route about no city (whoami)."""
        def wrap(fn: Callable[[web.Request, User], Awaitable[web.Response]]) -> Handler:
            async def handler(request: web.Request) -> web.StreamResponse:
                user = await allowed(request, role)
                return user if isinstance(user, web.Response) else await fn(request, user)
            return handler
        return wrap

    def needs(role: Role) -> Callable[[CityHandler], Handler]:
        """A route about one city: the user must have ``role`` and see the city picked
        (:func:`pick_city`); the handler gets that city's service, and nothing else."""
        def wrap(fn: CityHandler) -> Handler:
            async def handler(request: web.Request) -> web.StreamResponse:
                user = await allowed(request, role)
                if isinstance(user, web.Response):
                    return user
                given = request.query.getall("city", [])
                try:
                    if len(given) > 1:
                        raise CityRefused(400, "bad query: city is given once")
                    city = pick_city(given[0] if given else None, user, served)
                except CityRefused as e:
                    return _error(e.status, e.message)
                try:
                    return await fn(request, user, hub.services[city])
                except NotFound as e:
                    return _error(404, str(e), city=city)
                except Conflict as e:
                    return _error(409, str(e), city=city)
            return handler
        return wrap

    async def body(request: web.Request, model: type[BaseModel]) -> Any:
        try:
            raw = await request.read()
            data = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError as e:
            raise web.HTTPBadRequest(text=orjson.dumps({"error": f"not JSON: {e}"}).decode(),
                                     content_type="application/json") from None
        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise web.HTTPUnprocessableEntity(
                text=orjson.dumps({"error": "invalid body", "detail": [
                    {"loc": list(err["loc"]), "msg": err["msg"]} for err in e.errors()]}
                ).decode(), content_type="application/json") from None

    def actor(user: User) -> str:
        return user.name if user.via == "password" else f"api-token:{user.name}"

    # -- alarms ------------------------------------------------------------------------------
    def integer(q: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
        """Query parameter ``name``: ASCII digits (not "1_000", not "+5", not " 5"), an
        integer in [lo, hi]."""
        if name not in q:
            return default
        if not _INTEGER.fullmatch(q[name]) or not lo <= int(q[name]) <= hi:
            raise ValueError(f"{name} is an integer {lo}..{hi}")
        return int(q[name])

    def number(q: Mapping[str, str], name: str, lo: float, hi: float) -> float | None:
        """Query parameter ``name``: a JSON number (not "nan", not "inf", not "1_0") in
        [lo, hi]."""
        if name not in q:
            return None
        if not _NUMBER.fullmatch(q[name]) or not lo <= float(q[name]) <= hi:
            raise ValueError(f"{name} is a number {lo:g}..{hi:g}")
        return float(q[name])

    def alarm(svc: AlertsService, a: Alarm) -> dict[str, Any]:
        return {**a.json(), "city": svc.pack.city.id}

    def of(svc: AlertsService, item: Any) -> dict[str, Any]:
        """An audit entry, a silence, a subscription: its JSON, and its city."""
        data: dict[str, Any] = item.json()
        return {**data, "city": svc.pack.city.id}

    @needs(Role.VIEWER)
    async def list_alarms(request: web.Request, _user: User, svc: AlertsService
                          ) -> web.Response:
        q = request.query
        try:
            # "state" present but empty is a bad query, not "any state"
            states = tuple(State(s) for s in q["state"].split(",")) if "state" in q \
                else None
            if "severity" in q and q["severity"] not in SEVERITIES:
                raise ValueError(f"severity is one of {', '.join(SEVERITIES)}")
            limit = integer(q, "limit", 100, 1, 1000)
            offset = integer(q, "offset", 0, 0, 10**9)
            since = number(q, "since", 0, MAX_TIME)
            until = number(q, "until", 0, MAX_TIME)
        except ValueError as e:
            return _error(400, f"bad query: {e}")
        f = AlarmFilter(state=states, severity=q.get("severity"), domain=q.get("domain"),
                        district=q.get("district"), device=q.get("device"),
                        rule=q.get("rule"), assignee=q.get("assignee"), since=since,
                        until=until, limit=limit, offset=offset)
        return _json({"city": svc.pack.city.id,
                      "alarms": [alarm(svc, a) for a in svc.store.find(f)]})

    @needs(Role.VIEWER)
    async def get_alarm(request: web.Request, _user: User, svc: AlertsService
                        ) -> web.Response:
        return _json(alarm(svc, svc.store.get(request.match_info["id"])))

    @needs(Role.VIEWER)
    async def get_audit(request: web.Request, _user: User, svc: AlertsService
                        ) -> web.Response:
        return _json({"city": svc.pack.city.id, "audit": [
            of(svc, e) for e in svc.store.audit(request.match_info["id"])]})

    @needs(Role.VIEWER)
    async def get_deliveries(request: web.Request, _user: User, svc: AlertsService
                             ) -> web.Response:
        store = svc.store
        aid = request.match_info["id"]
        store.get(aid)
        notes = store.notifications(alarm_id=aid)
        groups = {n.group_id for n in notes if n.group_id}
        attempts = [a.json() for g in sorted(groups) for a in store.attempts(g)]
        return _json({"city": svc.pack.city.id, "notifications": [n.json() for n in notes],
                      "attempts": attempts})

    @needs(Role.OPERATOR)
    async def acknowledge(request: web.Request, user: User, svc: AlertsService
                          ) -> web.Response:
        b = await body(request, NoteBody)
        return _json(alarm(svc, svc.store.acknowledge(request.match_info["id"], actor(user),
                                                      b.comment, svc.clock())))

    @needs(Role.OPERATOR)
    async def assign(request: web.Request, user: User, svc: AlertsService) -> web.Response:
        b = await body(request, AssignBody)
        return _json(alarm(svc, svc.store.assign(request.match_info["id"], b.assignee,
                                                 actor(user), svc.clock())))

    @needs(Role.OPERATOR)
    async def comment(request: web.Request, user: User, svc: AlertsService) -> web.Response:
        b = await body(request, CommentBody)
        entry = svc.store.comment(request.match_info["id"], b.text, actor(user), svc.clock())
        return _json(of(svc, entry), 201)

    @needs(Role.OPERATOR)
    async def resolve(request: web.Request, user: User, svc: AlertsService) -> web.Response:
        b = await body(request, NoteBody)
        resolved = svc.store.resolve(request.match_info["id"], actor(user), b.comment,
                                     svc.clock(), svc.route)
        svc.dispatcher.wake.set()
        return _json(alarm(svc, resolved))

    @needs(Role.OPERATOR)
    async def close(request: web.Request, user: User, svc: AlertsService) -> web.Response:
        b = await body(request, NoteBody)
        return _json(alarm(svc, svc.store.close(request.match_info["id"], actor(user),
                                                svc.clock(), b.comment)))

    # -- silences and contacts ---------------------------------------------------------------
    @needs(Role.VIEWER)
    async def list_silences(request: web.Request, _user: User, svc: AlertsService
                            ) -> web.Response:
        everything = request.query.get("all", "false")
        if everything not in ("true", "false"):
            return _error(400, "bad query: all is true or false")
        now = None if everything == "true" else svc.clock()
        return _json({"city": svc.pack.city.id,
                      "silences": [of(svc, s) for s in svc.store.silences(now=now)]})

    @needs(Role.OPERATOR)
    async def add_silence(request: web.Request, user: User, svc: AlertsService
                          ) -> web.Response:
        b = await body(request, SilenceBody)
        now = svc.clock()
        starts = b.starts_at if b.starts_at is not None else now
        ends = b.ends_at if b.ends_at is not None else starts + (b.duration_s or 0)
        try:
            s = Silence(uuid.uuid4().hex[:16], starts, ends, actor(user), b.comment,
                        b.device, b.gateway, b.district, b.rule, now)
        except ValueError as e:
            return _error(422, str(e))
        return _json(of(svc, svc.store.add_silence(s)), 201)

    @needs(Role.OPERATOR)
    async def end_silence(request: web.Request, _user: User, svc: AlertsService
                          ) -> web.Response:
        return _json(of(svc, svc.store.end_silence(request.match_info["id"], svc.clock())))

    @needs(Role.VIEWER)
    async def list_notifications(request: web.Request, _user: User, svc: AlertsService
                                 ) -> web.Response:
        q = request.query
        state = q.get("state")
        try:
            if state is not None and state not in NOTIFICATION_STATES:
                raise ValueError(f"state is one of {', '.join(NOTIFICATION_STATES)}")
            limit = integer(q, "limit", 200, 1, 1000)
        except ValueError as e:
            return _error(400, f"bad query: {e}")
        return _json({"city": svc.pack.city.id, "counts": svc.store.notification_counts(),
                      "notifications": [n.json() for n in svc.store.notifications(
                          state=state, limit=limit)]})

    @needs(Role.VIEWER)
    async def contacts(request: web.Request, _user: User, svc: AlertsService
                       ) -> web.Response:
        return _json({"city": svc.pack.city.id, "contacts": svc.store.endpoints()})

    @needs(Role.ADMIN)
    async def enable_contact(request: web.Request, _user: User, svc: AlertsService
                             ) -> web.Response:
        dept, contact = request.match_info["department"], request.match_info["contact"]
        if (dept, contact) not in svc.dispatcher.channels:
            raise NotFound(f"no contact {dept}/{contact}")
        svc.dispatcher.enable(dept, contact)
        return _json({"city": svc.pack.city.id, "department": dept, "contact": contact,
                      "enabled": True})

    # -- the departments' run-time subscriptions ---------------------------------------------
    def may_change(user: User, department: str, city: str) -> web.Response | None:
        """None if ``user`` may change ``department``'s subscriptions in ``city`` (picked,
        and one they see), else the 403. A user's department is of their own city: of the
        one they are scoped to, or of the only city where the service serves one (two
        cities may both have a ``bpbd``: an unscoped ``bpbd`` operator of a hub serving
        several acts for neither)."""
        own = user.city == city if user.city is not None else len(served) == 1
        if user.allows(Role.ADMIN) or (user.department == department and own):
            return None
        why = ""
        if user.department is not None and not own:
            why = (f"; {user.name} is of department {user.department} but scoped to no "
                   f"city (cityhub users city {user.name} ID)" if user.city is None else
                   f"; {user.name} is of department {user.department} of {user.city}")
        elif user.department is not None:
            why = f"; {user.name} is of department {user.department}"
        return _error(403, f"only operators of department {department} or an admin may "
                      "change its subscriptions" + why)

    @needs(Role.VIEWER)
    async def list_subscriptions(request: web.Request, _user: User, svc: AlertsService
                                 ) -> web.Response:
        departments = svc.router.departments
        department = request.query.get("department")
        if department is not None and department not in departments:
            raise NotFound(f"no department {department!r} in the city pack")
        city = svc.pack.city.id
        pack = [{**subscription_json(d.id, sub), "city": city} for d in departments.values()
                if department in (None, d.id) for sub in d.subscriptions]
        stored = [of(svc, s) for s in svc.store.subscriptions(department)]
        return _json({"city": city, "subscriptions": pack + stored})

    def unknown(name: str, given: list[str], known: set[str]) -> web.Response | None:
        bad = [x for x in given if x not in known]
        if not bad:
            return None
        return _error(422, f"{name}: unknown {name[:-1]} {bad[0]!r}; the city pack's are "
                      f"{', '.join(sorted(known)) or 'none'}", field=name)

    @needs(Role.OPERATOR)
    async def add_subscription(request: web.Request, user: User, svc: AlertsService
                               ) -> web.Response:
        b: SubscriptionBody = await body(request, SubscriptionBody)
        departments = svc.router.departments
        if b.department not in departments:
            return _error(422, f"department: unknown department {b.department!r}; the city "
                          f"pack's are {', '.join(departments) or 'none'}", field="department")
        refused = may_change(user, b.department, svc.pack.city.id) \
            or unknown("districts", b.districts, {d.id for d in svc.pack.districts}) \
            or unknown("rules", b.rules, {r.id for r in svc.pack.alerts.rules})
        if refused is not None:
            return refused
        sub = Subscription.model_validate({
            "domains": list(dict.fromkeys(b.domains)),
            "districts": list(dict.fromkeys(b.districts)), "min_severity": b.min_severity,
            "rules": list(dict.fromkeys(b.rules))})
        added = svc.store.add_subscription(b.department, sub, actor(user), svc.clock())
        svc.reload_subscriptions()
        log.info("alerts: subscription %d of %s/%s added by %s: %s", added.id,
                 svc.pack.city.id, added.department, actor(user),
                 orjson.dumps(added.json()).decode())
        return _json(of(svc, added), 201)

    @needs(Role.OPERATOR)
    async def remove_subscription(request: web.Request, user: User, svc: AlertsService
                                  ) -> web.Response:
        store = svc.store
        raw = request.match_info["id"]
        found: StoredSubscription | None = None
        if _INTEGER.fullmatch(raw):
            found = next((s for s in store.subscriptions() if s.id == int(raw)), None)
        if found is None:
            raise NotFound(f"no run-time subscription {raw!r}")
        refused = may_change(user, found.department, svc.pack.city.id)
        if refused is not None:
            return refused
        if not store.remove_subscription(found.id):
            raise NotFound(f"no run-time subscription {raw!r}")
        svc.reload_subscriptions()
        log.info("alerts: subscription %d of %s/%s removed by %s: %s", found.id,
                 svc.pack.city.id, found.department, actor(user),
                 orjson.dumps(found.json()).decode())
        return web.Response(status=204)

    @user_only(Role.VIEWER)
    async def me(_request: web.Request, user: User) -> web.Response:
        return _json({"name": user.name, "role": user.role.value, "via": user.via,
                      "department": user.department, "city": user.city,
                      "cities": [c for c in served if user.sees(c)]})

    # -- open endpoints ----------------------------------------------------------------------
    async def openapi(_request: web.Request) -> web.Response:
        return _json(openapi_document(served))

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(hub.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_request: web.Request) -> web.Response:
        ok, detail = hub.health()
        return _json({"ok": ok, **detail}, 200 if ok else 503)

    app = web.Application(client_max_size=64 * 1024)
    app.add_routes([
        web.get("/api/openapi.json", openapi),
        web.get("/api/whoami", me),
        web.get("/api/alarms", list_alarms),
        web.get("/api/alarms/{id}", get_alarm),
        web.get("/api/alarms/{id}/audit", get_audit),
        web.get("/api/alarms/{id}/deliveries", get_deliveries),
        web.post("/api/alarms/{id}/acknowledge", acknowledge),
        web.post("/api/alarms/{id}/assign", assign),
        web.post("/api/alarms/{id}/comments", comment),
        web.post("/api/alarms/{id}/resolve", resolve),
        web.post("/api/alarms/{id}/close", close),
        web.get("/api/silences", list_silences),
        web.post("/api/silences", add_silence),
        web.delete("/api/silences/{id}", end_silence),
        web.get("/api/notifications", list_notifications),
        web.get("/api/subscriptions", list_subscriptions),
        web.post("/api/subscriptions", add_subscription),
        web.delete("/api/subscriptions/{id}", remove_subscription),
        web.get("/api/contacts", contacts),
        web.post("/api/contacts/{department}/{contact}/enable", enable_contact),
        web.get("/metrics", metrics),
        web.get("/healthz", healthz),
    ])
    return app


@contextlib.asynccontextmanager
async def serve_api(hub: AlertsHub, accounts: Accounts, *, host: str, port: int
                    ) -> AsyncIterator[int]:
    """Serve the API of ``hub``'s cities until the block ends; yields the bound port (0
    picks a free one)."""
    runner = web.AppRunner(api_app(hub, accounts), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    try:
        yield int(bound)
    finally:
        await runner.cleanup()
