"""The OpenAPI 3.1 document of the alerts API, and the request bodies it validates with.

The bodies are pydantic models, so the document's schemas and the server's validation
are one definition; ``tests/alerts/test_api_schemathesis.py`` checks the live server
against this document.

Every operation but ``whoami`` is about one city: it takes the optional ``city`` query
parameter (:func:`alerts.api.pick_city`: 400 which city, 403 not one the user sees, 404
not served here), and its answer says its ``city``; so does every alarm, audit entry,
silence and subscription in it.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cityhub.fields import Domain
from cityhub.levels import SEVERITIES
from cityhub.topics import SLUG

__all__ = ["MAX_TIME", "AssignBody", "CommentBody", "NoteBody", "SilenceBody",
           "SubscriptionBody", "openapi_document"]

MAX_TIME = 1e11  # UNIX seconds: the year 5138


class _Body(BaseModel):
    # strict: a number is a JSON number, not "5" or false (as the document says)
    model_config = ConfigDict(extra="forbid", strict=True)


class NoteBody(_Body):
    """Acknowledge, resolve or close, with an optional comment."""

    comment: str | None = Field(None, max_length=2000)


class AssignBody(_Body):
    assignee: str | None = Field(description="a user name; null unassigns", max_length=64)


class CommentBody(_Body):
    text: str = Field(min_length=1, max_length=2000)


class SilenceBody(_Body):
    """A maintenance window: notifications of matching alarms are suppressed (kept and
    counted), from ``starts_at`` (default now) to ``ends_at`` or for ``duration_s``."""

    # What _window checks, said in the document too (that it ends after it starts, it
    # cannot say: 422)
    model_config = ConfigDict(json_schema_extra={
        "oneOf": [{"required": [k], "properties": {k: {"type": "number"}}}
                  for k in ("ends_at", "duration_s")],
        "anyOf": [{"required": [k], "properties": {k: {"type": "string", "minLength": 1}}}
                  for k in ("device", "gateway", "district", "rule")]})

    device: str | None = Field(None, max_length=63)
    gateway: str | None = Field(None, max_length=63)
    district: str | None = Field(None, max_length=63)
    rule: str | None = Field(None, max_length=63)
    starts_at: float | None = Field(None, ge=0, le=MAX_TIME, description="UNIX seconds")
    ends_at: float | None = Field(None, ge=0, le=MAX_TIME, description="UNIX seconds")
    duration_s: float | None = Field(None, gt=0, le=366 * 86400)
    comment: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _window(self) -> SilenceBody:
        if (self.ends_at is None) == (self.duration_s is None):
            raise ValueError("give ends_at or duration_s")
        if not any((self.device, self.gateway, self.district, self.rule)):
            raise ValueError("name at least one of device, gateway, district, rule")
        return self


_Id = Annotated[str, Field(pattern=f"^{SLUG}$")]


def _all_domains() -> list[Domain]:
    return list(Domain)


class SubscriptionBody(_Body):
    """A run-time subscription of a department: alarms of these domains, in these
    districts (none: all), of these rules (none: all), at this severity or worse. The
    department, districts and rules must be the city pack's (else 422)."""

    department: _Id
    # a JSON string names the domain (strict mode would want the enum itself)
    domains: list[Annotated[Domain, Field(strict=False)]] = Field(
        default_factory=_all_domains, min_length=1, max_length=20,
        description="default: every domain")
    districts: list[_Id] = Field(default_factory=list, max_length=200,
                                 description="default (empty): every district")
    min_severity: Literal["info", "warning", "critical"] = "warning"
    rules: list[_Id] = Field(default_factory=list, max_length=200,
                             description="default (empty): every rule")


_NUM = {"type": "number"}
_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_NNUM = {"type": ["number", "null"]}

_CITY = {"type": "string", "description": "the city id (city pack's city.id)"}

