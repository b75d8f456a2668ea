"""The alerts API against its own OpenAPI document, on the live service (real Mosquitto).

1. schemathesis reads ``/api/openapi.json`` and, for every operation, sends requests the
   document allows (positive) and requests it forbids (negative), as the admin, naming
   both random ids and ids that exist; every answer is checked against the document.
2. Every documented operation refuses a call without credentials or with garbage ones
   (401) and a call by a role below the one it documents (403).

The service runs on this test's event loop; schemathesis and Hypothesis are synchronous
(``requests``), so they run in a thread (``asyncio.to_thread``) while the loop serves.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import time
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import hypothesis
import orjson
import pytest
import requests
import schemathesis
from hypothesis import strategies as st

from alerts.model import AlarmFilter, State
from alerts.openapi import openapi_document
from alerts.rules import Condition
from alerts.service import AlertsService
from alerts.silences import Silence
from cityhub.config import load_pack
from cityhub.config.alerting import Subscription
from cityhub.config.pack import CityPack
from devservices import LocalMosquitto
from tests.alerts.service_kit import GAUGE, PASSWORDS, pack_reaching, serving, settings_for

pytestmark = pytest.mark.integration

Case = schemathesis.Case[Any]

MAX_EXAMPLES = 30  # per operation and generation mode (fewer if Hypothesis runs out)
T0 = 1_780_000_000.0  # when the seeded alarms opened: fixed, so their ids are too

# Every answer is checked: no 5xx; status code, content type, body and headers as
# documented; an invalid request refused (4xx); a valid one accepted (2xx, or
# 401/403/404/409, which schemathesis allows a valid request). Left out, and why:
# - positive_data_acceptance for POST /api/silences: a silence must end after it starts,
#   which JSON Schema cannot say, so a valid-looking silence can honestly get a 422;
#   and for POST /api/subscriptions: the department, districts and rules must be the
#   city pack's, which the (pack-independent) document does not list (Seeds.body fills
#   in the pack's, so that valid subscriptions are added too);
# - ignored_auth, use_after_free, ensure_resource_availability and the other stateful
#   checks: test 2 checks authentication and roles itself, and the one thing the API
#   deletes (a run-time subscription) is seeded, several times over.
CHECKS: dict[str, Any] = {
    "enabled": False,
    **{name: {"enabled": True} for name in (
        "not_a_server_error", "status_code_conformance", "content_type_conformance",
        "response_schema_conformance", "response_headers_conformance",
        "negative_data_rejection", "positive_data_acceptance")},
}
PER_OPERATION = [{"include-name": name,
                  "checks": {"positive_data_acceptance": {"enabled": False}}}
                 for name in ("POST /api/silences", "POST /api/subscriptions")]


def basic(user: str, password: str | None = None) -> str:
    token = base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()
    return f"Basic {token}"


@pytest.fixture(scope="module")
def bandung() -> CityPack:
    return load_pack("bandung")


@dataclass
class Seeds:
    """What exists in the service's store, for path parameters to name."""

    alarms: dict[State, str] = field(default_factory=dict)
    silences: list[str] = field(default_factory=list)
    subscriptions: list[int] = field(default_factory=list)
    contact: tuple[str, str] = ("ops", "feed")

    def body(self, label: str) -> Callable[[Case], Case] | None:
        """For an operation whose valid bodies must name what exists (the pack's
        department, districts, rules): what makes a generated valid body name them."""
        if label != "POST /api/subscriptions":
            return None

        def known(case: Case) -> Case:
            if isinstance(case.body, dict):
                case.body = {**case.body, "department": self.contact[0], "districts": [],
                             "rules": []}
            return case
        return known

    def path_values(self, path: str) -> list[dict[str, str]]:
        """Path parameters of ``path`` naming things that exist, one set per thing."""
        names = set(re.findall(r"\{(\w+)\}", path))
        if not names:
            return []
        if names == {"department", "contact"}:
            return [dict(zip(("department", "contact"), self.contact, strict=True))]
        if names == {"id"} and path.startswith("/api/alarms/"):
            return [{"id": aid} for aid in self.alarms.values()]
        if names == {"id"} and path.startswith("/api/silences/"):
            return [{"id": sid} for sid in self.silences]
        if names == {"id"} and path.startswith("/api/subscriptions/"):
            return [{"id": str(sid)} for sid in self.subscriptions]
        raise AssertionError(f"nothing seeded for the parameters of {path}: teach Seeds")