ALARM = {
    "type": "object",
    "required": ["city", "id", "rule", "source", "state", "severity", "domain", "title", "count",
                 "condition_active", "opened_at", "last_seen", "detail"],
    "properties": {
        "city": _CITY, "id": _STR, "rule": _STR, "source": _STR,
        "state": {"enum": ["open", "acknowledged", "resolved", "closed"]},
        "severity": {"enum": list(SEVERITIES)},
        "domain": _STR, "title": _STR, "device": _NSTR, "gateway": _NSTR,
        "district": _NSTR, "value": _NNUM, "detail": {"type": "object"},
        "count": {"type": "integer"}, "condition_active": {"type": "boolean"},
        "opened_at": _NUM, "last_seen": _NUM, "acknowledged_at": _NNUM,
        "acknowledged_by": _NSTR, "resolved_at": _NNUM, "resolved_by": _NSTR,
        "closed_at": _NNUM, "assignee": _NSTR,
    },
}
AUDIT = {"type": "object", "required": ["city", "alarm_id", "at", "actor", "action",
                                       "detail"],
         "properties": {"city": _CITY, "alarm_id": _STR, "at": _NUM, "actor": _STR, "action": _STR,
                        "detail": {"type": "object"}}}
SILENCE = {"type": "object", "required": ["city", "id", "starts_at", "ends_at",
                                          "created_by", "comment"],
           "properties": {"city": _CITY, "id": _STR, "starts_at": _NUM, "ends_at": _NUM,
                          "created_by": _STR,
                          "comment": _STR, "device": _NSTR, "gateway": _NSTR,
                          "district": _NSTR, "rule": _NSTR, "created_at": _NUM}}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": _STR}}
_STRS = {"type": "array", "items": _STR}
SUBSCRIPTION = {
    "type": "object",
    "required": ["city", "id", "department", "domains", "districts", "min_severity",
                 "rules", "source", "created_by", "created_at"],
    "properties": {
        "city": _CITY, "id": {"type": ["integer", "null"]}, "department": _STR, "domains": _STRS,
        "districts": _STRS, "min_severity": {"enum": list(SEVERITIES)}, "rules": _STRS,
        "source": {"enum": ["pack", "api"]}, "created_by": _NSTR, "created_at": _NNUM},
}


def _obj(key: str, item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["city", key],
            "properties": {"city": _CITY, key: {"type": "array", "items": item}}}


def _content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _responses(ok: int, schema: dict[str, Any] | None, *errors: int) -> dict[str, Any]:
    names = {400: "bad request", 401: "not authenticated", 403: "role may not",
             404: "not found", 409: "not in a state for this", 422: "invalid body"}
    out: dict[str, Any] = {str(ok): {"description": "ok"} if schema is None  # no body
                           else {"description": "ok", "content": _content(schema)}}
    for code in (401, 403, *errors):
        out[str(code)] = {"description": names[code], "content": _content({"$ref":
                                                                            "#/components/schemas/Error"})}
    return out


def _op(summary: str, role: str, ok: int, schema: dict[str, Any] | None, *errors: int,
        body: type[BaseModel] | None = None, params: list[dict[str, Any]] | None = None,
        more: str = "") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary,
                          "description": f"Role: {role} or above.{more}",
                          "responses": _responses(ok, schema, *errors)}
    if body is not None:
        # the server reads no body as {}: the body is required when {} is not valid
        op["requestBody"] = {"required": not _valid(body, {}), "content": _content(
            {"$ref": f"#/components/schemas/{body.__name__}"})}
        op["responses"].setdefault("400", {"description": "not JSON", "content": _content(
            {"$ref": "#/components/schemas/Error"})})
        op["responses"]["422"] = {"description": "invalid body", "content": _content(
            {"$ref": "#/components/schemas/Error"})}
    if params:
        op["parameters"] = params
    return op


def _valid(model: type[BaseModel], data: Any) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


CITY_RULE = (" About one city: ?city=<id> names it; without, the user's own city if "
             "they are scoped to one, else the only city served, else 400. 404 for a city "
             "not served here, 403 for one the user may not see.")