def seed(service: AlertsService) -> Seeds:
    """An alarm in each state, a silence in force and an ended one, a failing contact."""
    devices = [(GAUGE, "warning"), ("flood-cikapundung-siliwangi", "critical"),
               ("flood-citarum-dayeuhkolot", "info"), ("flood-cikapundung-x", "warning")]
    service.apply([Condition("flood-siaga", f"device/{device}", True, T0 + i, severity,
                             "flood", device, "gw-dago", "coblong", 1.7 + i, True, {})
                   for i, (device, severity) in enumerate(devices)])
    store, now = service.store, service.clock()
    ids = [a.id for a in sorted(store.find(AlarmFilter()), key=lambda a: a.opened_at)]
    assert len(ids) == len(devices)
    store.acknowledge(ids[1], "admin", "seen", now)
    for aid in ids[2:]:
        store.resolve(aid, "admin", None, now, service.route)
    store.close(ids[3], "admin", now)
    seeds = Seeds()
    for aid in ids:
        seeds.alarms[store.get(aid).state] = aid
    assert set(seeds.alarms) == set(State)
    for sid, ends in (("s-in-force", now + 3600), ("s-ended", now - 60)):
        store.add_silence(Silence(sid, now - 3600, ends, "admin", "seeded",
                                  district="sukajadi", created_at=now))
        seeds.silences.append(sid)
    store.endpoint_result(*seeds.contact, permanent_failure=True, disable_after=5, now=now)
    for k in range(5):  # removing one works once: one each for a few deletions
        seeds.subscriptions.append(store.add_subscription(
            seeds.contact[0], Subscription(min_severity="critical"), "admin", now + k).id)
    service.reload_subscriptions()
    return seeds


@contextlib.asynccontextmanager
async def live(bandung: CityPack, mosquitto: LocalMosquitto, tmp_path: Path
               ) -> AsyncIterator[tuple[str, Seeds]]:
    """The service, seeded: its base URL and what exists."""
    settings = settings_for(mosquitto.port, tmp_path)
    async with serving(settings, pack_reaching(bandung), {}) as service:
        assert service.http_port
        yield f"http://127.0.0.1:{service.http_port}", seed(service)


# -- 1. schemathesis ------------------------------------------------------------------------

@dataclass
class Run:
    """Per operation and mode: the statuses answered; and every failure, in full."""

    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def cases(self, key: str) -> int:
        return sum(self.statuses[key].values())


def fuzz(base: str, seeds: Seeds) -> Run:
    """Every operation of the served document, valid and invalid requests, as admin
    (synchronous: run it in a thread)."""
    config = schemathesis.Config.from_dict({
        "seed": 20260101, "base-url": base, "headers": {"Authorization": basic("admin")},
        "request-timeout": 10, "checks": CHECKS, "operations": PER_OPERATION})
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json", config=config)
    settings = hypothesis.settings(
        max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
        print_blob=False, suppress_health_check=[
            hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.filter_too_much,
            hypothesis.HealthCheck.data_too_large])
    session = requests.Session()
    run = Run()

    def exercise(cases: st.SearchStrategy[Case], key: str
                 ) -> Callable[[], None]:
        @hypothesis.given(case=cases)
        @settings
        def call(case: Case) -> None:
            response = case.call_and_validate(session=session)
            run.statuses[key][response.status_code] += 1
        return call

    for result in schema.get_all_operations():
        # an Ok result has .ok(), an Err .err() (the documented way to iterate operations)
        if not hasattr(result, "ok"):  # the document itself is broken
            run.failures.append(f"invalid operation: {result.err()}")
            continue
        op = result.ok()
        modes = [schemathesis.GenerationMode.POSITIVE]
        # An invalid request needs something that can be invalid, a query or a body:
        # path parameters are strings, and any string is a valid one (404 if no such).
        if op.query or op.body:
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:
            key = f"{op.label} [{mode.value}]"
            run.statuses[key] = Counter()
            # random ids (404 mostly) and the seeded ones, so the handlers work for real
            cases = st.one_of([op.as_strategy(mode)] + [
                op.as_strategy(mode, path_parameters=values)
                for values in seeds.path_values(op.path)])
            known = seeds.body(op.label)
            if known is not None and mode is schemathesis.GenerationMode.POSITIVE:
                cases = st.one_of(cases, op.as_strategy(mode).map(known))
            try:
                exercise(cases, key)()
            except (Exception, BaseExceptionGroup) as e:  # every operation, then report
                run.failures.append(f"{key}:\n{''.join(traceback.format_exception_only(e))}")
    session.close()
    return run


async def test_the_live_api_conforms_to_its_openapi_document(
        bandung: CityPack, mosquitto: LocalMosquitto, tmp_path: Path) -> None:
    async with live(bandung, mosquitto, tmp_path) as (base, seeds):
        started = time.monotonic()
        run = await asyncio.to_thread(fuzz, base, seeds)
        took = time.monotonic() - started
    summary = "\n".join(f"  {key}: {run.cases(key)} cases, statuses {dict(statuses)}"
                        for key, statuses in run.statuses.items())
    print(f"schemathesis: {sum(map(run.cases, run.statuses))} cases in {took:.1f}s\n"
          f"{summary}")
    assert not run.failures, "\n".join(run.failures)
    positive = [key for key in run.statuses if key.endswith("[positive]")]
    documented = sum(len(item) for item in openapi_document()["paths"].values())
    assert len(positive) == documented >= 14, summary  # every operation, valid requests
    assert all(run.cases(key) > 0 for key in run.statuses), summary
    # the seeded ids reached the handlers: no operation answered only errors
    assert all(any(200 <= s < 300 for s in run.statuses[key]) for key in positive), summary
    assert sum(1 for key in run.statuses if key.endswith("[negative]")) >= 8, summary


# -- 2. authentication and roles ------------------------------------------------------------

ROLES = ("viewer", "operator", "admin")  # lowest first
USERS = {"viewer": "viewer", "operator": "op", "admin": "admin"}
GARBAGE = [
    "Basic", "Basic !!!", "Basic " + base64.b64encode(b"admin").decode(),
    basic("admin", "wrong-password"), basic("nobody", PASSWORDS["admin"]),
    "Bearer not-a-token", "Bearer chub_never-issued", "Digest admin", "admin-pass-1",
    "Basic " + "QUJD" * 1100, "Bearer chub_" + "x" * 300,
    basic("admin") + "\u00e9", "Bearer chub_\u00e9",  # not ASCII
]


async def test_every_operation_wants_credentials_and_its_role(
        bandung: CityPack, mosquitto: LocalMosquitto, tmp_path: Path,
        http_session: aiohttp.ClientSession) -> None:
    async with live(bandung, mosquitto, tmp_path) as (base, seeds):
        async def call(method: str, path: str, auth: str | None
                       ) -> tuple[int, dict[str, Any], str]:
            headers = {} if auth is None else {"Authorization": auth}
            body = b"{}" if method == "POST" else None
            async with http_session.request(method, base + path, headers=headers,
                                            data=body) as r:
                return r.status, orjson.loads(await r.read()), \
                    r.headers.get("WWW-Authenticate", "")

        status, document, _ = await call("GET", "/api/openapi.json", None)
        assert status == 200  # the one /api route open to all
        assert await call("GET", "/api/whoami", basic("admin")) == (
            200, {"name": "admin", "role": "admin", "via": "password", "department": None,
                  "city": None, "cities": ["bandung"]}, "")
        done: Counter[str] = Counter()
        for template, item in document["paths"].items():
            # a path naming something that exists: the refusal is not a 404 in disguise
            path = template.format(**seeds.path_values(template)[0]) if "{" in template \
                else template
            for method, op in item.items():
                label = f"{method.upper()} {template}"
                documented = re.match(r"Role: (\w+) or above\.", op["description"])
                assert documented and documented[1] in ROLES, f"{label}: which role?"
                needed = ROLES.index(documented[1])
                assert {"401", "403"} <= set(op["responses"]), label
                if method in ("post", "put", "patch", "delete"):
                    assert needed > ROLES.index("viewer"), f"{label}: viewers write?"
                for auth in [None, *GARBAGE]:
                    got, body, challenge = await call(method.upper(), path, auth)
                    assert got == 401, (label, auth, got, body)
                    assert "error" in body and challenge.startswith("Basic "), label
                    done["401"] += 1
                for role in ROLES[:needed]:  # for a write, the viewer among them
                    got, body, _ = await call(method.upper(), path, basic(USERS[role]))
                    assert got == 403, (label, role, got, body)
                    assert body["error"].startswith(f"{role} may not"), (label, body)
                    done["403"] += 1
                done[method] += 1
        assert sum(len(item) for item in document["paths"].values()) >= 14
        assert done["post"] >= 7 and done["delete"] >= 1 and done["get"] >= 6, done
        assert done["403"] >= done["post"] + done["delete"], done