def _city_parameter(cities: tuple[str, ...]) -> dict[str, Any]:
    schema: dict[str, Any] = {"enum": list(cities)} if cities \
        else {"type": "string", "pattern": f"^{SLUG}$"}
    return _query("city", schema, "the city (a city pack's city.id) this call is about; "
                  "default: the user's own, or the only one served")


def _per_city(op: dict[str, Any], city: dict[str, Any]) -> None:
    """``op`` about one city: the ``city`` parameter and its refusals."""
    op["parameters"] = [*op.get("parameters", []), city]
    op["description"] += CITY_RULE
    names = {400: "bad request, or which city?", 404: "not found, or no such city here"}
    for code, text in names.items():
        op["responses"].setdefault(str(code), {"description": text, "content": _content(
            {"$ref": "#/components/schemas/Error"})})


@cache
def openapi_document(cities: tuple[str, ...] = ()) -> dict[str, Any]:
    """The API's OpenAPI 3.1 document; the ``city`` parameter one of ``cities`` (the
    cities served, in order) if given, else any city id."""
    alarm_ref = {"$ref": "#/components/schemas/Alarm"}
    aid = [_path("id")]
    filters = [
        _query("state", {"type": "string", "pattern": "^(open|acknowledged|resolved|closed)"
                         "(,(open|acknowledged|resolved|closed))*$"},
               "comma-separated states"),
        _query("severity", {"enum": list(SEVERITIES)}),
        _query("domain", _STR), _query("district", _STR), _query("device", _STR),
        _query("rule", _STR), _query("assignee", _STR),
        _query("since", {"type": "number", "minimum": 0, "maximum": MAX_TIME},
               "opened at or after (UNIX s)"),
        _query("until", {"type": "number", "minimum": 0, "maximum": MAX_TIME},
               "opened before (UNIX s)"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
        _query("offset", {"type": "integer", "minimum": 0, "maximum": 10**9}),
    ]
    bodies = {m.__name__: m.model_json_schema(ref_template="#/components/schemas/{model}")
              for m in (NoteBody, AssignBody, CommentBody, SilenceBody, SubscriptionBody)}
    for b in list(bodies.values()):  # the enums they use (Domain) beside them
        bodies.update(b.pop("$defs", {}))
    subscription_ref = {"$ref": "#/components/schemas/Subscription"}
    changes = (" An admin may change any department's subscriptions; an operator, only "
               "those of the department their account belongs to (403 for another).")
    deliveries = {"type": "object", "required": ["city", "notifications", "attempts"],
                  "properties": {"city": _CITY, "notifications": {"type": "array",
                                                   "items": {"type": "object"}},
                                 "attempts": {"type": "array", "items": {"type": "object"}}}}
    contact = {"type": "object", "required": ["city", "department", "contact", "enabled"],
               "properties": {"city": _CITY, "department": _STR, "contact": _STR,
                              "enabled": {"type": "boolean"}}}
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "cityhub alerts API", "version": "1",
                 "description": "Alarms, their audit trail and silences (docs/alerts.md)."},
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"},
                                "token": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Alarm": ALARM, "AuditEntry": AUDIT, "Silence": SILENCE,
                        "Subscription": SUBSCRIPTION, "Error": ERROR, **bodies},
        },
        "security": [{"basic": []}, {"token": []}],
        "paths": {
            "/api/whoami": {"get": _op(
                "The caller's name, role, department and city (null: every city), and "
                "the cities served that they may see", "viewer", 200, {
                    "type": "object", "required": ["name", "role", "via", "department",
                                                   "city", "cities"],
                    "properties": {"name": _STR,
                                   "role": {"enum": ["viewer", "operator", "admin"]},
                                   "via": {"enum": ["password", "token"]},
                                   "department": _NSTR, "city": _NSTR,
                                   "cities": {"type": "array", "items": _STR}}})},
            "/api/alarms": {"get": _op("List alarms, newest first", "viewer", 200,
                                       _obj("alarms", alarm_ref), 400, params=filters)},
            "/api/alarms/{id}": {"get": _op("One alarm", "viewer", 200, alarm_ref, 404,
                                            params=aid)},
            "/api/alarms/{id}/audit": {"get": _op(
                "Who did what to the alarm, and when", "viewer", 200,
                _obj("audit", {"$ref": "#/components/schemas/AuditEntry"}), 404,
                params=aid)},
            "/api/alarms/{id}/deliveries": {"get": _op(
                "Its notifications and every delivery attempt", "viewer", 200, deliveries,
                404, params=aid)},
            "/api/alarms/{id}/acknowledge": {"post": _op(
                "Acknowledge an open alarm (stops its escalation)", "operator", 200,
                alarm_ref, 404, 409, body=NoteBody, params=aid)},
            "/api/alarms/{id}/assign": {"post": _op("Assign (or unassign) an alarm",
                                                    "operator", 200, alarm_ref, 404, 409,
                                                    body=AssignBody, params=aid)},
            "/api/alarms/{id}/comments": {"post": _op(
                "Comment on an alarm (kept in its audit trail)", "operator", 201,
                {"$ref": "#/components/schemas/AuditEntry"}, 404, body=CommentBody,
                params=aid)},
            "/api/alarms/{id}/resolve": {"post": _op("Resolve an active alarm", "operator",
                                                     200, alarm_ref, 404, 409, body=NoteBody,
                                                     params=aid)},
            "/api/alarms/{id}/close": {"post": _op("Close a resolved alarm", "operator", 200,
                                                   alarm_ref, 404, 409, body=NoteBody,
                                                   params=aid)},
            "/api/silences": {
                "get": _op("Silences in force or to come (all=true: ended ones too)",
                           "viewer", 200, _obj("silences",
                                               {"$ref": "#/components/schemas/Silence"}),
                           400, params=[_query("all", {"enum": ["true", "false"]})]),
                "post": _op("Add a silence", "operator", 201,
                            {"$ref": "#/components/schemas/Silence"}, body=SilenceBody)},
            "/api/silences/{id}": {"delete": _op("End a silence now", "operator", 200,
                                                 {"$ref": "#/components/schemas/Silence"},
                                                 404, params=aid)},
            "/api/notifications": {"get": _op(
                "Notifications, newest first, by state (suppressed by silences or quiet "
                "hours, failed and why, pending, sent), with the count of each state",
                "viewer", 200, {"type": "object",
                                "required": ["city", "counts", "notifications"],
                                "properties": {
                                    "city": _CITY,
                                    "counts": {"type": "object",
                                               "additionalProperties": {"type": "integer"}},
                                    "notifications": {"type": "array",
                                                      "items": {"type": "object"}}}},
                400, params=[_query("state", {"enum": ["pending", "sent", "failed",
                                                       "suppressed"]}),
                             _query("limit", {"type": "integer", "minimum": 1,
                                              "maximum": 1000})])},
            "/api/subscriptions": {
                "get": _op("The departments' subscriptions: the city pack's (source pack) "
                           "then those added at run time (source api)", "viewer", 200,
                           _obj("subscriptions", subscription_ref), 404,
                           params=[_query("department",
                                          {"type": "string", "pattern": f"^{SLUG}$"},
                                          "only this department's (404 if the pack has "
                                          "none of that id)")]),
                "post": _op("Add a run-time subscription of a department", "operator",
                            201, subscription_ref, body=SubscriptionBody, more=changes)},
            "/api/subscriptions/{id}": {"delete": _op(
                "Remove a run-time subscription", "operator", 204, None, 404,
                params=[{"name": "id", "in": "path", "required": True,
                         "schema": {"type": "integer"}}], more=changes)},
            "/api/contacts": {"get": _op("Contacts that failed permanently, and whether "
                                         "disabled",
                                         "viewer", 200, _obj("contacts", {"type": "object"}))},
            "/api/contacts/{department}/{contact}/enable": {"post": _op(
                "Enable a contact disabled after repeated failures", "admin", 200, contact,
                404, params=[_path("department"), _path("contact")])},
        },
    }
    city = _city_parameter(tuple(cities))
    for path, item in document["paths"].items():
        if path != "/api/whoami":
            for op in item.values():
                _per_city(op, city)
    return document
